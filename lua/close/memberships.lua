--- Memberships: create, update, deactivate, list, find and ensure, and the
-- one rule that converges an address to an active membership with a role
-- (`converge`, used by ensure_membership and by close.sync's plans).
-- @module close.memberships

local core = require "close.core"
local Error = require "close.error"
local client = require "close.client"
local driver = require "close.driver"
local roles = require "close.roles"
local validate = require "close.validate"

local Client = client.Client
local parts_of, check_args = client.parts, client.check_args

local M = {}

local MEMBERSHIP = "/membership/"
local ORG_MAX_BODY = 64 * 1048576
local memb_id = validate.id("memb_")
local save_id = validate.id("save_")
local copy = validate.copy

-- Validates an argument table for a call; returns the checked copy or an error.
-- With need_role, one of role_id and role is required.
local function prepare(self, method, url, args, schema, required, need_role)
  local errs = validate.membership(args, schema, required, need_role)
  if errs then return nil, Error.validation(errs, method, url) end
  args = copy(args)
  local err = roles.resolve(self, args, method, url)
  if err then return nil, err end
  return args
end

-- The arguments of a create (`email` and `role_id` or `role`), checked.
-- Returns the client's parts and the checked arguments, or the parts, nil, err.
local function prepare_create(self, method_name, args)
  local parts = parts_of(self, method_name, 2)
  check_args(method_name, args, 2)
  -- the common case, checked without the general machinery: exactly an
  -- email and a role id, both valid
  local email, role_id = args.email, args.role_id
  if type(email) == "string" and type(role_id) == "string" and next(args, next(args, next(args))) == nil
    and core.validate_email(email) and not validate.role_id(role_id) then
    return parts, args
  end
  local checked, err = prepare(self, "POST", parts.base_url .. MEMBERSHIP, args, validate.CREATE, { "email" }, true)
  return parts, checked, err
end

--- Ensures an active membership for `email` (POST /membership/).
-- Close adds an existing user to the organization or provisions a new one;
-- repeating the call for the same email is harmless, so it is retried.
-- @tparam table args `{email = string, role_id = string}` (or `role = "Role name"`)
-- @return membership table, nil, meta (`status`, `headers`, `rate_limit`,
--   `attempts`, `duration`) ; or nil, err
function Client:create_membership(args)
  local parts, checked, err = prepare_create(self, "create_membership", args)
  if not checked then return nil, err end
  return driver.call(parts, { method = "POST", path = MEMBERSHIP, idempotent = true,
    body = { email = checked.email, role_id = checked.role_id } })
end

local function check_id(checker, field, id, method, url)
  local why = checker(id)
  if why then return Error.validation({ [field] = why }, method, url) end
end

--- Updates a membership (PUT /membership/{id}/) with any of `role_id` (or
-- `role`), `auto_record_calls`, `default_caller_id`, `hangup_recording_url`,
-- `may_workflows_impersonate`, `track_email_opens`.
-- @return the membership, nil, meta ; or nil, err
function Client:update_membership(id, fields)
  local parts = parts_of(self, "update_membership")
  check_args("update_membership", fields)
  local path = MEMBERSHIP .. tostring(id) .. "/"
  local err = check_id(memb_id, "id", id, "PUT", parts.base_url .. MEMBERSHIP)
  if err then return nil, err end
  if next(fields) == nil then
    return nil, Error.validation({ fields = "give at least one field to update" }, "PUT", parts.base_url .. path)
  end
  local checked
  checked, err = prepare(self, "PUT", parts.base_url .. path, fields, validate.UPDATE)
  if not checked then return nil, err end
  return driver.call(parts, { method = "PUT", path = path, idempotent = true, body = checked })
end

-- How many ids go into one bulk call: Close reads `id__in` from the body,
-- but proxies and servers cap bodies and logs, so stay well under 8 KiB.
local BULK_IDS_BYTES = 4000

-- the field errors of a bulk update's ids: none, holes, bad or duplicate ids
local function bulk_id_errors(ids)
  local errs, seen = {}, {}
  if #ids == 0 then errs.ids = "must name at least one membership" end
  for i = 1, #ids do -- not ipairs: a hole must be reported, not end the list
    local id = ids[i]
    local why = memb_id(id)
    if why then errs["ids[" .. i .. "]"] = why
    elseif seen[id] then errs["ids[" .. i .. "]"] = "duplicate of ids[" .. seen[id] .. "]"
    else seen[id] = i end
  end
  return errs
end

--- Updates many memberships (PUT /membership/ with `_params.id__in`). Long
-- lists are split into several calls and the counts summed.
-- @return `{count = N}`, nil, meta (`calls`) ; or nil, err where
--   `err.count` is how many were updated by the calls that succeeded
function Client:bulk_update_memberships(ids, fields)
  local parts = parts_of(self, "bulk_update_memberships")
  if type(ids) ~= "table" then
    error("close: bulk_update_memberships expects a list of membership ids, got " .. type(ids), 2)
  end
  check_args("bulk_update_memberships", fields)
  local url = parts.base_url .. MEMBERSHIP
  local errs = bulk_id_errors(ids)
  if next(fields) == nil then errs.fields = "give at least one field to update" end
  if next(errs) then return nil, Error.validation(errs, "PUT", url) end
  local checked, err = prepare(self, "PUT", url, fields, validate.UPDATE)
  if not checked then return nil, err end
  local total, calls, i = 0, 0, 1
  while i <= #ids do
    local chunk, size = {}, 0
    while i <= #ids and (size == 0 or size + #ids[i] + 1 <= BULK_IDS_BYTES) do
      chunk[#chunk + 1] = ids[i]
      size = size + #ids[i] + 1
      i = i + 1
    end
    local body = copy(checked)
    body._params = { id__in = table.concat(chunk, ",") }
    local res
    res, err = driver.call(parts, { method = "PUT", path = MEMBERSHIP, idempotent = true, body = body })
    if not res then
      err.count = total
      return nil, err
    end
    calls = calls + 1
    total = total + (tonumber(res.count) or 0)
  end
  return { count = total }, nil, { calls = calls }
end

--- Deactivates a membership (DELETE /membership/{id}/), removing the user
-- from the organization.
-- @return the (empty) response table, nil, meta ; or nil, err
function Client:deactivate_membership(id)
  local parts = parts_of(self, "deactivate_membership")
  local err = check_id(memb_id, "id", id, "DELETE", parts.base_url .. MEMBERSHIP)
  if err then return nil, err end
  return driver.call(parts, { method = "DELETE", path = MEMBERSHIP .. id .. "/", idempotent = true })
end

--- The ordered pinned views of a membership.
-- @return list of saved view ids, nil, meta ; or nil, err
function Client:pinned_views(id)
  local parts = parts_of(self, "pinned_views")
  local err = check_id(memb_id, "id", id, "GET", parts.base_url .. MEMBERSHIP)
  if err then return nil, err end
  local res, meta
  res, err, meta = driver.call(parts, { method = "GET", path = MEMBERSHIP .. id .. "/pinned_views/",
    idempotent = true })
  if not res then return nil, err end
  return res.saved_view_ids or {}, nil, meta
end

--- Replaces the ordered pinned views of a membership.
-- @return list of saved view ids, nil, meta ; or nil, err
function Client:set_pinned_views(id, saved_view_ids)
  local parts = parts_of(self, "set_pinned_views")
  if type(saved_view_ids) ~= "table" then
    error("close: set_pinned_views expects a list of saved view ids, got " .. type(saved_view_ids), 2)
  end
  local path = MEMBERSHIP .. tostring(id) .. "/pinned_views/"
  local err = check_id(memb_id, "id", id, "PUT", parts.base_url .. MEMBERSHIP)
  if err then return nil, err end
  local errs, list = {}, {}
  for i = 1, #saved_view_ids do -- not ipairs: a hole must be reported, not end the list
    local v = saved_view_ids[i]
    local why = save_id(v)
    if why then errs["saved_view_ids[" .. i .. "]"] = why end
    list[i] = v
  end
  if next(errs) then return nil, Error.validation(errs, "PUT", parts.base_url .. path) end
  -- written by hand: cjson (Debian's) writes an empty list as {}, and the ids
  -- are checked to be letters, digits and '_' so they need no escaping
  local json = '{"saved_view_ids":[' .. (#list > 0 and ('"' .. table.concat(list, '","') .. '"') or "") .. "]}"
  local res, meta
  res, err, meta = driver.call(parts, { method = "PUT", path = path, idempotent = true, json = json })
  if not res then return nil, err end
  return res.saved_view_ids or {}, nil, meta
end

-- A membership as returned by GET /organization/{id}/ (user_ fields or a
-- nested user), as a plain table.
local function flatten(m, active)
  local u = type(m.user) == "table" and m.user or {}
  return {
    id = m.id, user_id = m.user_id or u.id, role_id = m.role_id, active = active,
    email = m.user_email or u.email,
    name = m.user_full_name or u.full_name,
    first_name = m.user_first_name or u.first_name,
    last_name = m.user_last_name or u.last_name,
    organization_id = m.organization_id,
  }
end

-- The id of the caller's organization (GET /me/), cached (close.cache).
local function organization_of(parts)
  local id = parts.cache:get("organization_id")
  if id then return id end
  local me, err, meta = driver.call(parts, { method = "GET", path = "/me/", idempotent = true,
    query = { _fields = "organization_id" } })
  if not me then return nil, err end
  if type(me.organization_id) ~= "string" then
    return nil, Error.new("protocol", "GET /me/ returned no organization_id",
      { method = "GET", url = parts.base_url .. "/me/?_fields=organization_id",
        status = meta.status, attempts = meta.attempts })
  end
  parts.cache:set("organization_id", me.organization_id)
  return me.organization_id
end

--- The organization's memberships (GET /me/, then GET /organization/{id}/).
-- @tparam[opt] table opts `{inactive = true}` to include inactive memberships
-- @return list of `{id, user_id, email, name, first_name, last_name,
--   role_id, active}`, nil, meta ; or nil, err
function Client:memberships(opts)
  local parts = parts_of(self, "memberships")
  opts = opts or {}
  check_args("memberships", opts)
  for k, v in pairs(opts) do
    if k ~= "inactive" then error("close: memberships: unknown option '" .. tostring(k) .. "'", 2) end
    if type(v) ~= "boolean" then error("close: memberships: option 'inactive' must be a boolean", 2) end
  end
  local organization_id, err = organization_of(parts)
  if not organization_id then return nil, err end
  local lists = opts.inactive and { "memberships", "inactive_memberships" } or { "memberships" }
  local expand = {}
  for i, l in ipairs(lists) do expand[i] = l .. "__user" end
  local org, meta
  org, err, meta = driver.call(parts, {
    method = "GET", path = "/organization/" .. core.urlencode(organization_id) .. "/", idempotent = true,
    -- an organization of thousands is several MiB: more than max_body, bounded still
    max_body = math.max(parts.max_body, ORG_MAX_BODY),
    query = { _fields = "id," .. table.concat(lists, ","), _expand = table.concat(expand, ",") },
  })
  if not org then return nil, err end
  local out = {}
  for _, l in ipairs(lists) do
    for _, m in ipairs(type(org[l]) == "table" and org[l] or {}) do
      if type(m) ~= "table" then
        return nil, Error.new("protocol", ("GET /organization/ returned a %s in %s"):format(type(m), l),
          { method = "GET", url = parts.base_url .. "/organization/", status = meta.status, attempts = meta.attempts })
      end
      local f = flatten(m, l == "memberships")
      f.organization_id = f.organization_id or organization_id
      out[#out + 1] = f
    end
  end
  return out, nil, meta
end

-- ---------------------------------------------------------------------------
-- The converge rule: an address ends with an active membership with the role

--- Whether membership m takes its address's place from `held`, the one an
-- index holds so far (or nil): the active membership wins, else the first.
function M.wins(m, held)
  return not held or (m.active == true and not held.active)
end

--- The memberships of `list` by address (validate.address_key), as M.wins
-- picks them.
function M.by_address(list)
  local index = {}
  for _, m in ipairs(list) do
    if type(m.email) == "string" then
      local k = validate.address_key(m.email)
      if M.wins(m, index[k]) then index[k] = m end
    end
  end
  return index
end

--- What converging to `role_id` does to `existing` (a membership from
-- by_address, or nil): "create", "reactivate", "change_role" or "unchanged".
function M.action(existing, role_id)
  if not existing then return "create" end
  if not existing.active then return "reactivate" end
  if existing.role_id ~= role_id then return "change_role" end
  return "unchanged"
end

--- Carries out a create or a reactivation: create (Close reactivates an
-- inactive member so), then fix the role when the member came back with
-- another. Returns the membership, nil, meta of the last call; or nil, err.
function M.create_with_role(self, email, role_id)
  local m, err, meta = self:create_membership{ email = email, role_id = role_id }
  if not m then return nil, err end
  if m.role_id ~= nil and m.role_id ~= role_id then
    return self:update_membership(m.id, { role_id = role_id })
  end
  return m, nil, meta
end

--- The membership of `email`: the active one, else the inactive one
-- (`active = false`), else nil with no error.
-- @tparam table args `{email = string}`
-- @return membership table (as in `memberships`) or nil, nil, meta ; or nil, err
function Client:find_membership(args)
  local parts = parts_of(self, "find_membership")
  check_args("find_membership", args)
  local errs = validate.fields(args, { email = validate.email }, { "email" })
  if errs then return nil, Error.validation(errs, "GET", parts.base_url .. "/organization/") end
  local all, err, meta = self:memberships{ inactive = true }
  if not all then return nil, err end
  return M.by_address(all)[validate.address_key(args.email)], nil, meta
end

-- ensure_membership's meta.action for each action of the converge rule
local DONE = { create = "created", reactivate = "reactivated", change_role = "role_changed", unchanged = "unchanged" }

--- The idempotent call automation wants: afterwards `email` has an active
-- membership with the role. Creates (or reactivates) it when absent or
-- inactive, changes the role when it differs, does nothing when it matches.
-- @tparam table args `{email = string, role_id = string}` (or `role = "Role name"`)
-- @return membership, nil, meta with `action` ("created", "reactivated",
--   "role_changed" or "unchanged") and `previous_role_id` ; or nil, err
function Client:ensure_membership(args)
  local _, checked, err = prepare_create(self, "ensure_membership", args)
  if not checked then return nil, err end
  local existing
  existing, err = self:find_membership{ email = checked.email }
  if err then return nil, err end
  local action = M.action(existing, checked.role_id)
  local m, meta = existing, {}
  if action == "change_role" then
    m, err, meta = self:update_membership(existing.id, { role_id = checked.role_id })
  elseif action ~= "unchanged" then
    m, err, meta = M.create_with_role(self, checked.email, checked.role_id)
  end
  if not m then return nil, err end
  meta.action, meta.previous_role_id = DONE[action], existing and existing.role_id
  return m, nil, meta
end

return M
