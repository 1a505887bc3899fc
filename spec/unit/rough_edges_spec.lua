-- Issue 14, item 20: the library's rough edges, each with its exact outcome.
local fake = require "spec.unit.support.fake"

local ID_URL = "https://api.close.com/api/v1/membership/memb_abc/"

describe("update_membership with no field", function()
  it("says to give at least one field, under the field 'fields'", function()
    local h = fake.harness({ fake.ok() })
    local m, err = h.client:update_membership("memb_abc", {})
    assert.is_nil(m)
    assert.same({ fields = "give at least one field to update" }, err.field_errors)
    assert.equal("close: validation: invalid fields: give at least one field to update (PUT " .. ID_URL .. ")",
      tostring(err))
    assert.equal(0, #h.calls)
  end)
end)

describe("ids are capped at close.validate.MAX_ID_LENGTH (100) characters", function()
  local validate = require "close.validate"

  it("a role id of role_ plus 1 MB is refused before sending", function()
    local h = fake.harness({ fake.ok() })
    local m, err = h.client:create_membership{ email = "jane@acme.com", role_id = "role_" .. ("a"):rep(1048576) }
    assert.is_nil(m)
    assert.equal("validation", err.kind)
    assert.same({ role_id = "must be at most 100 characters" }, err.field_errors)
    assert.equal(0, #h.calls)
  end)

  it("a membership id of 101 characters is refused, one of 100 is sent", function()
    assert.equal(100, validate.MAX_ID_LENGTH)
    local h = fake.harness({ fake.ok() })
    local long = "memb_" .. ("x"):rep(96)
    local m, err = h.client:update_membership(long, { role_id = "user" })
    assert.is_nil(m)
    assert.same({ id = "must be at most 100 characters" }, err.field_errors)
    assert.equal(0, #h.calls)
    assert(h.client:update_membership(long:sub(1, 100), { role_id = "user" }))
    assert.equal(1, #h.calls)
  end)

  it("a role id of 100 characters is sent", function()
    local h = fake.harness({ fake.ok() })
    assert(h.client:create_membership{ email = "jane@acme.com", role_id = "role_" .. ("a"):rep(95) })
    assert.equal(1, #h.calls)
  end)
end)

describe("meta.rate_limit", function()
  it("whole numbers are integers: remaining prints 999, not 999.0; a fractional reset stays", function()
    local h = fake.harness({ fake.ok(nil, { ratelimit = "limit=1000, remaining=999, reset=0.5" }) })
    local _, _, meta = fake.create(h)
    assert.equal("999", tostring(meta.rate_limit.remaining))
    assert.equal("1000", tostring(meta.rate_limit.limit))
    assert.equal(0.5, meta.rate_limit.reset)
  end)
end)

describe("a 404 from a base_url without /api/v1", function()
  it("says the path looks wrong", function()
    local h = fake.harness({ fake.status(404, "<html>Not Found</html>") }, { base_url = "https://api.close.com" })
    local m, err = fake.create(h)
    assert.is_nil(m)
    assert.equal("not_found", err.kind)
    assert.equal("HTTP 404: <html>Not Found</html> (base_url https://api.close.com does not end in /api/v1: "
      .. "the path looks wrong)", err.message)
  end)

  it("with /api/v1, a 404 is only the server's message", function()
    local h = fake.harness({ fake.status(404, '{"error":"Membership not found"}') })
    local _, err = h.client:update_membership("memb_abc", { role_id = "user" })
    assert.equal("Membership not found", err.message)
  end)
end)
