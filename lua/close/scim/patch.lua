--- PATCH (RFC 7644 section 3.5.2) on a resource held as a plain table:
-- add, replace and remove, with and without a path, value-filtered paths
-- (`emails[type eq "work"].value`, `members[value eq "x"]`), and the forms
-- providers send beyond a strict reading: capitalised ops (Entra), a value
-- object without a path (Okta), remove of `members` with a value list
-- (Entra), a string for a complex attribute with a `value` sub-attribute.
-- Types are fixed afterwards by `M.normalize`.
-- @module close.scim.patch

local json = require "close.scim.json"
local schemas = require "close.scim.schemas"
local errors = require "close.scim.errors"
local query = require "close.scim.query"
local filter = require "close.scim.filter"

local M = {}

local OPS = { add = true, replace = true, remove = true }

local function deep_equal(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  for k, v in pairs(a) do if not deep_equal(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

-- The table holding attribute (urn, name) in r, its key there and its definition.
local function slot(r, rtype, urn, name)
  local def, du = schemas.lookup(rtype, urn, name)
  local core = schemas.RESOURCE_SCHEMAS[rtype][1]
  local holder_urn = du or urn
  local holder = r
  if holder_urn and holder_urn ~= core then
    local hk = query.find_key(r, holder_urn) or holder_urn
    if type(r[hk]) ~= "table" then r[hk] = {} end
    holder = r[hk]
  end
  local k = def and def.name or query.find_key(holder, name) or name
  return holder, k, def, du or urn
end

-- a value for a multi-valued attribute: always a list
local function as_list(v)
  if type(v) == "table" and json.is_array(v) then return v end
  if type(v) == "table" and next(v) == nil then return json.array({}) end
  return json.array({ v })
end

-- a string given for a complex attribute with a `value` sub-attribute
-- (Entra's manager) is that sub-attribute
local function shaped(def, v)
  if def and def.type == "complex" and type(v) ~= "table" and v ~= nil then return { value = v } end
  return v
end

local function sub_resolver(rtype, urn, name)
  return function(p)
    if type(p) ~= "table" then return nil end
    return (schemas.lookup(rtype, urn, name, p.name))
  end
end

-- An item made from an `x eq v` filter with no match (add/replace may create it)
local function item_from(node)
  if type(node) == "table" and node.op == "eq" and type(node.attr) == "table" and not node.attr.sub then
    return { [node.attr.name] = node.value }
  end
end

local function remove_matching(list, pred)
  local out = json.array({})
  for _, item in ipairs(list) do if not pred(item) then out[#out + 1] = item end end
  return out
end

-- path with a value filter: attr[filter] or attr[filter].sub
local function apply_filtered(op, holder, k, def, urn, p, value, rtype)
  if def and not def.multiValued then
    return nil, errors.path(("'%s' is not multi-valued: it takes no [filter]"):format(def.name))
  end
  local list = type(holder[k]) == "table" and as_list(holder[k]) or json.array({})
  local resolve = sub_resolver(rtype, urn, k)
  local usable, why = filter.match(p.filter, {}, resolve)
  if usable == nil then return nil, errors.path(why and why.detail or "the path's filter cannot be evaluated") end
  local function hit(item) return type(item) == "table" and filter.match(p.filter, item, resolve) end
  if op == "remove" then
    if p.sub then
      for _, item in ipairs(list) do if hit(item) then item[query.find_key(item, p.sub) or p.sub] = nil end end
    else
      list = remove_matching(list, hit)
    end
  else
    local matched = false
    for i, item in ipairs(list) do
      if hit(item) then
        matched = true
        if p.sub then item[query.find_key(item, p.sub) or p.sub] = value
        elseif type(value) == "table" then
          for vk, vv in pairs(value) do item[vk] = vv end
        else list[i] = value end
      end
    end
    if not matched then
      local new = item_from(p.filter)
      if not new then
        return nil, errors.no_target(("no value of '%s' matches the filter"):format(k))
      end
      if p.sub then new[p.sub] = value
      elseif type(value) == "table" then for vk, vv in pairs(value) do new[vk] = vv end end
      list[#list + 1] = new
    end
  end
  holder[k] = list
  return true
end

-- path attr.sub (no filter)
local function apply_sub(op, holder, k, def, p, value)
  local cur = holder[k]
  if def and def.multiValued then
    local list = type(cur) == "table" and as_list(cur) or json.array({})
    if #list == 0 and op ~= "remove" then list[1] = {} end
    for _, item in ipairs(list) do
      if type(item) == "table" then item[query.find_key(item, p.sub) or p.sub] = op ~= "remove" and value or nil end
    end
    holder[k] = list
    return true
  end
  if type(cur) ~= "table" then
    if op == "remove" then return true end
    cur = {}
    holder[k] = cur
  end
  local sk = query.find_key(cur, p.sub) or p.sub
  for _, s in ipairs(def and def.subAttributes or {}) do if s.name:lower() == p.sub:lower() then sk = s.name end end
  cur[sk] = op ~= "remove" and value or nil
  return true
end

-- The items of list that none of `value` (a list or one) names: Entra
-- removes members with path "members" and a list of {value = id}.
local function remove_values(list, value)
  local gone = as_list(value)
  return remove_matching(as_list(list), function(item)
    for _, g in ipairs(gone) do
      if deep_equal(item, g) or (type(item) == "table" and type(g) == "table" and g.value ~= nil
        and item.value == g.value) then return true end
    end
    return false
  end)
end

-- path attr (no filter, no sub)
local function apply_whole(op, holder, k, def, value)
  local multi = def and def.multiValued
  if op == "remove" then
    if value ~= nil and multi and type(holder[k]) == "table" then
      holder[k] = remove_values(holder[k], value)
    else
      holder[k] = nil
    end
    return true
  end
  if multi then
    local incoming = as_list(value)
    if op == "replace" or type(holder[k]) ~= "table" then holder[k] = json.array({}) end
    local list = as_list(holder[k])
    -- a new primary value ends the old one's (RFC 7643 section 2.4)
    for _, v in ipairs(incoming) do
      if type(v) == "table" and (v.primary == true or tostring(v.primary):lower() == "true") then
        for _, item in ipairs(list) do if type(item) == "table" then item.primary = nil end end
      end
    end
    for _, v in ipairs(incoming) do
      local dup = false
      for _, item in ipairs(list) do
        if deep_equal(item, v) or (type(item) == "table" and type(v) == "table" and v.value ~= nil
          and item.value == v.value and (item.type == v.type)) then dup = true end
      end
      if not dup then list[#list + 1] = v end
    end
    holder[k] = list
  elseif def and def.type == "complex" and type(value) == "table" and type(holder[k]) == "table" then
    for vk, vv in pairs(value) do holder[k][vk] = vv end
  else
    holder[k] = value
  end
  return true
end

local function readonly(def, urn, rtype)
  if not def then return false end
  local core = schemas.RESOURCE_SCHEMAS[rtype][1]
  return def.mutability == "readOnly" and (urn == nil or urn == core)
end

-- A value add/replace cannot set on a whole attribute (raw: before nulls are
-- dropped), or nil: null for a boolean (Close's active has no unset state),
-- a null or empty item of a multi-valued one (roles [{"value": null}]).
local function unsettable(def, raw, value)
  if def.type == "boolean" and value == nil then
    return ("'%s' must be a boolean (true or false), not null"):format(def.name)
  end
  if def.multiValued and type(raw) == "table" and next(raw) ~= nil then -- {} or []: no values
    local items = json.is_array(raw) and raw or { raw }
    for i = 1, #items do
      if json.clean(items[i]) == nil then
        return ("'%s': value %d is null or empty"):format(def.name, i)
      end
    end
  end
end

-- the operation on holder[k], by the path's form
local function apply_at(r, rtype, op, p, value)
  local holder, k, def, urn = slot(r, rtype, p.schema, p.name)
  if op ~= "remove" and not p.sub and not p.filter and def and not def.multiValued then value = shaped(def, value) end
  if p.filter then return apply_filtered(op, holder, k, def, urn, p, value, rtype) end
  if p.sub then return apply_sub(op, holder, k, def, p, value) end
  return apply_whole(op, holder, k, def, value)
end

-- A readOnly attribute: the operation is refused with 400 mutability
-- (RFC 7644 section 3.5.2) unless it leaves the value as it is (Okta sends
-- the id back).
local function apply_readonly(r, rtype, op, p, value, holder, k, def)
  local scratch = json.copy(r)
  local ok, err = apply_at(scratch, rtype, op, p, value)
  if not ok then return nil, err end
  local sh, sk = slot(scratch, rtype, p.schema, p.name)
  if deep_equal(json.clean(sh[sk]), json.clean(holder[k])) then return true end
  return nil, errors.mutability(("'%s' is readOnly%s"):format(def.name .. (p.sub and "." .. p.sub or ""),
    def.name == "id" and "" or ": Close or the bridge sets it"))
end

-- one operation with a parsed path; raw is the value as sent (nulls kept)
local function apply_path(r, rtype, op, p, raw)
  if p.schema and not p.name then
    return nil, errors.path("a path names an attribute")
  end
  local value = json.clean(raw)
  local holder, k, def, urn = slot(r, rtype, p.schema, p.name)
  if readonly(def, urn, rtype) then return apply_readonly(r, rtype, op, p, value, holder, k, def) end
  if def and def.name == "password" then
    return nil, errors.new(501, nil, "password changes are not supported: Close users sign in through Close")
  end
  local why = op ~= "remove" and not p.sub and not p.filter and def and unsettable(def, raw, value)
  if why then return nil, errors.value(why) end
  return apply_at(r, rtype, op, p, value)
end

local function parse_path(s)
  local p, err = filter.path(s)
  if not p then
    return nil, errors.path(("bad path '%s': %s"):format(s, err and err.detail or "not a SCIM path"))
  end
  return p
end

-- op without a path: each key of the value object is a path (or an extension
-- URN); value as sent (nulls kept)
local function apply_object(r, rtype, op, value)
  if op == "remove" then return nil, errors.no_target("remove needs a path") end
  if type(value) ~= "table" or json.is_array(value) then
    return nil, errors.syntax("an operation without a path needs an object as its value")
  end
  for key, v in pairs(value) do
    local urn, rest = schemas.split_urn(key)
    if urn and rest == "" and type(v) == "table" then
      for ek, ev in pairs(v) do
        local ok, err = apply_path(r, rtype, op, { schema = urn, name = ek }, ev)
        if not ok then return nil, err end
      end
    else
      local p, err = parse_path(key)
      if not p then return nil, err end
      local ok
      ok, err = apply_path(r, rtype, op, p, v)
      if not ok then return nil, err end
    end
  end
  return true
end

--- A request body (POST, PUT, PATCH) that must be one JSON object: the
-- decoded table, or nil and a SCIM invalidSyntax error.
function M.object(body)
  local v, err = json.decode(body or "")
  if type(v) ~= "table" or json.is_array(v) then
    return nil, errors.syntax("the body must be a JSON object" .. (err and (": " .. err) or ""))
  end
  return v
end

--- Applies a PatchOp body (decoded) to a copy of r; returns the new resource
-- or nil and a SCIM error. Nothing of r changes.
function M.apply(r, rtype, body)
  if type(body) ~= "table" or json.is_array(body) then
    return nil, errors.syntax("the body must be a PatchOp object")
  end
  local ops = body[query.find_key(body, "Operations") or "Operations"]
  if type(ops) ~= "table" or not json.is_array(ops) then
    return nil, errors.syntax("a PatchOp needs a non-empty 'Operations' list")
  end
  local out = json.copy(r)
  for i, o in ipairs(ops) do
    if type(o) ~= "table" then return nil, errors.syntax(("Operations[%d] must be an object"):format(i)) end
    local op = o[query.find_key(o, "op") or "op"]
    op = type(op) == "string" and op:lower() or nil
    if not OPS[op] then
      return nil, errors.syntax(("Operations[%d].op must be add, replace or remove"):format(i))
    end
    local path = o[query.find_key(o, "path") or "path"]
    local value = o[query.find_key(o, "value") or "value"] -- as sent: null kept, for the checks
    if op ~= "remove" and value == nil then
      return nil, errors.syntax(("Operations[%d] (%s) needs a value"):format(i, op))
    end
    local ok, err
    if path == nil or path == "" then
      ok, err = apply_object(out, rtype, op, value)
    elseif type(path) ~= "string" then
      ok, err = nil, errors.path(("Operations[%d].path must be a string"):format(i))
    else
      local p
      p, err = parse_path(path)
      if p then ok, err = apply_path(out, rtype, op, p, value) end
    end
    if not ok then return nil, err end
  end
  return out
end

local BOOL = { ["true"] = true, ["false"] = false }

-- one value of a simple attribute, fixed to its type, or nil and why
local function coerce(def, v)
  if def.type == "boolean" and type(v) ~= "boolean" then
    local b = type(v) == "string" and BOOL[v:lower():gsub("^%s+", ""):gsub("%s+$", "")]
    if b == nil then return nil, ("'%s' must be a boolean"):format(def.name) end
    return b
  elseif def.type == "integer" and type(v) ~= "number" then
    local n = tonumber(v)
    if not n or n ~= math.floor(n) then return nil, ("'%s' must be an integer"):format(def.name) end
    return n
  elseif (def.type == "string" or def.type == "reference" or def.type == "dateTime" or def.type == "binary")
    and type(v) ~= "string" then
    if type(v) == "number" or type(v) == "boolean" then return tostring(v) end
    return nil, ("'%s' must be a string"):format(def.name)
  end
  return v
end

local function normalize_value(def, v)
  if def.type ~= "complex" then return coerce(def, v) end
  if type(v) ~= "table" or json.is_array(v) then
    return nil, ("'%s' must be an object"):format(def.name)
  end
  local out = {}
  for k, x in pairs(v) do
    local sd
    for _, s in ipairs(def.subAttributes or {}) do if s.name:lower() == tostring(k):lower() then sd = s end end
    if sd then
      local y, why = coerce(sd, x)
      if y == nil then return nil, ("'%s.%s': %s"):format(def.name, sd.name, why) end
      out[sd.name] = y
    else
      out[k] = x
    end
  end
  return out
end

-- the attributes of one schema in holder, fixed in place
local function normalize_holder(holder, rtype, urn)
  for k, v in pairs(holder) do
    local def = type(k) == "string" and schemas.lookup(rtype, urn, k)
    if def and v ~= nil then
      if def.multiValued then
        local list = json.array({})
        for _, item in ipairs(as_list(v)) do
          local y, why = normalize_value(def, item)
          if y == nil then return nil, why end
          list[#list + 1] = y
        end
        holder[k] = list
      else
        local y, why = normalize_value(def, v)
        if y == nil then return nil, why end
        holder[k] = y
      end
    end
  end
  return true
end

--- Fixes a whole resource in place: names in canonical case, booleans given
-- as strings ("False"), numbers for strings, lists for multi-valued
-- attributes; nulls and empty values dropped. Returns it, or nil and a
-- SCIM invalidValue error.
M.MAX_DEPTH = 16 -- a SCIM resource nests 3 deep (extension, complex, sub-attribute)

function M.normalize(r, rtype)
  if json.depth(r, M.MAX_DEPTH + 1) > M.MAX_DEPTH then
    return nil, errors.value(("the resource nests deeper than %d levels"):format(M.MAX_DEPTH))
  end
  r = json.clean(schemas.canonical(rtype, r)) or {}
  for _, urn in ipairs(schemas.RESOURCE_SCHEMAS[rtype]) do
    local holder = urn == schemas.RESOURCE_SCHEMAS[rtype][1] and r or r[urn]
    if type(holder) == "table" then
      local ok, why = normalize_holder(holder, rtype, urn)
      if not ok then return nil, errors.value(why) end
    end
  end
  return r
end

return M
