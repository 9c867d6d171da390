-- POST /auth/login with the admin's credentials (argon2-bound by design),
-- from many client addresses when RCR_CLIENTS is set (report.lua).
local body = string.format('{"email":"%s","password":"%s"}', os.getenv("RCR_EMAIL"), os.getenv("RCR_PASSWORD"))
request = function()
  return wrk.format("POST", "/auth/login", rcr_client({ ["Content-Type"] = "application/json" }), body)
end
