-- Discovery (RFC 7644 section 4): ServiceProviderConfig, ResourceTypes,
-- Schemas, as the pure handler serves them.

local S = require "spec.unit.support.scim"

local function attr(list, name)
  for _, a in ipairs(list) do if a.name == name then return a end end
end

describe("scim discovery", function()
  it("ServiceProviderConfig says what is supported: patch and filter (maxResults = the count cap), not the rest",
    function()
      local t = S.new{ max_results = 50 }
      local res = t:req("GET", "/ServiceProviderConfig")
      assert.are.equal(200, res.status)
      assert.are.equal("application/scim+json", res.headers["Content-Type"])
      local c = res.json
      assert.are.same({ "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig" }, c.schemas)
      assert.are.same({ supported = true }, c.patch)
      assert.are.same({ supported = true, maxResults = 50 }, c.filter)
      assert.are.same({ supported = false, maxOperations = 0, maxPayloadSize = 0 }, c.bulk)
      assert.are.same({ supported = false }, c.sort)
      assert.are.same({ supported = false }, c.etag)
      assert.are.same({ supported = false }, c.changePassword)
      assert.are.equal("oauthbearertoken", c.authenticationSchemes[1].type)
      assert.are.equal("/scim/v2/ServiceProviderConfig", c.meta.location)
      -- discovery reads nothing from Close
      assert.are.same({}, t.client.calls)
    end)

  it("ResourceTypes lists User (with the enterprise extension) and Group; each by id; an unknown id is 404", function()
    local t = S.new()
    local res = t:req("GET", "/ResourceTypes")
    assert.are.equal(200, res.status)
    assert.are.equal(2, res.json.totalResults)
    assert.are.same({ "urn:ietf:params:scim:api:messages:2.0:ListResponse" }, res.json.schemas)
    local user = res.json.Resources[1]
    assert.are.same({ id = "User", name = "User", endpoint = "/Users", description = "A Close membership",
      schema = "urn:ietf:params:scim:schemas:core:2.0:User",
      schemas = { "urn:ietf:params:scim:schemas:core:2.0:ResourceType" },
      schemaExtensions = { { schema = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        required = false } },
      meta = { resourceType = "ResourceType", location = "/scim/v2/ResourceTypes/User" } }, user)
    assert.are.equal("/Groups", res.json.Resources[2].endpoint)
    assert.is_true(res.body:find('"schemaExtensions":[]', 1, true) ~= nil, "an empty list is written []")
    assert.are.equal("Group", t:req("GET", "/ResourceTypes/Group").json.id)
    S.is_error(t:req("GET", "/ResourceTypes/Role"), 404, nil, "no resource type 'Role'")
  end)

  it("Schemas gives core User, enterprise User and Group with every attribute's characteristics", function()
    local t = S.new()
    local res = t:req("GET", "/Schemas")
    assert.are.equal(200, res.status)
    assert.are.equal(3, res.json.totalResults)
    local user, ent, group = res.json.Resources[1], res.json.Resources[2], res.json.Resources[3]
    assert.are.equal("urn:ietf:params:scim:schemas:core:2.0:User", user.id)
    assert.are.equal("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User", ent.id)
    assert.are.equal("urn:ietf:params:scim:schemas:core:2.0:Group", group.id)
    local un = attr(user.attributes, "userName")
    assert.are.same({ name = "userName", type = "string", multiValued = false, required = true, caseExact = false,
      mutability = "readWrite", returned = "default", uniqueness = "server",
      description = "the Close member's email address, unique without regard to case" }, un)
    local pw = attr(user.attributes, "password")
    assert.are.equal("writeOnly", pw.mutability)
    assert.are.equal("never", pw.returned)
    local emails = attr(user.attributes, "emails")
    assert.is_true(emails.multiValued)
    assert.are.equal("complex", emails.type)
    assert.is_nil(emails.caseExact)
    assert.are.same({ "work", "home", "other" }, attr(emails.subAttributes, "type").canonicalValues)
    assert.are.equal("boolean", attr(emails.subAttributes, "primary").type)
    assert.are.equal("readOnly", attr(user.attributes, "groups").mutability)
    local mgr = attr(ent.attributes, "manager")
    assert.are.equal("readOnly", attr(mgr.subAttributes, "displayName").mutability)
    assert.are.same({ "User" }, attr(mgr.subAttributes, "$ref").referenceTypes)
    local members = attr(group.attributes, "members")
    assert.are.equal("immutable", attr(members.subAttributes, "value").mutability)
    for _, s in ipairs(res.json.Resources) do
      for _, a in ipairs(s.attributes) do
        for _, k in ipairs({ "name", "type", "multiValued", "required", "mutability", "returned", "uniqueness" }) do
          assert.is_not_nil(a[k], s.id .. " " .. a.name .. " lacks " .. k)
        end
      end
    end
    local one = t:req("GET", "/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group")
    assert.are.equal(200, one.status)
    assert.are.equal("Group", one.json.name)
    S.is_error(t:req("GET", "/Schemas/urn:x"), 404, nil, "no schema 'urn:x'")
  end)

  it("discovery answers GET only", function()
    S.is_error(S.new():req("POST", "/Schemas", "{}"), 405, nil, "GET only")
  end)
end)
