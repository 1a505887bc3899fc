-- Defects found by trying the SCIM bridge as Okta and Entra ID use it (the
-- QA pass), through the pure handler with a stubbed client and store.

local S = require "spec.unit.support.scim"

local PATCHOP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

local function ops(...) return { schemas = { PATCHOP }, Operations = { ... } } end

describe("scim Users: roles say the member's one Close role", function()
  local function with_kim(roles)
    local t = S.new()
    local res = t:req("POST", "/Users", { userName = "kim@acme.com", roles = roles })
    assert.are.equal(201, res.status, res.body)
    return t, res.json.id
  end

  it("a PATCH of the primary role's value alone (Entra) leaves no stale display behind", function()
    local t, id = with_kim({ { value = "Sales Rep", display = "Sales Rep", primary = true } })
    local res = t:req("PATCH", "/Users/" .. id,
      ops({ op = "Replace", path = "roles[primary eq \"True\"].value", value = "Support" }))
    assert.are.equal(200, res.status, res.body)
    assert.are.equal("role_support", t:member(id).role_id)
    assert.are.same({ { value = "role_support", display = "Support", primary = true } }, res.json.roles)
    assert.are.same(res.json.roles, t:req("GET", "/Users/" .. id).json.roles)
  end)

  it("a role added beside the primary one is not returned as the member's: one role each", function()
    local t, id = with_kim({ { value = "role_sales", primary = true } })
    local res = t:req("PATCH", "/Users/" .. id, ops({ op = "add", path = "roles", value = { { value = "admin" } } }))
    assert.are.equal(200, res.status, res.body)
    assert.are.equal("role_sales", t:member(id).role_id)
    assert.are.same({ { value = "role_sales", display = "Sales Rep", primary = true } }, res.json.roles)
  end)

  it("roles as sent stay as sent while they name the role (one entry, display naming it too)", function()
    local t, id = with_kim({ { value = "sales rep", display = "Sales Rep", primary = "True" } })
    assert.are.same({ { value = "sales rep", display = "Sales Rep", primary = true } },
      t:req("GET", "/Users/" .. id).json.roles)
  end)
end)
