-- wrk script for the serving benchmark: every request picks a random tenant (and a random user
-- id for "item"), so no system can lean on one hot tenant.
--   wrk ... -s users.lua URL -- TARGETS_FILE item|list|notes MAX_ID
-- ("notes": a note written to PREFIX/notes, the app of bench.rollout)
-- TARGETS_FILE holds one "PREFIX TOKEN [FIRST_ID]" line per tenant (PREFIX is empty for the
-- baseline; FIRST_ID, 1 unless given, is the tenant's first user id: shared mode numbers the
-- users of all tenants from one sequence).
-- done() prints one JSON line with the figures the benchmark reads.

local targets, kind, max_id = {}, "item", 1

-- WRK_DELAY_MS paces each connection: that long between a response and its next request, so
-- the load is a rate the server can keep up with rather than all it can take (bench.noisy)
local pace = tonumber(os.getenv("WRK_DELAY_MS") or "0")
if pace > 0 then
  function delay()
    return pace
  end
end
local thread_id = 0

function setup(thread)
  thread:set("thread_id", thread_id)
  thread_id = thread_id + 1
end

function init(args)
  for line in io.lines(args[1]) do
    local prefix, token, first = line:match("^(%S*) (%S+) ?(%d*)$")
    first = tonumber(first) or 1
    local headers = { Authorization = "Bearer " .. token, ["Content-Type"] = "application/json" }
    targets[#targets + 1] = { prefix, headers, first }
  end
  kind = args[2]
  max_id = tonumber(args[3])
  math.randomseed(os.time() * 1000 + thread_id)
end

function request()
  local target = targets[math.random(#targets)]
  local path
  if kind == "notes" then
    return wrk.format("POST", target[1] .. "/notes", target[2], '{"note": "a note"}')
  elseif kind == "item" then
    path = target[1] .. "/users/" .. (target[3] + math.random(max_id) - 1)
  else
    path = target[1] .. "/users?limit=20"
  end
  return wrk.format("GET", path, target[2])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "non2xx": %d, ' ..
    '"socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
