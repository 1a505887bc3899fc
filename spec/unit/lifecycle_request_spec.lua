-- client:request(method, path, opts): any endpoint with the client's auth,
-- retries and error shape. The exact request, query encoding, which methods
-- are retried, and every refusal.

local fake = require "spec.unit.support.fake"
local lc = require "spec.unit.support.lifecycle"
local close = require "close"

local SRC = debug.getinfo(1, "S").short_src
local BASE = lc.BASE
local line, raised_at = lc.line, function(...) return lc.raised_at(SRC, ...) end

describe("client:request", function()
  it("GETs base_url .. path with no body and returns the decoded response and meta", function()
    local h = fake.harness({ fake.ok('{"data": [{"id": "lead_1"}], "has_more": false}') })
    local res, err, meta = h.client:request("GET", "/lead/")
    assert.is_nil(err)
    assert.are.same({ data = { { id = "lead_1" } }, has_more = false }, res)
    assert.are.same({ status = 200, headers = { ["content-type"] = "application/json" }, attempts = 1, duration = 0 },
      meta)
    assert.are.equal(1, #h.calls)
    assert.are.equal("GET", h.calls[1].method)
    assert.are.equal(BASE .. "/lead/", h.calls[1].url)
    assert.are.same(lc.headers(false), h.calls[1].headers)
    assert.is_nil(h.calls[1].body)
  end)

  it("POSTs a JSON body with Content-Type, close.null as null", function()
    local h = fake.harness({ fake.ok('{"id": "lead_1"}') })
    local res, err = h.client:request("POST", "/lead/", { body = { name = "Acme", description = close.null } })
    assert.is_nil(err)
    assert.are.same({ id = "lead_1" }, res)
    assert.are.equal("POST", h.calls[1].method)
    assert.are.equal(BASE .. "/lead/", h.calls[1].url)
    assert.are.same(lc.headers(true), h.calls[1].headers)
    assert.are.same({ name = "Acme", description = close.null }, fake.decode(h.calls[1].body))
  end)

  for _, m in ipairs({ "get", "Put", "delete", "patch", "post" }) do
    it("takes the method in any case: " .. m, function()
      local h = fake.harness({ fake.ok("{}") })
      assert.are.same({}, (h.client:request(m, "/x/")))
      assert.are.equal(m:upper(), h.calls[1].method)
    end)
  end

  it("encodes the query: keys sorted, keys and values percent-encoded, numbers and booleans as text", function()
    local h = fake.harness({ fake.ok("{}") })
    assert.is_truthy(h.client:request("GET", "/lead/", { query = {
      query = "name:Acme Inc & co", _limit = 10, _fields = "id,display_name", ["a b"] = "x/y?z#w",
      flag = true, uni = "caf\195\169", safe = "A-z_0.9~",
    } }))
    assert.are.equal(BASE .. "/lead/?_fields=id%2Cdisplay_name&_limit=10&a%20b=x%2Fy%3Fz%23w&flag=true"
      .. "&query=name%3AAcme%20Inc%20%26%20co&safe=A-z_0.9~&uni=caf%C3%A9", h.calls[1].url)
  end)

  it("sends no '?' for an empty query", function()
    local h = fake.harness({ fake.ok("{}") })
    assert.is_truthy(h.client:request("DELETE", "/lead/lead_1/", { query = {} }))
    assert.are.equal(BASE .. "/lead/lead_1/", h.calls[1].url)
  end)

  for _, m in ipairs({ "GET", "PUT", "DELETE" }) do
    it(m .. " is retried on a 503", function()
      local h = fake.harness({ fake.status(503), fake.ok('{"ok": true}') })
      local res, err, meta = h.client:request(m, "/thing/")
      assert.is_nil(err)
      assert.are.same({ ok = true }, res)
      assert.are.equal(2, meta.attempts)
      assert.are.equal(2, #h.calls)
      assert.are.same({ 0.375 }, h.waits)
    end)
  end

  for _, m in ipairs({ "POST", "PATCH" }) do
    it(m .. " is not retried on a 503", function()
      local h = fake.harness({ fake.status(503, '{"error": "Unavailable."}'), fake.ok("{}") })
      local res, err = h.client:request(m, "/thing/", { body = { a = 1 } })
      assert.is_nil(res)
      assert.are.same({ kind = "server", message = "Unavailable.", status = 503, attempts = 1, method = m,
        url = BASE .. "/thing/" }, lc.plain(err))
      assert.are.equal(1, #h.calls)
      assert.are.same({}, h.waits)
    end)

    it(m .. " is not retried on a network failure", function()
      local h = fake.harness({ fake.fail("network", "connection reset"), fake.ok("{}") })
      local res, err = h.client:request(m, "/thing/")
      assert.is_nil(res)
      assert.are.equal("network", err.kind)
      assert.are.equal(1, err.attempts)
      assert.are.equal(1, #h.calls)
    end)

    it(m .. " with retry = true is retried on a 503", function()
      local h = fake.harness({ fake.status(503), fake.ok('{"ok": true}') })
      local res, err, meta = h.client:request(m, "/thing/", { body = { a = 1 }, retry = true })
      assert.is_nil(err)
      assert.are.same({ ok = true }, res)
      assert.are.equal(2, meta.attempts)
      assert.are.equal(h.calls[1].body, h.calls[2].body)
    end)

    it(m .. " with retry = false is not retried", function()
      local h = fake.harness({ fake.status(503), fake.ok("{}") })
      local res, err = h.client:request(m, "/thing/", { retry = false })
      assert.is_nil(res)
      assert.are.equal(1, err.attempts)
    end)

    it(m .. " is retried on a 429 even without retry = true (refused before any effect)", function()
      local h = fake.harness({ fake.status(429, "", { ["retry-after"] = "2" }), fake.ok('{"ok": true}') })
      local res, err, meta = h.client:request(m, "/thing/", { body = { a = 1 } })
      assert.is_nil(err)
      assert.are.same({ ok = true }, res)
      assert.are.equal(2, meta.attempts)
      assert.are.same({ 2 }, h.waits)
    end)
  end

  it("maps a 404 to kind not_found", function()
    local h = fake.harness({ fake.status(404, '{"error": "Not found."}') })
    local res, err = h.client:request("GET", "/lead/lead_x/")
    assert.is_nil(res)
    assert.are.same({ kind = "not_found", message = "Not found.", status = 404, attempts = 1, method = "GET",
      url = BASE .. "/lead/lead_x/" }, lc.plain(err))
  end)

  describe("refuses before any I/O", function()
    local PATHS = {
      { "lead/", "must start with '/'", BASE .. "lead/" },
      { "", "must start with '/'", BASE },
      { "https://evil.example/", "must start with '/'", BASE .. "https://evil.example/" },
      { "/lead/../me/", "must not contain '..'", BASE .. "/lead/../me/" },
      { "/..", "must not contain '..'", BASE .. "/.." },
      { "/lead/?_limit=1", "must not contain spaces, '?' or '#' (pass query = {...})", BASE .. "/lead/?_limit=1" },
      { "/lead/#top", "must not contain spaces, '?' or '#' (pass query = {...})", BASE .. "/lead/#top" },
      { "/lead /", "must not contain spaces, '?' or '#' (pass query = {...})", BASE .. "/lead /" },
      { "/lead/\t", "must not contain spaces, '?' or '#' (pass query = {...})", BASE .. "/lead/\t" },
      { "/lead/\r\nX-Evil: 1", "must not contain spaces, '?' or '#' (pass query = {...})",
        BASE .. "/lead/\r\nX-Evil: 1" },
      { "/lead/\0", "must not contain spaces, '?' or '#' (pass query = {...})", BASE .. "/lead/\0" },
    }
    for _, case in ipairs(PATHS) do
      it(("the path %q: %s"):format(case[1], case[2]), function()
        local h = fake.harness({})
        local res, err = h.client:request("GET", case[1])
        lc.refused(h, res, err, { path = case[2] }, "GET", case[3])
      end)
    end

    for _, q in ipairs({ "_limit=1", 5, true }) do
      it("a query that is a " .. type(q), function()
        local h = fake.harness({})
        local res, err = h.client:request("POST", "/lead/", { query = q })
        lc.refused(h, res, err, { query = "must be a table" }, "POST", BASE .. "/lead/")
      end)
    end

    it("a query with keys that are not all strings, without raising from inside the library", function()
      -- Was a bug (lua/close/driver.lua, query_string): table.sort of the keys raises
      -- "attempt to compare string with number" for a query such as {"x", a = "y"}
      -- (a list part plus named keys): the caller gets an error from inside the
      -- driver instead of nil + a validation error naming 'query'.
      local h = fake.harness({})
      local ok, res, err = pcall(h.client.request, h.client, "GET", "/lead/", { query = { "x", a = "y" } })
      assert.is_true(ok, "raised: " .. tostring(res))
      assert.is_nil(res)
      assert.are.equal("validation", err.kind)
      assert.is_string(err.field_errors.query)
      assert.are.equal(0, #h.calls)
    end)

    it("a body that cannot be encoded as JSON", function()
      local h = fake.harness({})
      local res, err = h.client:request("POST", "/lead/", { body = { f = print } })
      assert.is_nil(res)
      assert.are.equal("validation", err.kind)
      assert.are.same({ "body" }, (function() local t = {}; for k in pairs(err.field_errors) do t[#t + 1] = k end
        return t end)())
      assert.are.equal("cannot be encoded as JSON: ", err.field_errors.body:sub(1, 27))
      assert.are.equal(0, err.attempts)
      assert.are.equal(0, #h.calls)
    end)
  end)

  describe("raises at the caller's line", function()
    for _, m in ipairs({ "HEAD", "OPTIONS", "", "G ET" }) do
      it(("on the method %q"):format(m), function()
        local h = fake.harness({})
        local at, ok, e = line(), pcall(function() local r = h.client:request(m, "/lead/"); return r end)
        raised_at(at, ok, e, "close: request: method must be one of GET, POST, PUT, PATCH, DELETE")
        assert.are.equal(0, #h.calls)
      end)
    end

    for _, m in ipairs({ false, 1 }) do
      it("on a method that is a " .. type(m), function()
        local h = fake.harness({})
        local at, ok, e = line(), pcall(function() local r = h.client:request(m, "/lead/"); return r end)
        raised_at(at, ok, e, "close: request: method must be one of GET, POST, PUT, PATCH, DELETE")
      end)
    end

    it("on a missing method", function()
      local h = fake.harness({})
      local at, ok, e = line(), pcall(function() local r = h.client:request(); return r end)
      raised_at(at, ok, e, "close: request: method must be one of GET, POST, PUT, PATCH, DELETE")
    end)

    for _, p in ipairs({ 1, {}, false }) do
      it("on a path that is a " .. type(p), function()
        local h = fake.harness({})
        local at, ok, e = line(), pcall(function() local r = h.client:request("GET", p); return r end)
        raised_at(at, ok, e, "close: request: path must be a string")
      end)
    end

    it("on a missing path", function()
      local h = fake.harness({})
      local at, ok, e = line(), pcall(function() local r = h.client:request("GET"); return r end)
      raised_at(at, ok, e, "close: request: path must be a string")
    end)

    for _, name in ipairs({ "headers", "timeout", "json", "idempotent" }) do
      it("on the unknown option '" .. name .. "'", function()
        local h = fake.harness({})
        local at, ok, e = line(), pcall(function()
          local r = h.client:request("GET", "/lead/", { [name] = 1 }); return r end)
        raised_at(at + 1, ok, e, "close: request: unknown option '" .. name .. "'")
        assert.are.equal(0, #h.calls)
      end)
    end

    it("on options that are not a table", function()
      local h = fake.harness({})
      local at, ok, e = line(), pcall(function() local r = h.client:request("GET", "/lead/", "retry"); return r end)
      raised_at(at, ok, e, "close: request expects a table of fields, got string")
    end)

    it("when called with '.'", function()
      local h = fake.harness({})
      local at, ok, e = line(), pcall(function() local r = h.client.request("GET", "/lead/"); return r end)
      raised_at(at, ok, e, "close: call client:request{...} with ':' on a client from close.new")
    end)
  end)
end)
