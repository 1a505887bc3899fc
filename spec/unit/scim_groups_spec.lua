-- /Groups through the pure handler: groups are Close roles. Listing with
-- members, linking by name, member changes as role changes (the later
-- change wins), refusals that say groups are roles, the guard.

local S = require "spec.unit.support.scim"

local GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
local PATCHOP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

local function ops(...) return { schemas = { PATCHOP }, Operations = { ... } } end

local function values(members)
  local out = {}
  for i, m in ipairs(members or {}) do out[i] = m.value end
  table.sort(out)
  return out
end

describe("scim GET /Groups", function()
  it("lists the predefined and custom roles with their active members", function()
    local t = S.new()
    local res = t:req("GET", "/Groups", nil, { query = "startIndex=1&count=100" })
    assert.are.equal(200, res.status)
    assert.are.equal(6, res.json.totalResults)
    local names = {}
    for i, g in ipairs(res.json.Resources) do names[i] = g.id .. "=" .. g.displayName end
    assert.are.same({ "admin=Admin", "superuser=Super User", "user=User", "restricteduser=Restricted User",
      "role_sales=Sales Rep", "role_support=Support" }, names)
    local admin = res.json.Resources[1]
    assert.are.same({ GROUP }, admin.schemas)
    assert.are.same({ value = "memb_caller", display = "admin@acme.com", type = "User",
      ["$ref"] = "/scim/v2/Users/memb_caller" }, admin.members[1])
    assert.are.same({ "memb_boss", "memb_caller" }, values(admin.members))
    -- memb_old is inactive: not a member of its role's group
    assert.are.same({}, res.json.Resources[5].members)
    assert.are.same({ resourceType = "Group", created = "2026-12-23T04:26:40Z", lastModified = "2026-12-23T04:26:40Z",
      location = "/scim/v2/Groups/role_sales" }, res.json.Resources[5].meta)
  end)

  it("filters by displayName without regard to case, by id; excludedAttributes=members (Entra)", function()
    local t = S.new()
    local res = t:req("GET", "/Groups", nil, { query = 'filter=displayName+eq+"sales rep"&excludedAttributes=members' })
    assert.are.equal(1, res.json.totalResults)
    assert.are.equal("role_sales", res.json.Resources[1].id)
    assert.is_nil(res.json.Resources[1].members)
    res = t:req("GET", "/Groups", nil, { query = 'filter=members[value eq "memb_boss"]&excludedAttributes=members' })
    assert.are.equal(1, res.json.totalResults)
    assert.are.same({ schemas = { GROUP }, id = "admin", displayName = "Admin", meta = res.json.Resources[1].meta },
      res.json.Resources[1])
    res = t:req("GET", "/Groups", nil, { query = 'filter=displayName eq "Astronauts"' })
    assert.are.equal(200, res.status)
    assert.are.equal(0, res.json.totalResults)
    assert.are.equal("user", t:req("GET", "/Groups/user").json.id)
    S.is_error(t:req("GET", "/Groups/role_none"), 404, nil, "no group (Close role)")
  end)
end)

