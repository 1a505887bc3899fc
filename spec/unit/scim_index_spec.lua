-- The organization index: one read of Close (the caller, memberships with
-- inactive ones, roles) and the store; reused while younger than max_age,
-- read again after, or after invalidate(); shared through a cache.

local S = require "spec.unit.support.scim"
local index = require "close.scim.index"

-- a lua_shared_dict-like cache (incr as ngx.shared.DICT:incr(key, value, init))
local function dict(no_incr)
  local d = { data = {} }
  function d.get(_, k) return d.data[k] end
  function d.set(_, k, v) assert(type(v) == "string"); d.data[k] = v; return true end
  function d.add(_, k, v)
    if d.data[k] ~= nil then return false, "exists" end
    d.data[k] = v
    return true
  end
  function d.delete(_, k) d.data[k] = nil end
  if not no_incr then
    function d.incr(_, k, v, init)
      d.data[k] = tostring((tonumber(d.data[k]) or init) + v)
      return tonumber(d.data[k])
    end
  end
  return d
end

describe("scim index", function()
  it("keys the organization by address (any case, the active one first), id and externalId", function()
    local members = S.members()
    members[#members + 1] = { id = "memb_sam_old", user_id = "user_sam", email = "sam@ACME.com", role_id = "user",
      active = false }
    local c, store = S.client(members), S.store()
    store.data["user:memb_old"] = '{"externalId":"x-old","title":"T"}'
    store.data["deleted:memb_boss"] = '"2026-01-01T00:00:00Z"'
    store.data["deleted:memb_old"] = '"2026-01-01T00:00:00Z"'
    local ix = index.new{ client = c, store = store }
    local snap = assert(ix:snapshot())
    assert.are.equal("memb_sam", snap.by_email["sam@acme.com"].id)
    assert.are.equal("memb_old", snap.by_id.memb_old.id)
    -- memb_old is deleted through SCIM, so its externalId leads nowhere
    assert.is_nil(snap.by_external["x-old"])
    assert.are.same({ title = "T", externalId = "x-old" }, snap.users.memb_old)
    -- a member Close shows active was reactivated elsewhere: no longer deleted
    assert.is_nil(snap.deleted.memb_boss)
    assert.is_true(snap.deleted.memb_old)
    assert.are.same({ user_id = "user_caller", email = "admin@acme.com" }, snap.caller)
    assert.are.same(S.CUSTOM, snap.roles)
  end)

  it("is read once while younger than max_age, again after it or after invalidate()", function()
    local now = 1000
    local c = S.client()
    local ix = index.new{ client = c, store = S.store(), max_age = 30, clock = function() return now end }
    assert(ix:snapshot())
    now = 1029
    assert(ix:snapshot())
    assert.are.same({ "GET /me/", "memberships", "roles" }, c.calls)
    now = 1030
    assert(ix:snapshot())
    assert.are.equal(6, #c.calls)
    ix:invalidate()
    assert(ix:snapshot())
    assert.are.equal(9, #c.calls)
  end)

  it("workers sharing a cache read Close once; one worker's invalidate() is seen by the others", function()
    local now = 1000
    local clock = function() return now end
    local cache, c, store = dict(), S.client(), S.store()
    local a = index.new{ client = c, store = store, cache = cache, clock = clock }
    local b = index.new{ client = c, store = store, cache = cache, clock = clock }
    local sa = assert(a:snapshot())
    local sb = assert(b:snapshot())
    assert.are.equal(3, #c.calls)
    assert.are.equal(sa.by_id.memb_sam.email, sb.by_id.memb_sam.email)
    c.members[3].role_id = "role_support"
    a:invalidate()
    sb = assert(b:snapshot())
    assert.are.equal("role_support", sb.by_id.memb_sam.role_id)
    assert.are.equal(6, #c.calls)
    sa = assert(a:snapshot())
    assert.are.equal("role_support", sa.by_id.memb_sam.role_id)
    assert.are.equal(6, #c.calls)
  end)

  it("a failed read is returned as the client's error and nothing is cached", function()
    local c = S.client()
    c.fail.roles = { kind = "timeout", message = "timed out" }
    local cache = dict()
    local ix = index.new{ client = c, cache = cache }
    local snap, err = ix:snapshot()
    assert.is_nil(snap)
    assert.are.same({ kind = "timeout", message = "timed out" }, err)
    assert.are.same({}, cache.data)
  end)
end)

describe("scim index in one nginx worker", function()
  it("requests that find a read under way wait for it: one read for many (coroutines as cosockets)", function()
    local c = S.client()
    local memberships = c.memberships
    c.memberships = function(...)
      coroutine.yield() -- the organization read takes a while
      return memberships(...)
    end
    local ix = index.new{ client = c, store = S.store(), sleep = function() coroutine.yield() end }
    local co, snaps = {}, {}
    for i = 1, 5 do co[i] = coroutine.create(function() snaps[i] = assert(ix:snapshot()) end) end
    for _ = 1, 20 do
      for i = 1, 5 do if coroutine.status(co[i]) == "suspended" then assert(coroutine.resume(co[i])) end end
    end
    for i = 1, 5 do
      assert.are.equal("dead", coroutine.status(co[i]))
      assert.are.equal(snaps[1], snaps[i])
    end
    assert.are.same({ "GET /me/", "memberships", "roles" }, c.calls)
  end)

  it("when the read under way fails, a waiting request reads for itself", function()
    local c = S.client()
    local n = 0
    local memberships = c.memberships
    c.memberships = function(...)
      n = n + 1
      coroutine.yield()
      if n == 1 then return nil, { kind = "network", message = "reset" } end
      return memberships(...)
    end
    local ix = index.new{ client = c, store = S.store(), sleep = function() coroutine.yield() end }
    local res = {}
    local a = coroutine.create(function() res.a = { ix:snapshot() } end)
    local b = coroutine.create(function() res.b = { ix:snapshot() } end)
    for _ = 1, 20 do
      for _, co in ipairs({ a, b }) do if coroutine.status(co) == "suspended" then assert(coroutine.resume(co)) end end
    end
    assert.is_nil(res.a[1])
    assert.are.equal("reset", res.a[2].message)
    assert.is_table(res.b[1].by_id.memb_sam)
    assert.are.equal(2, n)
  end)
end)

describe("scim index: the bridge's own writes", function()
  local function pair(cache)
    local now = 1000
    local c, store = S.client(), S.store()
    local clock = function() return now end
    local a = index.new{ client = c, store = store, cache = cache, clock = clock }
    local b = index.new{ client = c, store = store, cache = cache, clock = clock }
    return a, b, c, function(s) now = now + s end
  end
  local sam = { id = "memb_sam", user_id = "user_sam", email = "Sam@acme.com", role_id = "role_support", active = true }

  it("are seen at once by every worker without reading Close again", function()
    local a, b, c = pair(dict())
    assert(a:snapshot()); assert(b:snapshot())
    a:record{ kind = "member", member = sam, doc = { externalId = "x-sam", title = "T" } }
    a:record{ kind = "member", member = { id = "memb_n", email = "n@acme.com", role_id = "user", active = true },
      doc = { externalId = "x-n" }, deleted = false }
    a:record{ kind = "group", id = "role_sales", doc = { displayName = "SALES REP" } }
    for _, ix in ipairs({ a, b }) do
      local snap = assert(ix:snapshot())
      assert.are.equal("role_support", snap.by_id.memb_sam.role_id)
      assert.are.equal("memb_sam", snap.by_external["x-sam"].id)
      assert.are.equal("memb_n", snap.by_email["n@acme.com"].id)
      assert.are.equal("memb_n", snap.by_external["x-n"].id)
      assert.are.equal("SALES REP", snap.groups.role_sales.displayName)
      assert.are.equal(5, #snap.members)
    end
    assert.are.equal(3, #c.calls)
    -- a deletion takes the externalId out of the lookups
    b:record{ kind = "member", member = { id = "memb_n", email = "n@acme.com", role_id = "user", active = false },
      deleted = true }
    local snap = assert(a:snapshot())
    assert.is_true(snap.deleted.memb_n)
    assert.is_nil(snap.by_external["x-n"])
    assert.is_false(snap.by_email["n@acme.com"].active)
    -- the snapshot a request already holds is not changed under it
    assert.are.equal(3, #c.calls)
  end)

  it("a worker whose snapshot is older than max_age reads Close; a change gone from the cache forces a read", function()
    local cache = dict()
    local a, b, c, advance = pair(cache)
    assert(a:snapshot()); assert(b:snapshot())
    a:record{ kind = "member", member = sam }
    cache.data["scim:index:change:1"] = nil -- evicted
    local snap = assert(b:snapshot())
    assert.are.equal(6, #c.calls)
    -- the stub Close never saw the change (only recorded here): the read wins
    assert.are.equal("user", snap.by_id.memb_sam.role_id)
    advance(30)
    assert(a:snapshot())
    assert.are.equal(9, #c.calls)
  end)

  it("a cache without incr: a write makes every worker read Close again", function()
    local a, b, c = pair(dict(true))
    assert(a:snapshot()); assert(b:snapshot())
    a:record{ kind = "member", member = sam }
    assert(b:snapshot())
    assert.are.equal(6, #c.calls)
  end)

  it("a change recorded while a read is under way is applied on top of it", function()
    local cache = dict()
    local a, b, c = pair(cache)
    local memberships = c.memberships
    c.memberships = function(...)
      b:record{ kind = "member", member = sam } -- another worker writes meanwhile
      return memberships(...)
    end
    local snap = assert(a:snapshot())
    assert.are.equal("role_support", snap.by_id.memb_sam.role_id)
  end)
end)

describe("scim index across the workers of a node", function()
  local function run(cos)
    for _ = 1, 50 do
      for _, co in ipairs(cos) do if coroutine.status(co) == "suspended" then assert(coroutine.resume(co)) end end
    end
    for _, co in ipairs(cos) do assert.are.equal("dead", coroutine.status(co)) end
  end

  it("one worker reads the organization; the others wait for its snapshot in the cache", function()
    local cache, c, store = dict(), S.client(), S.store()
    local memberships = c.memberships
    c.memberships = function(...)
      coroutine.yield()
      return memberships(...)
    end
    local sleep = function() coroutine.yield() end
    local workers, snaps, cos = {}, {}, {}
    for i = 1, 4 do
      workers[i] = index.new{ client = c, store = store, cache = cache, sleep = sleep }
      cos[i] = coroutine.create(function() snaps[i] = assert(workers[i]:snapshot()) end)
    end
    run(cos)
    assert.are.same({ "GET /me/", "memberships", "roles" }, c.calls)
    for i = 1, 4 do assert.are.equal("memb_sam", snaps[i].by_id.memb_sam.id) end
    assert.is_nil(cache.data["scim:index:reading"])
  end)

  it("when the reader fails, it lets go of the lock and a waiting worker reads", function()
    local cache, c = dict(), S.client()
    local n = 0
    local memberships = c.memberships
    c.memberships = function(...)
      n = n + 1
      coroutine.yield()
      if n == 1 then return nil, { kind = "timeout", message = "timed out" } end
      return memberships(...)
    end
    local sleep = function() coroutine.yield() end
    local a = index.new{ client = c, store = S.store(), cache = cache, sleep = sleep }
    local b = index.new{ client = c, store = S.store(), cache = cache, sleep = sleep }
    local res = {}
    run({ coroutine.create(function() res.a = { a:snapshot() } end),
      coroutine.create(function() res.b = { b:snapshot() } end) })
    assert.are.equal("timed out", res.a[2].message)
    assert.is_table(res.b[1].by_id.memb_sam)
    assert.are.equal(2, n)
    assert.is_nil(cache.data["scim:index:reading"])
  end)
end)
