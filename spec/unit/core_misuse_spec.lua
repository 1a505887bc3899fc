-- close.core from Lua cannot be crashed: every function, called with wrong
-- types, missing and extra arguments, huge strings and strings with NUL
-- bytes, either answers or raises a Lua error. (A crash ends the whole run.)
local core = require "close.core"

local unpack = table.unpack or unpack -- luacheck: ignore 143
local HUGE = ("x"):rep(8 * 1048576)
local NUL = "a\0b@acme.com"
local REFUSED = "http://127.0.0.1:1/" -- nothing listens on port 1: refused at once
local TOKEN_FILE = os.tmpname() -- write_private's valid call writes here
local STORE_FILE = os.tmpname() -- sqlite_open's and open_append's

-- A valid call of each function, and which arguments are optional.
local SIGNATURES = {
  validate_email = { args = { "jane@acme.com" } },
  validate_role = { args = { "user" } },
  validate_id = { args = { "memb_abc", "memb_" } },
  check_base_url = { args = { "https://api.close.com/api/v1" } },
  is_loopback_host = { args = { "localhost" } },
  auth_header = { args = { "basic", "ck_key" } },
  urlencode = { args = { "a b" } },
  sha256 = { args = { "abc" } },
  base64url = { args = { "\251\255" } },
  interpret = { args = { 429, {}, 1, 0 }, optional = { false, false, true, true }, any = { [3] = true } },
  retry_decide = { args = { { attempt = 1 } } },
  parse_head = { args = { "HTTP/1.1 200 OK\r\n\r\n", "GET", 100 }, optional = { false, true, true } },
  check_header = { args = { "Accept", "text/plain" } },
  chunk_size = { args = { "1f" } },
  is_token = { args = { "GET" } },
  now = { args = {} },
  time = { args = {} },
  write_private = { args = { TOKEN_FILE, "{}" } },
  check_private = { args = { TOKEN_FILE } },
  mkdir_private = { args = { "/tmp" } },
  listen = { args = { 0 } },
  caught_signal = { args = {} },
  catch_signals = { args = {} },
  isatty = { args = { 1 } },
  sleep = { args = { 0 } },
  rng = { args = {} },
  http = { args = {} },
  multi = { args = { 4 }, optional = { true } },
  curl_version = { args = {} },
  scim_parse = { args = { 'a eq "x"', {} }, optional = { false, true }, any = { [2] = true } },
  scim_path = { args = { "emails[type eq work].value", {} }, optional = { false, true }, any = { [2] = true } },
  resp_parse = { args = { "+OK\r\n", {} }, optional = { false, true }, any = { [2] = true } },
  scim_print = { args = { { op = "pr", attr = { name = "a" } }, {} }, optional = { false, true },
    any = { [2] = true } },
  sqlite_open = { args = { STORE_FILE, 100 }, optional = { false, true } },
  open_append = { args = { STORE_FILE .. ".log" } },
}

-- Values no check* function takes for a string or a number.
local WRONG = { true, {}, print, io.stdout }

