-- PATCH and PUT of /Users through the pure handler: every form Okta and
-- Entra ID send, multi-valued updates, what Close holds (active, role)
-- against what the store keeps, the guard, and failures undone.

local S = require "spec.unit.support.scim"

local PATCHOP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
local ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

local function ops(...) return { schemas = { PATCHOP }, Operations = { ... } } end

-- a handler with jane created by POST (as Entra creates her)
local function with_jane()
  local t = S.new()
  local res = t:req("POST", "/Users", { userName = "jane@acme.com", externalId = "e-1", displayName = "Jane",
    title = "Rep", name = { givenName = "Jane", familyName = "Doe" },
    emails = { { type = "work", value = "jane@acme.com", primary = true },
      { type = "home", value = "j@home.example" } },
    [ENT] = { department = "Sales", manager = { value = "memb_boss" } } })
  assert.are.equal(201, res.status, res.body)
  t.calls_before = #t.client.calls
  return t, res.json.id
end

local function close_calls(t)
  local out = {}
  for i = t.calls_before + 1, #t.client.calls do
    local c = t.client.calls[i]
    if not (c == "GET /me/" or c == "memberships" or c == "roles") then out[#out + 1] = c end
  end
  return out
end

describe("scim PATCH /Users/{id}: active", function()
  it("Okta's replace with a value object and no path deactivates; again reactivates with the same role", function()
    local t, id = with_jane()
    local res = t:req("PATCH", "/Users/" .. id, ops({ op = "replace", value = { active = false } }))
    assert.are.equal(200, res.status, res.body)
    assert.is_false(res.json.active)
    assert.are.equal("Jane", res.json.displayName)
    assert.are.same({ "deactivate " .. id }, close_calls(t))
    assert.are.same({ role = "user", active = true }, t.audits[2].before)
    assert.are.same({ role = "user", active = false }, t.audits[2].after)
    assert.are.equal("deactivate", t.audits[2].operation)
    res = t:req("PATCH", "/Users/" .. id, ops({ op = "replace", value = { active = true } }))
    assert.is_true(res.json.active)
    assert.are.same({ "deactivate " .. id, "create jane@acme.com user" }, close_calls(t))
    assert.are.equal("reactivate", t.audits[3].operation)
    assert.is_true(t:req("GET", "/Users/" .. id).json.active)
  end)

  it("Entra's capitalised op with a boolean as a string: Replace active \"False\"", function()
    local t, id = with_jane()
    local res = t:req("PATCH", "/Users/" .. id, ops({ op = "Replace", path = "active", value = "False" }))
    assert.are.equal(200, res.status, res.body)
    assert.is_false(res.json.active)
    assert.are.same({ "deactivate " .. id }, close_calls(t))
  end)

  it("add with a value object (as some providers send) and the same state again changes nothing", function()
    local t, id = with_jane()
    local sets = t.store.sets
    local res = t:req("PATCH", "/Users/" .. id, ops({ op = "add", value = { active = "true" } }))
    assert.are.equal(200, res.status, res.body)
    assert.are.same({}, close_calls(t))
    assert.are.equal(sets, t.store.sets)
    assert.are.equal(1, #t.audits)
    res = t:req("PATCH", "/Users/" .. id, ops({ op = "add", value = { nickName = "JD" } }))
    assert.are.equal("JD", res.json.nickName)
    assert.are.equal("update", t.audits[2].operation)
    assert.are.same({ role = "user", active = true }, t.audits[2].after)
    assert.are.equal(sets + 1, t.store.sets)
  end)
end)

describe("scim PATCH /Users/{id}: what the store keeps", function()
  it("Entra's multi-valued and extension updates, returned as sent", function()
    local t, id = with_jane()
    local res = t:req("PATCH", "/Users/" .. id, ops(
      { op = "Replace", path = 'emails[type eq "work"].value', value = "jane.doe@acme.com" },
      { op = "Replace", path = "name.familyName", value = "Roe" },
      { op = "Add", path = ENT .. ":department", value = "Support" },
      { op = "Remove", path = "manager" },
      { op = "Replace", path = "title", value = "Lead" },
      { op = "Add", path = "phoneNumbers", value = { { type = "work", value = "+1 555 0100" } } }))
    assert.are.equal(200, res.status, res.body)
    assert.are.same({ { type = "work", value = "jane.doe@acme.com", primary = true },
      { type = "home", value = "j@home.example" } }, res.json.emails)
    assert.are.same({ givenName = "Jane", familyName = "Roe" }, res.json.name)
    assert.are.same({ department = "Support" }, res.json[ENT])
    assert.are.equal("Lead", res.json.title)
    assert.are.same({ { type = "work", value = "+1 555 0100" } }, res.json.phoneNumbers)
    assert.are.same({}, close_calls(t))
    assert.are.same(res.json, t:req("GET", "/Users/" .. id).json)
  end)

  it("Entra sets the manager with a string value; removes a filtered value; no path and dotted keys", function()
    local t, id = with_jane()
    local res = t:req("PATCH", "/Users/" .. id, ops(
      { op = "Add", path = ENT .. ":manager", value = "memb_sam" },
      { op = "remove", path = 'emails[type eq "home"]' },
      { op = "add", value = { ["name.givenName"] = "Janet", nickName = "JJ" } }))
    assert.are.equal(200, res.status, res.body)
    assert.are.same({ value = "memb_sam" }, res.json[ENT].manager)
    assert.are.same({ { type = "work", value = "jane@acme.com", primary = true } }, res.json.emails)
    assert.are.equal("Janet", res.json.name.givenName)
    assert.are.equal("JJ", res.json.nickName)
  end)

  it("replace of a filtered value with no match adds one; add to a multi-valued list appends", function()
    local t, id = with_jane()
    local res = t:req("PATCH", "/Users/" .. id, ops(
      { op = "replace", path = 'phoneNumbers[type eq "mobile"].value', value = "+1 555 0199" },
      { op = "add", path = "emails", value = { type = "other", value = "x@example.com" } }))
    assert.are.equal(200, res.status, res.body)
    assert.are.same({ { type = "mobile", value = "+1 555 0199" } }, res.json.phoneNumbers)
    assert.are.equal(3, #res.json.emails)
    assert.are.equal("x@example.com", res.json.emails[3].value)
  end)

  it("an extension object without a path; externalId changes the index", function()
    local t, id = with_jane()
    local res = t:req("PATCH", "/Users/" .. id, ops(
      { op = "replace", value = { [ENT] = { costCenter = "42" }, externalId = "e-2" } }))
    assert.are.equal(200, res.status, res.body)
    assert.are.equal("42", res.json[ENT].costCenter)
    assert.are.equal("Sales", res.json[ENT].department)
    assert.are.equal(id, t:req("GET", "/Users", nil, { query = 'filter=externalId eq "e-2"' }).json.Resources[1].id)
    assert.are.equal(0, t:req("GET", "/Users", nil, { query = 'filter=externalId eq "e-1"' }).json.totalResults)
    assert.are.equal(id, t.store.data["ext:e-2"])
    assert.is_nil(t.store.data["ext:e-1"])
  end)
end)

describe("scim PATCH /Users/{id}: roles", function()
  it("roles select the Close role (by name, any case); the user's group follows", function()
    local t, id = with_jane()
    local res = t:req("PATCH", "/Users/" .. id, ops({ op = "replace", path = "roles",
      value = { { value = "SUPPORT", primary = true } } }))
    assert.are.equal(200, res.status, res.body)
    assert.are.same({ "update " .. id .. " role_support" }, close_calls(t))
    assert.are.same({ { value = "SUPPORT", primary = true } }, res.json.roles)
    assert.are.equal("role_support", res.json.groups[1].value)
    assert.are.equal("change_role", t.audits[2].operation)
    assert.are.same({ role = "role_support", active = true }, t.audits[2].after)
    S.is_error(t:req("PATCH", "/Users/" .. id, ops({ op = "replace", path = "roles",
      value = { { value = "Pilot" } } })), 400, "invalidValue", "unknown role 'Pilot'")
  end)

  it("the caller's own role is never lowered; the last active admin keeps admin: 403, nothing sent", function()
    local t = S.new()
    local demote = ops({ op = "replace", path = "roles", value = { { value = "user" } } })
    S.is_error(t:req("PATCH", "/Users/memb_caller", demote), 403, nil, "the caller's own role is never lowered")
    assert.are.equal(200, t:req("PATCH", "/Users/memb_boss", demote).status)
    t.client.me = { id = "user_x", email = "x@acme.com" }
    t.h.index:invalidate()
    S.is_error(t:req("PATCH", "/Users/memb_caller", demote), 403, nil, "last active admin keeps the admin role")
    assert.are.same({ "admin", "user" }, { t:member("memb_caller").role_id, t:member("memb_boss").role_id })
  end)
end)

describe("scim PATCH /Users/{id}: roles of an inactive member", function()
  it("are kept, shown, and given when the member is reactivated (Close changes no inactive member)", function()
    local t = S.new()
    t.calls_before = 0
    local res = t:req("PATCH", "/Users/memb_old", ops({ op = "replace", path = "roles",
      value = { { value = "user" } } }))
    assert.are.equal(200, res.status, res.body)
    assert.are.same({}, close_calls(t))
    assert.are.equal("user", res.json.roles[1].value)
    assert.are.equal("user", res.json.groups[1].value)
    assert.are.equal("role_sales", t:member("memb_old").role_id)
    -- a later change of another attribute keeps it
    local title = ops({ op = "replace", path = "title", value = "T" })
    assert.are.equal(200, t:req("PATCH", "/Users/memb_old", title).status)
    assert.are.equal("user", t:req("GET", "/Users/memb_old").json.roles[1].value)
    -- Okta's reactivation with a full PUT that names no roles
    local user = t:req("GET", "/Users/memb_old").json
    user.active, user.roles = true, nil
    res = t:req("PUT", "/Users/memb_old", user)
    assert.are.equal(200, res.status, res.body)
    assert.are.same({ "create old@acme.com user", "update memb_old user" }, close_calls(t))
    assert.are.same({ true, "user" }, { t:member("memb_old").active, t:member("memb_old").role_id })
  end)

  it("a POST that brings the inactive member back without roles gives the role kept for them", function()
    local t = S.new()
    t.calls_before = 0
    assert.are.equal(200, t:req("PATCH", "/Users/memb_old", ops({ op = "replace", path = "roles",
      value = { { value = "Support" } } })).status)
    local res = t:req("POST", "/Users", { userName = "old@acme.com", active = true })
    assert.are.equal(201, res.status, res.body)
    assert.are.same({ true, "role_support" }, { t:member("memb_old").active, t:member("memb_old").role_id })
  end)
end)

describe("scim PATCH /Users/{id}: refusals", function()
  it("bad operations are 400 with the right scimType; nothing is written", function()
    local t, id = with_jane()
    local sets = t.store.sets
    local p = "/Users/" .. id
    S.is_error(t:req("PATCH", p, ops({ op = "move", path = "title", value = "x" })), 400, "invalidSyntax",
      "add, replace or remove")
    S.is_error(t:req("PATCH", p, { schemas = { PATCHOP } }), 400, "invalidSyntax", "'Operations'")
    S.is_error(t:req("PATCH", p, ops({ op = "replace", path = "title" })), 400, "invalidSyntax", "needs a value")
    S.is_error(t:req("PATCH", p, ops({ op = "remove" })), 400, "noTarget", "remove needs a path")
    S.is_error(t:req("PATCH", p, ops({ op = "replace", value = "x" })), 400, "invalidSyntax", "object")
    S.is_error(t:req("PATCH", p, ops({ op = "replace", path = "emails[type eq", value = "x" })), 400, "invalidPath")
    S.is_error(t:req("PATCH", p, ops({ op = "replace", path = 'emails[primary gt true].value', value = "x" })), 400,
      "invalidPath")
    S.is_error(t:req("PATCH", p, ops({ op = "replace", path = 'title[value eq "x"]', value = "x" })), 400,
      "invalidPath", "not multi-valued")
    S.is_error(t:req("PATCH", p, ops({ op = "replace", path = "userName", value = "other@acme.com" })), 400,
      "mutability", "Close cannot change it")
    S.is_error(t:req("PATCH", p, ops({ op = "replace", path = "id", value = "memb_x" })), 400, "mutability", "'id'")
    S.is_error(t:req("PATCH", p, ops({ op = "replace", path = "active", value = "perhaps" })), 400, "invalidValue",
      "'active' must be a boolean")
    S.is_error(t:req("PATCH", p, ops({ op = "replace", path = "password", value = "x" })), 501, nil, "password")
    assert.are.equal(sets, t.store.sets)
    assert.are.same({}, close_calls(t))
  end)

  it("readOnly attributes (meta, groups) left as they are and the same id pass; userName in another case is kept",
    function()
    local t, id = with_jane()
    local groups = t:req("GET", "/Users/" .. id).json.groups -- sent back as they are
    local res = t:req("PATCH", "/Users/" .. id, ops(
      { op = "replace", value = { id = id, meta = { created = "2026-12-23T04:26:40Z" } } },
      { op = "add", path = "groups", value = groups },
      { op = "replace", path = "userName", value = "Jane@ACME.com" }))
    assert.are.equal(200, res.status, res.body)
    assert.are.equal("Jane@ACME.com", res.json.userName)
    assert.are.equal("user", res.json.groups[1].value)
    assert.are.equal("2026-12-23T04:26:40Z", res.json.meta.created)
  end)

  it("changing a readOnly attribute (meta.created, groups) is 400 mutability (RFC 7644 3.5.2); nothing is written",
    function()
    local t, id = with_jane()
    local sets = t.store.sets
    local p = "/Users/" .. id
    S.is_error(t:req("PATCH", p, ops({ op = "replace", path = "meta.created", value = "1999-01-01T00:00:00Z" })),
      400, "mutability", "'meta.created' is readOnly: Close or the bridge sets it")
    S.is_error(t:req("PATCH", p, ops({ op = "replace", value = { meta = { created = "1999-01-01T00:00:00Z" } } })),
      400, "mutability", "'meta' is readOnly: Close or the bridge sets it")
    S.is_error(t:req("PATCH", p, ops({ op = "remove", path = "meta.created" })),
      400, "mutability", "'meta.created' is readOnly: Close or the bridge sets it")
    S.is_error(t:req("PATCH", p, ops({ op = "add", path = "groups", value = { { value = "admin" } } })),
      400, "mutability", "'groups' is readOnly: Close or the bridge sets it")
    assert.are.equal(sets, t.store.sets)
    assert.are.same({}, close_calls(t))
    assert.are.equal("2026-12-23T04:26:40Z", t:req("GET", p).json.meta.created)
  end)

  it("null where Close needs a value is 400 invalidValue naming it: active null, roles [{value: null}]", function()
    local t, id = with_jane()
    local sets = t.store.sets
    local p = "/Users/" .. id
    local null = require("cjson").null
    S.is_error(t:req("PATCH", p, ops({ op = "replace", value = { active = null } })), 400, "invalidValue",
      "'active' must be a boolean (true or false), not null")
    S.is_error(t:req("PATCH", p, ops({ op = "replace", path = "active", value = null })), 400, "invalidValue",
      "'active' must be a boolean (true or false), not null")
    S.is_error(t:req("PATCH", p, ops({ op = "replace", path = "roles", value = { { value = null } } })), 400,
      "invalidValue", "'roles': value 1 is null or empty")
    S.is_error(t:req("PATCH", p, ops({ op = "add", path = "roles", value = { { value = "admin" }, null } })), 400,
      "invalidValue", "'roles': value 2 is null or empty")
    assert.are.equal(sets, t.store.sets)
    assert.are.same({}, close_calls(t))
  end)

  it("an unknown id is 404; so is a deleted one", function()
    local t = S.new()
    S.is_error(t:req("PATCH", "/Users/memb_none", ops({ op = "replace", value = { active = false } })), 404)
    t:req("DELETE", "/Users/memb_sam")
    S.is_error(t:req("PATCH", "/Users/memb_sam", ops({ op = "replace", value = { active = true } })), 404)
  end)

  it("Close failing: 503 and the store is put back; the store failing: 503 and Close is not called", function()
    local t, id = with_jane()
    t.now = t.now + 60
    t.client.fail.deactivate_membership = { kind = "server", message = "Bad Gateway", retry_after = 7 }
    local res = t:req("PATCH", "/Users/" .. id, ops({ op = "replace", value = { active = false, title = "Gone" } }))
    S.is_error(res, 503, nil, "Bad Gateway")
    assert.are.equal("7", res.headers["Retry-After"])
    local got = t:req("GET", "/Users/" .. id).json
    assert.is_true(got.active)
    assert.are.equal("Rep", got.title)
    assert.are.equal(got.meta.created, got.meta.lastModified)
    t.client.fail.deactivate_membership = nil
    t.store.broken = true
    res = t:req("PATCH", "/Users/" .. id, ops({ op = "replace", value = { active = false } }))
    S.is_error(res, 503, nil, "store failed")
    assert.are.same({ "deactivate " .. id }, close_calls(t))
    assert.is_true(t:member(id).active)
  end)
end)

describe("scim PUT /Users/{id}", function()
  it("replaces what the store keeps; leaving active out keeps the user active (Okta); no roles keeps the role",
    function()
      local t, id = with_jane()
      local res = t:req("PUT", "/Users/" .. id, { schemas = { "urn:ietf:params:scim:schemas:core:2.0:User" },
        id = id, userName = "jane@acme.com", name = { givenName = "Jane", familyName = "Doe" },
        emails = { { type = "work", value = "jane@acme.com", primary = true } } })
      assert.are.equal(200, res.status, res.body)
      assert.is_true(res.json.active)
      assert.is_nil(res.json.title)
      assert.is_nil(res.json.externalId)
      assert.is_nil(res.json[ENT])
      assert.are.equal("user", res.json.roles[1].value)
      assert.are.same({}, close_calls(t))
      assert.are.equal(0, t:req("GET", "/Users", nil, { query = 'filter=externalId eq "e-1"' }).json.totalResults)
    end)

  it("active false deactivates, active true reactivates; a role by id changes it", function()
    local t, id = with_jane()
    local res = t:req("PUT", "/Users/" .. id, { userName = "jane@acme.com", active = false })
    assert.is_false(res.json.active)
    res = t:req("PUT", "/Users/" .. id, { userName = "jane@acme.com", active = "True",
      roles = { { value = "role_sales" } } })
    assert.is_true(res.json.active)
    -- Close reactivates with the role it had: the role is set after
    assert.are.same({ "deactivate " .. id, "create jane@acme.com role_sales", "update " .. id .. " role_sales" },
      close_calls(t))
    assert.are.equal("role_sales", t:member(id).role_id)
  end)

  it("another userName or id is 400 mutability; a missing userName 400 invalidValue", function()
    local t, id = with_jane()
    S.is_error(t:req("PUT", "/Users/" .. id, { userName = "other@acme.com" }), 400, "mutability")
    S.is_error(t:req("PUT", "/Users/" .. id, { userName = "jane@acme.com", id = "memb_x" }), 400, "mutability")
    S.is_error(t:req("PUT", "/Users/" .. id, { displayName = "J" }), 400, "invalidValue", "userName is required")
  end)
end)

describe("scim PATCH add of a primary value", function()
  it("ends the old primary: Entra's Add of roles with primary \"True\" selects the new role", function()
    local t, id = with_jane()
    local res = t:req("PATCH", "/Users/" .. id, ops({ op = "Add", path = "roles",
      value = { { value = "Support", primary = "True" } } }))
    assert.are.equal(200, res.status, res.body)
    assert.are.same({ "update " .. id .. " role_support" }, close_calls(t))
    res = t:req("PATCH", "/Users/" .. id, ops({ op = "add", path = "emails",
      value = { { value = "new@acme.com", type = "work", primary = true } } }))
    assert.are.same({ { type = "work", value = "jane@acme.com" }, { type = "home", value = "j@home.example" },
      { type = "work", value = "new@acme.com", primary = true } }, res.json.emails)
  end)
end)
