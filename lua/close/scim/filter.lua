--- SCIM filters (RFC 7644 section 3.4.2.2) and PATCH paths (section 3.5.2):
-- parsed by the C core (close.core.scim_parse/scim_path) into plain tables,
-- printed back in a canonical form, and evaluated against a decoded resource.
--
-- AST nodes: `{op="and"|"or", left=, right=}`, `{op="not", expr=}`,
-- `{op="pr", attr=}`, `{op="eq"|"ne"|"co"|"sw"|"ew"|"gt"|"ge"|"lt"|"le", attr=, value=}`,
-- `{op="has", attr=, filter=, test=?}` (a value path: some element of attr
-- matches filter, and with test, that element also passes test, a "pr" or
-- comparison node whose attr is `{name=<sub-attribute>}`: the AST of
-- `emails[type eq "work"].value ew "@acme.com"`); attr = `{schema=?, name=, sub=?}`;
-- a PATCH path is `{schema=?, name=, filter=?, sub=?}`. Values are strings,
-- numbers, booleans or `filter.null`.
-- @module close.scim.filter

local core = require "close.core"

local M = {}

--- The value that stands for JSON null in an AST.
M.null = setmetatable({}, { __tostring = function() return "null" end })

local function failure(kind, detail, position)
  return { scimType = kind, detail = detail, position = position }
end

local function parse_with(fn, kind, what, text)
  if type(text) ~= "string" then return nil, failure(kind, what .. " must be a string") end
  local ast, reason, pos = fn(text, M.null)
  if not ast then return nil, failure(kind, ("invalid %s at character %d: %s"):format(what, pos, reason), pos) end
  return ast
end

--- Parses a filter: the AST, or nil and `{scimType="invalidFilter", detail=, position=}`.
function M.parse(text) return parse_with(core.scim_parse, "invalidFilter", "filter", text) end

--- Parses a PATCH path: `{schema=?, name=, filter=?, sub=?}`, or nil and an
-- error with scimType "invalidPath".
function M.path(text) return parse_with(core.scim_path, "invalidPath", "path", text) end

--- The canonical text of an AST or a PATCH path (it parses to an equal one),
-- or nil and an invalidFilter error for a table that is not a valid tree.
function M.tostring(ast)
  if type(ast) ~= "table" then return nil, failure("invalidFilter", "not a filter") end
  local text, why = core.scim_print(ast, M.null)
  if not text then return nil, failure("invalidFilter", "cannot print the filter: " .. why) end
  return text
end

-- ---- evaluation ----

local function is_array(v) return type(v) == "table" and rawget(v, 1) ~= nil end

-- obj[name], the name in any case (RFC 7643 section 2.1)
local function field(obj, name)
  if type(obj) ~= "table" or is_array(obj) then return nil end
  local v = obj[name]
  if v ~= nil then return v end
  local lname = name:lower()
  for k, x in pairs(obj) do
    if type(k) == "string" and k:lower() == lname then return x end
  end
end

-- The definition of attr, relative to the value path's attribute when in one.
local function definition(schema, attr, parent)
  if not schema then return nil end
  if parent then return schema({ schema = parent.schema, name = parent.name, sub = attr.name }) end
  return schema(attr)
end

