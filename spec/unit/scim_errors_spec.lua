-- The protocol's edges through the pure handler: the bearer token, body
-- size and type, unknown endpoints, what is refused as unsupported, and
-- Close or the store failing (429, 503, nothing half applied).

local S = require "spec.unit.support.scim"

describe("scim authentication", function()
  it("no Authorization header: 401 with WWW-Authenticate, and nothing else is evaluated", function()
    local t = S.new()
    local res = t:req("POST", "/Nowhere", string.rep("x", 2 * 1048576), { no_auth = true,
      headers = { ["content-type"] = "text/plain" } })
    S.is_error(res, 401, nil, "a bearer token is required")
    assert.are.equal('Bearer realm="close-scim"', res.headers["WWW-Authenticate"])
    assert.are.same({}, t.client.calls)
    assert.are.same({}, t.audits)
  end)

  it("a wrong token, one of another length, another scheme: 401 invalid_token; the token never echoed", function()
    local t = S.new()
    for _, auth in ipairs({ "Bearer " .. S.TOKEN:sub(1, -2) .. "X", "Bearer " .. S.TOKEN .. "X",
      "Bearer " .. S.TOKEN:sub(2), "Basic " .. S.TOKEN, "Bearer", S.TOKEN }) do
      local res = t:req("GET", "/Users", nil, { headers = { authorization = auth } })
      S.is_error(res, 401, nil, "not the bridge's")
      assert.are.equal('Bearer realm="close-scim", error="invalid_token"', res.headers["WWW-Authenticate"])
      assert.is_nil(res.body:find(S.TOKEN:sub(5, 20), 1, true))
    end
    assert.are.same({}, t.client.calls)
  end)

  it("the scheme in any case and the header name in any case are accepted", function()
    local t = S.new()
    local res = t.h:handle{ method = "GET", path = "/scim/v2/ServiceProviderConfig",
      headers = { Authorization = "bearer " .. S.TOKEN } }
    assert.are.equal(200, res.status)
  end)

  it("a handler with a token shorter than 32 characters is refused at start", function()
    assert.has_error(function() S.new{ token = "short" } end,
      "close.scim.handler: the token must have at least 32 characters")
  end)
end)

