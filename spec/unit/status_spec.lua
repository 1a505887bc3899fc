-- How each HTTP status, body and transport failure becomes a result or an error.

local fake = require "spec.unit.support.fake"
local close = require "close"

local URL = fake.URL
local BACKOFF = { 0.375, 0.75, 1.5 } -- default backoff_base 0.5, random() = 0.5, no hint

-- The tostring of an error without field_errors or retry_after.
local function text(kind, message, status, attempts)
  local ctx = { "POST " .. URL }
  if status then ctx[#ctx + 1] = "status " .. status end
  if attempts > 1 then ctx[#ctx + 1] = attempts .. " attempts" end
  return ("close: %s: %s (%s)"):format(kind, message, table.concat(ctx, ", "))
end

-- Runs one create_membership on a harness with `script`, asserts the common
-- shape of the error and returns it with the harness.
local function failure(script, kind, status, attempts, message, opts)
  local h = fake.harness(script, opts)
  local m, err = fake.create(h)
  assert.is_nil(m)
  assert.is_true(close.error.is(err))
  assert.are.equal(kind, err.kind)
  assert.are.equal(status, err.status)
  assert.are.equal(attempts, err.attempts)
  assert.are.equal("POST", err.method)
  assert.are.equal(URL, err.url)
  assert.are.equal(message, err.message)
  assert.are.equal(attempts, #h.calls)
  assert.are.equal(attempts - 1, #h.waits)
  local s = tostring(err)
  assert.are.equal("close: " .. kind .. ": ", s:sub(1, #kind + 9))
  return err, h
end

describe("a 2xx response", function()
  it("200 gives the membership and meta with the parsed RateLimit header", function()
    local headers = { ["content-type"] = "application/json", ratelimit = "limit=100, remaining=99, reset=5" }
    local h = fake.harness({ fake.ok(fake.MEMBERSHIP, headers) })
    local m, err, meta = fake.create(h)
    assert.is_nil(err)
    assert.are.same({
      id = "memb_1a2b3c", user_id = "user_4d5e6f", organization_id = "orga_7g8h9i", role_id = "user",
    }, m)
    assert.are.same({
      status = 200, headers = headers, attempts = 1, duration = 0,
      rate_limit = { limit = 100, remaining = 99, reset = 5 },
    }, meta)
    assert.are.equal(1, #h.calls)
    assert.are.same({}, h.waits)
  end)

  it("200 with the new RateLimit format parses limit from RateLimit-Policy", function()
    local headers = { ratelimit = '"default";r=42;t=3', ["ratelimit-policy"] = '"default";q=100;w=10' }
    local h = fake.harness({ fake.ok(fake.MEMBERSHIP, headers) })
    local _, _, meta = fake.create(h)
    assert.are.same({ limit = 100, remaining = 42, reset = 3 }, meta.rate_limit)
  end)

  it("200 with X-Rate-Limit-* headers parses them", function()
    local headers = { ["x-rate-limit-limit"] = "20", ["x-rate-limit-remaining"] = "19", ["x-rate-limit-reset"] = "0.5" }
    local h = fake.harness({ fake.ok(fake.MEMBERSHIP, headers) })
    local _, _, meta = fake.create(h)
    assert.are.same({ limit = 20, remaining = 19, reset = 0.5 }, meta.rate_limit)
  end)

  it("200 with no rate-limit header has no meta.rate_limit", function()
    local h = fake.harness({ fake.ok() })
    local _, _, meta = fake.create(h)
    assert.is_nil(meta.rate_limit)
  end)

  it("200 with an empty body gives {}", function()
    local h = fake.harness({ fake.ok("") })
    local m, err, meta = fake.create(h)
    assert.is_nil(err)
    assert.are.same({}, m)
    assert.are.equal(200, meta.status)
    assert.are.equal(1, meta.attempts)
  end)

  it("200 with {} gives {}", function()
    local h = fake.harness({ fake.ok("{}") })
    local m = fake.create(h)
    assert.are.same({}, m)
  end)

  it("201 and 204 are successes too", function()
    local h = fake.harness({ fake.status(201, fake.MEMBERSHIP) })
    local m, _, meta = fake.create(h)
    assert.are.same(fake.decode(fake.MEMBERSHIP), m)
    assert.are.equal(201, meta.status)
    local h2 = fake.harness({ fake.status(204, "") })
    local m2, _, meta2 = fake.create(h2)
    assert.are.same({}, m2)
    assert.are.equal(204, meta2.status)
  end)

  for _, body in ipairs({ "not json", "[1", '"str"', "null", "42", "true", "{", '{"a":1} trailing' }) do
    it(("200 with the body %q is a protocol error, not retried"):format(body), function()
      local err = failure({ fake.ok(body) }, "protocol", 200, 1, "response is not a JSON object")
      assert.are.equal(text("protocol", "response is not a JSON object", 200, 1), tostring(err))
    end)
  end

  it("200 with a JSON array (not an object) is a protocol error", function()
    local err = failure({ fake.ok("[1,2]") }, "protocol", 200, 1, "response is not a JSON object")
    assert.are.equal(text("protocol", "response is not a JSON object", 200, 1), tostring(err))
  end)
end)

describe("an error status", function()
  it("400 with field-errors is bad_request with the server's reason, not retried", function()
    local body = '{"errors": [], "field-errors": {"email": "Enter a valid email address."}}'
    local err = failure({ fake.status(400, body) }, "bad_request", 400, 1, "invalid fields")
    assert.are.same({ email = "Enter a valid email address." }, err.field_errors)
    assert.is_nil(err.errors)
    assert.are.equal("close: bad_request: invalid fields [email: Enter a valid email address.] (POST "
      .. URL .. ", status 400)", tostring(err))
  end)

  it("400 with field-errors as lists joins the reasons", function()
    local body = '{"field-errors": {"email": ["Enter a valid email address.", "Not on a verified domain."],'
      .. ' "role_id": "Unknown role."}}'
    local err = failure({ fake.status(400, body) }, "bad_request", 400, 1, "invalid fields")
    assert.are.same({ email = "Enter a valid email address. Not on a verified domain.", role_id = "Unknown role." },
      err.field_errors)
  end)

  it("400 with a field-errors list holding a null or an object does not raise", function()
    local body = '{"field-errors": {"email": ["Enter a valid email address.", null, {"code": "invalid"}]}}'
    local h = fake.harness({ fake.status(400, body) })
    local ok, m, err = pcall(fake.create, h)
    assert.is_true(ok, tostring(m))
    assert.is_nil(m)
    assert.are.equal("bad_request", err.kind)
    assert.are.equal("string", type(err.field_errors.email))
    assert.truthy(err.field_errors.email:find("Enter a valid email address.", 1, true))
  end)

  it("400 with an errors list: the message is the first error", function()
    local body = '{"errors": ["Email domain is not allowed.", "Second problem."], "field-errors": {}}'
    local err = failure({ fake.status(400, body) }, "bad_request", 400, 1, "Email domain is not allowed.")
    assert.are.same({ "Email domain is not allowed.", "Second problem." }, err.errors)
    assert.is_nil(err.field_errors)
    assert.are.equal(text("bad_request", "Email domain is not allowed.", 400, 1), tostring(err))
  end)

  it("400 with both: the first error is the message and the field errors are kept", function()
    local body = '{"errors": ["Bad."], "field-errors": {"role_id": "Unknown role."}}'
    local err = failure({ fake.status(400, body) }, "bad_request", 400, 1, "Bad.")
    assert.are.same({ "Bad." }, err.errors)
    assert.are.same({ role_id = "Unknown role." }, err.field_errors)
    assert.are.equal("close: bad_request: Bad. [role_id: Unknown role.] (POST " .. URL .. ", status 400)",
      tostring(err))
  end)

  local SIMPLE = {
    { 401, "auth", '{"error":"Invalid API key"}', "Invalid API key" },
    { 401, "auth", '{"error":{"message":"Token expired"}}', "Token expired" },
    { 402, "api", '{"error":"Your plan does not allow more users."}', "Your plan does not allow more users." },
    { 403, "permission", '{"error":"You do not have permission to manage the organization."}',
      "You do not have permission to manage the organization." },
    { 404, "not_found", '{"error":"Not found."}', "Not found." },
    { 404, "not_found", '{"message":"Empty path."}', "Empty path." },
    { 405, "api", '{"error":"Method not allowed."}', "Method not allowed." },
    { 415, "api", '{"error":"Unsupported media type \\"text/plain\\" in request."}',
      'Unsupported media type "text/plain" in request.' },
    { 418, "api", "", "HTTP 418" },
    { 302, "api", "", "HTTP 302" },
    { 500, "server", '{"error":"Internal error"}', "Internal error" },
    { 500, "server", "", "HTTP 500" },
    { 501, "server", "Not Implemented", "HTTP 501: Not Implemented" },
  }
  for _, case in ipairs(SIMPLE) do
    local status, kind, body, message = case[1], case[2], case[3], case[4]
    it(("%d %s is %s %q, not retried"):format(status, body, kind, message), function()
      local err = failure({ fake.status(status, body) }, kind, status, 1, message)
      assert.are.equal(text(kind, message, status, 1), tostring(err))
      assert.is_nil(err.field_errors)
      assert.is_nil(err.retry_after)
    end)
  end

  it("429 is rate_limited after max_retries + 1 attempts", function()
    local err, h = failure({ fake.status(429, "") }, "rate_limited", 429, 4, "HTTP 429")
    assert.are.same(BACKOFF, h.waits)
    assert.are.equal(text("rate_limited", "HTTP 429", 429, 4), tostring(err))
  end)

  it("429 with a JSON message and max_retries = 1 is rate_limited after 2 attempts", function()
    local err, h = failure({ fake.status(429, '{"message":"Too many requests"}') },
      "rate_limited", 429, 2, "Too many requests", { max_retries = 1 })
    assert.are.same({ 0.375 }, h.waits)
    assert.are.equal(text("rate_limited", "Too many requests", 429, 2), tostring(err))
  end)

  it("429 then 200 succeeds on the second attempt", function()
    local h = fake.harness({ fake.status(429), fake.ok() })
    local m, err, meta = fake.create(h)
    assert.is_nil(err)
    assert.are.same(fake.decode(fake.MEMBERSHIP), m)
    assert.are.equal(2, meta.attempts)
    assert.are.equal(0.375, meta.duration)
    assert.are.same({ 0.375 }, h.waits)
  end)

  for _, status in ipairs({ 502, 503, 504 }) do
    it(status .. " is server after max_retries + 1 attempts", function()
      local err, h = failure({ fake.status(status, "") }, "server", status, 4, "HTTP " .. status)
      assert.are.same(BACKOFF, h.waits)
      assert.are.equal(text("server", "HTTP " .. status, status, 4), tostring(err))
    end)
  end

  it("500 is server and is not retried", function()
    local err, h = failure({ fake.status(500, ""), fake.ok() }, "server", 500, 1, "HTTP 500")
    assert.are.same({}, h.waits)
    assert.are.equal(text("server", "HTTP 500", 500, 1), tostring(err))
  end)

  local NON_JSON = {
    { "plain text", "Service Unavailable", "HTTP 503: Service Unavailable" },
    { "empty", "", "HTTP 503" },
    { "whitespace only", " \r\n\t ", "HTTP 503" },
    { "HTML", "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n</html>\r\n",
      "HTTP 503: <html> <head><title>503 Service Temporarily Unavailable</title></head> </html>" },
    { "binary", "\0\1\2oops\255\254", "HTTP 503: oops" },
    { "a JSON object without a message", '{"code": 17}', 'HTTP 503: {"code": 17}' },
    { "a JSON string", '"unavailable"', 'HTTP 503: "unavailable"' },
    { "long text (cut at 200 characters)", ("x"):rep(300), "HTTP 503: " .. ("x"):rep(200) },
  }
  for _, case in ipairs(NON_JSON) do
    it("503 with a " .. case[1] .. " body has the message " .. ("%q"):format(case[3]), function()
      local err = failure({ fake.status(503, case[2]) }, "server", 503, 4, case[3])
      assert.are.equal(text("server", case[3], 503, 4), tostring(err))
    end)
  end

  it("429 with a plain-text body has the message 'HTTP 429: <snippet>'", function()
    failure({ fake.status(429, "Rate limit exceeded") }, "rate_limited", 429, 4, "HTTP 429: Rate limit exceeded")
  end)
end)

describe("a transport failure", function()
  for _, kind in ipairs({ "timeout", "network" }) do
    it(kind .. " is retried, then returned with that kind", function()
      local err, h = failure({ fake.fail(kind, kind .. " happened") }, kind, nil, 4, kind .. " happened")
      assert.are.same(BACKOFF, h.waits)
      assert.are.equal(text(kind, kind .. " happened", nil, 4), tostring(err))
    end)

    it(kind .. " then 200 succeeds", function()
      local h = fake.harness({ fake.fail(kind, "x"), fake.ok() })
      local m, err, meta = fake.create(h)
      assert.is_nil(err)
      assert.are.same(fake.decode(fake.MEMBERSHIP), m)
      assert.are.equal(2, meta.attempts)
    end)
  end

  for _, kind in ipairs({ "tls", "protocol" }) do
    it(kind .. " is not retried", function()
      local err, h = failure({ fake.fail(kind, "certificate problem"), fake.ok() },
        kind, nil, 1, "certificate problem")
      assert.are.same({}, h.waits)
      assert.are.equal(text(kind, "certificate problem", nil, 1), tostring(err))
    end)
  end

  it("a plain string error is network (retried)", function()
    local err = failure({ { err = "connection refused" } }, "network", nil, 4, "connection refused")
    assert.are.equal(text("network", "connection refused", nil, 4), tostring(err))
  end)

  it("nil, nil is network 'transport failed'", function()
    local h = fake.harness({ function() return nil end }, { max_retries = 0 })
    local m, err = fake.create(h)
    assert.is_nil(m)
    assert.are.equal("network", err.kind)
    assert.are.equal("transport failed", err.message)
    assert.are.equal(1, err.attempts)
  end)

  it("an error table of an unknown kind is network with its message", function()
    local err = failure({ fake.fail("bogus", "strange thing") }, "network", nil, 2, "strange thing",
      { max_retries = 1 })
    assert.are.equal(text("network", "strange thing", nil, 2), tostring(err))
  end)

  it("a non-string, non-table error (a number) is network and does not raise", function()
    local h = fake.harness({ { err = 42 } }, { max_retries = 0 })
    local ok, m, err = pcall(fake.create, h)
    assert.is_true(ok, tostring(m))
    assert.is_nil(m)
    assert.are.equal("network", err.kind)
    assert.are.equal("42", err.message)
  end)

  it("an error of a known kind without a message still gets a message", function()
    local h = fake.harness({ { err = { kind = "timeout" } } }, { max_retries = 0 })
    local m, err = fake.create(h)
    assert.is_nil(m)
    assert.are.equal("timeout", err.kind)
    assert.are.equal("string", type(err.message))
    assert.are_not.equal("", err.message)
    assert.is_nil(tostring(err):find("timeout: nil", 1, true), tostring(err))
  end)
end)
