-- Reading memberships and the idempotent ensure: memberships() (GET /me/ once
-- per client, then GET /organization/{id}/), find_membership and every path of
-- ensure_membership, with the exact sequence of requests and error propagation.

local fake = require "spec.unit.support.fake"
local lc = require "spec.unit.support.lifecycle"
local close = require "close"

local SRC = debug.getinfo(1, "S").short_src
local BASE = lc.BASE
local MURL = BASE .. "/membership/"
local ORG = "orga_7g8h9i"
local ORG_PATH = "/organization/" .. ORG .. "/"
local line, raised_at = lc.line, function(...) return lc.raised_at(SRC, ...) end

local ME_REQ = "GET /me/?_fields=organization_id"
local ORG_ALL_REQ = "GET " .. ORG_PATH .. lc.ORG_ALL
local ORG_ACTIVE_REQ = "GET " .. ORG_PATH .. lc.ORG_ACTIVE

local ME = fake.ok('{"organization_id": "' .. ORG .. '"}')

local function org(active, inactive)
  local doc = { id = ORG }
  if active then doc.memberships = active end
  if inactive then doc.inactive_memberships = inactive end
  return fake.ok(fake.encode(doc))
end

-- a membership as GET /organization/ gives it with user_ fields
local function flat(id, email, role_id, extra)
  local m = { id = id, user_id = "user_" .. id:sub(6), role_id = role_id, user_email = email,
    user_full_name = "Full " .. id, user_first_name = "First", user_last_name = "Last" }
  for k, v in pairs(extra or {}) do m[k] = v end
  return m
end

-- what memberships() makes of flat(...)
local function out(id, email, role_id, active, org_id)
  return { id = id, user_id = "user_" .. id:sub(6), role_id = role_id, email = email, name = "Full " .. id,
    first_name = "First", last_name = "Last", active = active, organization_id = org_id or ORG }
end

