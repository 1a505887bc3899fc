-- `make bench`: figures as ratios against a baseline measured in the same run
-- (never a timed test). Run through scripts/with-server.sh.
--
-- 1. Client overhead per call: create_membership with a stub transport
--    (validation in C, request building, JSON, the driver loop) against the
--    least a hand-written call does (build the table, cjson.encode it,
--    decode the reply).
-- 2. Keep-alive: N creates through one client (one connection) against N
--    creates through a new client each (a new connection each), over TLS to
--    the local server.
-- 3. Cost per call (the target: at most 1.15): 2,000 sequential creates over
--    one keep-alive connection to an nginx that answers at once
--    (bench/nginx.conf.in), against build/bare_curl doing the same POSTs
--    with the same headers and body; rounds alternate, medians compared.
local close = require "close"
local core = require "close.core"
local cjson = require "cjson"
local server = require "spec.support.server"

local function time(n, f)
  f(0) -- warm up
  local t0 = core.now()
  for i = 1, n do f(i) end
  return (core.now() - t0) / n
end

local reply = '{"id":"memb_JPCqDJq0AmoZFhemXAWrWk9327DqfJgUF2VGPMOL4Lp","role_id":"user"}'
local response = { status = 200, headers = { ratelimit = "limit=100, remaining=99, reset=1" }, body = reply }
local stub = close.new{ api_key = "ck_bench", transport = function() return response end }

local N = 20000
local baseline = time(N, function()
  local body = cjson.encode({ email = "jane.doe@acme.com", role_id = "user" })
  local doc = cjson.decode(response.body)
  return body, doc
end)
local client_cost = time(N, function()
  return assert(stub:create_membership{ email = "jane.doe@acme.com", role_id = "user" })
end)
print(("overhead: close %.2f us/call, hand-written %.2f us/call: ratio %.2f"):format(
  client_cost * 1e6, baseline * 1e6, client_cost / baseline))

server.reset()
local M = 200
local one = close.new{ api_key = server.api_key, base_url = server.https_url, ca_file = server.ca }
local kept = time(M, function(i)
  assert(one:create_membership{ email = ("ka%d@acme.com"):format(i), role_id = "user" })
end)
local fresh = time(M, function(i)
  local c = close.new{ api_key = server.api_key, base_url = server.https_url, ca_file = server.ca }
  assert(c:create_membership{ email = ("nc%d@acme.com"):format(i), role_id = "user" })
  c:close()
end)
print(("keep-alive over TLS: %.2f ms/call reused, %.2f ms/call new connection: %.1fx faster"):format(
  kept * 1e3, fresh * 1e3, fresh / kept))

-- 3. against the bare C program, in alternating rounds
local url = assert(os.getenv("CLOSE_BENCH_URL"), "run through bench/run.sh")
local ROUNDS, CALLS = tonumber(os.getenv("BENCH_ROUNDS") or 9), 2000
local client = close.new{ api_key = "ck_bench", base_url = url }
-- the very headers the client sends, as a transport sees them
local sent
assert(close.new{ api_key = "ck_bench", base_url = url, transport = function(req)
  sent = req
  return response
end }:create_membership{ email = "jane.doe@acme.com", role_id = "user" })
local cmd = { "build/bare_curl", "'" .. url .. "/membership/'", CALLS }
for name, value in pairs(sent.headers) do
  local line = name .. ": " .. value
  assert(not line:find("'", 1, true))
  cmd[#cmd + 1] = "'" .. line .. "'"
end
cmd = table.concat(cmd, " ")
local function bare()
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  local wall, cpu = out:match("wall_us ([%d.]+) cpu_us ([%d.]+)")
  assert(wall, "bare_curl: " .. out)
  return tonumber(wall), tonumber(cpu)
end
local function ours()
  local t0, c0 = core.now(), os.clock()
  for _ = 1, CALLS do
    assert(client:create_membership{ email = "jane.doe@acme.com", role_id = "user" })
  end
  return (core.now() - t0) / CALLS * 1e6, (os.clock() - c0) / CALLS * 1e6
end
local function median(t)
  table.sort(t)
  return t[math.floor((#t + 1) / 2)]
end
ours() -- warm up: the connection, the JIT where there is one
local bw, bc, ow, oc = {}, {}, {}, {}
for r = 1, ROUNDS do
  bw[r], bc[r] = bare()
  ow[r], oc[r] = ours()
end
local bwm, bcm, owm, ocm = median(bw), median(bc), median(ow), median(oc)
print(("cost per call, %d rounds of %d creates over one keep-alive connection (medians):"):format(ROUNDS, CALLS))
print(("  wall: close %.1f us, bare C libcurl %.1f us: ratio %.3f (target <= 1.15)"):format(owm, bwm, owm / bwm))
print(("  CPU of the client process: close %.1f us, bare C %.1f us: ratio %.3f"):format(ocm, bcm, ocm / bcm))

-- 4. memory and descriptors (bench/memory.lua)
print("memory and descriptors (after a warm-up; target: RSS grows < 1024 KiB, descriptors equal):")
for _, r in ipairs(require("bench.memory").run((url:gsub("/api/v1$", "/free/api/v1")))) do
  print(("  %s: RSS %+d KiB%s"):format(r.what, r.grew,
    r.fds and (", descriptors %d before the client, %d after its close"):format(r.fds[1], r.fds[2]) or ""))
end

-- 5 and 6. a batch at the rate limit (bench/batch.lua); BENCH_BATCH=0 skips it
if os.getenv("BENCH_BATCH") ~= "0" then
  require("bench.batch").run(tonumber(os.getenv("BENCH_BATCH_N") or 2000), os.getenv("CLOSE_TEST_APP_URL"))
end

-- 7. a sync of 2,000 lines with a tenth changed (bench/batch.lua)
if os.getenv("BENCH_BATCH") ~= "0" then
  require("bench.batch").sync(tonumber(os.getenv("BENCH_SYNC_N") or 2000))
end
