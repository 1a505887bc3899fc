--- /Groups: a SCIM Group is a Close role. Its members are the active
-- members with that role; adding a user to a group gives them the role
-- (one role per user: the later change wins), removing them gives them the
-- default role. A group cannot be created or deleted, only linked to an
-- existing role by its name (POST) and unlinked (DELETE).
-- @module close.scim.groups

local json = require "close.scim.json"
local schemas = require "close.scim.schemas"
local errors = require "close.scim.errors"
local patch = require "close.scim.patch"
local roles = require "close.scim.roles"
local guard = require "close.guard"
local users = require "close.scim.users"

local M = {}

local function lower(s) return type(s) == "string" and s:lower() or "" end

--- The SCIM resource of role `role` (without members when `no_members`:
-- Entra asks for groups with excludedAttributes=members, and a role may
-- have thousands).
function M.resource(h, snap, role, no_members)
  local doc = type(snap.groups[role.id]) == "table" and snap.groups[role.id] or {}
  local members = json.array({})
  for _, m in ipairs(not no_members and roles.members(snap)[role.id] or {}) do
    if not snap.deleted[m.id] then
      members[#members + 1] = { value = m.id, display = m.email, type = "User", ["$ref"] = h.base .. "/Users/" .. m.id }
    end
  end
  local dmeta = type(doc.meta) == "table" and doc.meta or {}
  local created = dmeta.created or h:iso(snap.time)
  return { schemas = json.array({ schemas.GROUP }), id = role.id,
    displayName = lower(doc.displayName) == lower(role.name) and doc.displayName or role.name,
    externalId = doc.externalId, members = members,
    meta = { resourceType = "Group", created = created, lastModified = dmeta.lastModified or created,
      location = h.base .. "/Groups/" .. role.id } }
end

function M.all(snap) return roles.all(snap) end

local function groups_are_roles(snap, name)
  local names = {}
  for _, r in ipairs(roles.all(snap)) do names[#names + 1] = r.name end
  return ("groups are Close roles: no role is named '%s' (roles: %s); create the role in Close first")
    :format(tostring(name), table.concat(names, ", "))
end

-- the role a displayName names (id or name, any case)
local function named(snap, name)
  if type(name) ~= "string" then return nil end
  for _, r in ipairs(roles.all(snap)) do
    if r.id == name or lower(r.name) == lower(name) then return r end
  end
end

-- Inactive members waiting for role (users.role_of) that `wanted` leaves:
-- they wait for the default role instead.
local function left_waiting(snap, role, wanted, default, out)
  if role.id == default.id then return end
  for _, m in ipairs(snap.members) do
    if not m.active and not wanted[m.id] and not snap.deleted[m.id] and m.role_id ~= role.id
      and users.role_of(snap, m) == role.id then
      out[#out + 1] = { member = m, role_id = default.id, pending = true }
    end
  end
end

-- The role changes that make `wanted` (a set of membership ids) the members
-- of role: who joins gets the role; with `replace`, who leaves gets the
-- default role. An inactive member's change waits for its reactivation
-- (`pending`: Close changes no inactive member).
local function changes(h, snap, role, wanted, replace)
  local default, why = roles.resolve(snap, h.default_role)
  if not default then return nil, errors.value("the default role: " .. why) end
  local out, current = {}, {}
  for _, m in ipairs(roles.members(snap)[role.id] or {}) do current[m.id] = m end
  for id in pairs(wanted) do
    local m = snap.by_id[id]
    if not m or snap.deleted[id] then return nil, errors.value(("members: no user has id '%s'"):format(id)) end
    if m.active and not current[id] then out[#out + 1] = { member = m, role_id = role.id } end
    if not m.active and users.role_of(snap, m) ~= role.id then
      out[#out + 1] = { member = m, role_id = role.id, pending = true }
    end
  end
  for id, m in pairs(replace and current or {}) do
    if not wanted[id] and role.id ~= default.id then out[#out + 1] = { member = m, role_id = default.id } end
  end
  if replace then left_waiting(snap, role, wanted, default, out) end
  table.sort(out, function(a, b) return a.member.id < b.member.id end)
  return out
end

-- Keeps the roles of the pending changes (store and index); on a failure
-- those kept are put back. True, or nil and a SCIM error.
local function keep_pending(h, snap, list)
  local done = {}
  for _, c in ipairs(list) do
    if c.pending then
      local old, err = users.keep_role(h, snap, c.member, c.role_id)
      if old == nil then
        for i = #done, 1, -1 do users.unkeep_role(h, snap, done[i].member, done[i].old) end
        return nil, err
      end
      done[#done + 1] = { member = c.member, old = old }
    end
  end
  return done
end

-- Every change to an active member checked by the guard against the state
-- the earlier ones leave; true, or nil and a 403 (audited).
local function check_changes(h, snap, list)
  local state = { caller = snap.caller, members = {} }
  for i, m in ipairs(snap.members) do state.members[i] = { id = m.id, user_id = m.user_id, email = m.email,
    role_id = m.role_id, active = m.active } end
  for _, c in ipairs(list) do
    if not c.pending then
      local ok, why = users.guard(state, c.member, true, c.role_id)
      guard.record(state, { action = "change_role", membership_id = c.member.id, role_id = c.role_id })
      if not ok then
        h:audit("change_role", c.member.email, c.member, { role_id = c.role_id, active = true }, "refused: " .. why)
        return nil, errors.new(403, nil, why)
      end
    end
  end
  return true
end

-- Puts back the Close changes list[1..n-1] made (best effort, audited).
local function undo_close(h, list, n)
  for j = n - 1, 1, -1 do
    local back = list[j].member
    if not list[j].pending then
      local _, berr = h.client:update_membership(back.id, { role_id = back.role_id })
      h:audit("change_role", back.email, { role_id = list[j].role_id, active = true }, back,
        berr and ("failed: " .. tostring(berr.message)) or "ok (undone)")
    end
  end
end

-- Every change checked, then applied: the roles kept for inactive members
-- first, then Close's; if Close refuses one, those already applied are put
-- back (best effort) so that nothing is half applied.
local function apply_changes(h, snap, list)
  local ok, err = check_changes(h, snap, list)
  if not ok then return nil, err end
  local kept
  kept, err = keep_pending(h, snap, list)
  if not kept then return nil, err end
  for i, c in ipairs(list) do
    local m = c.member
    if not c.pending then
      local _, cerr = h.client:update_membership(m.id, { role_id = c.role_id })
      if cerr then
        local e = errors.from_close(cerr)
        h:audit("change_role", m.email, m, m, "failed: " .. e.detail)
        undo_close(h, list, i)
        for j = #kept, 1, -1 do users.unkeep_role(h, snap, kept[j].member, kept[j].old) end
        h.index:invalidate()
        return nil, e
      end
      local after = users.with(m, { role_id = c.role_id })
      h.index:record{ kind = "member", member = after }
      h:audit("change_role", m.email, m, after, "ok")
    end
  end
  return true
end

-- the set of membership ids of a members list
local function member_set(list)
  local set = {}
  for _, item in ipairs(type(list) == "table" and list or {}) do
    local v = type(item) == "table" and item.value or item
    if type(v) == "string" then set[v] = true end
  end
  return set
end

-- Keeps what Close cannot hold of a group (displayName as sent, externalId).
local function save(h, role, r, old)
  local dm = type(old) == "table" and type(old.meta) == "table" and old.meta or {}
  local now = h:iso()
  local doc = { displayName = r.displayName, externalId = r.externalId,
    meta = { created = dm.created or now, lastModified = now } }
  local ok, err = h.store:set("group:" .. role.id, json.encode(doc))
  if not ok then return nil, errors.store(err, "write failed") end
  return doc
end

-- Makes the group r: the name must stay the role's, members become the role's.
-- `members`: nil (unchanged), "add" (r.members join the role) or
-- "replace" (r.members are the role's members).
local function commit(h, snap, role, r, members)
  if r.displayName ~= nil and lower(r.displayName) ~= lower(role.name) and r.displayName ~= role.id then
    return nil, errors.mutability(("groups are Close roles: this group is the role '%s'; rename the role in Close")
      :format(role.name))
  end
  r.displayName = r.displayName or role.name
  local list, err = {}
  if members then
    list, err = changes(h, snap, role, member_set(r.members), members == "replace")
    if not list then return nil, err end
  end
  local old = snap.groups[role.id]
  -- every role is a group already: only a name as sent or an externalId is kept
  local kept = type(old) == "table" and old or { displayName = role.name }
  local same = kept.displayName == r.displayName and kept.externalId == r.externalId
  local doc = old
  if not same then
    doc, err = save(h, role, r, old)
    if not doc then return nil, err end
  end
  local ok
  ok, err = apply_changes(h, snap, list)
  if not ok then
    if old then h.store:set("group:" .. role.id, json.encode(old)) else h.store:delete("group:" .. role.id) end
    return nil, err
  end
  if not same then
    h.index:record{ kind = "group", id = role.id, doc = doc }
    h:audit(old and "update_group" or "link_group", role.name, nil, nil, "ok")
  end
  local fresh, serr = h:snapshot()
  if not fresh then return nil, serr end
  return M.resource(h, fresh, role)
end

--- POST /Groups: links to the role the displayName names.
function M.create(h, req)
  local body, err = patch.object(req.body)
  if not body then return nil, err end
  local r
  r, err = patch.normalize(body, "Group")
  if not r then return nil, err end
  local snap
  snap, err = h:snapshot()
  if not snap then return nil, err end
  local role = named(snap, r.displayName)
  if not role then
    if type(r.displayName) ~= "string" then return nil, errors.value("displayName is required: a Close role's name") end
    return nil, errors.value(groups_are_roles(snap, r.displayName))
  end
  local out
  -- linking never takes the role from those who have it
  out, err = commit(h, snap, role, r, r.members and "add")
  if not out then return nil, err end
  return out, 201
end

--- PUT /Groups/{id}: members replaced when given (absent: unchanged).
function M.replace(h, snap, role, req)
  local body, err = patch.object(req.body)
  if not body then return nil, err end
  local r
  r, err = patch.normalize(body, "Group")
  if not r then return nil, err end
  if r.id ~= nil and r.id ~= role.id then return nil, errors.mutability("'id' is readOnly: it is " .. role.id) end
  -- `members: []` is unassigned (RFC 7643 section 2.5) and read as "unchanged":
  -- a PUT that empties a role takes a PATCH naming who leaves
  return commit(h, snap, role, r, r.members and "replace")
end

--- PATCH /Groups/{id}
function M.patch(h, snap, role, req)
  local body, err = patch.object(req.body)
  if not body then return nil, err end
  local r = M.resource(h, snap, role)
  local new
  new, err = patch.apply(r, "Group", body)
  if not new then return nil, err end
  new, err = patch.normalize(new, "Group")
  if not new then return nil, err end
  return commit(h, snap, role, new, "replace")
end

--- DELETE /Groups/{id}: unlinks (the role and its members stay as they are).
function M.delete(h, snap, role)
  if snap.groups[role.id] then
    local ok, err = h.store:delete("group:" .. role.id)
    if not ok then return nil, errors.store(err, "delete failed") end
    h.index:record{ kind = "group", id = role.id, doc = false }
    h:audit("unlink_group", role.name, nil, nil, "ok")
  end
  return true
end

M.named = named
return M
