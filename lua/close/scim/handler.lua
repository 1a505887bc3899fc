--- The pure SCIM handler: `h:handle(request) -> response`, no nginx. Checks
-- the bearer token first (nothing else is evaluated without it), then the
-- body's size and type, then routes to discovery, /Users or /Groups.
-- @module close.scim.handler

local json = require "close.scim.json"
local schemas = require "close.scim.schemas"
local errors = require "close.scim.errors"
local query = require "close.scim.query"
local users = require "close.scim.users"
local filter = require "close.scim.filter"
local groups = require "close.scim.groups"

local M = {}

local H = {}
H.__index = H

M.MAX_BODY = 1048576
M.MIN_TOKEN = 32
local REQUEST_ID_HEADERS = { "x-request-id", "client-request-id", "x-okta-request-id", "request-id" }

local OPTIONS = { client = "table", store = "table", index = "table", default_role = "string", token = "string",
  audit = "function", clock = "function", base_path = "string", max_results = "number", max_body = "number" }

--- `opts` as in SCIM_INTERFACES: client, store, index (or one is made from
-- client and store), token (at least 32 characters), default_role ("user"),
-- audit(record), clock (os.time), base_path ("/scim/v2"), max_results (100).
function M.new(opts)
  if type(opts) ~= "table" then error("close.scim.handler: expected a table of options", 2) end
  for k, v in pairs(opts) do
    if not OPTIONS[k] then error("close.scim.handler: unknown option '" .. tostring(k) .. "'", 2) end
    if type(v) ~= OPTIONS[k] then error(("close.scim.handler: option '%s' must be a %s"):format(k, OPTIONS[k]), 2) end
  end
  for _, k in ipairs({ "client", "store", "token" }) do
    if not opts[k] then error("close.scim.handler: option '" .. k .. "' is required", 2) end
  end
  if #opts.token < M.MIN_TOKEN then
    error(("close.scim.handler: the token must have at least %d characters"):format(M.MIN_TOKEN), 2)
  end
  local h = setmetatable({ client = opts.client, store = opts.store, token = opts.token,
    default_role = opts.default_role or "user", audit_fn = opts.audit, clock = opts.clock or os.time,
    base = (opts.base_path or "/scim/v2"):gsub("/+$", ""), max_results = opts.max_results or 100,
    max_body = opts.max_body or M.MAX_BODY }, H)
  h.index = opts.index or require("close.scim.index").new{ client = opts.client, store = opts.store,
    clock = h.clock }
  -- the index reads what the store keeps (externalId, names) unless given another store
  h.index.store = h.index.store or opts.store
  return h
end

--- A time as RFC 3339 UTC (now when t is nil).
function H:iso(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t or self.clock()))
end

function H:snapshot()
  local snap, err = self.index:snapshot()
  if not snap then return nil, errors.from_close(err, "reading the organization") end
  return snap
end

-- role and active of a member-like table, for the audit record
local function state(m)
  if type(m) ~= "table" then return nil end
  return { role = m.role_id, active = m.active }
end

--- One audit record of a change (or a refused or failed one); no secret in it.
function H:audit(operation, address, before, after, outcome)
  if not self.audit_fn then return end
  local req = self.request or {}
  pcall(self.audit_fn, { time = self:iso(), operation = operation, address = address,
    before = state(before), after = state(after), outcome = outcome,
    request = { method = req.method, path = req.path, id = req.request_id } })
end

-- Constant-time comparison: the time depends on the length of `want` only.
local function same(got, want)
  local diff = #got == #want and 0 or 1
  for i = 1, #want do
    local a, b = got:byte(i) or 0, want:byte(i)
    if a ~= b then diff = diff + 1 else diff = diff + 0 end
  end
  return diff == 0
end

local function header(req, name)
  for k, v in pairs(req.headers or {}) do
    if type(k) == "string" and k:lower() == name then
      if type(v) == "table" then v = v[1] end
      return v
    end
  end
end

