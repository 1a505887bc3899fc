-- The organization index with `spawn` (nginx: a timer): an index that is
-- only too old is answered from while one read for all workers runs in the
-- background; past STALE_LIMIT times max_age, or of another generation, it
-- is read again before answering.

local S = require "spec.unit.support.scim"
local index = require "close.scim.index"

-- a lua_shared_dict-like cache with add/delete (the lock) and incr
local function dict()
  local d = { data = {}, gets = {} }
  function d.get(_, k)
    d.gets[k] = (d.gets[k] or 0) + 1
    return d.data[k]
  end
  function d.set(_, k, v) d.data[k] = v; return true end
  function d.add(_, k, v)
    if d.data[k] ~= nil then return false, "exists" end
    d.data[k] = v
    return true
  end
  function d.delete(_, k) d.data[k] = nil end
  function d.incr(_, k, v, init)
    d.data[k] = tostring((tonumber(d.data[k]) or init) + v)
    return tonumber(d.data[k])
  end
  return d
end

-- spawn that keeps the functions to run them when the spec says
local function spawner()
  local s = { queue = {} }
  s.spawn = function(f) s.queue[#s.queue + 1] = f; return true end
  function s.run()
    local q = s.queue
    s.queue = {}
    for _, f in ipairs(q) do f() end
    return #q
  end
  return s
end

local function reads(c)
  local n = 0
  for _, call in ipairs(c.calls) do if call == "memberships" then n = n + 1 end end
  return n
end

describe("scim index with spawn", function()
  local now, clock, cache, c, sp
  before_each(function()
    now = 1000
    clock = function() return now end
    cache, c, sp = dict(), S.client(), spawner()
  end)

  local function new()
    return index.new{ client = c, store = S.store(), cache = cache, clock = clock, max_age = 30, spawn = sp.spawn,
                       sleep = function() end }
  end

  it("answers from an index that is only too old while one read runs behind, then from the new one", function()
    local ix = new()
    local first = assert(ix:snapshot())
    assert.equal(1, reads(c))
    c.members[3].role_id = "role_support"
    now = 1031
    assert.equal(first, ix:snapshot())
    assert.equal(first, ix:snapshot())          -- one read behind, not one per request
    assert.equal(1, #sp.queue)
    assert.equal(1, reads(c))
    assert.equal(1, sp.run())
    assert.equal(2, reads(c))
    local second = ix:snapshot()
    assert.not_equal(first, second)
    assert.equal("role_support", second.by_id.memb_sam.role_id)
    assert.is_nil(cache.data["scim:index:reading"])  -- the lock is released
  end)

  it("runs one read behind for all workers; the others take its snapshot from the cache", function()
    local a, b = new(), new()
    assert(a:snapshot())
    local old_b = assert(b:snapshot())
    assert.equal(1, reads(c))
    now = 1031
    a:snapshot()
    assert.equal(old_b, b:snapshot())           -- a holds the lock: b spawns nothing
    assert.equal(1, #sp.queue)
    sp.run()
    local new_b = b:snapshot()
    assert.not_equal(old_b, new_b)
    assert.equal(1031, new_b.time)
    assert.equal(2, reads(c))
  end)

  it("decodes the cache's snapshot only when it is a new one", function()
    local a, b = new(), new()
    assert(a:snapshot())
    assert(b:snapshot())
    local decodes = cache.gets["scim:index"]
    for _ = 1, 10 do a:snapshot(); b:snapshot() end
    now = 1031
    for _ = 1, 10 do a:snapshot(); b:snapshot() end  -- stale: still no decode
    assert.equal(decodes, cache.gets["scim:index"])
  end)

  it("reads before answering past STALE_LIMIT times max_age, and after invalidate()", function()
    local ix = new()
    local first = assert(ix:snapshot())
    now = 1000 + 30 * index.STALE_LIMIT
    local second = assert(ix:snapshot())
    assert.not_equal(first, second)
    assert.equal(2, reads(c))
    assert.equal(0, #sp.queue)
    ix:invalidate()
    assert.not_equal(second, assert(ix:snapshot()))
    assert.equal(3, reads(c))
  end)

  it("keeps answering from the old index when the read behind fails, and tries again", function()
    local ix = new()
    local first = assert(ix:snapshot())
    now = 1031
    c.fail.memberships = { kind = "rate_limited", message = "429" }
    assert.equal(first, ix:snapshot())
    sp.run()
    assert.is_nil(cache.data["scim:index:reading"])
    assert.equal(first, ix:snapshot())
    assert.equal(1, #sp.queue)                  -- a new try
    c.fail.memberships = nil
    sp.run()
    assert.not_equal(first, ix:snapshot())
  end)

  it("gives up the lock when spawn cannot run the read (too many timers)", function()
    local ix = index.new{ client = c, store = S.store(), cache = cache, clock = clock, max_age = 30,
                          spawn = function() return false end, sleep = function() end }
    local first = assert(ix:snapshot())
    now = 1031
    assert.equal(first, ix:snapshot())
    assert.is_nil(cache.data["scim:index:reading"])
    assert.is_false(ix.reading)
  end)

  it("builds a read behind in slices, letting the worker's requests run between them", function()
    for i = 1, 1200 do
      c.members[#c.members + 1] = { id = "memb_x" .. i, user_id = "user_x" .. i, email = ("x%d@acme.com"):format(i),
                                    role_id = "user", active = true }
    end
    local slept = {}
    local ix = index.new{ client = c, store = S.store(), cache = cache, clock = clock, max_age = 30, spawn = sp.spawn,
                          sleep = function(s) slept[#slept + 1] = s end }
    assert(ix:snapshot())
    assert.same({}, slept)                      -- a read before answering is not sliced
    now = 1031
    c.members[5].role_id = "role_sales"
    ix:snapshot()
    sp.run()
    assert.same({ 0, 0 }, slept)                -- 1,204 members: a yield every 500
    assert.equal("role_sales", ix:snapshot().by_id.memb_x1.role_id)
  end)

  it("without spawn (plain Lua) reads before answering, as before", function()
    local ix = index.new{ client = c, store = S.store(), cache = cache, clock = clock, max_age = 30 }
    local first = assert(ix:snapshot())
    now = 1031
    assert.not_equal(first, assert(ix:snapshot()))
    assert.equal(2, reads(c))
  end)
end)
