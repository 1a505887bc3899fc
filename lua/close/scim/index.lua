--- The organization index: one read of the organization (memberships,
-- active and inactive; roles; the caller) and of the bridge's store, as a
-- snapshot keyed by address, membership id and externalId. Read again when
-- older than `max_age` seconds or after `invalidate()`; the bridge's own
-- writes are `record`ed into it (here at once, and for the other workers
-- as a numbered change in the cache), so that a burst of writes reads
-- Close once per max_age, not once per write. The cache (an object with
-- get/set/incr, such as an nginx lua_shared_dict) is shared by the workers;
-- each decodes the snapshot once. With `spawn` (in nginx: a timer), an
-- index that is only too old is still answered from while one read for all
-- workers runs in the background, up to STALE_LIMIT times max_age: with
-- 10,000 members a read takes a second or more, and every request arriving
-- meanwhile would otherwise wait for it.
-- @module close.scim.index

local json = require "close.scim.json"
-- the cached snapshot is ours alone: cjson writes it in a fifth of the time
-- of close.scim.json's ordered encoder (10,000 members: about 60 ms against
-- 260 ms, which the worker spends blocked)
local cjson = require "cjson.safe"
local key = require("close.validate").address_key -- the one address key
local wins = require("close.memberships").wins     -- the active membership wins

local M = {}

local Index = {}
Index.__index = Index

local DATA_KEY, GEN_KEY, SEQ_KEY, CHANGE_KEY = "scim:index", "scim:index:gen", "scim:index:seq", "scim:index:change:"
local STAMP_KEY, LOCK_KEY = "scim:index:stamp", "scim:index:reading"
local LOCK_TTL = 60 -- seconds: a reader that died frees the lock after this
local WAIT_STEP, WAIT_STEPS = 0.01, 3000 -- waiting for another reader: 30 s at most
M.STALE_LIMIT = 4 -- an index older than this many max_age is read again before answering

--- `opts`: client (close client), store (or nil), max_age (30), cache (or
-- nil), clock (seconds; os.time by default), sleep (seconds; in nginx
-- ngx.sleep: requests of one worker that find a read under way wait for it
-- instead of reading the organization again), spawn (f: runs f later, in
-- the background, and answers true, or false when it cannot; in nginx a
-- zero-delay ngx.timer).
function M.new(opts)
  assert(type(opts) == "table" and opts.client, "close.scim.index: needs {client = a close client}")
  return setmetatable({ client = opts.client, store = opts.store, max_age = opts.max_age or 30,
    cache = opts.cache, clock = opts.clock or os.time, sleep = opts.sleep, spawn = opts.spawn, gen = "0",
    seq = 0 }, Index)
end


-- Puts member m (a new table) into the lookups, replacing the one with its id.
local function place(snap, m)
  local pos = snap.pos[m.id]
  if not pos then
    pos = #snap.members + 1
    snap.pos[m.id] = pos
  end
  snap.members[pos] = m
  snap.by_id[m.id] = m
  local k = key(m.email)
  local cur = snap.by_email[k]
  -- the one rule (close.memberships.wins); a member replaces its own old entry
  if (cur and cur.id == m.id) or wins(m, cur) then snap.by_email[k] = m end
  -- a member Close shows active was reactivated: a DELETE of ours is over
  if m.active then snap.deleted[m.id] = nil end
  local doc = snap.users[m.id]
  if type(doc) == "table" and type(doc.externalId) == "string" and not snap.deleted[m.id] then
    snap.by_external[doc.externalId] = m
  end
end

