-- The request sequences Okta and Microsoft Entra ID send, as their SCIM
-- guides document them, through the pure handler: test the connection,
-- import, create, update, deactivate, reactivate, push groups.

local S = require "spec.unit.support.scim"

local USER = "urn:ietf:params:scim:schemas:core:2.0:User"
local ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
local GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
local PATCHOP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
local CUSTOM = "urn:ietf:params:scim:schemas:extension:CustomExtension:2.0:User"

local function ok(res, status)
  assert.are.equal(status or 200, res.status, res.body)
  return res.json
end

describe("Okta's SCIM 2.0 sequences", function()
  it("test connection, import, create, update by PUT and PATCH, deactivate, reactivate", function()
    local t = S.new()
    local list = ok(t:req("GET", "/Users", nil, { query = "startIndex=1&count=2" }))
    assert.are.equal(2, #list.Resources)
    assert.are.equal(4, list.totalResults)
    list = ok(t:req("GET", "/Users", nil,
      { query = "filter=userName%20eq%20%22dana%40acme.com%22&startIndex=1&count=100" }))
    assert.are.equal(0, list.totalResults)
    local user = ok(t:req("POST", "/Users", { schemas = { USER, CUSTOM }, userName = "dana@acme.com",
      name = { givenName = "Dana", familyName = "Lee" }, emails = { { primary = true, value = "dana@acme.com",
      type = "work" } }, displayName = "Dana Lee", locale = "en-US", externalId = "00u1", groups = {},
      password = "1mSecret!", active = true, [CUSTOM] = { badge = "B-1" } }), 201)
    assert.are.same({ USER, CUSTOM }, user.schemas)
    assert.are.same({ badge = "B-1" }, user[CUSTOM])
    local id = user.id
    assert.are.equal(id, ok(t:req("GET", "/Users/" .. id)).id)
    -- the App Wizard's full-object PUT, without active
    user.name.familyName = "Lee-Park"
    user.password = "2mSecret!"
    local put = ok(t:req("PUT", "/Users/" .. id, user))
    assert.are.equal("Lee-Park", put.name.familyName)
    assert.is_true(put.active)
    -- a custom attribute by PATCH with its extension's path
    ok(t:req("PATCH", "/Users/" .. id, { schemas = { PATCHOP }, Operations = { { op = "replace",
      path = CUSTOM .. ":badge", value = "B-2" } } }))
    assert.are.equal("B-2", ok(t:req("GET", "/Users/" .. id))[CUSTOM].badge)
    -- deactivate and reactivate
    local off = ok(t:req("PATCH", "/Users/" .. id, { schemas = { PATCHOP },
      Operations = { { op = "replace", value = { active = false } } } }))
    assert.is_false(off.active)
    assert.is_false(t:member(id).active)
    local on = ok(t:req("PATCH", "/Users/" .. id, { schemas = { PATCHOP },
      Operations = { { op = "replace", value = { active = true } } } }))
    assert.is_true(on.active)
    assert.is_true(t:member(id).active)
    for _, a in ipairs(t.audits) do assert.is_nil(require("cjson").encode(a):find("Secret", 1, true)) end
  end)

  it("Group Push: list, create (link), add and remove members, rename with the same name", function()
    local t = S.new()
    ok(t:req("GET", "/Groups", nil, { query = "startIndex=1&count=100" }))
    local g = ok(t:req("POST", "/Groups", { schemas = { GROUP }, displayName = "Sales Rep", members = {} }), 201)
    local p = "/Groups/" .. g.id
    ok(t:req("PATCH", p, { schemas = { PATCHOP }, Operations = { { op = "add", path = "members",
      value = { { value = "memb_sam", display = "sam@acme.com" } } } } }))
    assert.are.equal("role_sales", t:member("memb_sam").role_id)
    ok(t:req("PATCH", p, { schemas = { PATCHOP }, Operations = { { op = "replace",
      value = { id = g.id, displayName = "Sales Rep" } } } }))
    ok(t:req("PATCH", p, { schemas = { PATCHOP }, Operations = { { op = "remove",
      path = 'members[value eq "memb_sam"]' } } }))
    assert.are.equal("user", t:member("memb_sam").role_id)
    assert.are.equal(204, t:req("DELETE", p).status)
  end)
end)

describe("Microsoft Entra ID's sequences", function()
  it("existence checks, create, update with Entra's PATCH forms, disable, delete", function()
    local t = S.new()
    for _, f in ipairs({ 'userName+eq+"kai%40acme.com"', 'externalId+eq+"7d1b6ca4"' }) do
      local r = ok(t:req("GET", "/Users", nil, { query = "filter=" .. f }))
      assert.are.equal(0, r.totalResults)
      assert.are.same({}, r.Resources)
    end
    local u = ok(t:req("POST", "/Users", { schemas = { USER, ENT }, externalId = "7d1b6ca4", userName = "kai@acme.com",
      active = true, displayName = "Kai", title = "Analyst",
      emails = { { primary = true, type = "work", value = "kai@acme.com" } },
      name = { formatted = "Kai Ito", familyName = "Ito", givenName = "Kai" },
      [ENT] = { department = "Finance", manager = { value = "memb_boss" } } }, {
      headers = { ["content-type"] = "application/scim+json; charset=utf-8" } }), 201)
    local id = u.id
    assert.are.equal(id, ok(t:req("GET", "/Users", nil, { query = 'filter=externalId+eq+"7d1b6ca4"' })).Resources[1].id)
    local p = ok(t:req("PATCH", "/Users/" .. id, { schemas = { PATCHOP }, Operations = {
      { op = "Replace", path = 'emails[type eq "work"].value', value = "kai.ito@acme.com" },
      { op = "Replace", path = "displayName", value = "Kai Ito" },
      { op = "Add", path = ENT .. ":employeeNumber", value = "1234" },
      { op = "Remove", path = "manager" },
    } }))
    assert.are.equal("kai.ito@acme.com", p.emails[1].value)
    assert.are.same({ department = "Finance", employeeNumber = "1234" }, p[ENT])
    local off = ok(t:req("PATCH", "/Users/" .. id, { schemas = { PATCHOP },
      Operations = { { op = "Replace", path = "active", value = "False" } } }))
    assert.is_false(off.active)
    -- a disabled user is still found by its filter, with active false
    local r = ok(t:req("GET", "/Users", nil, { query = 'filter=userName+eq+"kai@acme.com"' }))
    assert.is_false(r.Resources[1].active)
    assert.are.equal(204, t:req("DELETE", "/Users/" .. id).status)
    S.is_error(t:req("GET", "/Users/" .. id), 404)
  end)

  it("groups: existence by displayName without members, Add and Remove of members with values", function()
    local t = S.new()
    local r = ok(t:req("GET", "/Groups", nil, { query = 'excludedAttributes=members&filter=displayName+eq+"Support"' }))
    assert.are.equal(1, r.totalResults)
    local id = r.Resources[1].id
    ok(t:req("PATCH", "/Groups/" .. id, { schemas = { PATCHOP }, Operations = {
      { op = "Add", path = "members", value = { { value = "memb_sam" } } } } }))
    assert.are.equal("role_support", t:member("memb_sam").role_id)
    ok(t:req("PATCH", "/Groups/" .. id, { schemas = { PATCHOP }, Operations = {
      { op = "Remove", path = "members", value = { { value = "memb_sam" } } } } }))
    assert.are.equal("user", t:member("memb_sam").role_id)
  end)
end)
