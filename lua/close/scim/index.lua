--- The organization index: one read of the organization (memberships,
-- active and inactive; roles; the caller) and of the bridge's store, as a
-- snapshot keyed by address, membership id and externalId. Refreshed when
-- older than `max_age` seconds and after the bridge's own writes
-- (`invalidate`); kept in `cache` (an object with get/set, such as an nginx
-- lua_shared_dict) so that workers share it, and decoded once per worker.
-- @module close.scim.index

local json = require "close.scim.json"

local M = {}

local Index = {}
Index.__index = Index

local DATA_KEY, GEN_KEY = "scim:index", "scim:index:gen"

--- `opts`: client (close client), store (or nil), max_age (30), cache (or
-- nil), clock (seconds; os.time by default), sleep (seconds; in nginx
-- ngx.sleep: requests of one worker that find a read under way wait for it
-- instead of reading the organization again).
function M.new(opts)
  assert(type(opts) == "table" and opts.client, "close.scim.index: needs {client = a close client}")
  return setmetatable({ client = opts.client, store = opts.store, max_age = opts.max_age or 30,
    cache = opts.cache, clock = opts.clock or os.time, sleep = opts.sleep, gen = "0", seq = 0 }, Index)
end

local function key(email) return type(email) == "string" and email:lower() or "" end

-- Builds the lookups from the raw parts.
local function build(raw)
  local snap = { time = raw.time, gen = raw.gen, members = raw.members, roles = raw.roles, caller = raw.caller,
    users = {}, deleted = {}, groups = {}, by_email = {}, by_id = {}, by_external = {} }
  for k, v in pairs(raw.stored or {}) do
    local kind, id = k:match("^(%a+):(.+)$")
    if kind == "user" then snap.users[id] = json.decode(v)
    elseif kind == "deleted" then snap.deleted[id] = true
    elseif kind == "group" then snap.groups[id] = json.decode(v) end
  end
  for _, m in ipairs(snap.members) do
    snap.by_id[m.id] = m
    local k = key(m.email)
    -- the active membership of an address wins over an inactive one
    if not snap.by_email[k] or (m.active and not snap.by_email[k].active) then snap.by_email[k] = m end
    -- a member Close shows active was reactivated: a DELETE of ours is over
    if m.active then snap.deleted[m.id] = nil end
    local doc = snap.users[m.id]
    if type(doc) == "table" and type(doc.externalId) == "string" and not snap.deleted[m.id] then
      snap.by_external[doc.externalId] = m
    end
  end
  return snap
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

--- The snapshot (see the module's description), or nil and a close error.
function Index:snapshot()
  local now, gen = self.clock(), self:current_gen()
  local memo = self.memo
  if memo and memo.gen == gen and now - memo.time < self.max_age then return memo end
  if self.cache then
    local text = self.cache:get(DATA_KEY)
    local raw = text and json.decode(text)
    if type(raw) == "table" and raw.gen == gen and type(raw.time) == "number" and now - raw.time < self.max_age
      and (not memo or raw.time ~= memo.time or raw.gen ~= memo.gen) then
      self.memo = build(raw)
      return self.memo
    end
  end
  if self.reading and self.sleep then return self:wait() end
  -- no pcall around the read: Lua 5.1 cannot yield across it (a read that
  -- raised leaves `reading` set; waiters give up on it after their bound)
  self.reading = true
  local raw, err = self:read()
  self.reading = false
  if not raw then return nil, err end
  raw.gen = gen
  if self.cache then self.cache:set(DATA_KEY, json.encode(raw)) end
  self.memo = build(raw)
  return self.memo
end

-- Waits (bounded: WAIT_STEPS of WAIT_STEP seconds) for the read under way
-- in this worker, then takes its snapshot; reads itself if it failed.
local WAIT_STEP, WAIT_STEPS = 0.01, 3000
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
