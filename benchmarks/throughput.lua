-- wrk script for benchmarks/throughput.py: `wrk ... -s throughput.lua URL -- PATH SID...`
-- Each request carries one of the session ids as its `sid` cookie, in turn; the requests
-- are built once in init(), so wrk's own cost per request stays a table lookup.
-- done() prints one line the driver parses (latencies in microseconds).

local requests = {}
local turn = 0

function init(args)
  local path = args[1]
  for i = 2, #args do
    requests[#requests + 1] = wrk.format("GET", path, { Cookie = "sid=" .. args[i] })
  end
end

function request()
  turn = turn % #requests + 1
  return requests[turn]
end

function done(summary, latency, _)
  local errors = summary.errors
  io.write(string.format(
    'WRK {"requests": %d, "duration_us": %d, "p50_us": %.0f, "p90_us": %.0f, "p99_us": %.0f, '
      .. '"max_us": %.0f, "non_2xx": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, errors.status, errors.connect, errors.read,
    errors.write, errors.timeout))
end
