-- role_id validation: the four predefined roles and custom role ids
-- ("role_" + letters and digits); everything else refused before any I/O.

local fake = require "spec.unit.support.fake"
local core = require "close.core"

local GENERIC = "must be 'admin', 'superuser', 'user', 'restricteduser' or a role id 'role_...'"
local CUSTOM = "custom role id must be 'role_' followed by letters and digits"
local CUSTOM_CASE = "unknown role (custom role ids start with lower-case 'role_')"

local ACCEPTED = {
  "admin", "superuser", "user", "restricteduser",
  "role_a", "role_1", "role_abc", "role_ABC123xyz",
  "role_8Wf3RJLbYVzQ2E2fX5mZyCqWnGzS8xKpA6tH0dVbN1u", -- an id of Close's usual length
}

local REFUSED = {
  { "Admin", "unknown role (did you mean 'admin'?)" },
  { "ADMIN", "unknown role (did you mean 'admin'?)" },
  { "USER", "unknown role (did you mean 'user'?)" },
  { "User", "unknown role (did you mean 'user'?)" },
  { "SuperUser", "unknown role (did you mean 'superuser'?)" },
  { "SUPERUSER", "unknown role (did you mean 'superuser'?)" },
  { "RestrictedUser", "unknown role (did you mean 'restricteduser'?)" },
  { "restrictedUSER", "unknown role (did you mean 'restricteduser'?)" },
  { "role_", GENERIC },
  { "role", GENERIC },
  { "role_a-b", CUSTOM },
  { "role_a_b", CUSTOM },
  { "role_abc ", CUSTOM },
  { "role_\195\169", CUSTOM },
  { "role_abc\0", CUSTOM },
  { "Role_abc", CUSTOM_CASE },
  { "ROLE_abc", CUSTOM_CASE },
  { "", "must not be empty" },
  { "manager", GENERIC },
  { "owner", GENERIC },
  { " user", GENERIC },
  { "user ", GENERIC },
  { "users", GENERIC },
  { "memb_abc", GENERIC },
  { "role-abc", GENERIC },
}

local NOT_STRINGS = {
  { 1, "must be a string (got number)" },
  { 1.5, "must be a string (got number)" },
  { true, "must be a string (got boolean)" },
  { false, "must be a string (got boolean)" },
  { { "user" }, "must be a string (got table)" },
  { print, "must be a string (got function)" },
}

describe("role_id", function()
  for _, role in ipairs(ACCEPTED) do
    it(("accepts %q"):format(role), function()
      assert.are.same({ true }, { core.validate_role(role) })
      local h = fake.harness({ fake.ok() })
      local m, err = h.client:create_membership({ email = "jane@acme.com", role_id = role })
      assert.is_nil(err)
      assert.are.same(fake.decode(fake.MEMBERSHIP), m)
      assert.are.equal(1, #h.calls)
      assert.are.same({ email = "jane@acme.com", role_id = role }, fake.decode(h.calls[1].body))
    end)
  end

  local function refused(value, reason)
    local h = fake.harness({})
    local m, err = h.client:create_membership({ email = "jane@acme.com", role_id = value })
    assert.is_nil(m)
    assert.are.equal("validation", err.kind)
    assert.are.same({ role_id = reason }, err.field_errors)
    assert.are.equal("invalid role_id: " .. reason, err.message)
    assert.are.equal(0, err.attempts)
    assert.are.equal("POST", err.method)
    assert.are.equal(fake.URL, err.url)
    assert.are.equal("close: validation: invalid role_id: " .. reason .. " (POST " .. fake.URL .. ")", tostring(err))
    assert.are.equal(0, #h.calls)
    assert.are.equal(0, #h.hooks)
  end

  for _, case in ipairs(REFUSED) do
    local role, reason = case[1], case[2]
    it(("refuses %q with %q"):format(role, reason), function()
      assert.are.same({ nil, reason }, { core.validate_role(role) })
      refused(role, reason)
    end)
  end

  for _, case in ipairs(NOT_STRINGS) do
    local value, reason = case[1], case[2]
    it(("refuses a %s with %q"):format(type(value), reason), function()
      refused(value, reason)
    end)
  end

  it("reports a bad role and a bad email together", function()
    local h = fake.harness({})
    local m, err = h.client:create_membership({ email = "nope", role_id = "Admin" })
    assert.is_nil(m)
    assert.are.same({ email = "must contain '@'", role_id = "unknown role (did you mean 'admin'?)" }, err.field_errors)
    assert.are.equal("invalid email: must contain '@'; role_id: unknown role (did you mean 'admin'?)", err.message)
    assert.are.equal(0, #h.calls)
  end)
end)
