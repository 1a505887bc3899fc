-- plan_sync and apply_plan against the local server. Its seed organization:
-- admin@acme.com (admin, the caller), sam@acme.com (user, active),
-- old@acme.com (user, inactive); custom roles Account Manager, Sales Rep, Support.
local close = require "close"
local server = require "spec.support.server"

local function rows(list)
  local out = {}
  for i, r in ipairs(list) do
    local row = { line = i + 1, email = r[1], text = r[1] .. "," .. (r[2] or "") }
    if r[2] and (r[2]:match("^role_") or ({ admin = 1, superuser = 1, user = 1, restricteduser = 1 })[r[2]]) then
      row.role_id = r[2]
    else
      row.role = r[2]
    end
    out[i] = row
  end
  return out
end

local function actions(plan)
  local t = {}
  for _, item in ipairs(plan.items) do t[#t + 1] = item.email .. " " .. item.action end
  return t
end

describe("sync against the local server", function()
  local client
  before_each(function()
    server.reset()
    client = close.new{ api_key = server.api_key, base_url = server.http_url }
  end)

  it("plans per row: create, reactivate, change_role, unchanged, invalid; writes nothing", function()
    local plan, err = client:plan_sync(rows{
      { "new@acme.com", "user" }, { "old@acme.com", "user" }, { "Sam@acme.com", "Sales Rep" },
      { "admin@acme.com", "admin" }, { "bad@@acme.com", "user" }, { "x@acme.com", "Wizard" },
      { "dup@acme.com", "user" }, { "dup@acme.com", "superuser" },
    })
    assert.is_nil(err)
    assert.same({ "new@acme.com create", "old@acme.com reactivate", "Sam@acme.com change_role",
      "admin@acme.com unchanged", "bad@@acme.com invalid", "x@acme.com invalid", "dup@acme.com invalid",
      "dup@acme.com invalid" }, actions(plan))
    assert.equal("user", plan.items[3].previous_role_id)
    assert.matches("^role_", plan.items[3].role_id)
    assert.equal("unknown role 'Wizard' (roles: Admin, Super User, User, Restricted User, Account Manager, "
      .. "Sales Rep, Support)", plan.items[6].reason)
    assert.equal("the same address as line 9 with another role (user, not superuser)", plan.items[7].reason)
    for _, r in ipairs(server.requests()) do assert.equal("GET", r.method) end
  end)

  it("applies the plan, and a second plan of the same rows writes nothing", function()
    local list = rows{ { "new@acme.com", "user" }, { "old@acme.com", "superuser" }, { "sam@acme.com", "Support" } }
    local plan = assert(client:plan_sync(list))
    local outcomes = client:apply_plan(plan, { concurrency = 3 })
    assert.equal(3, #outcomes)
    for _, o in ipairs(outcomes) do assert.is_true(o.ok, tostring(o.err)) end
    local again = assert(client:plan_sync(list))
    assert.same({ "new@acme.com unchanged", "old@acme.com unchanged", "sam@acme.com unchanged" }, actions(again))
    local before = #server.requests()
    assert.same({}, (client:apply_plan(again)))
    assert.equal(before, #server.requests())
  end)

  it("deactivates the active members missing from the rows, never the caller, never one kept", function()
    local plan = assert(client:plan_sync(rows{ { "new@acme.com", "user" } },
      { deactivate_missing = true, max_deactivate = 5 }))
    assert.same({ "new@acme.com create", "sam@acme.com deactivate" }, actions(plan))
    local kept = assert(client:plan_sync(rows{}, { deactivate_missing = true, keep = { "SAM@acme.com" } }))
    assert.same({}, actions(kept))
  end)

  it("a plan deactivating more than max_deactivate (default 10%, at least 1) is whole, marked; apply refuses it",
    function()
    for i = 1, 3 do assert(client:create_membership{ email = ("m%d@acme.com"):format(i), role_id = "user" }) end
    local plan, err = client:plan_sync(rows{}, { deactivate_missing = true })
    assert.is_nil(err)
    assert.same({ "m1@acme.com deactivate", "m2@acme.com deactivate", "m3@acme.com deactivate",
      "sam@acme.com deactivate" }, actions(plan))
    assert.equal("the plan deactivates 4 members, more than max_deactivate 1 (10% of 5 active members, at least 1)",
      plan.over_limit)
    local before = #server.requests()
    local outcomes, aerr = client:apply_plan(plan)
    assert.is_nil(outcomes)
    assert.equal("validation", aerr.kind)
    assert.equal("the plan deactivates 4 members, more than max_deactivate 1 (10% of 5 active members, at least 1): "
      .. "raise max_deactivate to allow it", aerr.field_errors.max_deactivate)
    assert.equal(before, #server.requests())
    -- 0 means none, and says nothing of 10%
    plan = assert(client:plan_sync(rows{}, { deactivate_missing = true, max_deactivate = 0 }))
    assert.equal("the plan deactivates 4 members, more than max_deactivate 0", plan.over_limit)
    assert.is_nil(assert(client:plan_sync(rows{}, { deactivate_missing = true, max_deactivate = 4 })).over_limit)
  end)

  it("never lowers the caller's role nor leaves the organization without an active admin (close.guard)", function()
    assert(client:create_membership{ email = "boss@acme.com", role_id = "superuser" })
    local plan = assert(client:plan_sync(rows{ { "admin@acme.com", "user" }, { "boss@acme.com", "admin" } }))
    assert.same({ "admin@acme.com invalid", "boss@acme.com change_role" }, actions(plan))
    assert.equal("the caller's own role is never lowered (admin, not user)", plan.items[1].reason)
    assert.matches("^memb_", plan.organization_id and plan.items[2].membership_id)
    assert.matches("^orga_", plan.organization_id)
  end)

  it("plans deactivations of listed members only with only = deactivate", function()
    local plan = assert(client:plan_sync(rows{ { "sam@acme.com" }, { "old@acme.com" }, { "nobody@acme.com" },
      { "admin@acme.com" } }, { only = "deactivate" }))
    assert.same({ "sam@acme.com deactivate", "old@acme.com unchanged", "nobody@acme.com unchanged",
      "admin@acme.com invalid" }, actions(plan))
    local out = client:apply_plan(plan)
    assert.is_true(out[1].ok)
    local by = {}
    for _, m in ipairs(server.state().memberships) do by[m.email] = m end
    assert.is_false(by["sam@acme.com"].active)
  end)

  it("reads an organization of 3,000 members, more than max_body holds", function()
    local list = {}
    for i = 1, 3000 do list[i] = { email = ("big%d@acme.com"):format(i), role_id = "user" } end
    assert.equal(3000, server.add_members(list).added)
    local all, err = client:memberships()
    assert.is_nil(err and tostring(err))
    assert.equal(3002, #all) -- and the seed's two active members
    local plan = assert(client:plan_sync(rows{ { "big1@acme.com", "user" }, { "big2@acme.com", "superuser" } }))
    assert.same({ "big1@acme.com unchanged", "big2@acme.com change_role" }, actions(plan))
  end)
end)
