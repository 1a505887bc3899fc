-- The SCIM handler over the real close client (a scripted transport): the
-- Close requests a SCIM request turns into, exactly.

local fake = require "spec.unit.support.fake"
local S = require "spec.unit.support.scim"
local scim = require "close.scim"
local cjson = require "cjson.safe"

local BASE = "https://api.close.com/api/v1"
local ORG = "orga_7g8h9i"

-- a tiny Close: /me/, the organization, roles, and membership writes
local function close_stub()
  local members = {
    { id = "memb_caller", user_id = "user_caller", role_id = "admin", user_email = "admin@acme.com",
      user_full_name = "Ada Admin" },
    { id = "memb_sam", user_id = "user_sam", role_id = "user", user_email = "sam@acme.com" },
  }
  return function(req)
    local path = req.url:sub(#BASE + 1):gsub("%?.*$", "")
    local body = req.body and cjson.decode(req.body)
    if path == "/me/" then
      return fake.ok(cjson.encode({ id = "user_caller", email = "admin@acme.com", organization_id = ORG }))
    elseif path == "/organization/" .. ORG .. "/" then
      return fake.ok(cjson.encode({ id = ORG, memberships = members }))
    elseif path == "/role/" then
      return fake.ok('{"data":[{"id":"role_sales","name":"Sales Rep"}],"has_more":false}')
    elseif req.method == "POST" and path == "/membership/" then
      return fake.ok(cjson.encode({ id = "memb_jane", user_id = "user_jane", role_id = body.role_id }))
    elseif req.method == "DELETE" then
      return fake.ok("{}")
    elseif req.method == "PUT" then
      return fake.ok(cjson.encode({ id = path:match("(memb_%w+)"), role_id = body.role_id }))
    end
    return fake.status(404, '{"error":"not found"}')
  end
end

local function requests(h)
  local out = {}
  for i, r in ipairs(h.calls) do
    out[i] = r.method .. " " .. r.url:sub(#BASE + 1) .. (r.body and (" " .. r.body) or "")
  end
  return out
end

local function handler(h)
  return scim.handler{ client = h.client, store = S.store(), token = S.TOKEN, clock = function() return S.NOW end }
end

local function req(sh, method, path, body)
  return sh:handle{ method = method, path = "/scim/v2" .. path, headers = { authorization = "Bearer " .. S.TOKEN,
    ["content-type"] = "application/scim+json" }, body = body and cjson.encode(body) }
end

describe("scim over the close client", function()
  it("a list reads /me/, the organization with inactive members, and roles; then answers from the index", function()
    local h = fake.harness({ close_stub() })
    local sh = handler(h)
    local res = req(sh, "GET", "/Users")
    assert.are.equal(200, res.status, res.body)
    assert.are.equal(2, cjson.decode(res.body).totalResults)
    assert.are.same({
      "GET /me/?_fields=id%2Cemail",
      "GET /me/?_fields=organization_id",
      "GET /organization/" .. ORG .. "/?_expand=memberships__user%2Cinactive_memberships__user"
        .. "&_fields=id%2Cmemberships%2Cinactive_memberships",
      "GET /role/",
    }, requests(h))
    req(sh, "GET", "/Users/memb_sam")
    assert.are.equal(4, #h.calls)
  end)

  it("POST /Users is one POST /membership/ with email and role_id; DELETE one DELETE; a role one PUT", function()
    local h = fake.harness({ close_stub() })
    local sh = handler(h)
    local res = req(sh, "POST", "/Users", { userName = "jane@acme.com", roles = { { value = "Sales Rep" } } })
    assert.are.equal(201, res.status, res.body)
    assert.are.equal(5, #h.calls)
    assert.are.equal("POST", h.calls[5].method)
    assert.are.equal(BASE .. "/membership/", h.calls[5].url)
    assert.are.same({ email = "jane@acme.com", role_id = "role_sales" }, cjson.decode(h.calls[5].body))
    res = req(sh, "PATCH", "/Users/memb_sam", { Operations = { { op = "replace", path = "roles",
      value = { { value = "role_sales" } } } } })
    assert.are.equal(200, res.status, res.body)
    local r = requests(h)
    assert.are.equal('PUT /membership/memb_sam/ {"role_id":"role_sales"}', r[#r])
    res = req(sh, "DELETE", "/Users/memb_sam")
    assert.are.equal(204, res.status, res.body)
    r = requests(h)
    assert.are.equal("DELETE /membership/memb_sam/", r[#r])
  end)

  it("Close answering 429 beyond the client's retries is 429 with Retry-After for the provider", function()
    local stub = close_stub()
    local h = fake.harness({ function(r, hh)
      if r.method == "POST" then return fake.status(429, "", { ["retry-after"] = "2" }) end
      return stub(r, hh)
    end }, { max_retries = 1 })
    local res = req(handler(h), "POST", "/Users", { userName = "jane@acme.com" })
    assert.are.equal(429, res.status, res.body)
    assert.are.equal("2", res.headers["Retry-After"])
  end)
end)
