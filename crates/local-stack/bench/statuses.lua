-- Counts the answers by status, for the scenarios whose report needs the
-- shares (the flood: 429s, 503s, anything else); report.lua's `done`
-- reads the counts back. Only where needed: a `response` hook makes wrk
-- hand every answer to Lua.
rcr_statuses = {}
response = function(status)
  rcr_statuses[status] = (rcr_statuses[status] or 0) + 1
end
