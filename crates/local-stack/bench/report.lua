-- Shared by every scenario (appended to its script): client addresses,
-- pacing and the report. Scenario scripts set `request`.

-- Many clients behind one load generator when RCR_CLIENTS is set: each
-- request names one of that many addresses (10.x.y.z) in X-Forwarded-For,
-- which the bench's gateways believe from the bench's own address, so a
-- per-address rate limit sees as many users as a real crowd would be.
local clients = tonumber(os.getenv("RCR_CLIENTS") or "0")
function rcr_client(headers)
  if clients > 0 then
    local n = math.random(clients)
    headers["X-Forwarded-For"] = string.format("10.%d.%d.%d",
      math.floor(n / 65536) % 256, math.floor(n / 256) % 256, n % 256)
  end
  return headers
end

-- Paced when RCR_DELAY_MS is set: exponential think times with that mean
-- (fractional milliseconds), so arrivals are close to a Poisson process,
-- not every connection firing in step. wrk takes whole milliseconds; the
-- random rounding keeps the mean where it was asked to be.
local pace = tonumber(os.getenv("RCR_DELAY_MS") or "0")
if pace > 0 then
  delay = function()
    return math.floor(-pace * math.log(1 - math.random()) + math.random())
  end
end

-- The threads, to read back what a scenario counted in each (its global
-- `rcr_statuses`: answers by status).
local threads = {}
setup = function(thread)
  table.insert(threads, thread)
end

-- The answers by status that the threads counted, as a JSON object
-- ("" when the scenario counts none).
local function statuses()
  local total = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("rcr_statuses") or {}) do
      total[status] = (total[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(total) do
    parts[#parts + 1] = string.format('"%d":%d', status, n)
  end
  if #parts == 0 then
    return ""
  end
  return ',"statuses":{' .. table.concat(parts, ",") .. "}"
end

-- Prints one JSON line with the figures the bench reads.
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout + summary.errors.status
  io.write(string.format(
    '\nRCR_RESULT {"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d,"p999_us":%d%s}\n',
    summary.requests, summary.duration, errors,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), statuses()))
end
