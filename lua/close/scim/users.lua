--- /Users: a SCIM User is a Close membership. Close holds the address
-- (userName), whether it is active and the role; everything else the
-- provider sends is kept in the store as sent ("user:<membership id>").
-- @module close.scim.users

local core = require "close.core"
local json = require "close.scim.json"
local schemas = require "close.scim.schemas"
local errors = require "close.scim.errors"
local patch = require "close.scim.patch"
local roles = require "close.scim.roles"
local guard = require "close.guard"

local M = {}

local function lower(s) return type(s) == "string" and s:lower() or "" end
local address_key = require("close.validate").address_key

-- attributes M.resource fills in from Close when the store has none
local DEFAULTED = { userName = true, name = true, displayName = true, emails = true, roles = true }

-- attributes the bridge computes (never stored) and one it never keeps
local COMPUTED = { id = true, meta = true, groups = true, active = true, schemas = true, password = true }

-- Whether `roles` as the provider sent them still say the member's one Close
-- role: a single entry naming it, whose display (if any) names it too (a
-- PATCH of the value alone leaves the old display behind).
local function sent_roles_hold(snap, list, role)
  if type(list) ~= "table" or #list ~= 1 then return false end
  local sent = roles.from_scim(snap, list)
  if not (sent and sent.id == role.id) then return false end
  local display = type(list[1]) == "table" and list[1].display
  return display == nil or (roles.resolve(snap, display) or {}).id == role.id
end

-- Close changes no inactive member's role: a role the provider gives one
-- (roles, or a group) is kept in the store's doc as meta.pending_role,
-- shown as theirs, and given when they are reactivated.
local function pending_role(snap, m)
  local doc = not m.active and snap.users[m.id]
  local id = type(doc) == "table" and type(doc.meta) == "table" and doc.meta.pending_role
  return type(id) == "string" and roles.by_id(snap, id) and id or nil
end

-- what meta.pending_role holds when inactive member m is given role_id:
-- nothing when Close has that role already
local function pending_for(m, role_id)
  return role_id ~= m.role_id and role_id or nil
end

--- The role id member m has, or for an inactive member the one it will
-- get when reactivated.
function M.role_of(snap, m)
  return pending_role(snap, m) or m.role_id
end

