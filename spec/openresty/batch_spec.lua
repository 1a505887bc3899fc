-- client:batch inside nginx (test/openresty, POST /batch): an ngx.thread
-- per item over the cosocket transport, against the local Close server.
-- Every item gets exactly one outcome whatever the server does, the calls
-- really run at once, a fatal error stops new items, and the connections
-- are reused from the cosocket pool.
local server = require "spec.support.server"
local app = require "spec.openresty.support.app"

-- POST /batch; returns the app's counts (see close_app.lua).
local function batch(params, timeout)
  local status, doc, res = app.post_json(app.url .. "/batch", params, timeout or 60)
  assert(status == 200, "app answered HTTP " .. status .. ": " .. res.body)
  return doc
end

local function count(t)
  local n = 0
  for _ in pairs(t or {}) do n = n + 1 end
  return n
end

-- how many memberships of the server have each email
local function emails()
  local seen = {}
  for _, m in ipairs(server.state().memberships) do seen[m.email] = (seen[m.email] or 0) + 1 end
  return seen
end

-- the API requests of the server and the distinct connections they came on
local function connections(reqs)
  local seen, n = {}, 0
  for _, r in ipairs(reqs) do
    assert.is_number(r.connection, "a request without a connection serial")
    if not seen[r.connection] then seen[r.connection], n = true, n + 1 end
  end
  return n
end

