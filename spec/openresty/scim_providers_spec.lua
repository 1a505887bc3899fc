-- The request sequences Okta and Microsoft Entra ID send (test connection,
-- create, update, deactivate, reactivate, import, group push), through
-- bin/close-scim with 4 workers against the local Close-compatible server;
-- each step is checked in the server's state, not only in the answer.
local scim = require "spec.openresty.support.scim"
local server = require "spec.support.server"

local USER = "urn:ietf:params:scim:schemas:core:2.0:User"
local ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
local PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
local LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"

local function member(email)
  for _, m in ipairs(server.state().memberships) do
    if m.email == email then return m end
  end
end

describe("SCIM through bin/close-scim (4 workers)", function()
  local inst, base

  local function call(method, path, body, o)
    return scim.request(method, base .. path, body, o)
  end

  local function patch(path, ops)
    return call("PATCH", path, { schemas = { PATCH }, Operations = ops })
  end

  setup(function()
    server.reset()
    local why
    local env = ("CLOSE_API_KEY=%s CLOSE_BASE_URL=%s CLOSE_SCIM_TOKEN=%s")
      :format(server.api_key, server.http_url, scim.TOKEN)
    inst, why = scim.start{ args = { "--workers", "4" }, env = env }
    assert(inst, why)
    base = inst.base
  end)
  teardown(function() scim.cleanup(inst) end)

  it("refuses a request without the bearer token or with another one: 401 with WWW-Authenticate", function()
    for _, auth in ipairs({ false, "wrong-token-0123456789abcdefghijklmnopq" }) do
      local status, doc, res = call("GET", "/Users?startIndex=1&count=2", nil, { auth = auth })
      assert.equal(401, status)
      assert.equal("401", doc.status)
      assert.truthy(res.headers["www-authenticate"])
    end
    assert.equal(0, #server.requests())
  end)

  describe("Okta", function()
    local id

    it("tests the connection: GET /Users?startIndex=1&count=2", function()
      local status, doc = call("GET", "/Users?startIndex=1&count=2")
      assert.equal(200, status)
      assert.same({ LIST }, doc.schemas)
      assert.equal(1, doc.startIndex)
      assert.is_true(doc.itemsPerPage <= 2)
      assert.is_true(doc.totalResults >= 1)
    end)

    it("looks the user up by userName (none), then creates it; the password is never kept", function()
      local status, doc = call("GET", "/Users?filter=userName%20eq%20%22okta.jane%40acme.com%22&startIndex=1&count=100")
      assert.equal(200, status)
      assert.equal(0, doc.totalResults)
      local res
      status, doc, res = call("POST", "/Users", {
        schemas = { USER }, userName = "okta.jane@acme.com", name = { givenName = "Jane", familyName = "Okta" },
        emails = { { primary = true, value = "okta.jane@acme.com", type = "work" } },
        displayName = "Jane Okta", active = true, password = "pw-Never-Kept-7x!" })
      assert.equal(201, status, res.body)
      id = doc.id
      assert.equal(id, member("okta.jane@acme.com").id)
      assert.is_true(member("okta.jane@acme.com").active)
      assert.equal("user", member("okta.jane@acme.com").role_id)
      assert.matches("/scim/v2/Users/" .. id .. "$", res.headers.location)
      assert.is_nil(res.body:find("pw-Never-Kept", 1, true))
      assert.is_nil((scim.read(inst.state .. "/scim.db") or ""):find("pw-Never-Kept", 1, true))
      assert.is_nil((scim.read(inst.state .. "/scim.db-wal") or ""):find("pw-Never-Kept", 1, true))
      assert.is_nil((scim.read(inst.state .. "/audit.log") or ""):find("pw-Never-Kept", 1, true))
    end)

    it("reads the user back with what Close cannot hold (name, displayName)", function()
      local status, doc = call("GET", "/Users/" .. id)
      assert.equal(200, status)
      assert.equal("okta.jane@acme.com", doc.userName)
      assert.equal("Jane Okta", doc.displayName)
      assert.same({ givenName = "Jane", familyName = "Okta" }, { givenName = doc.name.givenName,
                                                                 familyName = doc.name.familyName })
    end)

    it("updates with PUT of the whole user, leaving it active", function()
      local status, doc = call("PUT", "/Users/" .. id, {
        schemas = { USER }, id = id, userName = "okta.jane@acme.com",
        name = { givenName = "Janet", familyName = "Okta" },
        emails = { { primary = true, value = "okta.jane@acme.com", type = "work" } },
        displayName = "Janet Okta", active = true })
      assert.equal(200, status)
      assert.equal("Janet Okta", doc.displayName)
      assert.is_true(member("okta.jane@acme.com").active)
    end)

    it("deactivates with replace of a value object, and reactivates", function()
      local status, doc = patch("/Users/" .. id, { { op = "replace", value = { active = false } } })
      assert.is_true(status == 200 or status == 204)
      if status == 200 then assert.is_false(doc.active) end
      assert.is_false(member("okta.jane@acme.com").active)
      status = patch("/Users/" .. id, { { op = "replace", value = { active = true } } })
      assert.is_true(status == 200 or status == 204)
      assert.is_true(member("okta.jane@acme.com").active)
    end)

    it("deactivates with PUT active=false", function()
      local status = call("PUT", "/Users/" .. id, { schemas = { USER }, userName = "okta.jane@acme.com",
                                                    displayName = "Janet Okta", active = false })
      assert.equal(200, status)
      assert.is_false(member("okta.jane@acme.com").active)
      call("PUT", "/Users/" .. id, { schemas = { USER }, userName = "okta.jane@acme.com", active = true })
      assert.is_true(member("okta.jane@acme.com").active)
    end)

    it("imports users page by page", function()
      local seen, start = {}, 1
      for _ = 1, 20 do
        local status, doc = call("GET", ("/Users?startIndex=%d&count=2"):format(start))
        assert.equal(200, status)
        for _, u in ipairs(doc.Resources) do seen[u.userName] = u.id end
        start = start + doc.itemsPerPage
        if doc.itemsPerPage == 0 or start > doc.totalResults then break end
      end
      assert.equal(id, seen["okta.jane@acme.com"])
      assert.truthy(seen["admin@acme.com"])
    end)

    it("pushes a group: lists groups, links one to a role by name, adds and removes a member", function()
      local status, doc = call("GET", "/Groups?startIndex=1&count=100")
      assert.equal(200, status)
      assert.is_true(doc.totalResults >= 2)
      local res
      status, doc, res = call("POST", "/Groups", { schemas = { "urn:ietf:params:scim:schemas:core:2.0:Group" },
                                                   displayName = "admin", members = {} })
      assert.is_true(status == 201 or status == 200, res.body)
      local gid = doc.id
      status = patch("/Groups/" .. gid, { { op = "add", path = "members", value = { { value = id } } } })
      assert.is_true(status == 200 or status == 204)
      assert.equal("admin", member("okta.jane@acme.com").role_id)
      status = patch("/Groups/" .. gid, { { op = "remove", path = ('members[value eq "%s"]'):format(id) } })
      assert.is_true(status == 200 or status == 204)
      assert.equal("user", member("okta.jane@acme.com").role_id)
    end)

    it("refuses to create a group that names no Close role, saying why", function()
      local status, doc = call("POST", "/Groups", { schemas = { "urn:ietf:params:scim:schemas:core:2.0:Group" },
                                                    displayName = "Not A Close Role" })
      assert.is_true(status >= 400 and status < 500)
      assert.matches("role", doc.detail)
    end)
  end)

  describe("Microsoft Entra ID", function()
    local id

    it("checks existence by userName and externalId: 200 with totalResults 0, never 404", function()
      for _, q in ipairs({ 'filter=userName+eq+"entra.joe@acme.com"', "filter=externalId+eq+%22e-1001%22" }) do
        local status, doc = call("GET", "/Users?" .. q)
        assert.equal(200, status)
        assert.equal(0, doc.totalResults)
      end
    end)

    it("creates with externalId, title and the enterprise extension", function()
      local status, doc, res = call("POST", "/Users", {
        schemas = { USER, ENTERPRISE }, externalId = "e-1001", userName = "entra.joe@acme.com", active = true,
        displayName = "Joe Entra", title = "Engineer", name = { givenName = "Joe", familyName = "Entra" },
        emails = { { primary = true, type = "work", value = "entra.joe@acme.com" } },
        [ENTERPRISE] = { department = "R&D", manager = { value = "e-1" } } })
      assert.equal(201, status, res.body)
      id = doc.id
      assert.equal("e-1001", doc.externalId)
      assert.is_true(member("entra.joe@acme.com").active)
      status, doc = call("GET", "/Users?filter=externalId+eq+%22e-1001%22")
      assert.equal(200, status)
      assert.equal(1, doc.totalResults)
      assert.equal(id, doc.Resources[1].id)
      assert.equal("R&D", doc.Resources[1][ENTERPRISE].department)
    end)

    it("patches with capitalised ops, booleans as strings and value-filtered paths", function()
      local status = patch("/Users/" .. id, {
        { op = "Replace", path = 'emails[type eq "work"].value', value = "entra.joe@acme.com" },
        { op = "Replace", path = "title", value = "Staff Engineer" },
        { op = "Remove", path = ENTERPRISE .. ":manager" } })
      assert.is_true(status == 200 or status == 204)
      local _, doc = call("GET", "/Users/" .. id)
      assert.equal("Staff Engineer", doc.title)
      assert.is_nil(doc[ENTERPRISE].manager)
      status = patch("/Users/" .. id, { { op = "Replace", path = "active", value = "False" } })
      assert.is_true(status == 200 or status == 204)
      assert.is_false(member("entra.joe@acme.com").active)
      status = patch("/Users/" .. id, { { op = "Replace", path = "active", value = "True" } })
      assert.is_true(status == 200 or status == 204)
      assert.is_true(member("entra.joe@acme.com").active)
    end)

    it("puts the user in a group with Add, and the later of two role-groups wins", function()
      local status = patch("/Groups/admin", { { op = "Add", path = "members", value = { { value = id } } } })
      assert.is_true(status == 200 or status == 204)
      assert.equal("admin", member("entra.joe@acme.com").role_id)
      status = patch("/Groups/user", { { op = "Add", path = "members", value = { { value = id } } } })
      assert.is_true(status == 200 or status == 204)
      assert.equal("user", member("entra.joe@acme.com").role_id)
      local _, admin = call("GET", "/Groups/admin")
      for _, m in ipairs(admin.members or {}) do assert.not_equal(id, m.value) end
    end)

    it("puts a disabled user in a group: Close keeps the role until the user is enabled again", function()
      assert.is_true(({ [200] = true, [204] = true })[patch("/Users/" .. id,
        { { op = "Replace", path = "active", value = "False" } })])
      local status = patch("/Groups/superuser", { { op = "Add", path = "members", value = { { value = id } } } })
      assert.is_true(status == 200 or status == 204)
      assert.same({ false, "user" }, { member("entra.joe@acme.com").active, member("entra.joe@acme.com").role_id })
      local _, doc = call("GET", "/Users/" .. id)
      assert.equal("superuser", doc.roles[1].value)
      status = patch("/Users/" .. id, { { op = "Replace", path = "active", value = "True" } })
      assert.is_true(status == 200 or status == 204)
      assert.same({ true, "superuser" }, { member("entra.joe@acme.com").active, member("entra.joe@acme.com").role_id })
    end)

    it("deletes: the membership is deactivated and the user is 404 from then on", function()
      local status = call("DELETE", "/Users/" .. id)
      assert.equal(204, status)
      assert.is_false(member("entra.joe@acme.com").active)
      status = call("GET", "/Users/" .. id)
      assert.equal(404, status)
    end)
  end)

  it("keeps an audit line for every change, with no secret", function()
    local records = scim.audit(inst)
    assert.is_true(#records >= 10)
    local text = scim.read(inst.state .. "/audit.log")
    assert.is_nil(text:find(scim.TOKEN, 1, true))
    assert.is_nil(text:find(server.api_key, 1, true))
    for _, r in ipairs(records) do
      assert.is_string(r.time)
      assert.is_string(r.operation)
      assert.is_string(r.outcome)
    end
  end)
end)
