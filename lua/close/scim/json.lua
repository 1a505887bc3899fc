--- JSON for the SCIM bridge: cjson decodes; the encoder is ours, because
-- Debian's lua-cjson writes an empty list as {} (a ListResponse with no
-- Resources must say []) and keys in no order (we send them stable).
-- @module close.scim.json

local cjson = require "cjson.safe"

local M = {}

M.null = cjson.null
local ARRAY = {}

--- Marks t as a JSON array (so that an empty one is written []).
function M.array(t)
  return setmetatable(t or {}, ARRAY)
end

function M.is_array(t)
  if type(t) ~= "table" then return false end
  if getmetatable(t) == ARRAY then return true end
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

-- keys written first, in this order; the rest sorted, "meta" last
local FIRST = { schemas = 1, id = 2, externalId = 3, userName = 4, displayName = 5 }
local function key_order(a, b)
  local fa, fb = FIRST[a] or (a == "meta" and 1000) or 100, FIRST[b] or (b == "meta" and 1000) or 100
  if fa ~= fb then return fa < fb end
  return a < b
end

local encode_value
local function encode_table(t, out, depth)
  if depth > 64 then error("too deep", 0) end
  if M.is_array(t) then
    out[#out + 1] = "["
    for i = 1, #t do
      if i > 1 then out[#out + 1] = "," end
      encode_value(t[i], out, depth + 1)
    end
    out[#out + 1] = "]"
    return
  end
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  table.sort(keys, key_order)
  out[#out + 1] = "{"
  for i, k in ipairs(keys) do
    if i > 1 then out[#out + 1] = "," end
    out[#out + 1] = cjson.encode(k)
    out[#out + 1] = ":"
    local v = t[k]
    if v == nil then v = t[tonumber(k)] end
    encode_value(v, out, depth + 1)
  end
  out[#out + 1] = "}"
end

function encode_value(v, out, depth)
  local tv = type(v)
  if tv == "table" then return encode_table(v, out, depth) end
  if tv == "string" or tv == "boolean" then out[#out + 1] = cjson.encode(v); return end
  if tv == "number" then
    if v ~= v or v == math.huge or v == -math.huge then out[#out + 1] = "null"
    elseif v == math.floor(v) and math.abs(v) < 2 ^ 53 then out[#out + 1] = ("%d"):format(v)
    else out[#out + 1] = ("%.17g"):format(v) end
    return
  end
  out[#out + 1] = "null" -- cjson.null and anything else
end

--- A value as JSON text.
function M.encode(v)
  local out = {}
  encode_value(v, out, 0)
  return table.concat(out)
end

--- JSON text -> value, or nil and the reason (cjson's message, which names
-- a position, never echoes the input at length).
function M.decode(s)
  local v, err = cjson.decode(s)
  if v == nil and err then return nil, err end
  return v
end

--- A deep copy without JSON nulls and without empty lists or objects: RFC
-- 7643 section 2.5, null and [] are "unassigned".
function M.clean(v)
  if v == M.null then return nil end
  if type(v) ~= "table" then return v end
  local arr = M.is_array(v)
  local out = {}
  if arr then
    for i = 1, #v do
      local x = M.clean(v[i])
      if x ~= nil then out[#out + 1] = x end
    end
    if #out == 0 then return nil end
    return M.array(out)
  end
  for k, x in pairs(v) do out[k] = M.clean(x) end
  if next(out) == nil then return nil end
  return out
end

--- Whether two decoded values are equal, deeply; `ignore` names top-level
-- keys left out of the comparison.
function M.equal(a, b, ignore)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  for k, v in pairs(a) do
    if not (ignore and ignore[k]) and not M.equal(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if not (ignore and ignore[k]) and a[k] == nil then return false end
  end
  return true
end

--- How deeply tables nest in v (a string or number is 0), counted no
-- further than `limit`.
function M.depth(v, limit)
  if type(v) ~= "table" then return 0 end
  if limit <= 0 then return 1 end
  local d = 0
  for _, x in pairs(v) do
    local n = M.depth(x, limit - 1)
    if n > d then d = n end
    if d >= limit then break end
  end
  return d + 1
end

--- A deep copy (arrays stay marked).
function M.copy(v)
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = M.copy(x) end
  return setmetatable(out, getmetatable(v))
end

return M
