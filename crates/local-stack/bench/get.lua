-- GET of one path (wrk's URL), optionally paced by RCR_DELAY_MS.
local pace = tonumber(os.getenv("RCR_DELAY_MS") or "0")
if pace > 0 then
  delay = function() return pace end
end