describe("scim POST /Groups", function()
  it("links to the role its displayName names (any case), keeps externalId and the name as sent", function()
    local t = S.new()
    local res = t:req("POST", "/Groups", { schemas = { GROUP }, displayName = "SALES REP", externalId = "okta-g1" })
    assert.are.equal(201, res.status, res.body)
    assert.are.equal("/scim/v2/Groups/role_sales", res.headers.Location)
    assert.are.equal("role_sales", res.json.id)
    assert.are.equal("SALES REP", res.json.displayName)
    assert.are.equal("okta-g1", res.json.externalId)
    assert.are.equal("okta-g1", t:req("GET", "/Groups/role_sales").json.externalId)
    assert.are.same({ "link_group", "Sales Rep", "ok" }, { t.audits[1].operation, t.audits[1].address,
      t.audits[1].outcome })
  end)

  it("with members gives them the role; Okta's members [] changes nothing", function()
    local t = S.new()
    local res = t:req("POST", "/Groups", { displayName = "Support", members = { { value = "memb_sam" } } })
    assert.are.equal(201, res.status, res.body)
    assert.are.same({ "memb_sam" }, values(res.json.members))
    assert.are.equal("role_support", t:member("memb_sam").role_id)
    res = t:req("POST", "/Groups", { displayName = "Support", members = {} })
    assert.are.same({ "memb_sam" }, values(res.json.members))
  end)

  it("linking to a role with members never takes it from those who have it", function()
    local t = S.new()
    local res = t:req("POST", "/Groups", { displayName = "Admin", members = { { value = "memb_sam" } } })
    assert.are.equal(201, res.status, res.body)
    assert.are.same({ "memb_boss", "memb_caller", "memb_sam" }, values(res.json.members))
  end)

  it("any other name is a SCIM error that says groups are Close roles", function()
    local t = S.new()
    S.is_error(t:req("POST", "/Groups", { displayName = "Engineering" }), 400, "invalidValue",
      "groups are Close roles: no role is named 'Engineering' (roles: Admin, Super User, User, Restricted User, "
      .. "Sales Rep, Support)")
    S.is_error(t:req("POST", "/Groups", { members = {} }), 400, "invalidValue", "displayName is required")
    assert.are.same({}, t.store.data)
  end)
end)