describe("scim request edges", function()
  it("a body over 1 MiB is 413; a media type other than SCIM's or JSON is 415; charset is fine", function()
    local t = S.new()
    S.is_error(t:req("POST", "/Users", '{"userName":"' .. string.rep("a", 1048576) .. '"}'), 413, nil, "1048576")
    S.is_error(t:req("POST", "/Users", '{"userName":"x@acme.com"}', { headers = { ["content-type"] = "text/plain" } }),
      415, nil, "application/scim+json")
    S.is_error(t:req("POST", "/Users", '{"userName":"x@acme.com"}',
      { headers = { ["content-type"] = "application/x-www-form-urlencoded" } }), 415)
    local res = t:req("POST", "/Users", '{"userName":"x@acme.com"}',
      { headers = { ["content-type"] = "Application/SCIM+JSON; charset=UTF-8" } })
    assert.are.equal(201, res.status)
    S.is_error(t:req("POST", "/Users", ""), 400, "invalidSyntax", "needs a JSON body")
    assert.is_nil(t.client.calls[5])
  end)

  it("a trailing slash and a doubled slash are the same endpoint; the base path in any case", function()
    local t = S.new()
    assert.are.equal(200, t:req("GET", "/Users/").status)
    assert.are.equal(200, t:req("GET", "//Users//memb_sam/").status)
    assert.are.equal(200, t.h:handle{ method = "get", path = "/SCIM/V2/users",
      headers = { authorization = "Bearer " .. S.TOKEN } }.status)
  end)

  it("unknown endpoints and paths outside the base are 404", function()
    local t = S.new()
    S.is_error(t:req("GET", "/Leads"), 404, nil, "no endpoint 'Leads'")
    S.is_error(t:req("GET", "/Users/memb_sam/extra"), 404)
    S.is_error(t:req("GET", "", nil, { base = "/api" }), 404, nil, "the base is /scim/v2")
    S.is_error(t:req("GET", ""), 404)
  end)

  it("bulk, sorting, ETags, /Me and a root .search are refused with 501; a wrong method is 405", function()
    local t = S.new()
    S.is_error(t:req("POST", "/Bulk", "{}"), 501, nil, "bulk")
    S.is_error(t:req("GET", "/Users", nil, { query = "sortBy=userName" }), 501, nil, "sorting")
    S.is_error(t:req("GET", "/Users/memb_sam", nil, { headers = { ["If-None-Match"] = 'W/"1"' } }), 501, nil, "ETags")
    S.is_error(t:req("GET", "/Me"), 501, nil, "/Me")
    S.is_error(t:req("POST", "/.search", "{}"), 501, nil, "only /Users/.search and /Groups/.search")
    S.is_error(t:req("DELETE", "/Users"), 405)
    S.is_error(t:req("POST", "/Users/memb_sam", "{}"), 405)
    S.is_error(t:req("PUT", "/ServiceProviderConfig", "{}"), 405)
  end)

  it("never 500 for bad input: odd bodies, paths, queries and PATCH operations", function()
    local t = S.new()
    local bodies = { "null", "true", "1", '"s"', "[]", "{}", '{"Operations":null}', '{"Operations":[null]}',
      '{"Operations":[{"op":"add"}]}', '{"Operations":[{"op":"replace","path":5,"value":1}]}',
      '{"Operations":[{"op":"replace","path":"emails[","value":1}]}', '{"userName":[]}', '{"userName":{}}',
      '{"emails":"x"}', '{"roles":[1,2]}', '{"active":[true]}', '{"userName":"a@b.co","name":{"givenName":[1]}}',
      '{"members":[{"value":5}]}', '{"displayName":5}', '{"schemas":5}', '{"' .. ("a"):rep(300) .. '":1}',
      '{"userName":"d@acme.com","x":' .. ("["):rep(200) .. ("]"):rep(200) .. "}",
      '{"Operations":[{"op":"add","path":"x","value":' .. ("{\"a\":"):rep(100) .. "1" .. ("}"):rep(100) .. "}]}" }
    for _, method in ipairs({ "POST", "PUT", "PATCH" }) do
      for _, path in ipairs({ "/Users", "/Users/memb_sam", "/Groups", "/Groups/user" }) do
        for _, b in ipairs(bodies) do
          local res = t:req(method, path, b)
          assert.is_true(res.status >= 200 and res.status < 500,
            method .. " " .. path .. " " .. b .. " -> " .. res.body)
        end
      end
    end
    for _, q in ipairs({ "filter=%", "filter=(((", "count=-5", "startIndex=%zz", "attributes=,,,",
      "excludedAttributes=urn:x:y", "filter=emails[type eq \"work\"", "filter=a eq \"\\" }) do
      local res = t:req("GET", "/Users", nil, { query = q })
      assert.is_true(res.status < 500, q .. " -> " .. res.body)
    end
  end)
end)

describe("scim when Close or the store fails", function()
  it("Close's rate limit spent beyond retries: 429 with Retry-After", function()
    local t = S.new()
    t.client.fail.create_membership = { kind = "rate_limited", message = "API call count exceeded", retry_after = 2.4 }
    local res = t:req("POST", "/Users", { userName = "x@acme.com" })
    S.is_error(res, 429, nil, "rate limit")
    assert.are.equal("3", res.headers["Retry-After"])
    assert.are.equal("failed: Close's rate limit is spent: API call count exceeded", t.audits[1].outcome)
    assert.is_nil(t.store.data["user:memb_new1"])
  end)

  it("Close unreachable while reading: 503 with Retry-After", function()
    local t = S.new()
    t.client.fail.memberships = { kind = "network", message = "could not connect" }
    local res = t:req("GET", "/Users")
    S.is_error(res, 503, nil, "could not connect")
    assert.are.equal("5", res.headers["Retry-After"])
  end)

  it("Close refusing the address (400) is 400 invalidValue naming Close's reason", function()
    local t = S.new()
    t.client.fail.create_membership = { kind = "bad_request", message = "bad",
      field_errors = { email = "Email domain is not verified." } }
    S.is_error(t:req("POST", "/Users", { userName = "x@gmail.com" }), 400, "invalidValue",
      "email: Email domain is not verified.")
  end)

  it("the store failing on a create: 503, and the new membership is undone", function()
    local t = S.new()
    t.store.fail_set = 1
    local res = t:req("POST", "/Users", { userName = "x@acme.com" })
    S.is_error(res, 503, nil, "store failed")
    assert.are.equal("5", res.headers["Retry-After"])
    assert.are.same({ "create x@acme.com user", "deactivate memb_new1" }, { t.client.calls[4], t.client.calls[5] })
  end)

  it("the store failing on a DELETE: 503 and Close is not called", function()
    local t = S.new()
    t:req("GET", "/Users/memb_sam")
    t.store.broken = true
    S.is_error(t:req("DELETE", "/Users/memb_sam"), 503, nil, "store failed")
    assert.is_true(t:member("memb_sam").active)
  end)

  it("Close failing on a DELETE: the deleted mark is taken back, GET still finds the user", function()
    local t = S.new()
    t.client.fail.deactivate_membership = { kind = "timeout", message = "timed out" }
    S.is_error(t:req("DELETE", "/Users/memb_sam"), 503, nil, "timed out")
    assert.is_nil(t.store.data["deleted:memb_sam"])
    assert.are.equal(200, t:req("GET", "/Users/memb_sam").status)
  end)

  it("the store failing while the index reads it: 503", function()
    local t = S.new()
    t.store.broken = true
    S.is_error(t:req("GET", "/Users"), 503, nil, "store failed")
  end)
end)

