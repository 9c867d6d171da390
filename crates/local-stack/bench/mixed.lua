-- Mixed traffic (SPEC §10.5): each request picks a kind of page by its
-- share — a review page 55 %, a filtered list page 20 %, a search 15 %, a
-- subject page 10 % — then a page of that kind by Zipf's law (s = 1) over
-- its popularity ranking, so a few pages are asked for all the time and a
-- long tail now and then. Review n is the n-th newest (`bench-<n>`);
-- the other kinds are listed in RCR_PAGES, most popular first, one path
-- a line (written by the bench from the data set). From many client
-- addresses (report.lua), as searches are rate-limited per address.
local reviews = tonumber(os.getenv("RCR_REVIEWS"))
local dir = os.getenv("RCR_PAGES")

local function load(name)
  local pages = {}
  for line in io.lines(dir .. "/" .. name) do
    pages[#pages + 1] = line
  end
  return pages
end
local lists = load("lists.txt")
local searches = load("searches.txt")
local subjects = load("subjects.txt")

-- A rank in 1..n, drawn with P(rank = r) about proportional to 1/r.
local function zipf(n)
  return math.min(n, math.floor(math.exp(math.random() * math.log(n + 1))))
end

request = function()
  local u = math.random()
  local path
  if u < 0.55 then
    path = "/content/bench-" .. zipf(reviews)
  elseif u < 0.75 then
    path = lists[zipf(#lists)]
  elseif u < 0.90 then
    path = searches[zipf(#searches)]
  else
    path = subjects[zipf(#subjects)]
  end
  return wrk.format("GET", path, rcr_client({}))
end
