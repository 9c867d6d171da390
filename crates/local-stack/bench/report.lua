-- Shared by every scenario (appended to its script): pacing and the report.
-- Scenario scripts set `request`.

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

-- Prints one JSON line with the figures the bench reads.
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout + summary.errors.status
  io.write(string.format(
    '\nRCR_RESULT {"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d,"p999_us":%d}\n',
    summary.requests, summary.duration, errors,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