describe("scim audit", function()
  it("every change names the provider's request id; no token and no password in any record", function()
    local t = S.new()
    t:req("POST", "/Users", { userName = "kim@acme.com", password = "Hunter2-secret" },
      { headers = { ["client-request-id"] = "entra-42" } })
    t:req("PATCH", "/Users/memb_new1", { Operations = { { op = "replace", value = { active = false } } } },
      { headers = { ["X-Request-Id"] = "okta-7" } })
    t:req("DELETE", "/Users/memb_caller")
    t:req("PATCH", "/Groups/role_sales", { Operations = { { op = "add", path = "members",
      value = { { value = "memb_sam" } } } } })
    assert.are.equal(4, #t.audits)
    assert.are.same({ method = "POST", path = "/scim/v2/Users", id = "entra-42" }, t.audits[1].request)
    assert.are.same({ method = "PATCH", path = "/scim/v2/Users/memb_new1", id = "okta-7" }, t.audits[2].request)
    assert.are.same({ "create", "deactivate", "delete", "change_role" }, { t.audits[1].operation,
      t.audits[2].operation, t.audits[3].operation, t.audits[4].operation })
    assert.are.same({ "ok", "ok", "refused: the caller's own membership is never deactivated", "ok" },
      { t.audits[1].outcome, t.audits[2].outcome, t.audits[3].outcome, t.audits[4].outcome })
    local text = require("cjson.safe").encode(t.audits)
    assert.is_nil(text:find(S.TOKEN:sub(1, 12), 1, true))
    assert.is_nil(text:find("Hunter2", 1, true))
    for _, v in pairs(t.store.data) do assert.is_nil(v:find("Hunter2", 1, true)) end
  end)

  it("an audit function that raises does not fail the request", function()
    local t = S.new{ audit = function() error("disk full") end }
    assert.are.equal(201, t:req("POST", "/Users", { userName = "kim@acme.com" }).status)
  end)
end)

describe("scim when Close answers oddly", function()
  it("a create answered without a membership id is 503, never 500", function()
    local t = S.new()
    t.client.create_membership = function() return { role_id = "user" }, nil, {} end
    S.is_error(t:req("POST", "/Users", { userName = "x@acme.com" }), 503, nil, "names no membership id")
  end)
end)

describe("scim: Close's refusals that retrying will not cure", function()
  it("a 403 and a 402 (seats spent) from Close are 403 with Close's reason, not 503", function()
    local t = S.new()
    t.client.fail.create_membership = { kind = "permission", message = "Role grants manage_organization." }
    S.is_error(t:req("POST", "/Users", { userName = "x@acme.com" }), 403, nil, "Role grants manage_organization.")
    t.client.fail.create_membership = { kind = "api", status = 402, message = "No seats left on your plan." }
    local res = t:req("POST", "/Users", { userName = "x@acme.com" })
    S.is_error(res, 403, nil, "Close refused it (status 402): No seats left on your plan.")
    assert.is_nil(res.headers["Retry-After"])
    t.client.fail.create_membership = { kind = "api", status = 505, message = "odd" }
    S.is_error(t:req("POST", "/Users", { userName = "x@acme.com" }), 503)
  end)
end)
