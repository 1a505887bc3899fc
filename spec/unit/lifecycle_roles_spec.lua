-- Role names (`role = "Account Manager"` instead of role_id) and client:roles():
-- resolution through GET /role/, the predefined names, the per-client cache,
-- pagination, unknown and ambiguous names, and a failing GET /role/.

local fake = require "spec.unit.support.fake"
local lc = require "spec.unit.support.lifecycle"
local close = require "close"

local BASE = lc.BASE
local MURL = BASE .. "/membership/"
local ID = "memb_1a2b3c"
local ID_URL = MURL .. ID .. "/"
local ROLE_URL = BASE .. "/role/"

local function page(roles, has_more)
  return fake.ok(fake.encode({ data = roles, has_more = has_more == true }))
end

local ROLES = {
  { id = "role_am1", name = "Account Manager", editable = true },
  { id = "role_sa2", name = "Sales" },
  { id = "role_su3", name = "support" },
}

describe("client:roles()", function()
  it("GETs /role/ once and returns the list of roles", function()
    local h = fake.harness({ page(ROLES) })
    local roles, err = h.client:roles()
    assert.is_nil(err)
    assert.are.same(ROLES, roles)
    assert.are.equal(1, #h.calls)
    assert.are.equal("GET", h.calls[1].method)
    assert.are.equal(ROLE_URL, h.calls[1].url)
    assert.are.same(lc.headers(false), h.calls[1].headers)
    assert.is_nil(h.calls[1].body)
  end)

  it("is cached per client: a second call sends nothing, another client asks again", function()
    local h = fake.harness({ page(ROLES) })
    assert.are.same(ROLES, (h.client:roles()))
    assert.are.same(ROLES, (h.client:roles()))
    assert.are.equal(1, #h.calls)
    local h2 = fake.harness({ page({ ROLES[1] }) })
    assert.are.same({ ROLES[1] }, (h2.client:roles()))
    assert.are.equal(1, #h2.calls)
    assert.are.equal(1, #h.calls)
  end)

  it("follows has_more with _skip = the number of roles so far", function()
    local h = fake.harness({
      page({ ROLES[1], ROLES[2] }, true),
      page({ ROLES[3] }, true),
      page({ { id = "role_x4", name = "Extra" } }, false),
    })
    local roles, err = h.client:roles()
    assert.is_nil(err)
    assert.are.same({ ROLES[1], ROLES[2], ROLES[3], { id = "role_x4", name = "Extra" } }, roles)
    assert.are.same({ "GET /role/", "GET /role/?_skip=2", "GET /role/?_skip=3" }, lc.sequence(h))
  end)

  it("stops on an empty page even when has_more is true", function()
    local h = fake.harness({ page({ ROLES[1] }, true), page({}, true) })
    local roles = h.client:roles()
    assert.are.same({ ROLES[1] }, roles)
    assert.are.same({ "GET /role/", "GET /role/?_skip=1" }, lc.sequence(h))
  end)

  it("is bounded: a server that always says has_more gets 100 requests, then a protocol error", function()
    local h = fake.harness({ page({ { id = "role_r", name = "R" } }, true) })
    local roles, err = h.client:roles()
    assert.is_nil(roles)
    assert.are.equal(100, #h.calls)
    assert.are.equal(ROLE_URL .. "?_skip=99", h.calls[100].url)
    assert.are.same({ kind = "protocol", message = "GET /role/ still has more after 100 pages", status = 200,
      attempts = 1, method = "GET", url = ROLE_URL }, lc.plain(err))
    -- nothing partial was cached: the next call asks again
    assert.is_nil((h.client:roles()))
    assert.are.equal(200, #h.calls)
  end)

  it("takes a page without a data list as empty", function()
    local h = fake.harness({ fake.ok('{"has_more": false}') })
    local roles, err = h.client:roles()
    assert.is_nil(err)
    assert.are.same({}, roles)
  end)

  it("returns GET /role/'s error, and caches nothing", function()
    local h = fake.harness({ fake.status(403, '{"error": "Forbidden."}'), page(ROLES) })
    local roles, err = h.client:roles()
    assert.is_nil(roles)
    assert.are.same({ kind = "permission", message = "Forbidden.", status = 403, attempts = 1,
      method = "GET", url = ROLE_URL }, lc.plain(err))
    assert.are.same(ROLES, (h.client:roles()))
    assert.are.equal(2, #h.calls)
  end)

  it("returns the error of a later page, dropping the pages before it", function()
    local h = fake.harness({ page({ ROLES[1] }, true), fake.status(404, '{"error": "Gone."}'), page(ROLES) })
    local roles, err = h.client:roles()
    assert.is_nil(roles)
    assert.are.equal("not_found", err.kind)
    assert.are.equal(ROLE_URL .. "?_skip=1", err.url)
    assert.are.same(ROLES, (h.client:roles()))
    assert.are.same({ "GET /role/", "GET /role/?_skip=1", "GET /role/" }, lc.sequence(h))
  end)

  it("retries a 503 on GET /role/", function()
    local h = fake.harness({ fake.status(503), page(ROLES) })
    assert.are.same(ROLES, (h.client:roles()))
    assert.are.equal(2, #h.calls)
  end)
end)

describe("a role name", function()
  it("is resolved through GET /role/ and sent as role_id, without a role field", function()
    local h = fake.harness({ page(ROLES), fake.ok() })
    local m, err = h.client:update_membership(ID, { role = "Account Manager" })
    assert.is_nil(err)
    assert.are.same(fake.decode(fake.MEMBERSHIP), m)
    assert.are.same({ "GET /role/", "PUT /membership/" .. ID .. "/" }, lc.sequence(h))
    assert.are.same({ role_id = "role_am1" }, fake.decode(h.calls[2].body))
  end)

  for _, name in ipairs({ "account manager", "ACCOUNT MANAGER", "  Account Manager\t", "aCCOUNT mANAGER " }) do
    it(("matches case-insensitively, surrounding spaces ignored: %q"):format(name), function()
      local h = fake.harness({ page(ROLES), fake.ok() })
      assert.is_truthy(h.client:update_membership(ID, { role = name, track_email_opens = true }))
      assert.are.same({ role_id = "role_am1", track_email_opens = true }, fake.decode(h.calls[2].body))
    end)
  end

  it("does not ignore spaces inside the name", function()
    local h = fake.harness({ page(ROLES) })
    local m, err = h.client:update_membership(ID, { role = "Account  Manager" })
    assert.is_nil(m)
    assert.are.same({ role = "unknown role 'Account  Manager' (roles: Admin, Super User, User, Restricted User, "
      .. "Account Manager, Sales, support)" },
      err.field_errors)
  end)

  local PREDEFINED = {
    { "admin", "admin" }, { "Admin", "admin" }, { "ADMIN", "admin" }, { " admin ", "admin" },
    { "superuser", "superuser" }, { "SuperUser", "superuser" },
    { "user", "user" }, { "User", "user" }, { "\tUSER\n", "user" },
    { "restricteduser", "restricteduser" }, { "RestrictedUser", "restricteduser" },
  }
  for _, case in ipairs(PREDEFINED) do
    it(("%q is the predefined role_id %q, with no GET /role/"):format(case[1], case[2]), function()
      local h = fake.harness({ fake.ok() })
      assert.is_truthy(h.client:update_membership(ID, { role = case[1] }))
      assert.are.same({ "PUT /membership/" .. ID .. "/" }, lc.sequence(h))
      assert.are.same({ role_id = case[2] }, fake.decode(h.calls[1].body))
    end)
  end

  it("a predefined name wins over a custom role of the same name", function()
    local h = fake.harness({ fake.ok() })
    assert.is_truthy(h.client:update_membership(ID, { role = "Admin" }))
    assert.are.same({ role_id = "admin" }, fake.decode(h.calls[1].body))
    assert.are.equal(1, #h.calls)
  end)

  for _, case in ipairs({ { "Super User", "superuser" }, { "restricted user", "restricteduser" },
    { " RESTRICTED USER ", "restricteduser" }, { "User", "user" } }) do
    it(("%q, the name Close's UI shows, is the predefined role_id %q, with no GET /role/ (issue 14 item 14)")
      :format(case[1], case[2]), function()
      local h = fake.harness({ fake.ok() })
      assert.is_truthy(h.client:update_membership(ID, { role = case[1] }))
      assert.are.same({ "PUT /membership/" .. ID .. "/" }, lc.sequence(h))
      assert.are.same({ role_id = case[2] }, fake.decode(h.calls[1].body))
    end)
  end

  it("'Restricted  User' (two spaces) is no predefined name: it is looked up", function()
    local h = fake.harness({ page({ { id = "role_ru", name = "Restricted  User" } }), fake.ok() })
    assert.is_truthy(h.client:update_membership(ID, { role = "Restricted  User" }))
    assert.are.same({ role_id = "role_ru" }, fake.decode(h.calls[2].body))
  end)

  it("is resolved with one GET /role/ per client across several calls", function()
    local h = fake.harness({ page(ROLES), fake.ok(), fake.ok(), fake.ok('{"count": 2}') })
    assert.is_truthy(h.client:update_membership(ID, { role = "Sales" }))
    assert.is_truthy(h.client:update_membership(ID, { role = "support" }))
    assert.is_truthy(h.client:bulk_update_memberships({ "memb_a", "memb_b" }, { role = "account manager" }))
    assert.are.same({ "GET /role/", "PUT /membership/" .. ID .. "/", "PUT /membership/" .. ID .. "/",
      "PUT /membership/" }, lc.sequence(h))
    assert.are.same({ role_id = "role_sa2" }, fake.decode(h.calls[2].body))
    assert.are.same({ role_id = "role_su3" }, fake.decode(h.calls[3].body))
    assert.are.same({ role_id = "role_am1", _params = { id__in = "memb_a,memb_b" } }, fake.decode(h.calls[4].body))
  end)

  it("is resolved once for a bulk update split into several calls", function()
    local ids = {}
    for i = 1, 200 do ids[i] = ("memb_%043d"):format(i) end
    local h = fake.harness({ page(ROLES), fake.ok('{"count": 1}') })
    local res, err, meta = h.client:bulk_update_memberships(ids, { role = "Sales" })
    assert.is_nil(err)
    assert.are.same({ count = 3 }, res)
    assert.are.same({ calls = 3 }, meta)
    assert.are.same({ "GET /role/", "PUT /membership/", "PUT /membership/", "PUT /membership/" }, lc.sequence(h))
    for i = 2, 4 do assert.are.equal("role_sa2", fake.decode(h.calls[i].body).role_id) end
  end)

  it("is resolved across pages", function()
    local h = fake.harness({ page({ ROLES[1] }, true), page({ ROLES[2] }, false), fake.ok() })
    assert.is_truthy(h.client:update_membership(ID, { role = "sales" }))
    assert.are.same({ "GET /role/", "GET /role/?_skip=1", "PUT /membership/" .. ID .. "/" }, lc.sequence(h))
    assert.are.same({ role_id = "role_sa2" }, fake.decode(h.calls[3].body))
  end)

  it("unknown: a validation error listing the sorted role names, and no write", function()
    local h = fake.harness({ page({ ROLES[3], ROLES[2], { id = "role_noname" }, ROLES[1] }) })
    local m, err = h.client:update_membership(ID, { role = " Manager " })
    assert.is_nil(m)
    local reason = "unknown role ' Manager ' (roles: Admin, Super User, User, Restricted User, Account Manager, "
      .. "Sales, support)"
    assert.are.same({ kind = "validation", message = "invalid role: " .. reason, field_errors = { role = reason },
      attempts = 0, method = "PUT", url = ID_URL }, lc.plain(err))
    assert.are.same({ "GET /role/" }, lc.sequence(h))
  end)

  it("unknown when the organization has no roles: 'roles: none'", function()
    local h = fake.harness({ page({}) })
    local m, err = h.client:update_membership(ID, { role = "Sales" })
    assert.is_nil(m)
    assert.are.same({ role = "unknown role 'Sales' (roles: Admin, Super User, User, Restricted User)" },
      err.field_errors)
    assert.are.equal(1, #h.calls)
  end)

  it("unknown in a bulk update: nothing written, the error names the bulk URL", function()
    local h = fake.harness({ page(ROLES) })
    local res, err = h.client:bulk_update_memberships({ "memb_a" }, { role = "Nope" })
    assert.is_nil(res)
    assert.are.equal("validation", err.kind)
    assert.are.same({ role = "unknown role 'Nope' (roles: Admin, Super User, User, Restricted User, Account Manager, "
      .. "Sales, support)" }, err.field_errors)
    assert.are.equal("PUT", err.method)
    assert.are.equal(MURL, err.url)
    assert.is_nil(err.count)
    assert.are.same({ "GET /role/" }, lc.sequence(h))
  end)

  it("ambiguous (two roles with the same name in different case): the ids are listed", function()
    local h = fake.harness({
      page({ { id = "role_s1", name = "Sales" }, ROLES[1], { id = "role_s2", name = "SALES" } }) })
    local m, err = h.client:update_membership(ID, { role = "sales" })
    assert.is_nil(m)
    local reason = "ambiguous role name 'sales' matches role_s1 (Sales), role_s2 (SALES): give role_id"
    assert.are.same({ kind = "validation", message = "invalid role: " .. reason, field_errors = { role = reason },
      attempts = 0, method = "PUT", url = ID_URL }, lc.plain(err))
    assert.are.same({ "GET /role/" }, lc.sequence(h))
  end)

  it("GET /role/ failing: that error is returned and nothing is written", function()
    local h = fake.harness({ fake.status(401, '{"error": "Invalid API key."}') })
    local m, err = h.client:update_membership(ID, { role = "Sales" })
    assert.is_nil(m)
    assert.are.same({ kind = "auth", message = "Invalid API key.", status = 401, attempts = 1,
      method = "GET", url = ROLE_URL }, lc.plain(err))
    assert.are.same({ "GET /role/" }, lc.sequence(h))
  end)

  it("GET /role/ failing in a bulk update: that error, with no count", function()
    local h = fake.harness({ fake.status(403, '{"error": "Forbidden."}') })
    local res, err = h.client:bulk_update_memberships({ "memb_a" }, { role = "Sales" })
    assert.is_nil(res)
    assert.are.same({ kind = "permission", message = "Forbidden.", status = 403, attempts = 1,
      method = "GET", url = ROLE_URL }, lc.plain(err))
  end)

  it("matching a role that has no id: an error and no write (not an update without role_id)", function()
    -- Was a bug (lua/close.lua, resolve_role): `resolved = matches[1].id` is taken as
    -- it comes; a role without an id makes role_id nil, and update_membership
    -- then PUTs '{}' and reports success without changing the role.
    local h = fake.harness({ page({ { name = "Sales" } }), fake.ok() })
    local ok, m, err = pcall(h.client.update_membership, h.client, ID, { role = "Sales" })
    assert.is_true(ok, "raised: " .. tostring(m))
    assert.is_nil(m)
    assert.is_true(close.error.is(err), "no error returned")
    assert.are.same({ "GET /role/" }, lc.sequence(h))
  end)

  it("ambiguous between roles without ids: an error, not a raise from inside the library", function()
    -- Was a bug (lua/close.lua, resolve_role): the ambiguity message concatenates
    -- r.id, which raises "attempt to concatenate a nil value" for a role without id.
    local h = fake.harness({ page({ { name = "Sales" }, { name = "sales" } }), fake.ok() })
    local ok, m, err = pcall(h.client.update_membership, h.client, ID, { role = "Sales" })
    assert.is_true(ok, "raised: " .. tostring(m))
    assert.is_nil(m)
    assert.is_true(close.error.is(err), "no error returned")
    assert.are.same({ "GET /role/" }, lc.sequence(h))
  end)

  it("is resolved for create_membership too", function()
    local h = fake.harness({ page(ROLES), fake.ok() })
    local m, err = h.client:create_membership({ email = "jane@acme.com", role = "support" })
    assert.is_nil(err)
    assert.is_truthy(m)
    assert.are.same({ "GET /role/", "POST /membership/" }, lc.sequence(h))
    assert.are.same({ email = "jane@acme.com", role_id = "role_su3" }, fake.decode(h.calls[2].body))
  end)
end)
