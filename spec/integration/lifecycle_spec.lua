-- The membership lifecycle through libcurl against the local server's
-- stateful organization (test/server): seed members admin@acme.com (admin),
-- sam@acme.com (user), old@acme.com (inactive); custom roles "Account
-- Manager", "Sales Rep", "Support".
local close = require "close"
local server = require "spec.support.server"

local SAM = "memb_rh0SVFG1VgAHyXl7ySuRLHyo372Y0CJ58YbI5DK7PA0"
local OLD = "memb_Dq36thYnX6XqhgbvPWcmYFdZkwEXMO5M3IL98N4ix5R"
local ACCOUNT_MANAGER = "role_3WbpmlYSKRFDXdPd2em3vSyQ6c5iRYIUmW95yp4i9zH"
local SALES_REP = "role_WBTAHxOVMWwfjkaBi4UWpkPXhW7wjsYbNCTCpmbjFug"

local function client()
  return close.new{ api_key = server.api_key, base_url = server.http_url, backoff_base = 0.05 }
end

local function state_of(email)
  for _, m in ipairs(server.state().memberships) do
    if m.email == email then return m end
  end
end

describe("membership lifecycle against the local server", function()
  local c
  before_each(function()
    server.reset()
    c = client()
  end)

  it("update_membership changes fields, including JSON null", function()
    local m, err = c:update_membership(SAM, { role_id = "superuser", auto_record_calls = "enabled",
      default_caller_id = close.null, track_email_opens = false })
    assert.is_nil(err)
    assert.equal("superuser", m.role_id)
    local st = state_of("sam@acme.com")
    assert.equal("enabled", st.auto_record_calls)
    assert.equal(false, st.track_email_opens)
    local sent = require("cjson").decode(server.requests()[1].body)
    assert.equal(require("cjson").null, sent.default_caller_id)
  end)

  it("update_membership of an unknown id is kind 'not_found'", function()
    local _, err = c:update_membership("memb_doesnotexist", { role_id = "user" })
    assert.equal("not_found", err.kind)
    assert.equal(404, err.status)
  end)

  it("update_membership resolves a role name through GET /role/, cached per client", function()
    assert(c:update_membership(SAM, { role = "account manager" }))
    assert(c:update_membership(SAM, { role = "Sales Rep" }))
    assert.equal(SALES_REP, state_of("sam@acme.com").role_id)
    local gets = 0
    for _, r in ipairs(server.requests()) do
      if r.uri:match("^/api/v1/role/") then gets = gets + 1 end
    end
    assert.equal(1, gets)
  end)

  it("bulk_update_memberships splits long lists and sums the counts", function()
    local ids = { SAM, OLD }
    for i = 1, 200 do ids[#ids + 1] = ("memb_%043d"):format(i) end -- unknown to the server
    local res, err, meta = c:bulk_update_memberships(ids, { track_email_opens = false })
    assert.is_nil(err)
    assert.equal(2, res.count)
    assert.is_true(meta.calls >= 3)
    local reqs = server.requests()
    assert.equal(meta.calls, #reqs)
    local seen = 0
    for _, r in ipairs(reqs) do
      local body = require("cjson").decode(r.body)
      assert.is_true(#body._params.id__in <= 4000)
      seen = seen + select(2, body._params.id__in:gsub("memb_", ""))
    end
    assert.equal(#ids, seen)
  end)

  it("deactivate_membership removes the member; find then reports it inactive", function()
    local _, err = c:deactivate_membership(SAM)
    assert.is_nil(err)
    local m = c:find_membership{ email = "sam@acme.com" }
    assert.equal(SAM, m.id)
    assert.is_false(m.active)
  end)

  it("pinned views round-trip, including the empty list", function()
    local views = { "save_A1", "save_B2" }
    assert.same(views, (c:set_pinned_views(SAM, views)))
    assert.same(views, (c:pinned_views(SAM)))
    assert.same({}, (c:set_pinned_views(SAM, {})))
    assert.equal('{"saved_view_ids":[]}', server.requests()[3].body)
  end)

  it("memberships lists active members with email and name, inactive on request", function()
    local list = assert(c:memberships())
    assert.equal(2, #list)
    local by_email = {}
    for _, m in ipairs(list) do by_email[m.email] = m end
    assert.equal("Ada Admin", by_email["admin@acme.com"].name)
    assert.equal(SAM, by_email["sam@acme.com"].id)
    assert.is_true(by_email["sam@acme.com"].active)
    local all = assert(c:memberships{ inactive = true })
    assert.equal(3, #all)
  end)

  it("find_membership compares the whole address without regard to case", function()
    assert.equal(SAM, c:find_membership{ email = "sam@ACME.COM" }.id)
    assert.equal(SAM, c:find_membership{ email = "SAM@acme.com" }.id)
    local m, err = c:find_membership{ email = "nobody@acme.com" }
    assert.is_nil(m)
    assert.is_nil(err)
    assert.equal(OLD, c:find_membership{ email = "old@acme.com" }.id)
  end)

  describe("ensure_membership", function()
    it("does nothing when the membership matches", function()
      local m, err, meta = c:ensure_membership{ email = "sam@acme.com", role_id = "user" }
      assert.is_nil(err)
      assert.equal("unchanged", meta.action)
      assert.equal(SAM, m.id)
      for _, r in ipairs(server.requests()) do assert.equal("GET", r.method) end
    end)

    it("changes the role when it differs", function()
      local m, _, meta = c:ensure_membership{ email = "sam@acme.com", role = "Account Manager" }
      assert.equal("role_changed", meta.action)
      assert.equal(ACCOUNT_MANAGER, m.role_id)
      assert.equal(ACCOUNT_MANAGER, state_of("sam@acme.com").role_id)
    end)

    it("reactivates an inactive membership", function()
      local m, _, meta = c:ensure_membership{ email = "old@acme.com", role_id = "restricteduser" }
      assert.equal("reactivated", meta.action)
      assert.equal(OLD, m.id)
      assert.is_true(state_of("old@acme.com").active)
      assert.equal("restricteduser", state_of("old@acme.com").role_id)
    end)

    it("creates an absent membership", function()
      local m, _, meta = c:ensure_membership{ email = "nina@example.com", role_id = "user" }
      assert.equal("created", meta.action)
      assert.equal(m.id, state_of("nina@example.com").id)
    end)

    it("refuses an unknown role name, listing the candidates, and sends no write", function()
      local _, err = c:ensure_membership{ email = "nina@example.com", role = "Janitor" }
      assert.equal("validation", err.kind)
      assert.equal("unknown role 'Janitor' (roles: Admin, Super User, User, Restricted User, Account Manager, "
        .. "Sales Rep, Support)", err.field_errors.role)
      for _, r in ipairs(server.requests()) do assert.equal("GET", r.method) end
    end)
  end)

  it("request reaches any endpoint with auth and the error shape", function()
    local me = assert(c:request("GET", "/me/", { query = { _fields = "organization_id" } }))
    assert.matches("^orga_", me.organization_id)
    assert.equal("/api/v1/me/?_fields=organization_id", server.requests()[1].uri)
    local _, err = c:request("GET", "/no/such/thing/")
    assert.equal("not_found", err.kind)
  end)

  it("request retries a non-idempotent POST only when asked", function()
    server.faults{ { mode = "status", status = 503, body = "" } }
    local _, err = c:request("POST", "/membership/", { body = { email = "x@acme.com", role_id = "user" } })
    assert.equal("server", err.kind)
    assert.equal(1, err.attempts)
    server.faults{ { mode = "status", status = 503, body = "" } }
    local m, err2, meta = c:request("POST", "/membership/", { retry = true,
      body = { email = "x@acme.com", role_id = "user" } })
    assert.is_nil(err2)
    assert.is_table(m)
    assert.equal(2, meta.attempts)
  end)
end)
