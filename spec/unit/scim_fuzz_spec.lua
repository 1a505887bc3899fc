-- Random requests (a fixed seed, a bounded count) through the pure handler:
-- whatever the provider sends, the answer is a well-formed SCIM response
-- below 500, and a GET afterwards still answers.

local S = require "spec.unit.support.scim"
local cjson = require "cjson.safe"

local NAMES = { "userName", "USERNAME", "active", "name", "name.givenName", "emails", "emails.value",
  'emails[type eq "work"].value', 'emails[type eq "work"]', "roles", 'roles[primary eq true].value', "members",
  'members[value eq "memb_sam"]', "displayName", "externalId", "id", "meta", "groups", "password", "title",
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "manager", "manager.value",
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", "x-custom", "emails[", "a..b", "", " " }
local OPS = { "add", "Add", "replace", "Replace", "remove", "Remove", "move", "" }

local random
local function pick(list) return list[random(#list)] end

local function value(depth)
  local k = random(9)
  if depth > 3 or k <= 3 then
    return pick({ "x@acme.com", "True", "false", "user", "Sales Rep", "memb_sam", "", 0, 1.5, true, false,
      cjson.null, "memb_caller", "admin" })
  elseif k <= 6 then
    local t = {}
    for i = 1, random(3) - 1 do t[i] = value(depth + 1) end
    return t
  end
  local t = {}
  for _ = 1, random(4) - 1 do t[pick(NAMES)] = value(depth + 1) end
  t.value = random(2) == 1 and pick({ "memb_sam", "memb_boss", "x" }) or nil
  return t
end

local function patch_body()
  local ops = {}
  for i = 1, random(3) do
    ops[i] = { op = pick(OPS), path = random(3) > 1 and pick(NAMES) or nil, value = value(0) }
  end
  return { schemas = { "urn:ietf:params:scim:api:messages:2.0:PatchOp" }, Operations = ops }
end

describe("scim handler under random requests", function()
  it("never answers 500 and always answers SCIM's shape", function()
    local seed = 1234
    random = function(n) seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n + 1 end
    local t = S.new()
    local paths = { "/Users", "/Users/memb_sam", "/Users/memb_boss", "/Users/memb_caller", "/Groups",
      "/Groups/user", "/Groups/admin", "/Groups/role_sales", "/Users/memb_nope" }
    for i = 1, 600 do
      local method = pick({ "GET", "POST", "PUT", "PATCH", "DELETE" })
      local path = pick(paths)
      local body
      if method == "PATCH" then body = patch_body()
      elseif method == "POST" or method == "PUT" then
        body = value(0)
        if type(body) == "table" and random(2) == 1 then
          body.userName = pick({ "x" .. i .. "@acme.com", "sam@acme.com" })
        end
        if type(body) == "table" and random(2) == 1 then body.displayName = pick({ "Support", "User", "Nope" }) end
      end
      local q = method == "GET" and pick({ "", "filter=" .. pick(NAMES) .. "%20eq%20%22x%22",
        "attributes=" .. pick(NAMES), "excludedAttributes=" .. pick(NAMES), "count=" .. random(5) }) or nil
      local res = t:req(method, path, body ~= nil and cjson.encode(body) or nil, { query = q })
      local where = ("#%d %s %s %s -> %s"):format(i, method, path, tostring(body and cjson.encode(body)), res.body)
      -- 501 is the refusal of what is declared unsupported (a password change here)
      assert.is_true(res.status < 500 or (res.status == 501 and res.json.detail:find("password", 1, true) ~= nil),
        where)
      if res.status ~= 204 then
        assert.are.equal("application/scim+json", res.headers["Content-Type"], where)
        assert.is_table(res.json, where)
      end
      if res.status >= 400 then assert.are.equal(tostring(res.status), res.json.status, where) end
    end
    assert.are.equal(200, t:req("GET", "/Users").status)
    assert.are.equal(200, t:req("GET", "/Groups").status)
  end)
end)