describe("client:batch inside OpenResty", function()
  before_each(function() server.reset() end)

  it("gives 200 items one outcome each through 503s, a reset and a 429, creating each once", function()
    local n, tag = 200, "bf"
    server.faults{
      { mode = "status", status = 503, times = 3, body = "unavailable" },
      { mode = "reset" },
      { mode = "status", status = 429, headers = { ["Retry-After"] = "1" },
        body = '{"error": {"message": "API call count exceeded for this period", "rate_reset": 1}}' },
    }
    -- a pool of its own: the faults meet new connections (a reset on a pooled
    -- one is sent again by the transport, unseen by the retries)
    local r = batch{ n = n, concurrency = 20, tag = tag, pool = app.unique("batch-faults") }
    print(("\n  %d items at concurrency 20 through 5 faults: %.3f s, %d attempts, peak %d"):format(
      n, r.elapsed, r.attempts, r.peak_concurrency))
    assert.equal(n, r.outcomes)
    assert.equal(0, r.missing)
    assert.equal(n, r.ok, "failed: " .. require("cjson").encode(r.failed))
    assert.equal(0, count(r.failed))
    assert.equal(0, r.not_started)
    assert.is_nil(r.stopped)
    assert.equal(n, r.fn_calls)
    assert.equal(1, r.fn_calls_max)
    assert.equal(n, r.on_result_calls)
    assert.equal(20, r.peak_concurrency)
    -- every faulted attempt was retried once; the 429's Retry-After was waited for
    assert.is_true(r.attempts >= n + 4 and r.attempts <= n + 5, "attempts " .. r.attempts)
    assert.is_true(r.elapsed >= 0.9, ("took only %.3f s"):format(r.elapsed))
    assert.is_true(r.elapsed < 20, ("took %.3f s"):format(r.elapsed))
    local reqs = server.requests()
    assert.equal(n + 5, #reqs)
    local seen = emails()
    for i = 1, n do
      assert.equal(1, seen[tag .. i .. "@acme.com"], "membership " .. tag .. i .. " created once")
    end
  end)

  it("runs the calls at once: 100 calls of 100 ms at concurrency 20 in far less than 10 s", function()
    local n, delay = 100, 0.1
    server.faults{ { mode = "delay", seconds = delay, times = n } }
    local r = batch{ n = n, concurrency = 20, tag = "bc", pool = "batch-delay" }
    local reqs = server.requests()
    print(("\n  %d calls of %.0f ms at concurrency 20: %.3f s (sequential: %.1f s)"):format(
      n, delay * 1000, r.elapsed, n * delay))
    assert.equal(n, r.ok)
    assert.equal(n, #reqs)
    assert.equal(20, r.peak_concurrency)
    -- five rounds of 20 at the least; a quarter of sequential at the most
    assert.is_true(r.elapsed >= (n / 20) * delay * 0.9, ("took only %.3f s"):format(r.elapsed))
    assert.is_true(r.elapsed < n * delay / 4, ("took %.3f s"):format(r.elapsed))
    -- the server had the first 20 at once: they arrived within one delay
    local lo, hi = math.huge, -math.huge
    for i = 1, 20 do lo, hi = math.min(lo, reqs[i].time), math.max(hi, reqs[i].time) end
    assert.is_true(hi - lo < delay, ("the first 20 arrived over %.3f s"):format(hi - lo))
  end)

  it("stops starting items after an auth error (wrong API key)", function()
    local n = 50
    local r = batch{ n = n, concurrency = 5, tag = "bk", bad_key = true, pool = "batch-auth" }
    assert.equal(n, r.outcomes)
    assert.equal("auth", r.stopped)
    assert.equal(0, r.ok)
    -- those already running when the first 401 came end with it; no other starts
    assert.is_true(r.not_started >= n - 5, "not started: " .. r.not_started)
    assert.equal(n - r.not_started, r.failed.auth)
    assert.equal(r.not_started, r.failed.not_started)
    assert.equal(n - r.not_started, r.fn_calls)
    assert.equal(n - r.not_started, #server.requests())
  end)

  it("keeps the outcome of items whose threads end before the batch waits", function()
    -- an invalid email fails before any I/O: its thread is over when spawn
    -- returns, and several such are waiting to be collected at once
    local n, invalid = 60, 30
    local r = batch{ n = n, concurrency = 10, tag = "bz", invalid = invalid, pool = "batch-zombie" }
    assert.equal(n, r.outcomes)
    assert.equal(0, r.missing)
    assert.equal(n - invalid, r.ok)
    assert.equal(invalid, r.failed.validation)
    assert.equal(1, count(r.failed))
    assert.equal(0, r.not_started)
    assert.equal(n, r.fn_calls)
    assert.equal(1, r.fn_calls_max)
    assert.equal(n - invalid, #server.requests())
  end)

  it("lets on_result yield (ngx.sleep) without losing an outcome", function()
    local n = 40
    local r = batch{ n = n, concurrency = 8, tag = "by", on_result_sleep = 0.01, pool = "batch-yield" }
    assert.equal(n, r.ok)
    assert.equal(0, r.missing)
    assert.equal(n, r.on_result_calls)
    assert.equal(n, r.fn_calls)
    assert.equal(1, r.fn_calls_max)
    assert.equal(n, #server.requests())
  end)

  describe("connection reuse", function()
    it("sends 99% of 2,000 calls at concurrency 10 over reused connections", function()
      local n, conc = 2000, 10
      local r = batch({ n = n, concurrency = conc, op = "me", pool = app.unique("batch-reuse") }, 120)
      local reqs = server.requests()
      local conns = connections(reqs)
      local ratio = 1 - conns / #reqs
      print(("\n  %d calls at concurrency %d: %.3f s, %d attempts; server: %d requests over %d connections "
        .. "(%.2f%% reused); transport: %d connects, %d reused"):format(n, conc, r.elapsed, r.attempts, #reqs, conns,
        ratio * 100, r.transport.connects, r.transport.reused))
      assert.equal(n, r.ok, "failed: " .. require("cjson").encode(r.failed))
      assert.equal(n, #reqs)
      assert.is_true(conns * 100 <= #reqs, ("%d requests over %d connections"):format(#reqs, conns))
      assert.equal(n, r.transport.connects + r.transport.reused)
      assert.is_true(r.transport.reused * 100 >= 99 * n, "reused " .. r.transport.reused)
      -- a fresh pool: one connection per thread, opened once
      assert.is_true(r.transport.connects <= conc, "connects " .. r.transport.connects)
    end)

    -- Within a batch a connection goes back to the pool and out again at
    -- once; all of them are idle together when the batch ends, or waits (a
    -- 429's pause): then a pool smaller than the batch closes the surplus.
    local function twice(conc, pool_size)
      local pool = app.unique("batch-wide")
      local first = batch{ n = 200, concurrency = conc, op = "me", pool = pool, pool_size = pool_size }
      local second = batch{ n = 200, concurrency = conc, op = "me", pool = pool, pool_size = pool_size }
      assert.equal(200, first.ok)
      assert.equal(200, second.ok)
      assert.equal(conc, second.peak_concurrency)
      return first, second, connections(server.requests())
    end

    it("keeps every connection of a batch wider than nginx's default pool (30) for the next", function()
      local conc = 50
      local first, second, conns = twice(conc)
      print(("\n  two batches of 200 at concurrency %d: connects %d then %d; server: %d connections"):format(
        conc, first.transport.connects, second.transport.connects, conns))
      assert.is_true(first.transport.connects <= conc)
      assert.equal(0, second.transport.connects)
      assert.is_true(conns <= conc, conns .. " connections")
    end)

    it("(control) with a pool of 30 the next batch connects again", function()
      local conc = 50
      local first, second, conns = twice(conc, 30)
      print(("\n  pool_size 30: connects %d then %d; server: %d connections"):format(
        first.transport.connects, second.transport.connects, conns))
      assert.is_true(second.transport.connects >= conc - 30, "connects " .. second.transport.connects)
      assert.is_true(conns >= conc + (conc - 30))
    end)
  end)
end)
