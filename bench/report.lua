-- wrk script for bench/run: counts every response that is not a 2xx and reports
-- throughput, latency percentiles and errors as one machine-readable line.
--
-- The `response` hook runs for every response in every wrk thread. It only looks at
-- the status (wrk already parsed it), so it costs every target the same small amount.
-- Each wrk thread has its own Lua state; `done` (main thread) sums the per-thread
-- counters through the thread objects kept in `setup`.

local threads = {}

-- A POST scenario (token issuance): method and body from the environment.
local method = os.getenv("BENCH_METHOD")
if method and method ~= "" then
  wrk.method = method
  wrk.body = os.getenv("BENCH_BODY")
  wrk.headers["Content-Type"] = "application/json"
end

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non200 = 0
  first_bad = 0
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non200 = non200 + 1
    if first_bad == 0 then
      first_bad = status
    end
  end
end

function done(summary, latency, requests)
  local non200_total, first_bad_status = 0, 0
  for _, t in ipairs(threads) do
    non200_total = non200_total + t:get("non200")
    local fb = t:get("first_bad")
    if first_bad_status == 0 and fb ~= 0 then
      first_bad_status = fb
    end
  end
  local e = summary.errors
  local secs = summary.duration / 1e6
  -- Latencies are in microseconds.
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_s":%.6f,"rps":%.2f,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"mean_us":%.1f,"max_us":%d,'
      .. '"non200":%d,"first_bad_status":%d,'
      .. '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.mean, latency.max,
    non200_total, first_bad_status,
    e.connect, e.read, e.write, e.status, e.timeout))
end
