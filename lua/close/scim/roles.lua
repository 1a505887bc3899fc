--- Close roles as the bridge sees them: the predefined four (their ids are
-- their names) and the organization's custom roles; lookups by id or name.
-- @module close.scim.roles

local validate = require "close.validate"

local M = {}

-- the names Close's UI shows, as close-provision shows them (one list: close.validate's)
M.PREDEFINED = {}
for i, p in ipairs(validate.PREDEFINED_NAMES) do M.PREDEFINED[i] = { id = p[1], name = p[2] } end

--- Every role of a snapshot: the predefined ones, then the custom ones.
function M.all(snap)
  if snap.all_roles then return snap.all_roles end
  local out, seen = {}, {}
  for _, r in ipairs(M.PREDEFINED) do out[#out + 1] = r; seen[r.id] = true end
  for _, r in ipairs(snap.roles or {}) do
    if type(r.id) == "string" and not seen[r.id] then
      out[#out + 1] = { id = r.id, name = type(r.name) == "string" and r.name or r.id }
      seen[r.id] = true
    end
  end
  snap.all_roles = out
  return out
end

--- The role with this id, or nil.
function M.by_id(snap, id)
  for _, r in ipairs(M.all(snap)) do if r.id == id then return r end end
end

--- A role id or name (any case) -> the role, or nil and the reason.
function M.resolve(snap, s)
  if type(s) ~= "string" or s:match("^%s*$") then return nil, "a role is a role id or name" end
  local r = M.by_id(snap, s)
  if r then return r end
  local id, why = validate.role_named(s, snap.roles or {})
  if not id then return nil, why end
  return M.by_id(snap, id)
end

--- The role a SCIM `roles` list selects: the primary entry, else the first;
-- its value (or display) is a role id or name. nil when the list is empty.
function M.from_scim(snap, list)
  if type(list) ~= "table" or #list == 0 then return nil end
  local pick = list[1]
  for _, item in ipairs(list) do
    if type(item) == "table" and item.primary == true then pick = item; break end
  end
  local v = type(pick) == "table" and (pick.value or pick.display) or pick
  local r, why = M.resolve(snap, v)
  if not r then return nil, ("roles: %s"):format(why) end
  return r
end

--- The active members of each role: {[role id] = {member, ...}}, once per snapshot.
function M.members(snap)
  if snap.role_members then return snap.role_members end
  local out = {}
  for _, m in ipairs(snap.members) do
    if m.active and m.role_id then
      out[m.role_id] = out[m.role_id] or {}
      table.insert(out[m.role_id], m)
    end
  end
  snap.role_members = out
  return out
end

return M
