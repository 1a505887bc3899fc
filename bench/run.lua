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
-- 3. Cost per call (the target: at most 1.10): 2,000 sequential creates over
--    one keep-alive connection to an nginx that answers at once
--    (bench/nginx.conf.in), against build/bare_curl doing the same POSTs
--    with the same headers and body; 11 rounds alternate, medians compared.
--    Inside nginx (bench/cosocket.lua): the same creates through close's
--    cosocket transport against a bare cosocket request, the worker's CPU
--    per call (the target: close adds at most 30 us).
-- Each figure is printed beside the previous release's (bench/previous.txt,
-- measured on this machine at that release).
local close = require "close"
local core = require "close.core"
local cjson = require "cjson"
local server = require "spec.support.server"

-- the previous release's figures: "name value" lines
local previous = {}
do
  local f = io.open("bench/previous.txt")
  for line in (f and f:read("*a") or ""):gmatch("[^\n]+") do
    local k, v = line:match("^(%S+)%s+(%S+)")
    if k and not k:match("^#") then previous[k] = v end
  end
  if f then f:close() end
end
local function was(name, unit)
  return previous[name] and (" (previous release: %s%s)"):format(previous[name], unit or "") or ""
end

local function time(n, f)
  f(0) -- warm up
  local t0 = core.now()
  for i = 1, n do f(i) end
  return (core.now() - t0) / n
end

local reply = '{"id":"memb_JPCqDJq0AmoZFhemXAWrWk9327DqfJgUF2VGPMOL4Lp","role_id":"user"}'
local response = { status = 200, headers = { ratelimit = "limit=100, remaining=99, reset=1" }, body = reply }
local stub = close.new{ api_key = "ck_bench", transport = function() return response end }

-- BENCH_COST_ONLY=1: section 3 alone (make bench runs it again on LuaJIT)
local COST_ONLY = os.getenv("BENCH_COST_ONLY") == "1"
local RUNTIME = jit and jit.version or _VERSION
local curl_major, curl_minor = core.curl_version():match("^(%d+)%.(%d+)")
local libcurl_before_8_1 = tonumber(curl_major) * 1000 + tonumber(curl_minor) < 8001

if not COST_ONLY then
  local N = 20000
  local baseline = time(N, function()
    local body = cjson.encode({ email = "jane.doe@acme.com", role_id = "user" })
    local doc = cjson.decode(response.body)
    return body, doc
  end)
  local client_cost = time(N, function()
    return assert(stub:create_membership{ email = "jane.doe@acme.com", role_id = "user" })
  end)
  print(("overhead: close %.2f us/call%s, hand-written %.2f us/call: ratio %.2f"):format(
    client_cost * 1e6, was("overhead_us", " us"), baseline * 1e6, client_cost / baseline))

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
end -- not COST_ONLY

-- 3. against the bare C program, in alternating rounds
local url = assert(os.getenv("CLOSE_BENCH_URL"), "run through bench/run.sh")
local ROUNDS, CALLS = tonumber(os.getenv("BENCH_ROUNDS") or 11), 2000
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
-- libcurl before 8.1.0 needs a new easy handle per request (curl #11101):
-- bare C doing so too is the floor that version puts under close's figure
local fresh = libcurl_before_8_1 and cmd:gsub("^build/bare_curl", "build/bare_curl --fresh")
local function bare(command)
  local p = assert(io.popen(command or cmd))
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
local bw, bc, ow, oc, fw = {}, {}, {}, {}, {}
for r = 1, ROUNDS do
  bw[r], bc[r] = bare()
  if fresh then fw[r] = bare(fresh) end
  ow[r], oc[r] = ours()
end
local bwm, bcm, owm, ocm = median(bw), median(bc), median(ow), median(oc)
print(("cost per call on %s, %d rounds of %d creates over one keep-alive connection (medians):")
  :format(RUNTIME, ROUNDS, CALLS))
print(("  wall: close %.1f us, bare C libcurl %.1f us: ratio %.3f%s (target <= 1.10)"):format(owm, bwm, owm / bwm,
  was(jit and "wall_ratio_luajit" or "wall_ratio")))
print(("  CPU of the client process: close %.1f us, bare C %.1f us: ratio %.3f%s"):format(ocm, bcm, ocm / bcm,
  was(jit and "cpu_ratio_luajit" or "cpu_ratio")))
if fresh then
  print(("  floor of libcurl %s: bare C with a new easy handle per request %.1f us: ratio %.3f")
    :format(core.curl_version(), median(fw), median(fw) / bwm))
end

if COST_ONLY then return end

-- 3b. inside nginx: close's cosocket transport against a bare cosocket request
local cosocket = os.getenv("CLOSE_BENCH_COSOCKET_URL")
if cosocket then
  local http = core.http()
  local function inside(mode)
    local res = assert(http:request({ method = "GET", timeout = 120,
      url = ("%s?mode=%s&calls=%d&url=%s"):format(cosocket, mode, CALLS, url) }))
    local cpu, wall = res.body:match("cpu_us ([%d.]+) wall_us ([%d.]+)")
    assert(cpu, "bench/cosocket.lua: " .. res.status .. " " .. res.body)
    return tonumber(cpu), tonumber(wall)
  end
  local cc, cb, wc, wb = {}, {}, {}, {}
  for r = 1, ROUNDS do
    cb[r], wb[r] = inside("bare")
    cc[r], wc[r] = inside("close")
  end
  local ccm, cbm = median(cc), median(cb)
  print(("cosocket inside nginx, %d rounds of %d creates over one pooled connection (medians):"):format(ROUNDS, CALLS))
  print(("  worker CPU: close %.1f us, bare cosocket %.1f us: close adds %.1f us per call%s (target <= 30)"):format(
    ccm, cbm, ccm - cbm, was("cosocket_added_cpu_us", " us")))
  print(("  wall: close %.1f us, bare cosocket %.1f us"):format(median(wc), median(wb)))
  http:close()
end

-- 3c. instructions per create (callgrind: the count at 1,500 calls less
-- the count at 500, over 1,000), close against bare_curl: what the machine's
-- load cannot change. BENCH_CALLGRIND=0 skips it (it takes a minute).
if os.getenv("BENCH_CALLGRIND") ~= "0" then
  local function instructions(command, env)
    local p = assert(io.popen((env or "") .. " valgrind --tool=callgrind --callgrind-out-file=/dev/null "
      .. command .. " 2>&1"))
    local out = p:read("*a")
    p:close()
    local n = out:match("I%s+refs:%s+([%d,]+)")
    assert(n, "callgrind: " .. out)
    return tonumber((n:gsub(",", "")))
  end
  local env = ("LUA_PATH=%q LUA_CPATH=%q"):format(package.path, package.cpath)
  local lua = ("%s bench/loop.lua '%s'"):format(arg[-1], url)
  local per_close = (instructions(lua .. " 1500", env) - instructions(lua .. " 500", env)) / 1000
  local before, after = cmd:match("^(.-) " .. CALLS .. " (.*)$")
  local function bare_n(n) return before .. " " .. n .. " " .. after end
  local per_bare = (instructions(bare_n(1500)) - instructions(bare_n(500))) / 1000
  print(("instructions per create over libcurl (callgrind): close %.0f%s, bare C %.0f: ratio %.2f"):format(
    per_close, was("instructions_per_call"), per_bare, per_close / per_bare))
end

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
