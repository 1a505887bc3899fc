--- Stubs for the SCIM handler's specs: an in-memory Close client (the
-- calls the bridge makes, recorded, failures injectable), an in-memory
-- store (failures injectable), an audit recorder and a request helper.
--
--     local S = require "spec.unit.support.scim"
--     local t = S.new()                       -- the default organization
--     local res = t:req("GET", "/Users", nil, { query = "count=2" })
--     -- res.status, res.headers, res.json; t.client.calls, t.audits

local cjson = require "cjson.safe"
local scim = require "close.scim"

local M = {}

M.TOKEN = "t0ken-for-the-unit-specs-0123456789abcdef"
M.BASE = "/scim/v2"
M.NOW = 1798000000 -- 2026-12-22T...Z: the clock of the specs
M.CUSTOM = { { id = "role_sales", name = "Sales Rep" }, { id = "role_support", name = "Support" } }

local function copy(v)
  if type(v) ~= "table" then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = copy(x) end
  return t
end
M.copy = copy

--- The default members: the caller (an admin), another admin, a user, an inactive one.
function M.members()
  return {
    { id = "memb_caller", user_id = "user_caller", email = "admin@acme.com", role_id = "admin", active = true,
      first_name = "Ada", last_name = "Admin", name = "Ada Admin" },
    { id = "memb_boss", user_id = "user_boss", email = "boss@acme.com", role_id = "admin", active = true,
      first_name = "Bo", last_name = "Boss", name = "Bo Boss" },
    { id = "memb_sam", user_id = "user_sam", email = "Sam@acme.com", role_id = "user", active = true,
      first_name = "Sam", last_name = "Seller", name = "Sam Seller" },
    { id = "memb_old", user_id = "user_old", email = "old@acme.com", role_id = "role_sales", active = false,
      first_name = "Olive", last_name = "Old", name = "Olive Old" },
  }
end

--- A stub client over `members`; `c.fail[method] = err` makes that method
-- fail (with `c.fail_once[method] = true`, only the next call).
function M.client(members, roles)
  local c = { members = members or M.members(), role_list = roles or copy(M.CUSTOM), calls = {}, fail = {},
    fail_once = {}, next_id = 1, me = { id = "user_caller", email = "admin@acme.com" } }
  local function failing(name)
    local e = c.fail[name]
    if e and c.fail_once[name] then c.fail[name] = nil end
    if e then return nil, copy(e) end
  end
  local function find(id)
    for _, m in ipairs(c.members) do if m.id == id then return m end end
  end
  function c.request(_, method, path)
    c.calls[#c.calls + 1] = method .. " " .. path
    local _, err = failing("request")
    if err then return nil, err end
    return copy(c.me), nil, {}
  end
  function c.memberships(_, opts)
    c.calls[#c.calls + 1] = "memberships"
    assert(opts and opts.inactive == true, "the bridge reads inactive memberships too")
    local _, err = failing("memberships")
    if err then return nil, err end
    return copy(c.members), nil, {}
  end
  function c.roles()
    c.calls[#c.calls + 1] = "roles"
    local _, err = failing("roles")
    if err then return nil, err end
    return copy(c.role_list), nil, {}
  end
  function c.create_membership(_, args)
    c.calls[#c.calls + 1] = "create " .. args.email .. " " .. args.role_id
    local _, err = failing("create_membership")
    if err then return nil, err end
    for _, m in ipairs(c.members) do
      if m.email:lower() == args.email:lower() then
        -- Close reactivates; the stub keeps the old role, as Close may
        m.active = true
        return copy(m), nil, {}
      end
    end
    local m = { id = "memb_new" .. c.next_id, user_id = "user_new" .. c.next_id, email = args.email,
      role_id = args.role_id, active = true }
    c.next_id = c.next_id + 1
    c.members[#c.members + 1] = m
    return copy(m), nil, {}
  end
  function c.update_membership(_, id, fields)
    c.calls[#c.calls + 1] = "update " .. id .. " " .. fields.role_id
    local _, err = failing("update_membership")
    if err then return nil, err end
    local m = find(id)
    if not m then return nil, { kind = "not_found", message = "Membership not found." } end
    m.role_id = fields.role_id
    return copy(m), nil, {}
  end
  function c.deactivate_membership(_, id)
    c.calls[#c.calls + 1] = "deactivate " .. id
    local _, err = failing("deactivate_membership")
    if err then return nil, err end
    local m = find(id)
    if not m then return nil, { kind = "not_found", message = "Membership not found." } end
    m.active = false
    return {}, nil, {}
  end
  return c
end

--- A stub store: `s.data`; `s.broken = true` fails every call, `s.fail_set = n` the n-th next set.
function M.store()
  local s = { data = {}, sets = 0 }
  local function broken() return nil, { kind = "store", message = "disk I/O error" } end
  function s.get(_, k) if s.broken then return broken() end return s.data[k] end
  function s.set(_, k, v)
    assert(type(v) == "string", "the store keeps strings")
    if s.broken then return broken() end
    s.sets = s.sets + 1
    if s.fail_set and s.sets == s.fail_set then return broken() end
    s.data[k] = v
    return true
  end
  function s.delete(_, k) if s.broken then return broken() end s.data[k] = nil return true end
  function s.scan(_, prefix)
    if s.broken then return broken() end
    local out = {}
    for k, v in pairs(s.data) do if k:sub(1, #prefix) == prefix then out[k] = v end end
    return out
  end
  function s.close() end
  return s
end

--- A handler over stubs. `opts.members`, `opts.roles`, handler options.
function M.new(opts)
  opts = opts or {}
  local t = { client = M.client(opts.members, opts.roles), store = opts.store or M.store(), audits = {}, now = M.NOW }
  local hopts = { client = t.client, store = t.store, token = M.TOKEN,
    audit = function(rec) t.audits[#t.audits + 1] = rec end,
    clock = function() return t.now end }
  for k, v in pairs(opts) do if k ~= "members" and k ~= "roles" and k ~= "store" then hopts[k] = v end end
  t.h = scim.handler(hopts)
  return setmetatable(t, { __index = M })
end

--- A request; `body` a table (encoded) or a string; `o.headers`, `o.query`, `o.token`.
function M:req(method, path, body, o)
  o = o or {}
  local headers = { authorization = "Bearer " .. (o.token or M.TOKEN) }
  if body ~= nil then headers["content-type"] = "application/scim+json" end
  for k, v in pairs(o.headers or {}) do headers[k] = v end
  if o.no_auth then headers.authorization = nil end
  if type(body) == "table" then body = cjson.encode(body) end
  local res = self.h:handle{ method = method, path = (o.base or M.BASE) .. path, query = o.query,
    headers = headers, body = body }
  res.json = res.body ~= "" and cjson.decode(res.body) or nil
  return res
end

--- The member of the stub organization with this id.
function M:member(id)
  for _, m in ipairs(self.client.members) do if m.id == id then return m end end
end

--- Asserts a SCIM error response.
function M.is_error(res, status, scim_type, detail_part)
  local assert = require "luassert"
  assert.are.equal(status, res.status, res.body)
  assert.are.equal("application/scim+json", res.headers["Content-Type"])
  assert.are.same({ "urn:ietf:params:scim:api:messages:2.0:Error" }, res.json.schemas)
  assert.are.equal(tostring(status), res.json.status)
  assert.are.equal(scim_type, res.json.scimType)
  if detail_part then
    assert.is_truthy(res.json.detail:find(detail_part, 1, true), "detail: " .. tostring(res.json.detail))
  end
end

return M
