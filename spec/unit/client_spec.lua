-- The client's owned state: pacing of single calls, the closed client, the
-- cache's expiry and refresh, the bounded list of secrets to scrub.
local close = require "close"
local auth = require "close.auth"
local fake = require "spec.unit.support.fake"

local ROLES = '{"data":[{"id":"role_1","name":"Sales"}],"has_more":false}'
local EXHAUSTED = { ["ratelimit"] = "remaining=0, reset=5" }

describe("close.new{pace = true}", function()
  it("paces single calls as batch items: with nothing left in the window, the next call waits for it", function()
    local h = fake.harness({ fake.ok(nil, EXHAUSTED) }, { pace = true })
    for _ = 1, 3 do assert(fake.create(h)) end
    -- the first call knows nothing yet; the second and third wait the 5 s the server named
    assert.same({ 5, 5 }, h.waits)
    assert.equal(3, #h.calls)
    local pacing = h.client:pacing()
    assert.is_table(pacing["POST /membership/"])
  end)

  it("without pace, single calls do not wait and the pacer stays empty", function()
    local h = fake.harness({ fake.ok(nil, EXHAUSTED) })
    for _ = 1, 3 do assert(fake.create(h)) end
    assert.same({}, h.waits)
    assert.same({}, h.client:pacing())
  end)

  it("a batch does not change how the client's own calls go afterwards", function()
    local h = fake.harness({ fake.ok(nil, EXHAUSTED) })
    local out = h.client:batch({ 1, 2 }, function(c) return fake.create({ client = c }) end, { concurrency = 1 })
    assert.is_true(out[1].ok and out[2].ok)
    local waits = #h.waits
    assert(fake.create(h))
    assert(fake.create(h))
    assert.equal(waits, #h.waits) -- unpaced again: the batch's pacing was the scheduler's, not the client's
  end)
end)

describe("client:close()", function()
  it("a closed client returns nil, err of kind closed and sends nothing", function()
    local h = fake.harness({ fake.ok() })
    h.client:close()
    local m, err = fake.create(h)
    assert.is_nil(m)
    assert.equal("closed", err.kind)
    assert.equal(0, err.attempts)
    assert.equal("close: closed: the client is closed (client:close() was called) (POST " .. fake.URL .. ")",
      tostring(err))
    assert.equal(0, #h.calls)
  end)

  it("with the default libcurl transport: closed, not an error raised from the transport", function()
    local client = close.new{ api_key = fake.KEY, base_url = "http://127.0.0.1:9/api/v1" }
    client:close()
    client:close() -- idempotent
    local ok, m, err = pcall(client.create_membership, client, { email = "jane@acme.com", role_id = "user" })
    assert.is_true(ok)
    assert.is_nil(m)
    assert.equal("closed", err.kind)
    local rok, r, rerr = pcall(client.request, client, "GET", "/me/")
    assert.is_true(rok)
    assert.is_nil(r)
    assert.equal("closed", rerr.kind)
  end)
end)

describe("the client's cache", function()
  local function roles_harness(opts)
    return fake.harness({ fake.ok(ROLES) }, opts)
  end

  it("roles expire after cache_max_age seconds of the client's clock", function()
    local h = roles_harness({ cache_max_age = 60 })
    assert(h.client:roles())
    local _, _, meta = h.client:roles()
    assert.is_true(meta.cached)
    assert.equal(1, #h.calls)
    h.now = h.now + 60
    _, _, meta = h.client:roles()
    assert.is_nil(meta.cached)
    assert.equal(2, #h.calls)
  end)

  it("expire after 300 s by default", function()
    local h = roles_harness()
    assert(h.client:roles())
    h.now = h.now + 299
    assert(h.client:roles())
    assert.equal(1, #h.calls)
    h.now = h.now + 1
    assert(h.client:roles())
    assert.equal(2, #h.calls)
  end)

  it("client:refresh() drops roles and the organization id", function()
    local h = fake.harness({ fake.ok(ROLES), fake.ok('{"organization_id":"orga_1"}'),
      fake.ok('{"id":"orga_1","memberships":[]}'), fake.ok(ROLES), fake.ok('{"organization_id":"orga_1"}'),
      fake.ok('{"id":"orga_1","memberships":[]}') })
    assert(h.client:roles())
    assert(h.client:memberships())
    h.client:refresh()
    assert(h.client:roles())
    assert(h.client:memberships())
    assert.equal(6, #h.calls)
    assert.matches("/role/$", h.calls[4].url)
    assert.matches("/me/", h.calls[5].url)
  end)

  it("cache_max_age = 0 keeps nothing; a negative one is refused", function()
    local h = roles_harness({ cache_max_age = 0 })
    assert(h.client:roles())
    assert(h.client:roles())
    assert.equal(2, #h.calls)
    assert.has_error(function() close.new{ api_key = fake.KEY, cache_max_age = -1 } end,
      "close.new: option 'cache_max_age' must not be negative")
  end)
end)

describe("the list of secrets to scrub", function()
  it("keeps the fixed secrets and only the newest tokens", function()
    local s = auth.secrets({ "client_secret_1" })
    for i = 1, 100 do s:add("token_" .. i) end
    assert.equal(1 + auth.MAX_TOKENS, #s)
    assert.equal("client_secret_1", s[1])
    local held = {}
    for _, v in ipairs(s) do held[v] = true end
    for i = 100 - auth.MAX_TOKENS + 1, 100 do assert.is_true(held["token_" .. i], "token_" .. i) end
    assert.is_nil(held["token_" .. (100 - auth.MAX_TOKENS)])
    s:add("token_100") -- one already held is not added twice
    assert.equal(1 + auth.MAX_TOKENS, #s)
  end)
end)

describe("close.oauth.file_store", function()
  it("its lock is the store's own: clients that share a file share the store", function()
    local path = os.tmpname()
    local a, b = close.oauth.file_store(path), close.oauth.file_store(path)
    assert.is_true(a.lock())
    assert.is_false(a.lock())
    assert.is_true(b.lock())
    a.unlock()
    assert.is_true(a.lock())
    os.remove(path)
  end)
end)

describe("client:tokens()", function()
  it("returns result, nil, meta like every call; an API key client has none", function()
    local client = close.new{ oauth = { client_id = "oa2client_1", client_secret = "cs_1",
      access_token = "at_1", expires_at = fake.WALL + 3600 }, wallclock = function() return fake.WALL end,
      transport = function() error("no request is made") end }
    local t, err, meta = client:tokens()
    assert.equal("at_1", t.access_token)
    assert.is_nil(err)
    assert.same({}, meta)
    local k = fake.harness({ fake.ok() })
    local none, kerr = k.client:tokens()
    assert.is_nil(none)
    assert.equal("close: validation: invalid oauth: this client has no OAuth provider (it has api_key)", tostring(kerr))
  end)
end)

describe("scrubbing after many refreshes", function()
  it("the current tokens and the client secret are still scrubbed after 100 refreshes", function()
    local n, wall, calls = 0, fake.WALL, 0
    local function json(status, doc)
      return { status = status, headers = { ["content-type"] = "application/json" },
        body = require("cjson").encode(doc) }
    end
    local function transport(req)
      if req.url:find("/oauth2/token/", 1, true) then
        n = n + 1
        return json(200, { token_type = "Bearer", access_token = ("acc_%d_xxxxxxxx"):format(n),
          refresh_token = ("ref_%d_yyyyyyyy"):format(n), expires_in = 10 })
      end
      calls = calls + 1
      wall = wall + 20 -- every token expires before the next call
      if calls < 100 then return fake.ok() end
      return json(400, { error = ("refused acc_%d_xxxxxxxx ref_%d_yyyyyyyy cs_secret_1"):format(n, n) })
    end
    local client = close.new{ oauth = { client_id = "oa2client_1", client_secret = "cs_secret_1",
      refresh_token = "ref_0_yyyyyyyy" }, transport = transport, wallclock = function() return wall end,
      sleep = function() end }
    local err
    for _ = 1, 100 do
      local m
      m, err = client:create_membership{ email = "jane@acme.com", role_id = "user" }
      if not m then break end
    end
    assert.equal(100, n)
    assert.equal("bad_request", err.kind)
    assert.equal("refused [REDACTED] [REDACTED] [REDACTED]", err.message)
  end)
end)
