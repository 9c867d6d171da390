-- POST /auth/login with the admin's credentials (argon2-bound by design).
local body = string.format('{"email":"%s","password":"%s"}', os.getenv("RCR_EMAIL"), os.getenv("RCR_PASSWORD"))
request = function()
  return wrk.format("POST", "/auth/login", { ["Content-Type"] = "application/json" }, body)
end
