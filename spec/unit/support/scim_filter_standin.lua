--- TEMPORARY stand-in for close.scim.filter (scim-c writes the real C
-- parser and its Lua wrapper): just enough of the agreed API for the
-- handler's specs. Installed by scim.lua only when the real module is
-- missing; removed once it lands in main.

local M = {}
M.null = setmetatable({}, { __tostring = function() return "null" end })

local OPS = { eq = 1, ne = 1, co = 1, sw = 1, ew = 1, gt = 1, ge = 1, lt = 1, le = 1 }

local function tokens(s)
  local out, i = {}, 1
  while i <= #s do
    local c = s:sub(i, i)
    if c:match("%s") then i = i + 1
    elseif c:match("[%(%)%[%]]") then out[#out + 1] = { t = c }; i = i + 1
    elseif c == '"' then
      local j, buf = i + 1, {}
      while j <= #s and s:sub(j, j) ~= '"' do
        if s:sub(j, j) == "\\" then j = j + 1 end
        buf[#buf + 1] = s:sub(j, j); j = j + 1
      end
      if j > #s then return nil end
      out[#out + 1] = { t = "str", v = table.concat(buf) }; i = j + 1
    else
      local w = s:match("^[^%s%(%)%[%]\"]+", i)
      out[#out + 1] = { t = "word", v = w }; i = i + #w
    end
  end
  return out
end

local function attrpath(w)
  local schema, rest = w:match("^(urn:.*):([^:]+)$")
  rest = rest or w
  local name, sub = rest:match("^([^.]+)%.(.+)$")
  return { schema = schema, name = name or rest, sub = sub }
end

local function literal(tok)
  if tok.t == "str" then return tok.v end
  local l = tok.v:lower()
  if l == "true" then return true elseif l == "false" then return false elseif l == "null" then return M.null end
  return tonumber(tok.v) or tok.v
end

local function parser(toks)
  local p = { i = 1 }
  local function peek() return toks[p.i] end
  local function take() p.i = p.i + 1; return toks[p.i - 1] end
  local expr
  local function factor()
    local t = take()
    if not t then error("unexpected end") end
    if t.t == "(" then
      local e = expr()
      if (take() or {}).t ~= ")" then error("missing )") end
      return e
    end
    if t.t == "word" and t.v:lower() == "not" then
      local e = factor()
      return { op = "not", expr = e }
    end
    if t.t ~= "word" then error("expected an attribute") end
    local a = attrpath(t.v)
    local n = peek()
    if n and n.t == "[" then
      take()
      local inner = expr()
      if (take() or {}).t ~= "]" then error("missing ]") end
      return { op = "has", attr = a, filter = inner }
    end
    local o = take()
    if not o or o.t ~= "word" then error("expected an operator") end
    local op = o.v:lower()
    if op == "pr" then return { op = "pr", attr = a } end
    if not OPS[op] then error("unknown operator " .. o.v) end
    local v = take()
    if not v or (v.t ~= "str" and v.t ~= "word") then error("expected a value") end
    return { op = op, attr = a, value = literal(v) }
  end
  local function term()
    local l = factor()
    while peek() and peek().t == "word" and peek().v:lower() == "and" do
      take()
      l = { op = "and", left = l, right = factor() }
    end
    return l
  end
  function expr()
    local l = term()
    while peek() and peek().t == "word" and peek().v:lower() == "or" do
      take()
      l = { op = "or", left = l, right = term() }
    end
    return l
  end
  return expr, p
end

function M.parse(s)
  local toks = type(s) == "string" and tokens(s)
  if not toks or #toks == 0 then return nil, { scimType = "invalidFilter", detail = "bad filter" } end
  local expr, p = parser(toks)
  local ok, ast = pcall(expr)
  if not ok or p.i <= #toks then
    return nil, { scimType = "invalidFilter", detail = "bad filter: " .. tostring(ast) }
  end
  return ast
end

function M.path(s)
  if type(s) ~= "string" then return nil, { scimType = "invalidPath", detail = "not a string" } end
  local head, inner, tail = s:match("^([^%[]+)%[(.*)%](.*)$")
  if not head then
    if s:find("[%s%[%]]") or s == "" then return nil, { scimType = "invalidPath", detail = "bad path" } end
    local a = attrpath(s)
    return { schema = a.schema, name = a.name, sub = a.sub }
  end
  local f, err = M.parse(inner)
  if not f then return nil, { scimType = "invalidPath", detail = err.detail } end
  if tail ~= "" and not tail:match("^%.[%w$]+$") then return nil, { scimType = "invalidPath", detail = "bad path" } end
  local a = attrpath(head)
  return { schema = a.schema, name = a.name, filter = f, sub = tail ~= "" and tail:sub(2) or nil }
end

local function key(t, name)
  if type(t) ~= "table" then return nil end
  for k in pairs(t) do if type(k) == "string" and k:lower() == name:lower() then return k end end
end

local function values(r, a)
  local holder = r
  if a.schema then
    local k = key(r, a.schema)
    holder = k and r[k]
    if not holder then
      if a.schema:lower():find(":user$") or a.schema:lower():find(":group$") then holder = r end
    end
  end
  local k = key(holder, a.name)
  local v = k and holder[k]
  if v == nil then return {} end
  local list = (type(v) == "table" and #v > 0) and v or { v }
  if not a.sub then return list end
  local out = {}
  for _, item in ipairs(list) do
    local sk = key(item, a.sub)
    if sk then out[#out + 1] = item[sk] end
  end
  return out
end

local function cmp(op, x, y, exact)
  if type(x) == "string" and type(y) == "string" and not exact then x, y = x:lower(), y:lower() end
  if op == "eq" then return x == y end
  if op == "ne" then return x ~= y end
  if type(x) ~= type(y) or type(x) == "boolean" then return false end
  if op == "co" then return type(x) == "string" and x:find(y, 1, true) ~= nil end
  if op == "sw" then return type(x) == "string" and x:sub(1, #y) == y end
  if op == "ew" then return type(x) == "string" and (y == "" or x:sub(-#y) == y) end
  if op == "gt" then return x > y elseif op == "ge" then return x >= y
  elseif op == "lt" then return x < y else return x <= y end
end

function M.match(ast, r, schema)
  local op = ast.op
  if op == "and" then return M.match(ast.left, r, schema) and M.match(ast.right, r, schema) end
  if op == "or" then return M.match(ast.left, r, schema) or M.match(ast.right, r, schema) end
  if op == "not" then return not M.match(ast.expr, r, schema) end
  local vals = values(r, ast.attr)
  if op == "pr" then return #vals > 0 end
  if op == "has" then
    for _, item in ipairs(vals) do
      if M.match(ast.filter, item, function(p)
        return schema and schema({ schema = ast.attr.schema, name = ast.attr.name, sub = p.name })
      end) then return true end
    end
    return false
  end
  local def = schema and schema(ast.attr) or {}
  if ast.value == M.null then
    if op == "eq" then return #vals == 0 elseif op == "ne" then return #vals > 0 end
    return false
  end
  if op == "ne" and #vals == 0 then return true end
  for _, v in ipairs(vals) do if cmp(op, v, ast.value, def.caseExact) then return true end end
  return false
end

function M.tostring() return "(stand-in)" end

return M
