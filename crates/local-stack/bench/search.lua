-- Searches with distinct two-word queries, so the cache misses on purpose,
-- from many client addresses when RCR_CLIENTS is set (report.lua), asking
-- for the codings a browser asks for.
local words = { "camara", "lente", "foco", "sensor", "imagen", "video", "retrato", "paisaje",
  "color", "nitidez", "bateria", "cuerpo", "zoom", "luz", "noche", "ruido", "estabilizador",
  "objetiva", "cor", "nitidez", "bateria", "foto", "camera", "lens", "focus", "image", "battery",
  "body", "light", "night", "noise", "portrait", "landscape", "sharp", "fast", "weather",
  "sony", "nikon", "canon", "fujifilm", "sigma", "tamron", "leica", "panasonic", "olympus" }
local counter = 0
request = function()
  counter = counter + 1
  local a = words[math.random(#words)]
  local b = words[math.random(#words)]
  -- The limit varies too: the same words twice are still a new cache key.
  local path = string.format("/content?q=%s+%s&limit=%d", a, b, (counter % 97) + 1)
  return wrk.format("GET", path, rcr_client({ ["Accept-Encoding"] = "gzip, deflate, br" }))
end
