-- wrk script for scripts/catalog-bench.sh: pages of 50, half the first page,
-- half behind a cursor at a random ticket (as `boxoffice-load --scenario
-- browse` does). The cursors are read from the file named by CURSORS.
local cursors = {}

function init(args)
  for line in io.lines(os.getenv("CURSORS")) do
    cursors[#cursors + 1] = line
  end
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end

function request()
  if math.random() < 0.5 then
    return wrk.format(nil, "/api/tickets?limit=50")
  end
  return wrk.format(nil, "/api/tickets?limit=50&after=" .. cursors[math.random(#cursors)])
end
