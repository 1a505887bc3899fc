-- `make bench`, the SCIM figures (run through scripts/with-server.sh): with
-- 10,000 members in the local server, Okta's lookup
-- `GET /Users?filter=userName eq "..."` through bin/close-scim, answered from
-- the organization index, at a fixed 200 requests/s (wrk, bounded duration):
-- its latency percentiles (target: p99 under 5 ms), beside the time of one
-- organization read, which is what the index saves each lookup.
local close = require "close"
local core = require "close.core"
local server = require "spec.support.server"
local scim = require "spec.openresty.support.scim"
local figures = require "bench.wrk_figures"

local MEMBERS = tonumber(os.getenv("SCIM_BENCH_MEMBERS") or 10000)
local RATE = tonumber(os.getenv("SCIM_BENCH_RATE") or 200)
local SECONDS = tonumber(os.getenv("SCIM_BENCH_SECONDS") or 40)   -- longer than the index's max_age (30 s)
local CONNECTIONS, WORKERS = 10, tonumber(os.getenv("SCIM_BENCH_WORKERS") or 2)

figures.need_wrk("bench/scim.lua")

server.reset()
figures.seed(MEMBERS, "bench")

-- one organization read, the median of 5
local client = close.new{ api_key = server.api_key, base_url = server.http_url }
local reads = {}
for i = 1, 5 do
  local t0 = core.now()
  local all = assert(client:memberships{ inactive = true })
  reads[i] = core.now() - t0
  assert(#all >= MEMBERS, "the organization has " .. #all .. " members")
end
table.sort(reads)

local env = ("CLOSE_API_KEY=%s CLOSE_BASE_URL=%s CLOSE_SCIM_TOKEN=%s")
  :format(server.api_key, server.http_url, scim.TOKEN)
local inst = assert(scim.start{ args = { "--workers", tostring(WORKERS) }, env = env })
-- the first lookup of each worker builds or decodes the index
for i = 1, 20 do
  local status, doc = scim.request("GET", inst.base .. ('/Users?filter=userName+eq+"bench%05d@acme.com"'):format(i)
    :gsub('"', "%%22"), nil, { headers = { Connection = "close" } })
  assert(status == 200 and doc.totalResults == 1, "warm-up lookup failed: " .. tostring(status))
end

-- wrk at RATE requests/s for SECONDS: {rps, p50, p90, p99 (ms), note}
local function load(baseline)
  local cmd = ("SCIM_BASELINE=%s SCIM_TOKEN=%s SCIM_MEMBERS=%d SCIM_RATE=%d SCIM_CONNECTIONS=%d "
    .. "wrk -t 1 -c %d -d %ds --timeout 5s --latency -s bench/scim_wrk.lua http://127.0.0.1:%d/ 2>&1")
    :format(baseline and "1" or "0", scim.TOKEN, MEMBERS, RATE, CONNECTIONS, CONNECTIONS, SECONDS, inst.port)
  local r = figures.parse(scim.capture(cmd))
  r.note = (r.non2xx and (", " .. r.non2xx .. " answers not 2xx") or "")
    .. (r.errors and (", socket errors: " .. r.errors) or "")
  return r
end

local lookup = load(false)
local floor = load(true)
scim.cleanup(inst)

print(("SCIM, %d members (bin/close-scim, %d workers, the local server over loopback):"):format(MEMBERS, WORKERS))
print(("  one organization read (GET /organization/, all memberships): %.1f ms (median of 5)")
  :format(reads[3] * 1000))
print(("  at %d requests/s asked, %ds, %d connections (wrk -t 1, paced by bench/scim_wrk.lua):")
  :format(RATE, SECONDS, CONNECTIONS))
print(("    filter=userName eq \"x\" from the index: %.1f/s done, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms"
  .. " (target: p99 < 5 ms)%s"):format(lookup.rps, lookup.p50, lookup.p90, lookup.p99, lookup.note))
print(("    GET /healthz (nginx alone, this machine's floor): %.1f/s done, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms%s")
  :format(floor.rps, floor.p50, floor.p90, floor.p99, floor.note))
print(("    the index lookup over the floor: p50 +%.2f ms, p99 +%.2f ms; load average %s")
  :format(lookup.p50 - floor.p50, lookup.p99 - floor.p99, (scim.read("/proc/loadavg") or ""):match("^(%S+)")))
