-- wrk script for benchmarks/http.py: POST varied opportunity bodies to the URL given to wrk, round-robin.
--
--   wrk -t1 -c8 -d30s -s benchmarks/wrk_post.lua http://127.0.0.1:8000/api/v1/analyses -- bodies.jsonl [TOKEN]
--
-- bodies.jsonl holds one JSON request body per line (written by http.py); TOKEN, when given, is sent as
-- `Authorization: Bearer TOKEN` (the staging and production profiles require one). Every response that is not
-- 201 Created counts as an error, by status. done() prints machine-readable lines for http.py to parse:
--   oppscope-wrk <name> <value>
-- (requests, duration_us, latency_{p50,p95,p99,mean,max}_us, socket errors, status_<code> counts).

local threads = {}
local counter = 0

function setup(thread)
  thread:set("thread_index", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local path = args[1]
  if path == nil then
    error("usage: wrk ... -s wrk_post.lua URL -- BODIES.jsonl [BEARER_TOKEN]")
  end
  local headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json" }
  if args[2] ~= nil and #args[2] > 0 then
    headers["Authorization"] = "Bearer " .. args[2]
  end
  requests = {}
  for line in io.lines(path) do
    if #line > 0 then
      table.insert(requests, wrk.format("POST", nil, headers, line))
    end
  end
  if #requests == 0 then
    error("no request bodies in " .. path)
  end
  -- Threads start at different bodies, so they do not send the same sequence in step.
  next_request = (thread_index * 7919) % #requests
  statuses = {}
end

function request()
  next_request = next_request % #requests + 1
  return requests[next_request]
end

function response(status, headers, body)
  if status ~= 201 then
    local key = tostring(status)
    statuses[key] = (statuses[key] or 0) + 1
  end
end

function done(summary, latency, requests)
  local function line(name, value)
    io.write(string.format("oppscope-wrk %s %d\n", name, value))
  end
  line("requests", summary.requests)
  line("duration_us", summary.duration)
  line("latency_p50_us", latency:percentile(50))
  line("latency_p95_us", latency:percentile(95))
  line("latency_p99_us", latency:percentile(99))
  line("latency_mean_us", latency.mean)
  line("latency_max_us", latency.max)
  for _, name in ipairs({ "connect", "read", "write", "timeout" }) do
    line("socket_" .. name, summary.errors[name])
  end
  local merged = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses") or {}) do
      merged[status] = (merged[status] or 0) + count
    end
  end
  for status, count in pairs(merged) do
    line("status_" .. status, count)
  end
end
