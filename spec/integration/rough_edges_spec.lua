-- Issue 14 item 20 and the closed client, through real libcurl against the
-- local Close-compatible server.
local close = require "close"
local server = require "spec.support.server"

local function client(opts)
  local o = { api_key = server.api_key, base_url = server.http_url, backoff_base = 0.05, timeout = 5, deadline = 20 }
  for k, v in pairs(opts or {}) do o[k] = v end
  return close.new(o)
end

describe("the library's rough edges, against the local server", function()
  before_each(function() server.reset() end)

  it("a base_url without /api/v1: the 404 says the path looks wrong", function()
    local m, err = client({ base_url = server.origin_http }):create_membership{ email = "jane@acme.com",
      role_id = "user" }
    assert.is_nil(m)
    assert.equal("not_found", err.kind)
    assert.equal(404, err.status)
    assert.matches(("(base_url %s does not end in /api/v1: the path looks wrong)"):format(server.origin_http),
      err.message, 1, true)
  end)

  it("meta.rate_limit's whole numbers print as integers", function()
    local _, err, meta = client():create_membership{ email = "jane@acme.com", role_id = "user" }
    assert.is_nil(err)
    assert.is_number(meta.rate_limit.remaining)
    assert.equal(("%d"):format(meta.rate_limit.remaining), tostring(meta.rate_limit.remaining))
    assert.equal(("%d"):format(meta.rate_limit.limit), tostring(meta.rate_limit.limit))
  end)

  it("an empty update and a 1 MB role id are refused before anything is sent", function()
    local c = client()
    local _, err = c:update_membership("memb_abc", {})
    assert.same({ fields = "give at least one field to update" }, err.field_errors)
    local _, rerr = c:create_membership{ email = "jane@acme.com", role_id = "role_" .. ("a"):rep(1048576) }
    assert.same({ role_id = "must be at most 100 characters" }, rerr.field_errors)
    assert.equal(0, #server.requests())
  end)

  it("a closed client returns kind closed, and libcurl raises nothing", function()
    local c = client()
    assert(c:create_membership{ email = "jane@acme.com", role_id = "user" })
    c:close()
    local m, err = c:create_membership{ email = "joe@acme.com", role_id = "user" }
    assert.is_nil(m)
    assert.equal("closed", err.kind)
    assert.equal(1, #server.requests())
  end)
end)