-- Builds the lookups from the raw parts.
-- (yield, when given, is called now and then: a read behind lets the
-- worker's requests run between slices of a large organization)
local YIELD_EVERY = 500
local function build(raw, yield)
  -- seq is an integer (JSON gives 5.4 a float, and "1.0" names no change)
  local snap = { time = raw.time, gen = raw.gen, seq = math.floor(tonumber(raw.seq) or 0), members = {},
    roles = raw.roles, caller = raw.caller, users = {}, deleted = {}, groups = {}, by_email = {}, by_id = {},
    by_external = {}, pos = {} }
  for k, v in pairs(raw.stored or {}) do
    local kind, id = k:match("^(%a+):(.+)$")
    if kind == "user" then snap.users[id] = json.decode(v)
    elseif kind == "deleted" then snap.deleted[id] = true
    elseif kind == "group" then snap.groups[id] = json.decode(v) end
  end
  for i, m in ipairs(raw.members) do
    place(snap, m)
    if yield and i % YIELD_EVERY == 0 then yield() end
  end
  return snap
end

-- Applies one recorded change (see Index:record) to a snapshot.
local function apply(snap, change)
  if change.kind == "group" then
    snap.groups[change.id] = change.doc or nil
    return
  end
  local m = change.member
  local old = snap.users[m.id]
  if change.doc ~= nil then
    if type(old) == "table" and type(old.externalId) == "string" then snap.by_external[old.externalId] = nil end
    snap.users[m.id] = change.doc or nil
  end
  if change.deleted ~= nil then snap.deleted[m.id] = change.deleted or nil end
  local doc = snap.users[m.id]
  if snap.deleted[m.id] and type(doc) == "table" and type(doc.externalId) == "string" then
    snap.by_external[doc.externalId] = nil
  end
  local copy = {}
  for k, v in pairs(m) do copy[k] = v end
  place(snap, copy)
  snap.role_members = nil -- derived from the members: made again on demand
end

local FIELDS = { "id", "user_id", "email", "role_id", "active", "name", "first_name", "last_name" }

-- Reads Close and the store: the raw parts of a snapshot, or nil, err.
function Index:read()
  local started = self.clock()
  local me, err = self.client:request("GET", "/me/", { query = { _fields = "id,email" } })
  if not me then return nil, err end
  local all
  all, err = self.client:memberships{ inactive = true }
  if not all then return nil, err end
  local roles
  roles, err = self.client:roles()
  if not roles then return nil, err end
  local stored = {}
  if self.store then
    for _, prefix in ipairs({ "user:", "deleted:", "group:" }) do
      local found, serr = self.store:scan(prefix)
      if not found then return nil, serr end
      for k, v in pairs(found) do stored[k] = v end
    end
  end
  local members = {}
  for i, m in ipairs(all) do
    local t = {}
    for _, f in ipairs(FIELDS) do t[f] = m[f] end
    members[i] = t
  end
  local role_list = {}
  for i, r in ipairs(roles) do role_list[i] = { id = r.id, name = r.name } end
  return { time = started, members = members, roles = role_list, stored = stored,
    caller = { user_id = me.id, email = me.email } }
end

function Index:current_gen()
  if not self.cache then return self.gen end
  return self.cache:get(GEN_KEY) or "0"
end

-- the number of the last change recorded in the cache
function Index:current_seq()
  if not self.cache then return 0 end
  return tonumber(self.cache:get(SEQ_KEY)) or 0
end

-- Applies the changes other workers recorded since snap was made; false
-- when one is gone from the cache (evicted): then only a read will do.
function Index:catch_up(snap)
  local last = self:current_seq()
  for n = snap.seq + 1, last do
    local change = json.decode(self.cache:get(("%s%d"):format(CHANGE_KEY, n)) or "")
    if type(change) ~= "table" then return false end
    apply(snap, change)
    snap.seq = n
  end
  return true
end

-- snap, if it is still good: the same generation, young enough, caught up
function Index:usable(snap, gen, now)
  return snap and snap.gen == gen and now - snap.time < self.max_age and (not self.cache or self:catch_up(snap))
end

-- The snapshot another worker left in the cache, if it is usable. Its
-- stamp is read first: decoding 10,000 members is not done for nothing.
function Index:from_cache(gen, now)
  local c = self.cache
  if not c then return nil end
  local stamp = c:get(STAMP_KEY)
  if not stamp or stamp == self.stamp then return nil end
  local raw = json.decode(c:get(DATA_KEY) or "")
  if type(raw) ~= "table" or type(raw.time) ~= "number" or type(raw.members) ~= "table" then return nil end
  self.stamp = stamp
  local snap = build(raw)
  if not self:usable(snap, gen, now) then return nil end
  self.memo = snap
  return snap
end

-- One reader of the organization per node: true when this worker may read
-- (it holds the cache's lock, or there is no lock to hold).
function Index:lock()
  local c = self.cache
  if not (c and self.sleep and type(c.add) == "function") then return true end
  return c:add(LOCK_KEY, "1", LOCK_TTL) and true or false
end

function Index:unlock(locked)
  local c = self.cache
  if locked and c and type(c.add) == "function" and type(c.delete) == "function" then c:delete(LOCK_KEY) end
end

-- Waits (bounded) for the worker holding the lock to leave its snapshot in
-- the cache; nil when it does not (then this worker reads).
function Index:wait_cache()
  for _ = 1, WAIT_STEPS do
    self.sleep(WAIT_STEP)
    local snap = self:from_cache(self:current_gen(), self.clock())
    if snap then return snap end
    if not self.cache:get(LOCK_KEY) then return nil end
  end
end

--- The snapshot (see the module's description), or nil and a close error.
function Index:snapshot()
  local now, gen = self.clock(), self:current_gen()
  if self:usable(self.memo, gen, now) then return self.memo end
  local snap = self:from_cache(gen, now)
  if snap then return snap end
  if self:stale_only(self.memo, gen, now) then
    self:refresh_behind(gen)
    return self.memo
  end
  if self.reading and self.sleep then return self:wait() end
  local locked = self:lock()
  if not locked then
    snap = self:wait_cache()
    if snap then return snap end
  end
  return self:reload(gen, locked)
end

-- Reads Close and the store into a new snapshot of generation gen, left in
-- the cache for the other workers; releases the lock when `locked`; builds
-- it in slices when given `yield` (a read behind).
function Index:reload(gen, locked, yield)
  -- no pcall around the read: Lua 5.1 cannot yield across it (a read that
  -- raised leaves `reading` set and the lock held until LOCK_TTL; waiters
  -- give up on it after their bound)
  self.reading = true
  local seq = self:current_seq()
  local raw, err = self:read()
  self.reading = false
  if not raw then
    self:unlock(locked)
    return nil, err
  end
  raw.gen, raw.seq = gen, seq
  local snap = build(raw, yield)
  if self.cache then
    self.stamp = ("%s:%s"):format(tostring(raw.time), gen)
    self.cache:set(DATA_KEY, cjson.encode(raw))
    self.cache:set(STAMP_KEY, self.stamp)
    -- changes recorded while the read was under way (applying one twice is harmless)
    self:catch_up(snap)
  end
  self:unlock(locked)
  -- a background read that an invalidate() overtook is not this worker's index
  if snap.gen == self:current_gen() then self.memo = snap end
  return snap
end

-- snap is too old but otherwise good (its generation, caught up), and not
-- so old that it may not be answered from while a read runs behind
function Index:stale_only(snap, gen, now)
  return self.spawn ~= nil and snap ~= nil and snap.gen == gen
    and now - snap.time < self.max_age * M.STALE_LIMIT and (not self.cache or self:catch_up(snap))
end

-- Starts one background read, unless this worker runs one or another
-- worker does (it holds the lock): its snapshot reaches this one through
-- the cache.
function Index:refresh_behind(gen)
  if self.reading then return end
  local locked = self:lock()
  if not locked then return end
  self.reading = true
  -- spawn answers false when it cannot (nginx: too many timers)
  local yield = self.sleep and function() self.sleep(0) end
  if not self.spawn(function() self:reload(gen, locked, yield) end) then
    self.reading = false
    self:unlock(locked)
  end
end

--- Records a write of the bridge that succeeded, so that every worker sees
-- it without reading Close: `{kind = "member", member = {id, user_id,
-- email, role_id, active, ...} (its state now), doc = the store's user doc
-- (or false: none; nil: unchanged), deleted = true|false|nil}` or `{kind =
-- "group", id = role id, doc = the group doc or false}`.
function Index:record(change)
  if self.memo then apply(self.memo, change) end
  if not self.cache then return end
  local n = type(self.cache.incr) == "function" and self.cache:incr(SEQ_KEY, 1, 0)
  -- kept twice as long as a snapshot lives: a worker whose snapshot is
  -- older reads Close anyway
  if not n or not self.cache:set(("%s%d"):format(CHANGE_KEY, n), json.encode(change), self.max_age * 2) then
    return self:invalidate()
  end
end

-- Waits (bounded: WAIT_STEPS of WAIT_STEP seconds) for the read under way
-- in this worker, then takes its snapshot; reads itself if it failed.
function Index:wait()
  for _ = 1, WAIT_STEPS do
    self.sleep(WAIT_STEP)
    if not self.reading then break end
  end
  local memo = self.memo
  if memo and not self.reading and memo.gen == self:current_gen() then return memo end
  self.reading = false
  return self:snapshot()
end

--- Forgets the snapshot, here and for every worker sharing the cache.
function Index:invalidate()
  self.memo = nil
  self.seq = self.seq + 1
  -- a value no other worker can have made: clock, our table, a counter
  self.gen = ("%s:%s:%d"):format(tostring(self.clock()), tostring(self):gsub("^table: ", ""), self.seq)
  if self.cache then self.cache:set(GEN_KEY, self.gen) end
end

return M