local function call(f, args, n)
  return pcall(f, unpack(args, 1, n or #args))
end

describe("close.core under misuse", function()
  it("lists a signature for every function it exports", function()
    for name, v in pairs(core) do
      if type(v) == "function" then assert.is_table(SIGNATURES[name], "no misuse spec for core." .. name) end
    end
  end)

  for name, sig in pairs(SIGNATURES) do
    describe(name, function()
      it("answers a valid call, and ignores extra arguments", function()
        assert.is_true((call(core[name], sig.args)))
        local args = { unpack(sig.args) }
        for i = #args + 1, #args + 3 do args[i] = { "extra" } end
        assert.is_true((call(core[name], args, #sig.args + 3)))
        for i = #sig.args + 1, #sig.args + 3 do assert.same({ "extra" }, args[i]) end
      end)

      it("raises for every required argument that is missing or of a wrong type", function()
        for i = 1, #sig.args do
          local optional = sig.optional and sig.optional[i]
          if not (sig.any and sig.any[i]) then
            for _, bad in ipairs(WRONG) do
              if not (type(sig.args[i]) == "table" and type(bad) == "table") then
                local args = { unpack(sig.args) }
                args[i] = bad
                local ok, err = call(core[name], args, #sig.args)
                assert.is_false(ok, ("%s with argument %d a %s"):format(name, i, type(bad)))
                assert.is_string(err)
              end
            end
          end
          if not optional then
            local args = { unpack(sig.args) }
            args[i] = nil
            assert.is_false((call(core[name], args, #sig.args)), ("%s with argument %d nil"):format(name, i))
          end
        end
      end)

      it("survives huge strings and strings with NUL bytes in every argument", function()
        for i = 1, #sig.args do
          for _, s in ipairs({ HUGE, NUL, "" }) do
            local args = { unpack(sig.args) }
            args[i] = type(args[i]) == "table" and { ratelimit = s, attempt = s } or s
            call(core[name], args, #sig.args) -- an answer or a Lua error: both are fine
          end
        end
      end)
    end)
  end

  describe("http:request", function()
    local h

    before_each(function() h = core.http() end)
    after_each(function() h:close() end)

    it("never writes into an argument past the request", function()
      local extra = {}
      local res, err = h:request({ method = "GET", url = REFUSED, timeout = 1 }, extra)
      assert.is_nil(res)
      assert.equal("network", err.kind)
      assert.same({}, extra)
      assert.is_nil((h:request({ method = "GET", url = REFUSED, timeout = 1 }, 42)))
    end)

    it("raises for a request that is not a well-formed table", function()
      local cases = {
        { nil, "bad argument #2" },
        { 42, "bad argument #2" },
        { {}, "'method' must be an HTTP token" },
        { { method = "GET" }, "'url' must be a URL" },
        { { method = "G ET", url = REFUSED }, "'method' must be an HTTP token" },
        { { method = "GET\0", url = REFUSED }, "'method' must be an HTTP token" },
        { { method = {}, url = REFUSED }, "field 'method' must be a string (got table)" },
        { { method = "GET", url = REFUSED .. "\0x" }, "'url' must be a URL" },
        { { method = "GET", url = REFUSED .. "\r\nX: y" }, "'url' must be a URL" },
        { { method = "GET", url = REFUSED, timeout = "soon" }, "field 'timeout' must be a number (got string)" },
        { { method = "GET", url = REFUSED, body = {} }, "field 'body' must be a string (got table)" },
        { { method = "GET", url = REFUSED, headers = "X: y" }, "'headers' must be a table" },
        { { method = "GET", url = REFUSED, headers = { [1] = "X: y" } }, "request headers must map names to strings" },
        { { method = "GET", url = REFUSED, headers = { ["X Y"] = "1" } }, "request header names must be HTTP tokens" },
        { { method = "GET", url = REFUSED, headers = { X = "a\r\nB: c" } }, "request header 'X' has a CR, LF or NUL" },
        { { method = "GET", url = REFUSED, headers = { X = "a\0b" } }, "request header 'X' has a CR, LF or NUL" },
        { { method = "GET", url = REFUSED, headers = { X = {} } }, "request headers must map names to strings" },
        { { method = "GET", url = REFUSED, ca_file = "/a\0b" }, "'ca_file' must not contain NUL" },
        { { method = "GET", url = REFUSED, header_lines = 42 },
          "field 'header_lines' must be a string (got number)" },
        { { method = "GET", url = REFUSED, header_lines = "A: b\nC: d" },
          "header lines may only be separated by CRLF" },
        { { method = "GET", url = REFUSED, header_lines = "A: b\r\n\r\nC: d" },
          "must be 'Name: value' with a token name" },
        { { method = "GET", url = REFUSED, header_lines = "A: b\r\n" }, "must be 'Name: value' with a token name" },
        { { method = "GET", url = REFUSED, header_lines = "no colon" }, "must be 'Name: value' with a token name" },
        { { method = "GET", url = REFUSED, header_lines = "X Y: 1" }, "must be 'Name: value' with a token name" },
        { { method = "GET", url = REFUSED, header_lines = "A: b\0c" }, "header lines may only be separated by CRLF" },
        { { method = "GET", url = REFUSED, header_lines = "A: b\rc" }, "header lines may only be separated by CRLF" },
      }
      for _, case in ipairs(cases) do
        local ok, err = pcall(h.request, h, case[1])
        assert.is_false(ok)
        assert.truthy(err:find(case[2], 1, true), err)
      end
    end)

    it("takes odd numbers without undefined behaviour", function()
      for _, v in ipairs({ 0 / 0, math.huge, -math.huge, -1, 1e300 }) do
        local res, err = h:request({ method = "GET", url = REFUSED, timeout = v, connect_timeout = v, max_body = v })
        assert.is_nil(res)
        assert.is_string(err.kind)
      end
    end)

    it("refuses a call with the wrong self and a call after close", function()
      assert.has_error(function() h.request({}, { method = "GET", url = REFUSED }) end)
      assert.has_error(function() h.request(core.rng(), { method = "GET", url = REFUSED }) end)
      h:close()
      h:close() -- idempotent
      assert.has_error(function() h:request({ method = "GET", url = REFUSED }) end,
        "close.core.http: the transport is closed")
    end)
  end)

  it("listener methods refuse another self and bad arguments, and work after close", function()
    local l = assert(core.listen(0))
    assert.is_true(l:port() > 0)
    assert.has_error(function() l.port(core.rng()) end)
    assert.has_error(function() l.accept({}, 0, 200, "") end)
    assert.has_error(function() l:accept("soon", 200, "") end)
    assert.has_error(function() l:accept(0, 99, "") end)
    assert.has_error(function() l:accept(0, 200) end)
    assert.has_error(function() core.listen(-1) end)
    assert.has_error(function() core.listen(65536) end)
    assert.has_error(function() core.listen(1.5) end)
    assert.same({ nil, "timeout" }, { l:accept(0, 200, "") })
    assert.same({ nil, "timeout" }, { l:accept(0 / 0, 200, "") })
    l:close()
    l:close()
    assert.same({ nil, "the listener is closed" }, { l:accept(1, 200, "") })
  end)

  describe("multi", function()
    it("checks its requests as http:request does, and refuses another self", function()
      local m = core.multi()
      assert.has_error(function() m:start(42) end)
      assert.has_error(function() m:start({ method = "G ET", url = REFUSED }) end, nil)
      assert.has_error(function() m:start({ method = "GET", url = REFUSED, header_lines = "A: b\nC" }) end)
      assert.has_error(function() m:start({ method = "GET", url = REFUSED, headers = { ["X Y"] = "1" } }) end)
      assert.has_error(function() m.start(core.http(), { method = "GET", url = REFUSED }) end)
      assert.has_error(function() m:wait("soon") end)
      assert.has_error(function() m:cancel(0) end)
      assert.has_error(function() m:cancel(1.5) end)
      assert.has_error(function() core.multi(-1) end)
      assert.is_false(m:cancel(99))
      m:close()
    end)

    it("reports a refused connection per transfer, cancels, and refuses calls after close", function()
      local m = core.multi(2)
      local a = assert(m:start({ method = "GET", url = REFUSED, timeout = 2 }))
      local b = assert(m:start({ method = "POST", url = REFUSED, body = "x", header_lines = "A: b", timeout = 2 }))
      assert.is_true(m:cancel(b))
      local got = {}
      for _ = 1, 100 do
        for _, r in ipairs(m:wait(0.1)) do got[#got + 1] = r end
        if #got > 0 then break end
      end
      assert.equal(1, #got)
      assert.equal(a, got[1].id)
      assert.equal("network", got[1].err.kind)
      assert.is_nil(got[1].response)
      assert.equal(0, m:running())
      assert.same({}, m:wait(0))
      m:close()
      m:close()
      assert.has_error(function() m:start({ method = "GET", url = REFUSED }) end,
        "close.core.multi: the transport is closed")
    end)
  end)

  it("rng:next refuses another object as self", function()
    local r = core.rng()
    assert.has_error(function() r.next(core.http()) end)
    assert.has_error(function() r.next() end)
  end)

  it("interpret refuses numbers that are no status, and times that are no time", function()
    for _, v in ipairs({ 1.5, -1, 1e300, 0 / 0, math.huge }) do
      assert.has_error(function() core.interpret(v, {}, nil, 0) end)
    end
    for _, v in ipairs({ -1, 0 / 0, math.huge, 1e300 }) do
      assert.has_error(function() core.interpret(429, {}, nil, v) end)
    end
  end)

  it("retry_decide stays within its caps whatever the numbers", function()
    for _, v in ipairs({ 0 / 0, math.huge, -math.huge, -1, 1e300 }) do
      for _, k in ipairs({ "attempt", "max_retries", "status", "hint", "elapsed", "deadline", "backoff_base",
        "max_wait", "random" }) do
        local wait, verdict, needed = core.retry_decide({ [k] = v, status = 503, idempotent = true, max_retries = 3 })
        assert.is_string(verdict)
        assert.is_true(needed == needed and needed >= 0 and needed < math.huge, k .. "=" .. tostring(v))
        if wait then assert.is_true(wait <= 30 and wait >= 0, k .. "=" .. tostring(v)) end
      end
    end
  end)

  teardown(function()
    for _, f in ipairs({ TOKEN_FILE, STORE_FILE, STORE_FILE .. "-wal", STORE_FILE .. "-shm", STORE_FILE .. ".log" }) do
      os.remove(f)
    end
  end)
end)