describe("scim PATCH /Groups/{id}", function()
  it("Okta's add and remove of members: the role, then the default role", function()
    local t = S.new()
    local res = t:req("PATCH", "/Groups/role_sales", ops({ op = "add", path = "members",
      value = { { value = "memb_sam" } } }))
    assert.are.equal(200, res.status, res.body)
    assert.are.same({ "memb_sam" }, values(res.json.members))
    assert.are.equal("role_sales", t:member("memb_sam").role_id)
    assert.are.same({ role = "user", active = true }, t.audits[1].before)
    assert.are.same({ role = "role_sales", active = true }, t.audits[1].after)
    res = t:req("PATCH", "/Groups/role_sales", ops({ op = "remove", path = 'members[value eq "memb_sam"]' }))
    assert.are.equal(200, res.status, res.body)
    assert.are.same({}, res.json.members)
    assert.are.equal("user", t:member("memb_sam").role_id)
  end)

  it("Entra's Add and Remove with a value list", function()
    local t = S.new()
    t:req("PATCH", "/Groups/role_support", ops({ op = "Add", path = "members", value = { { value = "memb_sam" } } }))
    assert.are.equal("role_support", t:member("memb_sam").role_id)
    local res = t:req("PATCH", "/Groups/role_support", ops({ op = "Remove", path = "members",
      value = { { value = "memb_sam" } } }))
    assert.are.equal(200, res.status, res.body)
    assert.are.equal("user", t:member("memb_sam").role_id)
  end)

  it("a user put in two role-groups: the later change wins; leaving the earlier group changes nothing", function()
    local t = S.new()
    local add = ops({ op = "add", path = "members", value = { { value = "memb_sam" } } })
    t:req("PATCH", "/Groups/role_sales", add)
    t:req("PATCH", "/Groups/role_support", add)
    assert.are.equal("role_support", t:member("memb_sam").role_id)
    assert.are.same({}, t:req("GET", "/Groups/role_sales").json.members)
    local n = #t.client.calls
    local res = t:req("PATCH", "/Groups/role_sales", ops({ op = "remove", path = 'members[value eq "memb_sam"]' }))
    assert.are.equal(200, res.status)
    assert.are.equal("role_support", t:member("memb_sam").role_id)
    for i = n + 1, #t.client.calls do assert.is_nil(t.client.calls[i]:find("^update")) end
  end)

  it("an inactive member put in a group gets its role when reactivated; nothing is sent to Close before", function()
    local t = S.new()
    local n = #t.client.calls
    local res = t:req("PATCH", "/Groups/role_support", ops({ op = "Add", path = "members",
      value = { { value = "memb_old" } } }))
    assert.are.equal(200, res.status, res.body)
    -- an inactive member is in no group's member list, and Close holds no role change for them
    assert.are.same({}, res.json.members)
    for i = n + 1, #t.client.calls do assert.is_nil(t.client.calls[i]:find("^update")) end
    assert.are.equal("role_sales", t:member("memb_old").role_id)
    assert.are.same({ role = "role_sales", active = false }, t.audits[#t.audits].before)
    assert.are.same({ role = "role_support", active = false }, t.audits[#t.audits].after)
    assert.are.equal("ok: given when the member is reactivated", t.audits[#t.audits].outcome)
    -- the user shows the role it will have
    local user = t:req("GET", "/Users/memb_old").json
    assert.are.equal("role_support", user.roles[1].value)
    assert.are.equal("role_support", user.groups[1].value)
    assert.is_false(user.active)
    -- reactivated (Entra's PATCH active true): the group's role, not the one Close kept
    res = t:req("PATCH", "/Users/memb_old", ops({ op = "replace", path = "active", value = true }))
    assert.are.equal(200, res.status, res.body)
    assert.are.same({ active = true, role_id = "role_support" },
      { active = t:member("memb_old").active, role_id = t:member("memb_old").role_id })
    assert.are.same({ "memb_old" }, values(t:req("GET", "/Groups/role_support").json.members))
  end)

  it("an inactive member removed from the group it waits for gets the default role when reactivated", function()
    local t = S.new()
    local add = ops({ op = "add", path = "members", value = { { value = "memb_old" } } })
    assert.are.equal(200, t:req("PATCH", "/Groups/role_support", add).status)
    local res = t:req("PATCH", "/Groups/role_support", ops({ op = "remove", path = 'members[value eq "memb_old"]' }))
    assert.are.equal(200, res.status, res.body)
    assert.are.equal("user", t:req("GET", "/Users/memb_old").json.roles[1].value)
    local back = ops({ op = "replace", path = "active", value = true })
    assert.are.equal(200, t:req("PATCH", "/Users/memb_old", back).status)
    assert.are.equal("user", t:member("memb_old").role_id)
  end)

  it("Okta's rename with the same name is accepted; another name is 400 mutability", function()
    local t = S.new()
    local res = t:req("PATCH", "/Groups/role_sales", ops({ op = "replace",
      value = { id = "role_sales", displayName = "sales rep" } }))
    assert.are.equal(200, res.status, res.body)
    assert.are.equal("sales rep", res.json.displayName)
    S.is_error(t:req("PATCH", "/Groups/role_sales", ops({ op = "replace", value = { displayName = "Hunters" } })),
      400, "mutability", "groups are Close roles")
  end)

  it("a member that is no user is 400 invalidValue; nothing changes", function()
    local t = S.new()
    S.is_error(t:req("PATCH", "/Groups/role_sales", ops({ op = "add", path = "members",
      value = { { value = "memb_sam" }, { value = "memb_ghost" } } })), 400, "invalidValue", "memb_ghost")
    assert.are.equal("user", t:member("memb_sam").role_id)
  end)

  it("removing the caller or the last admin from the admin group is refused (403), nothing sent", function()
    local t = S.new()
    S.is_error(t:req("PATCH", "/Groups/admin", ops({ op = "remove", path = 'members[value eq "memb_caller"]' })),
      403, nil, "the caller's own role is never lowered")
    -- both admins out at once: the second is the last admin once the first is out
    t.client.me = { id = "user_x", email = "x@acme.com" }
    t.h.index:invalidate()
    S.is_error(t:req("PATCH", "/Groups/admin", ops({ op = "replace", path = "members", value = {} })), 403, nil,
      "last active admin")
    assert.are.equal("admin", t:member("memb_boss").role_id)
    assert.are.equal("admin", t:member("memb_caller").role_id)
  end)

  it("Close failing on the second change: the first is undone, 503", function()
    local t = S.new()
    local n = 0
    local update = t.client.update_membership
    t.client.update_membership = function(c, id, f)
      n = n + 1
      if n == 2 then return nil, { kind = "network", message = "connection reset" } end
      return update(c, id, f)
    end
    local res = t:req("PUT", "/Groups/role_support", { displayName = "Support",
      members = { { value = "memb_sam" }, { value = "memb_boss" } } })
    S.is_error(res, 503, nil, "connection reset")
    assert.are.equal("user", t:member("memb_sam").role_id)
    assert.are.equal("admin", t:member("memb_boss").role_id)
  end)
end)

describe("scim /Groups and inactive members: failures", function()
  it("Close refusing an active member's change puts back the role kept for an inactive one: 503", function()
    local t = S.new()
    t.client.fail.update_membership = { kind = "network", message = "connection reset" }
    local res = t:req("PATCH", "/Groups/role_support", ops({ op = "add", path = "members",
      value = { { value = "memb_old" }, { value = "memb_sam" } } }))
    S.is_error(res, 503, nil, "connection reset")
    assert.are.equal("user", t:member("memb_sam").role_id)
    assert.is_nil(t.store.data["user:memb_old"])
    assert.are.equal("role_sales", t:req("GET", "/Users/memb_old").json.roles[1].value)
  end)

  it("the store failing while keeping the role: 503, nothing sent to Close, nothing kept", function()
    local t = S.new()
    t.store.fail_set = t.store.sets + 1
    local n = #t.client.calls
    local res = t:req("PATCH", "/Groups/role_support", ops({ op = "add", path = "members",
      value = { { value = "memb_old" }, { value = "memb_sam" } } }))
    S.is_error(res, 503, nil, "disk I/O error")
    for i = n + 1, #t.client.calls do assert.is_nil(t.client.calls[i]:find("^update")) end
    assert.are.equal("user", t:member("memb_sam").role_id)
    assert.are.equal("role_sales", t:req("GET", "/Users/memb_old").json.roles[1].value)
    assert.are.equal("failed: the bridge's store failed: disk I/O error", t.audits[#t.audits].outcome)
  end)
end)

describe("scim PUT and DELETE /Groups/{id}", function()
  it("PUT replaces the members: who leaves gets the default role; no members keeps them", function()
    local t = S.new()
    t:req("PATCH", "/Groups/role_sales", ops({ op = "add", path = "members", value = { { value = "memb_sam" } } }))
    local res = t:req("PUT", "/Groups/role_sales", { displayName = "Sales Rep", members = { { value = "memb_boss" } } })
    assert.are.equal(200, res.status, res.body)
    assert.are.same({ "memb_boss" }, values(res.json.members))
    assert.are.equal("user", t:member("memb_sam").role_id)
    res = t:req("PUT", "/Groups/role_sales", { displayName = "Sales Rep", externalId = "x" })
    assert.are.same({ "memb_boss" }, values(res.json.members))
    S.is_error(t:req("PUT", "/Groups/role_sales", { displayName = "Sales Rep", id = "admin" }), 400, "mutability")
  end)

  it("PUT with members: [] keeps them (README); PATCH remove of members empties the role", function()
    local t = S.new()
    t:req("PATCH", "/Groups/role_sales", ops({ op = "add", path = "members", value = { { value = "memb_sam" } } }))
    local res = t:req("PUT", "/Groups/role_sales", '{"displayName": "Sales Rep", "members": []}')
    assert.are.equal(200, res.status, res.body)
    assert.are.same({ "memb_sam" }, values(res.json.members))
    assert.are.equal("role_sales", t:member("memb_sam").role_id)
    res = t:req("PATCH", "/Groups/role_sales", ops({ op = "remove", path = "members" }))
    assert.are.equal(200, res.status, res.body)
    assert.are.same({}, values(res.json.members))
    assert.are.equal("user", t:member("memb_sam").role_id)
  end)

  it("DELETE of a role's group unlinks it (204); the role and its members stay", function()
    local t = S.new()
    t:req("POST", "/Groups", { displayName = "Support", externalId = "g-9" })
    local res = t:req("DELETE", "/Groups/role_support")
    assert.are.equal(204, res.status)
    assert.is_nil(t.store.data["group:role_support"])
    local g = t:req("GET", "/Groups/role_support").json
    assert.is_nil(g.externalId)
    assert.are.same({ "link_group", "unlink_group" }, { t.audits[1].operation, t.audits[2].operation })
    -- a group never linked: 204, nothing to write or audit
    assert.are.equal(204, t:req("DELETE", "/Groups/role_sales").status)
    assert.are.equal(2, #t.audits)
    S.is_error(t:req("DELETE", "/Groups/role_nothing"), 404, nil, "no group (Close role)")
  end)
end)
