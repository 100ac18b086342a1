-- wrk script for bench/run's mixed scenario: 90 % reads and 10 % writes spread over
-- BENCH_MIXED_KEYS secrets under BENCH_MIXED_PREFIX (a path ending in '/'), with the same
-- counting and result line as report.lua.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local prefix = os.getenv("BENCH_MIXED_PREFIX")
local keys = tonumber(os.getenv("BENCH_MIXED_KEYS") or "1000")
local body = '{"value":"' .. string.rep("m", 64) .. '","type":"generic"}'
local counter = 0
local put_headers = nil

function request()
  counter = counter + 1
  local path = prefix .. "s" .. math.random(1, keys)
  if counter % 10 == 0 then
    if put_headers == nil then
      -- wrk.format uses only the headers it is given: the credential from -H, plus the type.
      put_headers = {}
      for k, v in pairs(wrk.headers) do
        put_headers[k] = v
      end
      put_headers["Content-Type"] = "application/json"
    end
    return wrk.format("PUT", path, put_headers, body)
  end
  return wrk.format("GET", path)
end