local function response(status, body, headers)
  local hd = { ["Content-Type"] = errors.CONTENT_TYPE }
  for k, v in pairs(headers or {}) do hd[k] = v end
  return { status = status, headers = hd, body = json.encode(body) }
end

local function unauthorized(detail, given)
  local e = errors.new(401, nil, detail, { ["WWW-Authenticate"] = 'Bearer realm="close-scim"'
    .. (given and ', error="invalid_token"' or "") })
  return errors.response(e)
end

function H:authorized(req)
  local auth = header(req, "authorization")
  if type(auth) ~= "string" or auth == "" then return false, unauthorized("a bearer token is required", false) end
  local token = auth:match("^%s*[Bb][Ee][Aa][Rr][Ee][Rr]%s+(%S+)%s*$")
  if not token or not same(token, self.token) then
    return false, unauthorized("the bearer token is not the bridge's", true)
  end
  return true
end

-- the path below base_path, in segments; nil when outside it
local function segments(self, path)
  path = (path or ""):gsub("%?.*$", ""):gsub("//+", "/")
  local base = self.base
  if path:sub(1, #base):lower() ~= base:lower() then return nil end
  local rest = path:sub(#base + 1)
  if rest ~= "" and rest:sub(1, 1) ~= "/" then return nil end
  local out = {}
  for seg in rest:gmatch("[^/]+") do
    out[#out + 1] = seg:gsub("%%(%x%x)", function(x) return string.char(tonumber(x, 16)) end)
  end
  return out
end

local BODY_METHODS = require("close.core").BODY_METHODS -- POST, PUT, PATCH (wire.c)

-- the body: size and media type
function H:check_body(req)
  local body = req.body
  if body ~= nil and #body > self.max_body then
    return nil, errors.new(413, nil, ("the body is larger than %d bytes"):format(self.max_body))
  end
  if not BODY_METHODS[req.method] then return true end
  local ct = header(req, "content-type")
  if ct then
    local media = ct:match("^%s*([^;%s]+)"):lower()
    if media ~= "application/scim+json" and media ~= "application/json" then
      return nil, errors.new(415, nil, "the body must be application/scim+json (or application/json)")
    end
  end
  if body == nil or body == "" then return nil, errors.syntax("the request needs a JSON body") end
  return true
end

--- A list response: filter, paging, projection over `items` (resources).
function H:list(rtype, params, candidates, build)
  local ast
  if params.filter and params.filter ~= "" then
    local err
    ast, err = filter.parse(params.filter)
    if not ast then return nil, errors.filter(err and err.detail or "the filter cannot be parsed") end
  end
  local page, perr = query.page(params, self.max_results)
  if not page then return nil, perr end
  local items, fast = candidates(ast)
  local matched = items
  if ast and not fast then
    -- evaluated on the resources; without a filter only the page is built
    local resolver = schemas.resolver(rtype)
    -- a filter that parses but cannot apply (gt on a boolean...) says so for any resource
    local usable, why = filter.match(ast, {}, resolver)
    if usable == nil then return nil, errors.filter(why and why.detail or "the filter cannot be evaluated") end
    matched = {}
    for _, it in ipairs(items) do
      local r = build(it)
      if filter.match(ast, r, resolver) then matched[#matched + 1] = r end
    end
    build = function(r) return r end
  end
  local out = json.array({})
  for i = page.start, math.min(#matched, page.start + page.count - 1) do
    out[#out + 1] = query.project(build(matched[i]), rtype, params)
  end
  return { schemas = json.array({ schemas.LIST }), totalResults = #matched, startIndex = page.start,
    itemsPerPage = #out, Resources = out }
end

local UNSUPPORTED = {
  Bulk = "bulk operations are not supported (ServiceProviderConfig bulk.supported is false)",
  Me = "/Me is not supported: the bridge's token is not a user's",
}

-- POST on a collection: create through kind (users or groups), 201 with Location
local function create(self, kind, rtype, req, params)
  local r, status = kind.create(self, req)
  if not r then return nil, status end
  return query.project(r, rtype, params), 201, { Location = r.meta.location }
end

-- DELETE, PUT or PATCH of one resource `it` through kind (users or groups)
local function change(self, kind, rtype, snap, it, req, params)
  local method = req.method
  if method == "DELETE" then
    local ok, err = kind.delete(self, snap, it)
    if not ok then return nil, err end
    return nil, nil, nil, 204
  end
  local r, err
  if method == "PUT" then r, err = kind.replace(self, snap, it, req)
  elseif method == "PATCH" then r, err = kind.patch(self, snap, it, req)
  else return nil, errors.new(405, nil, ("use GET, PUT, PATCH or DELETE on /%ss/{id}"):format(rtype)) end
  if not r then return nil, err end
  return query.project(r, rtype, params)
end

-- /Users and /Users/{id}
function H:users(req, seg, params)
  local method = req.method
  if #seg == 1 then
    if method == "GET" then
      local snap, err = self:snapshot()
      if not snap then return nil, err end
      local function candidates(ast)
        local hit = users.indexed(snap, ast)
        if hit then return hit, true end
        return users.all(snap), false
      end
      local function build(m) return users.resource(self, snap, m) end
      return self:list("User", params, candidates, build)
    elseif method == "POST" then
      return create(self, users, "User", req, params)
    end
    return nil, errors.new(405, nil, "use GET or POST on /Users")
  end
  if #seg ~= 2 then return nil, errors.not_found("no such resource") end
  local snap, err = self:snapshot()
  if not snap then return nil, err end
  local m = users.find(snap, seg[2])
  if not m then return nil, errors.not_found(("no user has id '%s'"):format(seg[2])) end
  if method == "GET" then return query.project(users.resource(self, snap, m), "User", params) end
  return change(self, users, "User", snap, m, req, params)
end

-- /Groups and /Groups/{id}
function H:groups(req, seg, params)
  local method = req.method
  if #seg == 1 then
    if method == "GET" then
      local snap, err = self:snapshot()
      if not snap then return nil, err end
      local function candidates() return groups.all(snap), false end
      local lean = query.excludes(params, "members")
        and not (params.filter or ""):lower():find("members", 1, true)
      local function build(role) return groups.resource(self, snap, role, lean) end
      return self:list("Group", params, candidates, build)
    elseif method == "POST" then
      return create(self, groups, "Group", req, params)
    end
    return nil, errors.new(405, nil, "use GET or POST on /Groups")
  end
  if #seg ~= 2 then return nil, errors.not_found("no such resource") end
  local snap, err = self:snapshot()
  if not snap then return nil, err end
  local role
  for _, r in ipairs(groups.all(snap)) do if r.id == seg[2] then role = r end end
  if not role then
    return nil, errors.not_found(("no group (Close role) has id '%s': groups are Close roles"):format(seg[2]))
  end
  if method == "GET" then
    return query.project(groups.resource(self, snap, role, query.excludes(params, "members")), "Group", params)
  end
  return change(self, groups, "Group", snap, role, req, params)
end

-- discovery: /ServiceProviderConfig, /ResourceTypes[/id], /Schemas[/id]
function H:discovery(req, seg)
  if req.method ~= "GET" then return nil, errors.new(405, nil, "discovery endpoints answer GET only") end
  local name = seg[1]:lower()
  if name == "serviceproviderconfig" and #seg == 1 then
    return schemas.service_provider_config(self.base, self.max_results)
  end
  local list = name == "schemas" and schemas.schema_resources(self.base) or schemas.resource_types(self.base)
  if #seg == 1 then
    return { schemas = json.array({ schemas.LIST }), totalResults = #list, startIndex = 1, itemsPerPage = #list,
      Resources = json.array(list) }
  end
  for _, r in ipairs(list) do if r.id == seg[2] and #seg == 2 then return r end end
  return nil, errors.not_found(("no %s '%s'"):format(name == "schemas" and "schema" or "resource type", seg[2]))
end

-- POST /Users/.search, /Groups/.search (RFC 7644 section 3.4.3): a GET
-- whose parameters come in a SearchRequest body.
local SEARCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
function H:search(req, seg)
  local first = seg[1]:lower()
  if #seg ~= 2 or (first ~= "users" and first ~= "groups") then
    return nil, errors.new(501, nil, "only /Users/.search and /Groups/.search are supported")
  end
  if req.method ~= "POST" then return nil, errors.new(405, nil, "use POST on .search") end
  local body = json.decode(req.body or "")
  if type(body) ~= "table" or json.is_array(body) then return nil, errors.syntax("a SearchRequest object is needed") end
  local params = {}
  for k, v in pairs(body) do
    local name = type(k) == "string" and k:lower()
    if type(v) == "table" and json.is_array(v) then v = table.concat(v, ",") end
    if name and name ~= "schemas" and (type(v) == "string" or type(v) == "number") then params[name] = tostring(v) end
  end
  if params.sortby or params.sortorder then
    return nil, errors.new(501, nil, "sorting is not supported (ServiceProviderConfig sort.supported is false)")
  end
  local get = { method = "GET", path = req.path, headers = req.headers }
  if first == "users" then return self:users(get, { seg[1] }, params) end
  return self:groups(get, { seg[1] }, params)
end
M.SEARCH_SCHEMA = SEARCH_SCHEMA

local DISCOVERY = { serviceproviderconfig = true, resourcetypes = true, schemas = true }

-- the route; returns body, status, headers (or nil, err; or nil, nil, nil, 204)
function H:route(req)
  local seg = segments(self, req.path)
  if not seg or #seg == 0 then return nil, errors.not_found("not a SCIM endpoint: the base is " .. self.base) end
  local params = query.parse(req.query)
  if params.sortby or params.sortorder then
    return nil, errors.new(501, nil, "sorting is not supported (ServiceProviderConfig sort.supported is false)")
  end
  if header(req, "if-match") or header(req, "if-none-match") then
    return nil, errors.new(501, nil, "ETags are not supported (ServiceProviderConfig etag.supported is false)")
  end
  local first = seg[1]:lower()
  if DISCOVERY[first] then return self:discovery(req, seg) end
  for name, why in pairs(UNSUPPORTED) do
    if first == name:lower() then return nil, errors.new(501, nil, why) end
  end
  if seg[#seg] == ".search" then return self:search(req, seg) end
  if first == "users" then return self:users(req, seg, params) end
  if first == "groups" then return self:groups(req, seg, params) end
  return nil, errors.not_found(("no endpoint '%s' (Users, Groups, ServiceProviderConfig, ResourceTypes, Schemas)")
    :format(seg[1]))
end

--- Answers one request: `{method, path, query, headers, body}` -> `{status, headers, body}`.
function H:handle(req)
  local ok, allowed, refusal = pcall(self.authorized, self, type(req) == "table" and req or {})
  if not ok then return unauthorized("a bearer token is required", false) end
  if not allowed then return refusal end
  req = { method = tostring(req.method or "GET"):upper(), path = req.path, query = req.query,
    headers = req.headers or {}, body = req.body }
  local rid
  for _, name in ipairs(REQUEST_ID_HEADERS) do rid = rid or header(req, name) end
  req.request_id = type(rid) == "string" and rid:sub(1, 200) or nil
  local fine, err = self:check_body(req)
  if not fine then return errors.response(err) end
  -- the request's own view of the handler: requests run concurrently in
  -- one nginx worker, so what belongs to one is never kept in self
  local ctx = setmetatable({ request = req }, { __index = self })
  local pok, body, status, headers, empty = pcall(ctx.route, ctx, req)
  if not pok then
    -- a bug of ours, never the provider's input: said without the details
    return errors.response(errors.new(500, nil, "internal error"))
  end
  if empty then return { status = empty, headers = {}, body = "" } end
  if body == nil then
    return errors.response(errors.is(status) and status or errors.new(500, nil, "internal error"))
  end
  return response(status or 200, body, headers)
end

return M