describe("memberships()", function()
  it("GETs /me/ for the organization_id, then /organization/{id}/ with _fields and _expand", function()
    local h = fake.harness({ ME, org({ flat("memb_a1", "a@acme.com", "user") }) })
    local list, err, meta = h.client:memberships()
    assert.is_nil(err)
    assert.are.same({ out("memb_a1", "a@acme.com", "user", true) }, list)
    assert.are.same({ status = 200, headers = { ["content-type"] = "application/json" }, attempts = 1, duration = 0 },
      meta)
    assert.are.equal(2, #h.calls)
    assert.are.equal("GET", h.calls[1].method)
    assert.are.equal(BASE .. "/me/?_fields=organization_id", h.calls[1].url)
    assert.are.equal("GET", h.calls[2].method)
    assert.are.equal(BASE .. "/organization/orga_7g8h9i/?_expand=memberships__user&_fields=id%2Cmemberships",
      h.calls[2].url)
    for i = 1, 2 do
      assert.are.same(lc.headers(false), h.calls[i].headers)
      assert.is_nil(h.calls[i].body)
    end
  end)

  it("with inactive = true asks for and returns the inactive ones too, with active = false", function()
    local h = fake.harness({ ME, org({ flat("memb_a1", "a@acme.com", "user") },
      { flat("memb_i1", "i@acme.com", "admin"), flat("memb_i2", "j@acme.com", "role_x") }) })
    local list, err = h.client:memberships({ inactive = true })
    assert.is_nil(err)
    assert.are.same({
      out("memb_a1", "a@acme.com", "user", true),
      out("memb_i1", "i@acme.com", "admin", false),
      out("memb_i2", "j@acme.com", "role_x", false),
    }, list)
    assert.are.equal(BASE .. "/organization/orga_7g8h9i/?_expand=memberships__user%2Cinactive_memberships__user"
      .. "&_fields=id%2Cmemberships%2Cinactive_memberships", h.calls[2].url)
  end)

  it("without inactive (or inactive = false) ignores inactive ones even when the server sends them", function()
    local h = fake.harness({ ME,
      org({ flat("memb_a1", "a@acme.com", "user") }, { flat("memb_i1", "i@acme.com", "user") }) })
    assert.are.same({ out("memb_a1", "a@acme.com", "user", true) }, (h.client:memberships({ inactive = false })))
    assert.are.same({ ME_REQ, ORG_ACTIVE_REQ }, lc.sequence(h))
  end)

  it("GETs /me/ once per client: the organization_id is cached", function()
    local h = fake.harness({ ME, org({}), org({}), org({}) })
    assert.are.same({}, (h.client:memberships()))
    assert.are.same({}, (h.client:memberships({ inactive = true })))
    assert.are.same({}, (h.client:memberships()))
    assert.are.same({ ME_REQ, ORG_ACTIVE_REQ, ORG_ALL_REQ, ORG_ACTIVE_REQ }, lc.sequence(h))
    local h2 = fake.harness({ ME, org({}) })
    assert.are.same({}, (h2.client:memberships()))
    assert.are.same({ ME_REQ, ORG_ACTIVE_REQ }, lc.sequence(h2))
  end)

  it("flattens a nested user object", function()
    local nested = { id = "memb_n1", role_id = "superuser", organization_id = "orga_other",
      user = { id = "user_n1", email = "n@acme.com", full_name = "Nina North", first_name = "Nina",
        last_name = "North" } }
    local h = fake.harness({ ME, org({ nested }) })
    assert.are.same({ { id = "memb_n1", user_id = "user_n1", role_id = "superuser", email = "n@acme.com",
      name = "Nina North", first_name = "Nina", last_name = "North", active = true, organization_id = "orga_other" } },
      (h.client:memberships()))
  end)

  it("prefers user_ fields over the nested user, and falls back field by field", function()
    local m = { id = "memb_m1", user_id = "user_top", role_id = "user", user_email = "top@acme.com",
      user = { id = "user_nested", email = "nested@acme.com", full_name = "Nested Name", first_name = "Nes",
        last_name = "Ted" } }
    local h = fake.harness({ ME, org({ m }) })
    assert.are.same({ { id = "memb_m1", user_id = "user_top", role_id = "user", email = "top@acme.com",
      name = "Nested Name", first_name = "Nes", last_name = "Ted", active = true, organization_id = ORG } },
      (h.client:memberships()))
  end)

  it("takes missing or null lists as empty", function()
    local h = fake.harness({ ME, fake.ok('{"id": "orga_7g8h9i", "memberships": null, "inactive_memberships": null}') })
    local list, err = h.client:memberships({ inactive = true })
    assert.is_nil(err)
    assert.are.same({}, list)
    h = fake.harness({ ME, fake.ok('{"id": "orga_7g8h9i"}') })
    assert.are.same({}, (h.client:memberships({ inactive = true })))
  end)

  it("percent-encodes the organization_id in the path", function()
    local h = fake.harness({ fake.ok('{"organization_id": "orga x/y"}'), org({}) })
    assert.are.same({}, (h.client:memberships()))
    assert.are.equal(BASE .. "/organization/orga%20x%2Fy/" .. lc.ORG_ACTIVE, h.calls[2].url)
  end)

  it("/me/ without organization_id: kind protocol", function()
    for _, body in ipairs({ "{}", '{"organization_id": null}', '{"organization_id": 7}', '{"id": "user_x"}' }) do
      local h = fake.harness({ fake.ok(body) })
      local list, err = h.client:memberships()
      assert.is_nil(list)
      assert.is_true(close.error.is(err))
      assert.are.equal("protocol", err.kind)
      assert.are.equal("GET /me/ returned no organization_id", err.message)
      assert.are.equal("GET", err.method)
      assert.are.equal(BASE .. "/me/?_fields=organization_id", err.url)
      assert.are.same({ ME_REQ }, lc.sequence(h))
    end
  end)

  it("/me/ without organization_id: the error says one request was sent, with its status", function()
    -- Was a bug (lua/close.lua, Client:memberships): the protocol error is built with
    -- Error.new and no attempts/status, so it reports attempts = 0 ("refused
    -- before sending") although GET /me/ was sent and answered 200.
    local h = fake.harness({ fake.ok("{}") })
    local _, err = h.client:memberships()
    assert.are.equal(1, err.attempts)
    assert.are.equal(200, err.status)
  end)

  it("a membership list with an entry that is not an object: no raise from inside the library", function()
    -- Was a bug (lua/close.lua, flatten): `m.user` on a number raises "attempt to
    -- index a number value"; a malformed response should give nil + a
    -- protocol error (or the entry be skipped), never a Lua error.
    local h = fake.harness({ ME, fake.ok('{"memberships": [7, {"id": "memb_a1", "user_email": "a@acme.com"}]}') })
    local ok, list, err = pcall(h.client.memberships, h.client)
    assert.is_true(ok, "raised: " .. tostring(list))
    if list == nil then
      assert.are.equal("protocol", err.kind)
    else
      assert.are.equal(1, #list)
      assert.are.equal("memb_a1", list[1].id)
    end
  end)

  it("/me/ failing: that error, and the organization is not cached", function()
    local h = fake.harness({ fake.status(401, '{"error": "Invalid API key."}'), ME, org({}) })
    local list, err = h.client:memberships()
    assert.is_nil(list)
    assert.are.same({ kind = "auth", message = "Invalid API key.", status = 401, attempts = 1, method = "GET",
      url = lc.ME }, lc.plain(err))
    assert.are.same({}, (h.client:memberships()))
    assert.are.same({ ME_REQ, ME_REQ, ORG_ACTIVE_REQ }, lc.sequence(h))
  end)

  it("/organization/ failing: that error, and the organization stays cached", function()
    local h = fake.harness({ ME, fake.status(404, '{"error": "Not found."}'), org({}) })
    local list, err = h.client:memberships()
    assert.is_nil(list)
    assert.are.same({ kind = "not_found", message = "Not found.", status = 404, attempts = 1, method = "GET",
      url = BASE .. ORG_PATH .. lc.ORG_ACTIVE }, lc.plain(err))
    assert.are.same({}, (h.client:memberships()))
    assert.are.same({ ME_REQ, ORG_ACTIVE_REQ, ORG_ACTIVE_REQ }, lc.sequence(h))
  end)

  describe("raises at the caller's line", function()
    it("on an unknown option", function()
      local h = fake.harness({})
      local at, ok, e = line(), pcall(function() local r = h.client:memberships({ active = true }); return r end)
      raised_at(at, ok, e, "close: memberships: unknown option 'active'")
      assert.are.equal(0, #h.calls)
    end)

    for _, v in ipairs({ "yes", 1, close.null }) do
      it("on a non-boolean inactive (" .. type(v) .. ")", function()
        local h = fake.harness({})
        local at, ok, e = line(), pcall(function() local r = h.client:memberships({ inactive = v }); return r end)
        raised_at(at, ok, e, "close: memberships: option 'inactive' must be a boolean")
        assert.are.equal(0, #h.calls)
      end)
    end

    it("on a non-table", function()
      local h = fake.harness({})
      local at, ok, e = line(), pcall(function() local r = h.client:memberships("inactive"); return r end)
      raised_at(at, ok, e, "close: memberships expects a table of fields, got string")
      assert.are.equal(0, #h.calls)
    end)
  end)
end)

describe("find_membership", function()
  it("finds by email with the domain in any case: GET /me/, GET /organization/ with inactive", function()
    local h = fake.harness({ ME,
      org({ flat("memb_o1", "other@acme.com", "user"), flat("memb_j1", "jane@ACME.com", "user") }) })
    local m, err = h.client:find_membership({ email = "jane@acme.CoM" })
    assert.is_nil(err)
    assert.are.same(out("memb_j1", "jane@ACME.com", "user", true), m)
    assert.are.same({ ME_REQ, ORG_ALL_REQ }, lc.sequence(h))
  end)

  it("compares the whole address without regard to case, as Close does", function()
    local h = fake.harness({ ME, org({ flat("memb_j1", "Jane@acme.com", "user") }) })
    local m, err = h.client:find_membership({ email = "jane@acme.com" })
    assert.is_nil(err)
    assert.equal("memb_j1", m.id)
  end)

  it("prefers the active membership over an inactive one", function()
    local h = fake.harness({ ME, org({ flat("memb_a1", "jane@acme.com", "user") },
      { flat("memb_i1", "jane@acme.com", "admin") }) })
    assert.are.same(out("memb_a1", "jane@acme.com", "user", true),
      (h.client:find_membership({ email = "jane@acme.com" })))
  end)

  it("returns the inactive membership (active = false) when there is no active one", function()
    local h = fake.harness({ ME, org({ flat("memb_o1", "other@acme.com", "user") },
      { flat("memb_i1", "jane@Acme.com", "admin"), flat("memb_i2", "jane@acme.com", "user") }) })
    local m, err = h.client:find_membership({ email = "jane@acme.com" })
    assert.is_nil(err)
    assert.are.same(out("memb_i1", "jane@Acme.com", "admin", false), m)
  end)

  it("returns nil and no error when absent", function()
    local h = fake.harness({ ME, org({ flat("memb_o1", "other@acme.com", "user") }, {}) })
    local m, err = h.client:find_membership({ email = "jane@acme.com" })
    assert.is_nil(m)
    assert.is_nil(err)
    assert.are.equal(2, #h.calls)
  end)

  it("skips memberships without an email", function()
    local h = fake.harness({ ME, org({ { id = "memb_x" }, flat("memb_j1", "jane@acme.com", "user") }) })
    assert.are.equal("memb_j1", h.client:find_membership({ email = "jane@acme.com" }).id)
  end)

  it("propagates a failing GET /me/", function()
    local h = fake.harness({ fake.status(403, '{"error": "Forbidden."}') })
    local m, err = h.client:find_membership({ email = "jane@acme.com" })
    assert.is_nil(m)
    assert.are.same({ kind = "permission", message = "Forbidden.", status = 403, attempts = 1, method = "GET",
      url = lc.ME }, lc.plain(err))
  end)

  it("propagates a failing GET /organization/", function()
    local h = fake.harness({ ME, fake.status(500, '{"error": "Oops."}') })
    local m, err = h.client:find_membership({ email = "jane@acme.com" })
    assert.is_nil(m)
    assert.are.same({ kind = "server", message = "Oops.", status = 500, attempts = 1, method = "GET",
      url = BASE .. ORG_PATH .. lc.ORG_ALL }, lc.plain(err))
  end)

  it("refuses a bad, missing or extra field before any I/O", function()
    local url = BASE .. "/organization/"
    local h = fake.harness({})
    local m, err = h.client:find_membership({ email = "nope" })
    lc.refused(h, m, err, { email = "must contain '@'" }, "GET", url)
    m, err = h.client:find_membership({})
    lc.refused(h, m, err, { email = "is required" }, "GET", url)
    m, err = h.client:find_membership({ email = "jane@acme.com", active = true })
    lc.refused(h, m, err, { active = "unknown field" }, "GET", url)
    m, err = h.client:find_membership({ email = 5 })
    lc.refused(h, m, err, { email = "must be a string (got number)" }, "GET", url)
  end)

  it("raises at the caller's line on a non-table", function()
    local h = fake.harness({})
    local at, ok, e = line(), pcall(function() local r = h.client:find_membership("jane@acme.com"); return r end)
    raised_at(at, ok, e, "close: find_membership expects a table of fields, got string")
  end)
end)

describe("ensure_membership", function()
  local JANE = "jane@acme.com"

  it("unchanged: an active membership with the role; only reads", function()
    local h = fake.harness({ ME, org({ flat("memb_j1", JANE, "user") }, {}) })
    local m, err, meta = h.client:ensure_membership({ email = JANE, role_id = "user" })
    assert.is_nil(err)
    assert.are.equal("unchanged", meta.action)
    assert.are.same(out("memb_j1", JANE, "user", true), m)
    assert.are.same({ ME_REQ, ORG_ALL_REQ }, lc.sequence(h))
  end)

  it("role_changed: an active membership with another role gets a PUT of role_id", function()
    local updated = '{"id": "memb_j1", "role_id": "superuser"}'
    local h = fake.harness({ ME, org({ flat("memb_j1", JANE, "user") }, {}), fake.ok(updated) })
    local m, err, meta = h.client:ensure_membership({ email = JANE, role_id = "superuser" })
    assert.is_nil(err)
    assert.are.equal("role_changed", meta.action)
    assert.are.same({ id = "memb_j1", role_id = "superuser" }, m)
    assert.are.same({ ME_REQ, ORG_ALL_REQ, "PUT /membership/memb_j1/" }, lc.sequence(h))
    assert.are.same({ role_id = "superuser" }, fake.decode(h.calls[3].body))
    assert.are.same(lc.headers(true), h.calls[3].headers)
  end)

  it("reactivated: an inactive membership is created again (POST)", function()
    local h = fake.harness({ ME, org({}, { flat("memb_j1", JANE, "admin") }),
      fake.ok('{"id": "memb_j1", "role_id": "user"}') })
    local m, err, meta = h.client:ensure_membership({ email = JANE, role_id = "user" })
    assert.is_nil(err)
    assert.are.equal("reactivated", meta.action)
    assert.are.same({ id = "memb_j1", role_id = "user" }, m)
    assert.are.same({ ME_REQ, ORG_ALL_REQ, "POST /membership/" }, lc.sequence(h))
    assert.are.same({ email = JANE, role_id = "user" }, fake.decode(h.calls[3].body))
    assert.are.same(lc.headers(true), h.calls[3].headers)
  end)

  it("created: no membership at all", function()
    local h = fake.harness({ ME, org({ flat("memb_o1", "other@acme.com", "user") }, {}), fake.ok() })
    local m, err, meta = h.client:ensure_membership({ email = JANE, role_id = "user" })
    assert.is_nil(err)
    assert.are.equal("created", meta.action)
    assert.are.same(fake.decode(fake.MEMBERSHIP), m)
    assert.are.same({ ME_REQ, ORG_ALL_REQ, "POST /membership/" }, lc.sequence(h))
    assert.are.same({ email = JANE, role_id = "user" }, fake.decode(h.calls[3].body))
  end)

  it("created, with a create response without role_id: no follow-up", function()
    local h = fake.harness({ ME, org({}, {}), fake.ok("{}") })
    local m, err, meta = h.client:ensure_membership({ email = JANE, role_id = "role_abc" })
    assert.is_nil(err)
    assert.are.equal("created", meta.action)
    assert.are.same({}, m)
    assert.are.equal(3, #h.calls)
  end)

  it("created, with a create response of another role: a follow-up PUT of the role", function()
    local h = fake.harness({ ME, org({}, {}), fake.ok('{"id": "memb_new1", "role_id": "user"}'),
      fake.ok('{"id": "memb_new1", "role_id": "role_abc"}') })
    local m, err, meta = h.client:ensure_membership({ email = JANE, role_id = "role_abc" })
    assert.is_nil(err)
    assert.are.equal("created", meta.action)
    assert.are.same({ id = "memb_new1", role_id = "role_abc" }, m)
    assert.are.same({ ME_REQ, ORG_ALL_REQ, "POST /membership/", "PUT /membership/memb_new1/" }, lc.sequence(h))
    assert.are.same({ email = JANE, role_id = "role_abc" }, fake.decode(h.calls[3].body))
    assert.are.same({ role_id = "role_abc" }, fake.decode(h.calls[4].body))
  end)

  it("reactivated, with a create response of the old role: a follow-up PUT of the role", function()
    local h = fake.harness({ ME, org({}, { flat("memb_j1", JANE, "admin") }),
      fake.ok('{"id": "memb_j1", "role_id": "admin"}'), fake.ok('{"id": "memb_j1", "role_id": "user"}') })
    local m, err, meta = h.client:ensure_membership({ email = JANE, role_id = "user" })
    assert.is_nil(err)
    assert.are.equal("reactivated", meta.action)
    assert.are.same({ id = "memb_j1", role_id = "user" }, m)
    assert.are.same({ ME_REQ, ORG_ALL_REQ, "POST /membership/", "PUT /membership/memb_j1/" }, lc.sequence(h))
    assert.are.same({ role_id = "user" }, fake.decode(h.calls[4].body))
  end)

  it("matches the address in any case: Sam@acme.com is sam@acme.com, not a new member", function()
    local h = fake.harness({ ME, org({ flat("memb_j1", "jane@ACME.COM", "user") }, {}) })
    local _, _, meta = h.client:ensure_membership({ email = JANE, role_id = "user" })
    assert.are.equal("unchanged", meta.action)
    h = fake.harness({ ME, org({ flat("memb_j1", "Jane@acme.com", "user") }, {}), fake.ok() })
    local _, _, meta2 = h.client:ensure_membership({ email = JANE, role_id = "user" })
    assert.are.equal("unchanged", meta2.action)
    assert.equal(2, #h.calls) -- the reads only: nothing created
  end)

  it("with a role name: GET /role/ first, then the reads, then the write with the role id", function()
    local h = fake.harness({ fake.ok('{"data": [{"id": "role_am1", "name": "Account Manager"}], "has_more": false}'),
      ME, org({ flat("memb_j1", JANE, "user") }, {}), fake.ok('{"id": "memb_j1", "role_id": "role_am1"}') })
    local m, err, meta = h.client:ensure_membership({ email = JANE, role = "account manager" })
    assert.is_nil(err)
    assert.are.equal("role_changed", meta.action)
    assert.are.equal("role_am1", m.role_id)
    assert.are.same({ "GET /role/", ME_REQ, ORG_ALL_REQ, "PUT /membership/memb_j1/" }, lc.sequence(h))
    assert.are.same({ role_id = "role_am1" }, fake.decode(h.calls[4].body))
  end)

  it("with a role name matching the current role: unchanged", function()
    local h = fake.harness({ fake.ok('{"data": [{"id": "role_am1", "name": "Account Manager"}], "has_more": false}'),
      ME, org({ flat("memb_j1", JANE, "role_am1") }, {}) })
    local _, err, meta = h.client:ensure_membership({ email = JANE, role = "Account Manager" })
    assert.is_nil(err)
    assert.are.equal("unchanged", meta.action)
    assert.are.equal(3, #h.calls)
  end)

  it("a second ensure on the same client does not GET /me/ again", function()
    local same = org({ flat("memb_j1", JANE, "user") }, {})
    local h = fake.harness({ ME, same, same })
    assert.are.equal("unchanged", select(3, h.client:ensure_membership({ email = JANE, role_id = "user" })).action)
    assert.are.equal("unchanged", select(3, h.client:ensure_membership({ email = JANE, role_id = "user" })).action)
    assert.are.same({ ME_REQ, ORG_ALL_REQ, ORG_ALL_REQ }, lc.sequence(h))
  end)

  describe("propagates the error of each step unchanged", function()
    local function fails(script, args, expected, sequence)
      local h = fake.harness(script)
      local m, err, meta = h.client:ensure_membership(args)
      assert.is_nil(m)
      assert.is_nil(meta)
      assert.is_true(close.error.is(err))
      assert.are.same(expected, lc.plain(err))
      assert.are.same(sequence, lc.sequence(h))
    end

    it("GET /role/", function()
      fails({ fake.status(403, '{"error": "No roles for you."}') }, { email = JANE, role = "Sales" },
        { kind = "permission", message = "No roles for you.", status = 403, attempts = 1, method = "GET",
          url = BASE .. "/role/" }, { "GET /role/" })
    end)

    it("GET /me/", function()
      fails({ fake.status(401, '{"error": "Invalid API key."}') }, { email = JANE, role_id = "user" },
        { kind = "auth", message = "Invalid API key.", status = 401, attempts = 1, method = "GET", url = lc.ME },
        { ME_REQ })
    end)

    it("GET /me/ without organization_id", function()
      local h = fake.harness({ fake.ok("{}") })
      local m, err = h.client:ensure_membership({ email = JANE, role_id = "user" })
      assert.is_nil(m)
      assert.are.equal("protocol", err.kind)
      assert.are.equal("GET /me/ returned no organization_id", err.message)
      assert.are.same({ ME_REQ }, lc.sequence(h))
    end)

    it("GET /organization/{id}/", function()
      fails({ ME, fake.status(404, '{"error": "Organization not found."}') }, { email = JANE, role_id = "user" },
        { kind = "not_found", message = "Organization not found.", status = 404, attempts = 1, method = "GET",
          url = BASE .. ORG_PATH .. lc.ORG_ALL }, { ME_REQ, ORG_ALL_REQ })
    end)

    it("the PUT of a role change", function()
      fails({ ME, org({ flat("memb_j1", JANE, "user") }, {}),
        fake.status(403, '{"error": "The role grants manage_organization."}') }, { email = JANE, role_id = "admin" },
        { kind = "permission", message = "The role grants manage_organization.", status = 403, attempts = 1,
          method = "PUT", url = MURL .. "memb_j1/" }, { ME_REQ, ORG_ALL_REQ, "PUT /membership/memb_j1/" })
    end)

    it("the POST of a create", function()
      fails({ ME, org({}, {}),
        fake.status(400, '{"errors": [], "field-errors": {"email": "Domain is not verified."}}') },
        { email = JANE, role_id = "user" },
        { kind = "bad_request", message = "invalid fields", field_errors = { email = "Domain is not verified." },
          status = 400, attempts = 1, method = "POST", url = MURL }, { ME_REQ, ORG_ALL_REQ, "POST /membership/" })
    end)

    it("the POST of a reactivation", function()
      fails({ ME, org({}, { flat("memb_j1", JANE, "user") }), fake.status(402, '{"error": "Seat limit."}') },
        { email = JANE, role_id = "user" },
        { kind = "api", message = "Seat limit.", status = 402, attempts = 1, method = "POST", url = MURL },
        { ME_REQ, ORG_ALL_REQ, "POST /membership/" })
    end)

    it("the follow-up PUT after a create", function()
      fails({ ME, org({}, {}), fake.ok('{"id": "memb_new1", "role_id": "user"}'),
        fake.status(404, '{"error": "Membership not found."}') }, { email = JANE, role_id = "superuser" },
        { kind = "not_found", message = "Membership not found.", status = 404, attempts = 1, method = "PUT",
          url = MURL .. "memb_new1/" },
        { ME_REQ, ORG_ALL_REQ, "POST /membership/", "PUT /membership/memb_new1/" })
    end)
  end)

  describe("refuses before any I/O", function()
    local function refuses(args, errs)
      local h = fake.harness({})
      local m, err = h.client:ensure_membership(args)
      lc.refused(h, m, err, errs, "POST", MURL)
    end

    it("a missing email and role", function()
      refuses({}, { email = "is required", role_id = "is required" })
    end)

    it("a missing role", function()
      refuses({ email = JANE }, { role_id = "is required" })
    end)

    it("a bad email, a bad role_id, an unknown field", function()
      refuses({ email = "jane", role_id = "Admin", name = "Jane" }, { email = "must contain '@'",
        role_id = "unknown role (did you mean 'admin'?)", name = "unknown field" })
    end)

    it("update-only fields", function()
      refuses({ email = JANE, role_id = "user", track_email_opens = true }, { track_email_opens = "unknown field" })
    end)

    it("role and role_id both given", function()
      refuses({ email = JANE, role_id = "user", role = "Sales" }, { role = "give either role or role_id, not both" })
    end)

    it("an empty role name", function()
      refuses({ email = JANE, role = " " }, { role = "must not be empty" })
    end)
  end)

  it("refuses an unknown role name after GET /role/ only, listing the candidates", function()
    local h = fake.harness({ fake.ok('{"data": [{"id": "role_b", "name": "b"}, {"id": "role_a", "name": "A"}]}') })
    local m, err = h.client:ensure_membership({ email = JANE, role = "c" })
    assert.is_nil(m)
    local reason = "unknown role 'c' (roles: Admin, Super User, User, Restricted User, A, b)"
    assert.are.same({ kind = "validation", message = "invalid role: " .. reason,
      field_errors = { role = reason }, attempts = 0, method = "POST", url = MURL },
      lc.plain(err))
    assert.are.same({ "GET /role/" }, lc.sequence(h))
  end)

  it("raises at the caller's line on a non-table", function()
    local h = fake.harness({})
    local at, ok, e = line(), pcall(function() local r = h.client:ensure_membership(nil); return r end)
    raised_at(at, ok, e, "close: ensure_membership expects a table of fields, got nil")
  end)
end)
