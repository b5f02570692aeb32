-- wrk script for `make bench` (tests/bench/bench.py).
--
-- With BENCH_PATHS set to a file of request paths (one a line), every
-- request picks one of them at random; without it wrk sends the URL it was
-- given (its static, pre-built request).  At the end one line
--   BENCH_JSON {...}
-- carries the exact counts and latency percentiles (microseconds) for the
-- harness to parse, so nothing is read back from wrk's rounded text.

local pathfile = os.getenv("BENCH_PATHS")

if pathfile and pathfile ~= "" then
  local paths = {}
  for line in io.lines(pathfile) do
    if line ~= "" then paths[#paths + 1] = line end
  end
  local counter = 0

  function setup(thread)
    counter = counter + 1
    thread:set("tid", counter)
  end

  function init(args)
    math.randomseed(os.time() * 1000 + (tid or 0) * 7919)
  end

  function request()
    return wrk.format("GET", paths[math.random(#paths)])
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "bytes": %d, "duration_us": %d, ' ..
    '"err_connect": %d, "err_read": %d, "err_write": %d, ' ..
    '"err_status": %d, "err_timeout": %d, "p50_us": %d, "p90_us": %d, ' ..
    '"p99_us": %d, "max_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.bytes, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
