-- client:batch and the pacer with a fake clock: a transport of ours that
-- "takes" latency by yielding to the scheduler, and a sleep that only moves
-- the clock. Deterministic: no real time passes.
local close = require "close"
local pacer = require "close.pacer"
local fake = require "spec.unit.support.fake"

-- A client whose transport answers after `latency` fake seconds; `respond`
-- (optional) picks the response for a request. Records every send.
local function setup(opts)
  opts = opts or {}
  local h = { now = 0, wall = 1700000000, sends = {}, inflight = 0, peak = 0 }
  local latency = opts.latency or 0.1
  local function transport(req)
    h.inflight = h.inflight + 1
    if h.inflight > h.peak then h.peak = h.inflight end
    h.sends[#h.sends + 1] = { at = h.now, method = req.method, url = req.url, body = req.body }
    local n = #h.sends
    coroutine.yield("sleep", latency)
    h.inflight = h.inflight - 1
    if opts.respond then return opts.respond(req, h, n) end
    return fake.ok()
  end
  local o = { api_key = fake.KEY, transport = transport, clock = function() return h.now end,
    wallclock = function() return h.wall end, random = function() return 0.5 end,
    sleep = function(s) h.now, h.wall = h.now + s, h.wall + s end }
  for k, v in pairs(opts.client or {}) do o[k] = v end
  h.client = close.new(o)
  return h
end

local function emails(n)
  local t = {}
  for i = 1, n do t[i] = ("u%d@acme.com"):format(i) end
  return t
end

local function create(client, email) return client:create_membership{ email = email, role_id = "user" } end

describe("client:batch", function()
  it("returns one outcome per item in input order, and reports each as it finishes", function()
    local h = setup()
    local seen = {}
    local out, err, meta = h.client:batch(emails(25), create, { concurrency = 5,
      on_result = function(i, item, result, rerr) seen[#seen + 1] = { i, item, result and result.id, rerr } end })
    assert.is_nil(err)
    assert.equal(25, #out)
    for i = 1, 25 do
      assert.is_true(out[i].ok)
      assert.equal("memb_1a2b3c", out[i].result.id)
      assert.equal(1, out[i].meta.attempts)
    end
    assert.equal(25, #seen)
    assert.equal(0, meta.not_started)
    assert.equal(5, meta.peak_concurrency)
    assert.equal(5, h.peak)
    -- 25 calls of 0.1 s, 5 at once: 0.5 s, not 2.5
    assert.is_true(h.now >= 0.5 - 1e-9 and h.now < 0.6, tostring(h.now))
  end)

  it("waits between retries on a timer: the others go on", function()
    local h = setup{ respond = function(req, _, n)
      if req.body:find("u1@", 1, true) and n == 1 then return fake.status(503, "") end
      return fake.ok()
    end }
    local out = h.client:batch(emails(10), create, { concurrency = 10 })
    assert.equal(2, out[1].meta.attempts)
    for i = 2, 10 do assert.equal(1, out[i].meta.attempts) end
    -- u1 waited its backoff (0.5 s with this jitter) while nine others finished in 0.1 s
    assert.is_true(h.now < 0.8, tostring(h.now))
    assert.equal(11, #h.sends)
  end)

  it("starts no new item after an auth error; those never started say so", function()
    local h = setup{ respond = function(req)
      if req.body:find("u3@", 1, true) then return fake.status(401, '{"error":"Invalid API key"}') end
      return fake.ok()
    end }
    local out, _, meta = h.client:batch(emails(20), create, { concurrency = 2 })
    assert.equal("auth", out[3].err.kind)
    assert.is_true(out[1].ok and out[2].ok)
    assert.equal("auth", meta.stopped.kind)
    local started = 0
    for i = 1, 20 do
      if out[i].err and out[i].err.kind == "not_started" then
        assert.equal("not started: the batch stopped after a auth error (Invalid API key)", out[i].err.message)
      else
        started = started + 1
      end
    end
    assert.equal(4, started) -- 1, 2, 3 and the one running beside 3
    assert.equal(16, meta.not_started)
  end)

  it("auto concurrency grows while calls are latency-bound and the server has room", function()
    local h = setup()
    local _, _, meta = h.client:batch(emails(200), create)
    assert.is_true(meta.peak_concurrency > 20, tostring(meta.peak_concurrency))
    assert.is_true(meta.peak_concurrency <= 64)
  end)

  it("a 429 pauses the whole group until the reset it names; another group goes on", function()
    local limited = false
    local h = setup{ respond = function(req)
      if req.method == "POST" and not limited then
        limited = true
        return fake.status(429, "", { ["retry-after"] = "2" })
      end
      if req.method == "GET" then return fake.ok('{"id":"memb_x","role_id":"user"}') end
      return fake.ok()
    end }
    local items = {}
    for i = 1, 10 do items[i] = i end
    h.client:batch(items, function(client, i)
      if i % 2 == 0 then return client:request("GET", "/membership/memb_abc/", {}) end
      return create(client, ("p%d@acme.com"):format(i))
    end, { concurrency = 10 })
    local posts_before, gets_late = 0, 0
    for _, s in ipairs(h.sends) do
      if s.method == "POST" and s.at > 0 and s.at < 2 then posts_before = posts_before + 1 end
      if s.method == "GET" and s.at >= 2 then gets_late = gets_late + 1 end
    end
    -- after the 429 at t=0.1 no POST goes out before t=2.1; the GETs never waited
    assert.equal(0, posts_before)
    assert.equal(0, gets_late)
  end)

  it("keeps the OAuth refresh to one token request for 20 items", function()
    local tokens = 0
    local h = { now = 0, wall = 1700000000 }
    local o = { oauth = { client_id = "cid", client_secret = "csecret", refresh_token = "ref_1" },
      transport = function(req)
        coroutine.yield("sleep", 0.05)
        if req.url:find("/oauth2/token/", 1, true) then
          tokens = tokens + 1
          return fake.ok('{"token_type":"Bearer","access_token":"acc_new","expires_in":3600,"refresh_token":"ref_2"}')
        end
        assert.equal("Bearer acc_new", req.headers.Authorization)
        return fake.ok()
      end,
      clock = function() return h.now end, wallclock = function() return h.wall end,
      sleep = function(s) h.now = h.now + s end }
    local client = close.new(o)
    local out = client:batch(emails(20), create, { concurrency = 20 })
    for i = 1, 20 do assert.is_true(out[i].ok, out[i].err and tostring(out[i].err)) end
    assert.equal(1, tokens)
  end)

  it("raises what an item raised, after putting the client back as it was", function()
    local h = setup()
    assert.has_error(function()
      h.client:batch({ 1, 2, 3 }, function(client, i)
        if i == 2 then error("boom", 0) end
        return create(client, "a@acme.com")
      end, { concurrency = 1 })
    end, "close: batch: item 2 raised: boom")
    -- nothing is left behind: the next batch runs as if none had failed
    local out = h.client:batch(emails(3), create, { concurrency = 3 })
    for i = 1, 3 do assert.is_true(out[i].ok) end
  end)

  it("refuses bad arguments and a batch inside a batch", function()
    local h = setup()
    assert.has_error(function() h.client:batch("x", create) end, "close: batch expects a list of items, got string")
    assert.has_error(function() h.client:batch({}, 42) end, "close: batch expects a function(client, item), got number")
    assert.has_error(function() h.client:batch({}, create, { concurrency = 0 }) end,
      "close: batch: concurrency must be \"auto\" or a whole number from 1 to 1000")
    assert.has_error(function() h.client:batch({}, create, { speed = 1 }) end, "close: batch: unknown option 'speed'")
    assert.has_error(function()
      h.client:batch({ 1 }, function(client) return client:batch({ 1 }, create) end)
    end, "close: batch: item 1 raised: close: batch: this client runs a batch already")
    local out, err, meta = h.client:batch({}, create)
    assert.same({}, out)
    assert.is_nil(err)
    assert.equal(0, meta.not_started)
  end)
end)

describe("close.pacer", function()
  it("names groups by method and path template", function()
    assert.equal("POST /api/v1/membership/", pacer.group("POST", "https://api.close.com/api/v1/membership/"))
    assert.equal("PUT /membership/{id}/", pacer.group("PUT", "/membership/memb_abc123/"))
    assert.equal("GET /organization/{id}/", pacer.group("GET", "/organization/orga_X1/?_fields=memberships"))
  end)

  it("sends at an even pace a little under the limit, learnt from the headers", function()
    local p = pacer.new()
    local g = "POST /membership/"
    assert.equal(0, p:delay(g, 0)) -- nothing known yet: go
    p:update(g, 0.1, { limit = 40, remaining = 39, reset = 1 }, 200)
    local step = 1 / (40 * 0.97)
    assert.equal(0, p:delay(g, 0.1))
    assert.is_true(math.abs(p:delay(g, 0.1) - step) < 1e-9)
    assert.is_true(math.abs(p:delay(g, 0.1) - 2 * step) < 1e-9)
    assert.is_true(math.abs(p:snapshot()[g].interval - step) < 1e-9)
  end)

  it("holds a group with nothing left until its reset", function()
    local p = pacer.new()
    local g = "POST /membership/"
    p:delay(g, 0)
    p:update(g, 0, { limit = 40, remaining = 0, reset = 0.5 }, 200)
    assert.is_true(math.abs(p:delay(g, 0) - 0.5) < 1e-9)
    assert.is_false(p:has_room(g, 0.2))
  end)

  it("pauses on a 429, slows the group by a fifth, and grows it back as calls succeed", function()
    local p = pacer.new()
    local g, other = "POST /membership/", "GET /me/"
    p:delay(g, 0)
    p:update(g, 1, { limit = 40, remaining = 20, reset = 1 }, 429, 3)
    assert.is_true(math.abs(p:snapshot()[g].factor - 0.8) < 1e-9)
    assert.equal(4, p:snapshot()[g].paused_until)
    assert.equal(3, p:delay(g, 1))
    assert.equal(0, p:delay(other, 1))
    for _ = 1, 5 do p:update(g, 5, nil, 200) end
    assert.is_true(p:snapshot()[g].factor < 0.95)
    for _ = 1, 10 do p:update(g, 5, nil, 200) end
    assert.equal(1, p:snapshot()[g].factor)
  end)
end)
