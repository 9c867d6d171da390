-- GET of one path (wrk's URL), optionally paced by RCR_DELAY_MS.
local pace = tonumber(os.getenv("RCR_DELAY_MS") or "0")
if pace > 0 then
  -- Exponential think times (mean RCR_DELAY_MS): arrivals close to a
  -- Poisson process, not every connection firing in step.
  delay = function() return math.floor(-pace * math.log(1 - math.random())) end
end
