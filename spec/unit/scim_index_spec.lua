-- The organization index: one read of Close (the caller, memberships with
-- inactive ones, roles) and the store; reused while younger than max_age,
-- read again after, or after invalidate(); shared through a cache.

local S = require "spec.unit.support.scim"
local index = require "close.scim.index"

-- a lua_shared_dict-like cache
local function dict()
  local d = { data = {} }
  function d.get(_, k) return d.data[k] end
  function d.set(_, k, v) assert(type(v) == "string"); d.data[k] = v; return true end
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
