--- Query strings and what they ask of a list or a resource: filter,
-- startIndex/count (RFC 7644 section 3.4.2.4), attributes and
-- excludedAttributes (section 3.4.2.5).
-- @module close.scim.query

local json = require "close.scim.json"
local schemas = require "close.scim.schemas"
local errors = require "close.scim.errors"

local M = {}

local function unescape(s)
  s = s:gsub("+", " ")
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

--- A raw query string -> {lowercased name = value}. `+` is a space; a
-- repeated name keeps its first value.
function M.parse(raw)
  local out = {}
  for part in (raw or ""):gmatch("[^&]+") do
    local k, v = part:match("^([^=]*)=?(.*)$")
    k = unescape(k):lower()
    if k ~= "" and out[k] == nil then out[k] = unescape(v) end
  end
  return out
end

-- a whole number from a query parameter, or nil and why
local function whole(params, name)
  local s = params[name:lower()]
  if s == nil or s == "" then return nil end
  local n = tonumber(s)
  if not n or n ~= math.floor(n) then return nil, ("%s must be a whole number (got '%s')"):format(name, s) end
  return n
end

--- startIndex and count: 1-based; a startIndex below 1 is 1; count below 0
-- is 0; count capped at max.
function M.page(params, max)
  local start, why = whole(params, "startIndex")
  if why then return nil, errors.value(why) end
  local count
  count, why = whole(params, "count")
  if why then return nil, errors.value(why) end
  start = math.max(1, start or 1)
  count = math.min(math.max(0, count or max), max)
  return { start = start, count = count }
end

-- "a, b.c , urn:...:User:d" -> list of {urn=, name=, sub=}
local function attr_list(s)
  if not s or s == "" then return nil end
  local out = {}
  for item in s:gmatch("[^,]+") do
    item = item:gsub("^%s+", ""):gsub("%s+$", "")
    if item ~= "" then
      local urn, rest = schemas.split_urn(item)
      local name, sub = rest:match("^([^.]+)%.(.+)$")
      out[#out + 1] = { urn = urn, name = name or rest, sub = sub }
    end
  end
  return out
end

--- The key of `t` that is `name` without regard to case (exact first).
function M.find_key(t, name)
  if type(t) ~= "table" then return nil end
  if t[name] ~= nil then return name end
  local lower = name:lower()
  for k in pairs(t) do
    if type(k) == "string" and k:lower() == lower then return k end
  end
end

local ALWAYS = { schemas = true, id = true }

-- the container (resource or extension object) of an attribute reference
local function container(r, rtype, a)
  local def, urn = schemas.lookup(rtype, a.urn, a.name)
  local core = schemas.RESOURCE_SCHEMAS[rtype][1]
  if urn and urn ~= core then
    local k = M.find_key(r, urn)
    return k and r[k] or nil, def
  end
  if a.urn and a.urn ~= core then return nil end
  return r, def
end

-- copies attribute `a` of r into out
local function copy_attr(out, r, rtype, a)
  local src = container(r, rtype, a)
  if type(src) ~= "table" then return end
  local k = M.find_key(src, a.name)
  if not k then return end
  local dst = out
  if src ~= r then
    local _, urn = schemas.lookup(rtype, a.urn, a.name)
    out[urn] = out[urn] or {}
    dst = out[urn]
  end
  local v = src[k]
  if a.sub and type(v) == "table" then
    if json.is_array(v) then
      -- emails.value and emails.type asked together fill the same items
      local list = type(dst[k]) == "table" and dst[k] or json.array({})
      for i, item in ipairs(v) do
        list[i] = list[i] or {}
        local sk = type(item) == "table" and M.find_key(item, a.sub)
        if sk then list[i][sk] = item[sk] end
      end
      dst[k] = list
    else
      local sk = M.find_key(v, a.sub)
      if sk then
        dst[k] = type(dst[k]) == "table" and dst[k] or {}
        dst[k][sk] = v[sk]
      end
    end
  else
    dst[k] = json.copy(v)
  end
end

local function remove_attr(r, rtype, a)
  local src = container(r, rtype, a)
  if type(src) ~= "table" then return end
  local k = M.find_key(src, a.name)
  if not k or (src == r and ALWAYS[k]) then return end
  if a.sub and type(src[k]) == "table" then
    local items = json.is_array(src[k]) and src[k] or { src[k] }
    for _, item in ipairs(items) do
      local sk = M.find_key(item, a.sub)
      if sk then item[sk] = nil end
    end
  else
    src[k] = nil
  end
end

--- Whether the request leaves attribute `name` out of what it returns
-- (excludedAttributes names it, or attributes does not).
function M.excludes(params, name)
  local lname = name:lower()
  local function names(list)
    for _, a in ipairs(list) do if not a.urn and a.name:lower() == lname then return true end end
    return false
  end
  local only, except = attr_list(params.attributes), attr_list(params.excludedattributes)
  if only then return not names(only) end
  return except ~= nil and names(except)
end

--- The resource trimmed by `attributes` (only those, plus id and schemas)
-- or `excludedAttributes` (all but those). `r` is not changed.
function M.project(r, rtype, params)
  local only, except = attr_list(params.attributes), attr_list(params.excludedattributes)
  if only then
    local out = { schemas = r.schemas, id = r.id }
    for _, a in ipairs(only) do copy_attr(out, r, rtype, a) end
    return out
  end
  if except then
    local out = json.copy(r)
    for _, a in ipairs(except) do remove_attr(out, rtype, a) end
    return out
  end
  return r
end

return M