-- The values attr has in obj, multi-valued attributes flattened.
local function values(obj, attr, parent)
  local container, out = obj, {}
  if attr.schema and not parent then
    local ext = field(obj, attr.schema)
    if type(ext) == "table" and not is_array(ext) then container = ext end
  end
  local v = field(container, attr.name)
  local items = is_array(v) and v or { v }
  for i = 1, #items do
    local x = items[i]
    if attr.sub then x = field(x, attr.sub) end
    if is_array(x) then
      for j = 1, #x do out[#out + 1] = x[j] end
    elseif x ~= nil then
      out[#out + 1] = x
    end
  end
  return out
end

local function present(v)
  if v == nil or v == "" or v == M.null then return false end
  return type(v) ~= "table" or next(v) ~= nil
end

local ORDERING = { gt = true, ge = true, lt = true, le = true }
local TESTS = { eq = true, ne = true, co = true, sw = true, ew = true, gt = true, ge = true, lt = true, le = true }
local DOMAIN = { boolean = "boolean", integer = "number", decimal = "number", dateTime = "dateTime" }

-- Seconds since 1970 of an RFC 3339 dateTime (xsd:dateTime), or nil.
local function instant(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, h, mi, sec, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt ](%d%d):(%d%d):(%d%d%.?%d*)(.*)$")
  if not y then return nil end
  local offset = 0
  if rest ~= "Z" and rest ~= "z" and rest ~= "" then
    local sign, oh, om = rest:match("^([+-])(%d%d):?(%d%d)$")
    if not sign then return nil end
    offset = (tonumber(oh) * 60 + tonumber(om)) * 60 * (sign == "-" and -1 or 1)
  end
  y, mo = tonumber(y), tonumber(mo)
  -- days from civil (H. Hinnant's algorithm)
  if mo <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * (mo > 2 and mo - 3 or mo + 9) + 2) / 5) + tonumber(d) - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec) - offset
end

local function text_of(v)
  if type(v) == "number" and v == math.floor(v) and math.abs(v) < 2 ^ 53 then return ("%d"):format(v) end
  if type(v) == "number" then return ("%.17g"):format(v) end
  return tostring(v)
end

local function as_boolean(v)
  if type(v) == "boolean" then return v end
  if type(v) == "string" then
    local l = v:lower()
    if l == "true" then return true elseif l == "false" then return false end
  end
end

local ORDER = {
  eq = function(a, b) return a == b end,
  gt = function(a, b) return a > b end, ge = function(a, b) return a >= b end,
  lt = function(a, b) return a < b end, le = function(a, b) return a <= b end,
}

