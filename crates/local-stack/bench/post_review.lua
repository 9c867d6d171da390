-- POST /reviews with distinct Idempotency-Keys and titles (from many client
-- addresses when RCR_CLIENTS is set: see report.lua).
local token = os.getenv("RCR_TOKEN")
local thread_id = math.random(1, 1000000000)
local counter = 0
request = function()
  counter = counter + 1
  local key = string.format("bench-%d-%d-%d", thread_id, os.time(), counter)
  local body = string.format(
    '{"subject":{"kind":"camera","brand":"Bench","model":"B-%d"},"title":"Bench review %s",' ..
    '"summary":"A benchmark review.","body":"%s","rating":7.5,"language":"en"}',
    counter % 50, key, string.rep("Benchmark body text. ", 40))
  return wrk.format("POST", "/reviews", rcr_client({
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = key,
  }), body)
end
