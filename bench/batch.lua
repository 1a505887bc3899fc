-- make bench, parts 5 and 6: a batch at Close's rate limits. The local
-- server answers after 100 ms (a remote Close) and allows 40 calls per
-- second per key and endpoint group; 2,000 creates go through client:batch
-- (libcurl multi in plain Lua, then ngx.threads inside the app nginx).
-- Targets: at least 95% of the limit, at most 1% of requests answered 429,
-- every email created exactly once; a sequential baseline beside it.
local close = require "close"
local core = require "close.core"
local cjson = require "cjson"
local server = require "spec.support.server"

local LIMIT, LATENCY = 40, 0.1

local M = {}

local function setup()
  server.reset()
  server.config{ rate_limit = LIMIT, rate_window = 1, latency = LATENCY }
end

-- how many of the emails with this tag exist, and whether each exists once
local function once(tag, n)
  local by = {}
  for _, m in ipairs(server.state().memberships) do by[m.email] = (by[m.email] or 0) + 1 end
  local good = 0
  for i = 1, n do if by[("%s%d@acme.com"):format(tag, i)] == 1 then good = good + 1 end end
  return good == n, good
end

local function report(label, n, ok, elapsed, stats, exactly)
  local r429 = stats.by_status and stats.by_status["429"] or 0
  local rate = ok / elapsed
  print(("  %s: %d of %d created in %.1f s: %.1f/s = %.1f%% of the limit (target >= 95%%); "
    .. "%d of %d requests answered 429 = %.2f%% (target <= 1%%); each email once: %s"):format(label, ok, n,
    elapsed, rate, 100 * rate / LIMIT, r429, stats.requests, 100 * r429 / math.max(stats.requests, 1),
    exactly and "yes" or "NO"))
  return rate
end

function M.run(n, app_url)
  n = n or 2000
  print(("batch at the rate limit: %d creates, %g ms latency, %d calls/s per key and endpoint group:"):format(n,
    LATENCY * 1000, LIMIT))
  setup()
  local client = close.new{ api_key = server.api_key, base_url = server.http_url }
  -- the baseline: one call at a time
  local seq_n = 20
  local t0 = core.now()
  for i = 1, seq_n do assert(client:create_membership{ email = ("seq%d@acme.com"):format(i), role_id = "user" }) end
  local seq_rate = seq_n / (core.now() - t0)
  print(("  sequential baseline: %.1f/s"):format(seq_rate))

  setup()
  local items = {}
  for i = 1, n do items[i] = ("bulk%d@acme.com"):format(i) end
  t0 = core.now()
  local out, _, meta = client:batch(items, function(c, email) return c:create_membership{ email = email,
    role_id = "user" } end)
  local elapsed = core.now() - t0
  local ok = 0
  for _, o in ipairs(out) do if o.ok then ok = ok + 1 end end
  local rate = report("libcurl multi", n, ok, elapsed, server.stats(), once("bulk", n))
  print(("    peak concurrency %d; %.1fx the sequential baseline"):format(meta.peak_concurrency, rate / seq_rate))
  client:close()

  if app_url then
    setup()
    local http = core.http()
    local res = assert(http:request{ method = "POST", url = app_url .. "/batch", timeout = 900,
      headers = { ["Content-Type"] = "application/json" },
      body = cjson.encode({ n = n, tag = "ngx", concurrency = "auto", timeout = 30, deadline = 120 }) })
    assert(res.status == 200, res.body)
    local doc = cjson.decode(res.body)
    rate = report("nginx cosockets", n, doc.ok, doc.elapsed, server.stats(), once("ngx", n))
    print(("    peak concurrency %d; %d connections opened, %d reused; %.1fx the sequential baseline"):format(
      doc.peak_concurrency, doc.transport.connects, doc.transport.reused, rate / seq_rate))
  end
end

--- A sync of n lines, a tenth of them changes (half new members, half role
-- changes), at the same latency and limit; then the same sync again.
function M.sync(n)
  n = n or 2000
  setup()
  local seed, rows = {}, {}
  local changes = math.floor(n / 10)
  for i = 1, n - changes / 2 do seed[#seed + 1] = { email = ("sync%d@acme.com"):format(i), role_id = "user" } end
  server.add_members(seed)
  for i = 1, n do
    rows[i] = { line = i, email = ("sync%d@acme.com"):format(i), role_id = i <= changes / 2 and "superuser" or "user" }
  end
  local client = close.new{ api_key = server.api_key, base_url = server.http_url }
  local t0 = core.now()
  local plan = assert(client:plan_sync(rows))
  local planned = core.now() - t0
  local t1 = core.now()
  local out = client:apply_plan(plan)
  local applied = core.now() - t1
  local ok = 0
  for _, o in ipairs(out) do if o.ok then ok = ok + 1 end end
  local again = assert(client:plan_sync(rows))
  local writes = 0
  for _, item in ipairs(again.items) do if item.action ~= "unchanged" then writes = writes + 1 end end
  print(("sync of %d lines with %d changes (%d created, %d role changes): plan %.1f s; %d of %d applied in %.1f s "
    .. "(%.1f changes/s); %d answered 429; the second sync plans %d writes"):format(n, #out,
    plan.counts.create or 0, plan.counts.change_role or 0, planned, ok, #out, applied, ok / applied,
    server.stats().by_status["429"] or 0, writes))
  client:close()
end

return M