-- One value against the filter's value, in the attribute's domain.
local function compare(op, have, want, def)
  if type(have) == "table" then have = field(have, "value") end -- a complex value: its value
  if have == nil or have == M.null then return false end
  local domain = def and (DOMAIN[def.type] or "string") or (type(have) == "boolean" and "boolean")
    or (type(have) == "number" and "number") or "string"
  if domain == "boolean" then
    local a, b = as_boolean(have), as_boolean(want)
    return op == "eq" and a ~= nil and a == b
  elseif domain == "number" then
    local a, b = tonumber(have), tonumber(want)
    if not a or not b or not ORDER[op] then return false end
    return ORDER[op](a, b)
  elseif domain == "dateTime" and ORDER[op] then
    local a, b = instant(have), instant(want)
    if a and b then return ORDER[op](a, b) end
  end
  local a, b = text_of(have), text_of(want)
  if not (def and def.caseExact) then a, b = a:lower(), b:lower() end
  if op == "co" then return a:find(b, 1, true) ~= nil end
  if op == "sw" then return a:sub(1, #b) == b end
  if op == "ew" then return b == "" or a:sub(-#b) == b end
  return ORDER[op](a, b)
end

local eval

local function eval_has(node, obj, schema)
  for _, item in ipairs(values(obj, node.attr)) do
    local element = type(item) == "table" and item or { value = item }
    if eval(node.filter, element, schema, node.attr)
        and (node.test == nil or eval(node.test, element, schema, node.attr)) then return true end
  end
  return false
end

-- true/false for a checked tree (see check) against obj
function eval(node, obj, schema, parent)
  local op = node.op
  if op == "and" then return eval(node.left, obj, schema, parent) and eval(node.right, obj, schema, parent) end
  if op == "or" then return eval(node.left, obj, schema, parent) or eval(node.right, obj, schema, parent) end
  if op == "not" then return not eval(node.expr, obj, schema, parent) end
  if op == "has" then return eval_has(node, obj, schema) end
  local list = values(obj, node.attr, parent)
  local any = false
  for i = 1, #list do any = any or present(list[i]) end
  if op == "pr" or node.value == M.null then
    -- "eq null" is "not present"; "ne null" is "present"
    if op == "eq" then return not any end
    return any
  end
  local cmp = op == "ne" and "eq" or op
  local def = definition(schema, node.attr, parent)
  for i = 1, #list do
    if compare(cmp, list[i], node.value, def) then return op ~= "ne" end
  end
  return op == "ne"
end

local function name_of(attr, parent)
  local n = (attr.schema and attr.schema .. ":" or "") .. tostring(attr.name) .. (attr.sub and "." .. attr.sub or "")
  return parent and name_of(parent) .. "[" .. n .. "]" or n
end

local function invalid(fmt, ...) return nil, failure("invalidFilter", fmt:format(...)) end

local check

-- The test after a value path's ']': pr or a comparison on one sub-attribute.
local function check_test(node, schema, parent, depth)
  if type(node) ~= "table" or not (node.op == "pr" or TESTS[node.op]) then
    return invalid("%s: the test after ']' must be pr or a comparison", name_of(parent))
  end
  if type(node.attr) == "table" and (node.attr.schema or node.attr.sub) then
    return invalid("%s: the test after ']' names one sub-attribute", name_of(parent))
  end
  return check(node, schema, parent, depth)
end

-- What RFC 7644 refuses, found once per tree: ordering booleans or binary,
-- null beyond eq/ne, a value path on a simple attribute, a bare complex one.
function check(node, schema, parent, depth)
  if type(node) ~= "table" or depth > 1100 then return invalid("not a filter") end
  local op = node.op
  if op == "and" or op == "or" then
    local ok, err = check(node.left, schema, parent, depth + 1)
    if not ok then return nil, err end
    return check(node.right, schema, parent, depth + 1)
  elseif op == "not" then
    return check(node.expr, schema, parent, depth + 1)
  end
  if type(node.attr) ~= "table" or type(node.attr.name) ~= "string" then return invalid("filter node without attr") end
  local def, name = definition(schema, node.attr, parent), name_of(node.attr, parent)
  if op == "has" then
    if parent then return invalid("%s: a value path inside a value path", name) end
    if def and def.type ~= "complex" then return invalid("%s is not a complex attribute", name) end
    local ok, err = check(node.filter, schema, node.attr, depth + 1)
    if not ok or node.test == nil then return ok, err end
    return check_test(node.test, schema, node.attr, depth + 1)
  end
  if op == "pr" or not def then return true end
  local t = def.type
  if ORDERING[op] and (t == "boolean" or t == "binary" or type(node.value) == "boolean") then
    return invalid("%s: %s does not apply to a %s", name, op, type(node.value) == "boolean" and "boolean" or t)
  end
  if node.value == M.null and op ~= "eq" and op ~= "ne" then
    return invalid("%s: null compares only with eq and ne", name)
  end
  if t == "complex" and not (node.attr.sub or parent) and not schema({ schema = node.attr.schema,
      name = node.attr.name, sub = "value" }) then
    return invalid("%s is complex: filter on one of its sub-attributes", name)
  end
  return true
end

local checked = setmetatable({}, { __mode = "k" })

--- Whether resource (a decoded JSON object) matches the AST. schema is a
-- function(attrpath) -> RFC 7643 attribute definition or nil (nil: a string,
-- caseExact false); in a value path it receives `{schema=, name=<the
-- multi-valued attribute>, sub=<the attribute inside the brackets>}`.
-- Attribute names match in any case; strings compare per caseExact;
-- dateTime attributes compare as instants; a multi-valued attribute matches
-- when any value does; `ne` is "not eq", `pr` is false for null, "" and
-- empty lists. Returns true or false, or nil and an invalidFilter error for
-- what the RFC refuses (gt on a boolean, a value path on a simple attribute).
function M.match(ast, resource, schema)
  local seen = checked[ast]
  if not (seen and seen[schema or M]) then
    local ok, err = check(ast, schema, nil, 0)
    if not ok then return nil, err end
    if not seen then seen = setmetatable({}, { __mode = "k" }); checked[ast] = seen end
    seen[schema or M] = true
  end
  if type(resource) ~= "table" then return false end
  return eval(ast, resource, schema) and true or false
end

return M
