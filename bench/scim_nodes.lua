-- `make bench`, the two-node SCIM figures (run through scripts/with-server.sh
-- beside bench/scim.lua): SCIM reads (Okta's userName lookup) and writes
-- (PATCH of a stored attribute) at a fixed rate (wrk, bounded duration),
-- their p50/p99 through two close-scim --redis nodes behind
-- examples/scim-two-nodes.conf, through one --redis node, and through one
-- node with the embedded store (SQLite); then the failover time after a
-- kill -9 of one node under a provider's sequential writes.
local core = require "close.core"
local server = require "spec.support.server"
local scim = require "spec.openresty.support.scim"
local figures = require "bench.wrk_figures"
local nodes = require "spec.nodes.support"

local MEMBERS = tonumber(os.getenv("SCIM_BENCH_MEMBERS") or 1000)
local RATE = tonumber(os.getenv("SCIM_BENCH_NODES_RATE") or 100)
local SECONDS = tonumber(os.getenv("SCIM_BENCH_NODES_SECONDS") or 10)
local CONNECTIONS = 8

figures.need_wrk("bench/scim_nodes.lua")

server.reset()
figures.seed(MEMBERS, "node")
local dir = scim.tmpdir()
local ids = {}
for _, m in ipairs(server.state().memberships) do
  if m.active and m.email:match("^node%d+@acme%.com$") then ids[#ids + 1] = m.id .. " " .. m.email end
end
scim.write(dir .. "/ids", table.concat(ids, "\n") .. "\n")

-- wrk at RATE requests/s for SECONDS against url: {rps, p50, p99 (ms), note}
local function load(url, mode)
  local cmd = ("SCIM_MODE=%s SCIM_IDS=%s/ids SCIM_TOKEN=%s SCIM_RATE=%d SCIM_CONNECTIONS=%d "
    .. "wrk -t 1 -c %d -d %ds --timeout 5s --latency -s bench/scim_nodes_wrk.lua %s 2>&1")
    :format(mode, dir, scim.TOKEN, RATE, CONNECTIONS, CONNECTIONS, SECONDS, url)
  local r = figures.parse(scim.capture(cmd))
  r.note = r.non2xx and (", " .. r.non2xx .. " not 2xx") or ""
  return r
end

local function warm(base, o)
  for i = 1, 10 do
    local status = scim.request("GET", base .. ('/Users?filter=userName+eq+%%22node%05d@acme.com%%22'):format(i),
      nil, o)
    assert(status == 200, "warm-up lookup failed: " .. tostring(status))
  end
end

local function line(label, r)
  return ("    %-44s %6.1f/s  p50 %6.2f ms  p99 %6.2f ms%s"):format(label, r.rps, r.p50, r.p99, r.note)
end

local rows, single, t = {}, nil, nil
local first_ok, failed, gap, killed, answers

local function measure()
  -- one node, the embedded store
  single = assert(scim.start{ args = { "--workers", "2" }, env = nodes.API_ENV })
  warm(single.base)
  local origin = single.base:gsub("/scim/v2$", "")
  rows[#rows + 1] = line("reads, one node, embedded store (SQLite)", load(origin, "read"))
  rows[#rows + 1] = line("writes, one node, embedded store (SQLite)", load(origin, "write"))
  scim.cleanup(single)
  single = nil

  -- two --redis nodes: one of them directly, then both behind the balancer
  t = nodes.start{ workers = 2 }
  warm(t.nodes[1].base)
  origin = t.nodes[1].base:gsub("/scim/v2$", "")
  rows[#rows + 1] = line("reads, one node, Redis", load(origin, "read"))
  rows[#rows + 1] = line("writes, one node, Redis", load(origin, "write"))
  local lb = nodes.balance(t)
  warm(t.nodes[2].base)
  origin = lb.base:gsub("/scim/v2$", "")
  rows[#rows + 1] = line("reads, two nodes behind nginx (TLS), Redis", load(origin, "read"))
  rows[#rows + 1] = line("writes, two nodes behind nginx (TLS), Redis", load(origin, "write"))

  -- failover: sequential PATCHes through the balancer (the provider's way,
  -- retried after a failure), node 1 killed with -9 one second in
  local master = assert(scim.master(t.nodes[1]))
  local workers = scim.capture("pgrep -P " .. master):gsub("%s+", " ")
  local killed_file = dir .. "/killed"
  assert(scim.sh(("(sleep 1; date +%%s.%%N >%s; kill -9 %d %s) >/dev/null 2>&1 &")
    :format(killed_file, master, workers)))
  answers = {}
  local first_id = ids[1]:match("^(%S+)")
  local t_end = core.now() + 4
  for _ = 1, 4000 do
    if core.now() > t_end then break end
    local status = nodes.try("PATCH", lb.base .. "/Users/" .. first_id, { schemas = { nodes.PATCH },
      Operations = { { op = "replace", path = "displayName", value = "Failover" } } }, { ca_file = lb.ca })
    answers[#answers + 1] = { at = core.time(), status = status }
  end
  killed = tonumber(scim.read(killed_file) or "")
  -- core.time is the wall clock in seconds, as date +%s.%N wrote the kill's
  failed, gap = 0, 0
  local last_ok
  for _, a in ipairs(answers) do
    if a.status == 200 then
      if last_ok then gap = math.max(gap, a.at - last_ok) end
      last_ok = a.at
      if killed and a.at > killed and not first_ok then first_ok = a.at end
    else
      failed = failed + 1
    end
  end
end

-- what was started is stopped, also when a step fails
local ok, err = pcall(measure)
if single then scim.cleanup(single) end
if t then nodes.stop(t) end
scim.sh("rm -rf " .. dir)
if not ok then error(err, 0) end

print(("SCIM on two nodes, %d members (the local server over loopback; %d requests/s asked for %d s, %d "
  .. "connections, wrk -t 1 paced by bench/scim_nodes_wrk.lua):"):format(MEMBERS, RATE, SECONDS, CONNECTIONS))
for _, r in ipairs(rows) do print(r) end
print(("    failover, kill -9 of one node under sequential PATCHes through the balancer: first 200 after the kill "
  .. "%s, longest gap between two 200s %.0f ms, %d of %d requests failed (the provider retries them)")
  :format(first_ok and killed and ("%.0f ms after it"):format((first_ok - killed) * 1000) or "not seen",
    gap * 1000, failed, #answers))
print(("    load average %s"):format((scim.read("/proc/loadavg") or ""):match("^(%S+)")))
