-- close.guard: the caller's membership and the last active admin are never
-- lost through a change.
local guard = require "close.guard"

local function state()
  return {
    caller = { id = "memb_me", user_id = "user_me", email = "admin@acme.com" },
    members = {
      { id = "memb_me", user_id = "user_me", email = "admin@acme.com", role_id = "admin", active = true },
      { id = "memb_sam", user_id = "user_sam", email = "sam@acme.com", role_id = "user", active = true },
      { id = "memb_boss", user_id = "user_boss", email = "boss@acme.com", role_id = "admin", active = true },
      { id = "memb_old", user_id = "user_old", email = "old@acme.com", role_id = "admin", active = false },
    },
  }
end

local function check(s, change)
  local ok, why = guard.check(s, change)
  return ok == true and "ok" or why
end

describe("close.guard", function()
  it("never deactivates the caller, found by address (any case) or membership id", function()
    assert.equal("the caller's own membership is never deactivated",
      check(state(), { email = "ADMIN@acme.com", action = "deactivate" }))
    assert.equal("the caller's own membership is never deactivated",
      check(state(), { membership_id = "memb_me", action = "deactivate" }))
  end)

  it("never lowers the caller's role; raising it or keeping it is allowed", function()
    assert.equal("the caller's own role is never lowered (admin, not user)",
      check(state(), { email = "admin@acme.com", action = "change_role", role_id = "user" }))
    assert.equal("the caller's own role is never lowered (admin, not role_custom)",
      check(state(), { email = "admin@acme.com", action = "change_role", role_id = "role_custom" }))
    local s = state()
    s.members[1].role_id = "user"
    assert.equal("ok", check(s, { email = "admin@acme.com", action = "change_role", role_id = "superuser" }))
    assert.equal("the caller's own role is never lowered (user, not restricteduser)",
      check(s, { email = "admin@acme.com", action = "change_role", role_id = "restricteduser" }))
  end)

  it("never leaves the organization without an active admin (an inactive admin does not count)", function()
    local s = state()
    s.caller = { user_id = "user_sam", email = "sam@acme.com" }
    assert.equal("ok", check(s, { email = "boss@acme.com", action = "deactivate" }))
    guard.record(s, { email = "boss@acme.com", action = "deactivate" })
    assert.is_false(s.members[3].active)
    assert.equal("the organization's last active admin is never deactivated",
      check(s, { email = "admin@acme.com", action = "deactivate" }))
    assert.equal("the organization's last active admin keeps the admin role",
      check(s, { email = "admin@acme.com", action = "change_role", role_id = "superuser" }))
  end)

  it("allows what does not touch the caller or the last admin, and every create or reactivate", function()
    assert.equal("ok", check(state(), { email = "sam@acme.com", action = "deactivate" }))
    assert.equal("ok", check(state(), { email = "sam@acme.com", action = "change_role", role_id = "admin" }))
    assert.equal("ok", check(state(), { email = "boss@acme.com", action = "change_role", role_id = "user" }))
    assert.equal("ok", check(state(), { email = "old@acme.com", action = "deactivate" }))
    assert.equal("ok", check(state(), { email = "new@acme.com", action = "create", role_id = "user" }))
    assert.equal("ok", check(state(), { email = "admin@acme.com", action = "reactivate", role_id = "user" }))
    assert.equal("ok", check({ members = {} }, { email = "x@acme.com", action = "deactivate" }))
  end)
end)