--- The SCIM resource of membership m in snapshot snap.
function M.resource(h, snap, m)
  local doc = snap.users[m.id]
  local r = type(doc) == "table" and json.copy(doc) or {}
  local dmeta = type(r.meta) == "table" and r.meta or {}
  for k in pairs(COMPUTED) do r[k] = nil end
  -- the schemas: core, then every extension the user has (the provider's own too)
  local ext = {}
  for k, v in pairs(r) do
    if type(k) == "string" and k:sub(1, 4):lower() == "urn:" and type(v) == "table" then ext[#ext + 1] = k end
  end
  table.sort(ext)
  r.schemas = json.array({ schemas.USER })
  for _, k in ipairs(ext) do r.schemas[#r.schemas + 1] = k end
  r.id = m.id
  -- the address as the provider wrote it, while it is Close's (case aside)
  if address_key(r.userName) ~= address_key(m.email) then r.userName = m.email end
  r.active = m.active == true
  if not r.name and (m.first_name or m.last_name) then
    r.name = { givenName = m.first_name, familyName = m.last_name, formatted = m.name }
  end
  if not r.displayName and type(m.name) == "string" and m.name ~= "" then r.displayName = m.name end
  if not r.emails and m.email then
    r.emails = json.array({ { value = m.email, type = "work", primary = true } })
  end
  local role_id = M.role_of(snap, m)
  local role = roles.by_id(snap, role_id) or { id = role_id, name = role_id }
  if not sent_roles_hold(snap, r.roles, role) and role.id then
    r.roles = json.array({ { value = role.id, display = role.name, primary = true } })
  end
  if role.id then
    r.groups = json.array({ { value = role.id, display = role.name, type = "direct",
      ["$ref"] = h.base .. "/Groups/" .. role.id } })
  end
  local created = dmeta.created or h:iso(snap.time)
  r.meta = { resourceType = "User", created = created, lastModified = dmeta.lastModified or created,
    location = h.base .. "/Users/" .. m.id }
  return r
end

--- close.guard's verdict on moving member m to (active, role_id), in
-- `state` (the snapshot, or a copy that earlier changes were recorded in).
function M.guard(state, m, active, role_id)
  if active == false and m.active then
    return guard.check(state, { action = "deactivate", membership_id = m.id, email = m.email })
  end
  if m.active and active ~= false and role_id and role_id ~= m.role_id then
    return guard.check(state, { action = "change_role", membership_id = m.id, email = m.email, role_id = role_id })
  end
  return true
end

--- A copy of member m with `fields` changed (a snapshot's members are never changed in place).
function M.with(m, fields)
  local out = {}
  for k, v in pairs(m) do out[k] = v end
  for k, v in pairs(fields) do out[k] = v end
  return out
end

--- The member with this id, unless unknown or deleted through SCIM.
function M.find(snap, id)
  local m = snap.by_id[id]
  if m and not snap.deleted[id] then return m end
end

local function visible(snap, m) return m and not snap.deleted[m.id] end

--- Candidates for a filter answered from the index without a scan:
-- userName eq, externalId eq, id eq. nil when the filter is another.
function M.indexed(snap, ast)
  if type(ast) ~= "table" or ast.op ~= "eq" or type(ast.attr) ~= "table" or ast.attr.sub then return nil end
  if ast.attr.schema and lower(ast.attr.schema) ~= lower(schemas.USER) then return nil end
  local name, v = lower(ast.attr.name), ast.value
  local m
  if name == "username" then m = type(v) == "string" and snap.by_email[address_key(v)]
  elseif name == "externalid" then m = type(v) == "string" and snap.by_external[v]
  elseif name == "id" then m = type(v) == "string" and snap.by_id[v]
  else return nil end
  if visible(snap, m) then return { m } end
  return {}
end

--- Every member a list may show (deleted ones are not).
function M.all(snap)
  local out = {}
  for _, m in ipairs(snap.members) do if visible(snap, m) then out[#out + 1] = m end end
  return out
end

-- What the store keeps of a resource: all but what Close or the bridge computes.
local function stored_doc(r, created, now)
  local doc = {}
  for k, v in pairs(r) do if not COMPUTED[k] then doc[k] = v end end
  doc.meta = { created = created or now, lastModified = now }
  return doc
end

-- The Close state a resource asks for: active (nil: unchanged) and role.
local function wanted(h, snap, r, m)
  local active = r.active
  local role, why = roles.from_scim(snap, r.roles)
  if why then return nil, errors.value(why) end
  if not role then
    if m then return { active = active, role_id = M.role_of(snap, m) } end
    role, why = roles.resolve(snap, h.default_role)
    if not role then return nil, errors.value("the default role: " .. why) end
  end
  return { active = active, role_id = role.id }
end

-- Writes one store key, or returns a SCIM 503.
local function put(h, k, v)
  local ok, err = h.store:set(k, json.encode(v))
  if not ok then return nil, errors.store(err, "write failed") end
  return true
end

local function drop(h, k)
  local ok, err = h.store:delete(k)
  if not ok then return nil, errors.store(err, "delete failed") end
  return true
end

-- Keeps the doc of member id, and the externalId -> id entry.
local function save_doc(h, id, doc, old)
  local ok, err = put(h, "user:" .. id, doc)
  if not ok then return nil, err end
  -- externalId -> id for the store's readers; the index reads the doc itself
  local old_ext = type(old) == "table" and old.externalId
  if type(doc.externalId) == "string" and doc.externalId ~= old_ext then h.store:set("ext:" .. doc.externalId, id) end
  if type(old_ext) == "string" and old_ext ~= doc.externalId then h.store:delete("ext:" .. old_ext) end
  return true
end

-- Puts the previous doc back (after Close refused); best effort.
local function restore_doc(h, id, old, doc)
  if old then h.store:set("user:" .. id, json.encode(old)) else h.store:delete("user:" .. id) end
  if type(doc.externalId) == "string" and doc.externalId ~= (old and old.externalId) then
    h.store:delete("ext:" .. doc.externalId)
  end
end

-- Close calls that move member m to (active, role_id); returns the
-- membership id it ends with, or nil and a close error.
local function close_apply(h, m, active, role_id)
  local c = h.client
  if active == false then
    if not m.active then return m.id end
    local _, err = c:deactivate_membership(m.id)
    if err then return nil, err end
    return m.id
  end
  if not m.active then
    local res, err = c:create_membership{ email = m.email, role_id = role_id }
    if not res then return nil, err end
    if res.role_id ~= nil and res.role_id ~= role_id then
      local _, uerr = c:update_membership(res.id or m.id, { role_id = role_id })
      if uerr then return nil, uerr end
    end
    return res.id or m.id
  end
  if role_id ~= m.role_id then
    local _, err = c:update_membership(m.id, { role_id = role_id })
    if err then return nil, err end
  end
  return m.id
end

-- (current: the role m has, or will get when reactivated: M.role_of)
local function operation(m, active, role_id, current)
  if active == false and m.active then return "deactivate" end
  if active ~= false and not m.active then return "reactivate" end
  if role_id ~= current then return "change_role" end
  return "update"
end

-- the audit's outcome of a role kept for an inactive member
local PENDING = "ok: given when the member is reactivated"

-- What the store keeps of r, the new resource of member m (old: its doc).
local function kept_doc(h, snap, m, r, old)
  local doc = stored_doc(r, type(old) == "table" and type(old.meta) == "table" and old.meta.created, h:iso())
  -- what M.resource filled in from Close is not the provider's: not kept
  local base = M.resource(h, snap, m)
  for k in pairs(DEFAULTED) do
    if (type(old) ~= "table" or old[k] == nil) and json.equal(doc[k], base[k]) then doc[k] = nil end
  end
  return doc
end

--- Moves member m to the resource r (PUT and PATCH): Close first checked
-- by the guard, the store written before Close and put back if Close
-- refuses, so nothing is half applied. Returns the new resource.
function M.commit(h, snap, m, r)
  if address_key(r.userName) ~= address_key(m.email) then
    return nil, errors.mutability(("userName is the Close member's address (%s): Close cannot change it; "
      .. "provision the new address as a new user"):format(m.email))
  end
  local want, err = wanted(h, snap, r, m)
  if not want then return nil, err end
  local active = want.active
  if active == nil then active = m.active end
  local op = operation(m, active, want.role_id, M.role_of(snap, m))
  local ok, why = M.guard(snap, m, active, want.role_id)
  if not ok then
    h:audit(op, m.email, m, { role_id = want.role_id, active = active }, "refused: " .. why)
    return nil, errors.new(403, nil, why)
  end
  local old = snap.users[m.id]
  local doc = kept_doc(h, snap, m, r, old)
  local pending = not active and pending_for(m, want.role_id) or nil
  doc.meta.pending_role = pending
  if op == "update" and json.equal(doc, old, { meta = true }) then
    return M.resource(h, snap, m) -- nothing changes: nothing written, nothing audited
  end
  ok, err = save_doc(h, m.id, doc, old)
  if not ok then
    h:audit(op, m.email, m, m, "failed: " .. err.detail)
    return nil, err
  end
  local id, cerr = close_apply(h, m, active, want.role_id)
  if not id then
    restore_doc(h, m.id, old, doc)
    h.index:invalidate() -- a retried call may have reached Close: read it again
    local e = errors.from_close(cerr)
    h:audit(op, m.email, m, m, "failed: " .. e.detail)
    return nil, e
  end
  local after = M.with(m, { id = id, role_id = active and want.role_id or m.role_id, active = active })
  h.index:record{ kind = "member", member = after, doc = doc }
  if op == "change_role" and pending then
    h:audit(op, m.email, m, M.with(after, { role_id = pending }), PENDING)
  else
    h:audit(op, m.email, m, after, "ok")
  end
  snap.users[id] = doc
  return M.resource(h, snap, after)
end

local function parse_body(body)
  local v, err = patch.object(body)
  if not v then return nil, err end
  return patch.normalize(v, "User")
end

local function check_user_name(r)
  if type(r.userName) ~= "string" or r.userName == "" then
    return nil, errors.value("userName is required: the Close member's email address")
  end
  local ok, why = core.validate_email(r.userName)
  if not ok then return nil, errors.value("userName must be an email address: " .. tostring(why)) end
  return true
end

-- Close's part of a create: the membership ensured (created, or an inactive
-- one reactivated) with the role; the membership or nil and a SCIM error.
local function ensure(h, email, role_id)
  local res, err = h.client:create_membership{ email = email, role_id = role_id }
  -- Close may bring an inactive member back with the role it had
  if res and res.role_id ~= nil and res.role_id ~= role_id then
    res, err = h.client:update_membership(res.id, { role_id = role_id })
  end
  if not res then return nil, errors.from_close(err) end
  return res
end

-- POST's writes: Close, then the store (the membership deactivated again if
-- the store fails, so that a retry starts clean), then `active: false`.
local function create_member(h, snap, r, existing, want)
  local before = existing or { email = r.userName }
  local op = existing and "reactivate" or "create"
  local res, err = ensure(h, r.userName, want.role_id)
  if not res then
    h:audit(op, r.userName, before, before, "failed: " .. err.detail)
    return nil, err
  end
  local id = type(res.id) == "string" and res.id or (existing and existing.id)
  if not id then
    err = errors.from_close({ kind = "protocol", message = "Close's answer names no membership id" })
    h:audit(op, r.userName, before, before, "failed: " .. err.detail)
    h.index:invalidate()
    return nil, err
  end
  local doc = stored_doc(r, nil, h:iso())
  local ok
  ok, err = save_doc(h, id, doc, existing and snap.users[existing.id])
  if ok and existing then ok, err = drop(h, "deleted:" .. id) end
  if not ok then
    h.client:deactivate_membership(id)
    h:audit(op, r.userName, before, before, "failed: " .. err.detail)
    return nil, err
  end
  local m = M.with(existing or {}, { id = id, user_id = res.user_id or (existing and existing.user_id),
    email = existing and existing.email or r.userName, role_id = want.role_id, active = want.active ~= false })
  if not m.active then
    local _, derr = h.client:deactivate_membership(id)
    if derr then
      h:audit(op, r.userName, before, M.with(m, { active = true }), "failed: created, but not deactivated: "
        .. tostring(derr.message))
      h.index:invalidate()
      return nil, errors.from_close(derr)
    end
  end
  h.index:record{ kind = "member", member = m, doc = doc, deleted = false }
  h:audit(op, r.userName, before, m, "ok")
  snap.users[id] = doc
  return M.resource(h, snap, m), 201
end

--- POST /Users
function M.create(h, req)
  local r, err = parse_body(req.body)
  if not r then return nil, err end
  local ok
  ok, err = check_user_name(r)
  if not ok then return nil, err end
  local snap
  snap, err = h:snapshot()
  if not snap then return nil, err end
  local existing = snap.by_email[address_key(r.userName)]
  if existing and existing.active then
    return nil, errors.uniqueness(("userName %s is already an active member (id %s)"):format(r.userName, existing.id))
  end
  local want
  want, err = wanted(h, snap, r, nil)
  if not want then return nil, err end
  if existing and r.roles == nil then want.role_id = pending_role(snap, existing) or want.role_id end
  return create_member(h, snap, r, existing, want)
end

--- Keeps role_id for inactive member m (a group it was put in): written
-- to the store and the index, audited. Returns the doc it replaced (for
-- M.unkeep_role), or nil and a SCIM error.
function M.keep_role(h, snap, m, role_id)
  local old = snap.users[m.id]
  local doc = type(old) == "table" and json.copy(old) or {}
  local om = type(doc.meta) == "table" and doc.meta or {}
  doc.meta = { created = om.created or h:iso(), lastModified = h:iso(),
    pending_role = pending_for(m, role_id) }
  local ok, err = save_doc(h, m.id, doc, old)
  if not ok then
    h:audit("change_role", m.email, m, m, "failed: " .. err.detail)
    return nil, err
  end
  h.index:record{ kind = "member", member = m, doc = doc }
  snap.users[m.id] = doc
  h:audit("change_role", m.email, m, M.with(m, { role_id = role_id }), PENDING)
  return old or false
end

--- Puts back the doc M.keep_role replaced (best effort).
function M.unkeep_role(h, snap, m, old)
  restore_doc(h, m.id, old or nil, snap.users[m.id])
  h.index:record{ kind = "member", member = m, doc = old or false }
  snap.users[m.id] = old or nil
end

--- PUT /Users/{id}: the resource replaced by the body. What the provider
-- leaves out of Close's state is unchanged: no `active` keeps it (Okta's
-- full-object PUT must not deactivate), no `roles` keeps the role.
function M.replace(h, snap, m, req)
  local r, err = parse_body(req.body)
  if not r then return nil, err end
  if r.id ~= nil and r.id ~= m.id then return nil, errors.mutability("'id' is readOnly: it is " .. m.id) end
  local ok
  ok, err = check_user_name(r)
  if not ok then return nil, err end
  return M.commit(h, snap, m, r)
end

--- PATCH /Users/{id}
function M.patch(h, snap, m, req)
  local body, err = json.decode(req.body or "")
  if type(body) ~= "table" then
    return nil, errors.syntax("the body must be a PatchOp object" .. (err and (": " .. err) or ""))
  end
  local r = M.resource(h, snap, m)
  local new
  new, err = patch.apply(r, "User", body)
  if not new then return nil, err end
  new, err = patch.normalize(new, "User")
  if not new then return nil, err end
  return M.commit(h, snap, m, new)
end

--- DELETE /Users/{id}: deactivates; the id is gone for SCIM from then on.
function M.delete(h, snap, m)
  local ok, why = M.guard(snap, m, false)
  if not ok then
    h:audit("delete", m.email, m, { role_id = m.role_id, active = false }, "refused: " .. why)
    return nil, errors.new(403, nil, why)
  end
  local err
  ok, err = put(h, "deleted:" .. m.id, h:iso())
  if not ok then
    h:audit("delete", m.email, m, m, "failed: " .. err.detail)
    return nil, err
  end
  if m.active then
    local _, cerr = h.client:deactivate_membership(m.id)
    if cerr then
      h.store:delete("deleted:" .. m.id)
      local e = errors.from_close(cerr)
      h:audit("delete", m.email, m, m, "failed: " .. e.detail)
      return nil, e
    end
  end
  local after = M.with(m, { active = false })
  h.index:record{ kind = "member", member = after, deleted = true }
  h:audit("delete", m.email, m, after, "ok")
  return true
end

M.stored_doc = stored_doc
return M
