-- The cosocket transport on its own (close.transport.ngx): what it writes,
-- how it reads every framing, its caps and error kinds, and its pool. It
-- runs inside the app nginx (test/openresty) against that nginx's small
-- upstream of crafted responses (/raw/...) and ordinary ones (/plain/...).
local cjson = require "cjson"
local core = require "close.core"
local app = require "spec.openresty.support.app"

local raw = function(case) return app.raw_url .. "/raw/" .. case end
local plain = function(what) return app.raw_url .. "/plain/" .. what end

local function one(url, params)
  return app.transport(url, params)[1]
end

describe("close.transport.ngx outside nginx", function()
  local t = require "close.transport.ngx"

  it("says cosockets are not available", function()
    local ok, msg = t.available()
    assert.is_false(ok)
    assert.equal("close: ngx.socket is not available: this is not OpenResty (nginx with ngx_lua)", msg)
  end)

  it("parses http and https URLs", function()
    local u = assert(t.parse_url("https://API.close.com/api/v1/membership/?a=1#frag"))
    assert.same({ scheme = "https", host = "api.close.com", port = 443, path = "/api/v1/membership/?a=1",
                  tls = true, connect_host = "api.close.com", host_header = "api.close.com" }, u)
    u = assert(t.parse_url("http://127.0.0.1:18480"))
    assert.equal("/", u.path)
    assert.equal("127.0.0.1:18480", u.host_header)
    assert.equal(18480, u.port)
  end)

  it("takes an IPv6 literal in brackets", function()
    local u = assert(t.parse_url("http://[::1]:8080/x"))
    assert.equal("::1", u.host)
    assert.is_true(u.ipv6)
    assert.equal("[::1]", u.connect_host)
    assert.equal("[::1]:8080", u.host_header)
    assert.equal("[::1]", assert(t.parse_url("https://[::1]/")).host_header)
  end)

  it("connects localhost names to the loopback address, keeping the name for TLS", function()
    local u = assert(t.parse_url("https://localhost:18443/api"))
    assert.equal("127.0.0.1", u.connect_host)
    assert.equal("localhost", u.host)
    assert.equal("127.0.0.1", assert(t.parse_url("https://a.localhost/")).connect_host)
  end)

  it("refuses what it cannot send", function()
    assert.same({ nil, "unsupported scheme 'ftp'" }, { t.parse_url("ftp://x/") })
    assert.same({ nil, "not an absolute URL" }, { t.parse_url("/relative") })
    assert.same({ nil, "port out of range" }, { t.parse_url("http://x:70000/") })
    assert.same({ nil, "malformed host" }, { t.parse_url("http://[::1/") })
    assert.same({ nil, "no host in the URL" }, { t.parse_url("http:///x") })
    assert.same({ nil, "user info in the URL is not supported" }, { t.parse_url("http://u:p@x/") })
    assert.same({ nil, "the URL path has spaces or control characters" }, { t.parse_url("http://x/a b") })
  end)
end)

describe("close.transport.ngx inside nginx", function()
  describe("the request it writes", function()
    it("is HTTP/1.1 with Host, keep-alive, the headers sorted and Content-Length", function()
      local r = one(plain("echo"), { method = "POST", body = "hi" })
      assert.equal(200, r.status)
      local echo = cjson.decode(r.body)
      assert.equal("POST /plain/echo HTTP/1.1\r\nHost: " .. app.raw_url:gsub("^http://", "")
        .. "\r\nConnection: keep-alive\r\nAccept: application/json\r\nX-Test: yes\r\n"
        .. "Content-Length: 2\r\n\r\n", echo.head)
      assert.equal("hi", echo.body)
    end)

    it("sends no Content-Length on a GET without a body", function()
      local echo = cjson.decode(one(plain("echo")).body)
      assert.is_nil(echo.head:find("Content-Length", 1, true))
    end)

    it("refuses a header value with CR or LF, without echoing the value", function()
      local r = one(plain("echo"), { bad_header = 1 })
      assert.equal("protocol", r.kind)
      assert.equal("bad request: header 'X-Bad' has a CR, LF or NUL in its value", r.message)
    end)

    it("refuses a URL it cannot parse with kind 'protocol'", function()
      local r = one("ftp://127.0.0.1/")
      assert.equal("protocol", r.kind)
      assert.equal("bad URL: unsupported scheme 'ftp'", r.message)
    end)
  end)

  describe("reading", function()
    it("reads a chunked body, joining repeated headers and dropping trailers", function()
      local r = one(raw("chunked"))
      assert.equal(200, r.status)
      assert.equal("hello world", r.body)
      assert.equal("1, 2", r.headers["x-a"])
      assert.equal("chunked", r.headers["transfer-encoding"])
      assert.is_nil(r.headers["trailer-x"])
    end)

    it("caps a chunked body at max_body", function()
      assert.equal(3000, #one(raw("chunked_many")).body)
      local r = one(raw("chunked_many"), { max_body = 2000 })
      assert.equal("protocol", r.kind)
      assert.equal("response body is larger than max_body", r.message)
      r = one(raw("chunked_huge"))
      assert.equal("protocol", r.kind)
      assert.equal("response body is larger than max_body", r.message)
    end)

    it("refuses a malformed or cut chunked body with kind 'protocol'", function()
      local r = one(raw("chunked_bad"))
      assert.same({ kind = "protocol", message = "malformed chunked body: bad chunk size" }, r)
      r = one(raw("chunked_cut"))
      assert.same({ kind = "protocol", message = "the connection closed in the middle of the response body" }, r)
    end)

    it("reads a body delimited by the connection's close, capped at max_body", function()
      local r = one(raw("until_close"))
      assert.equal(200, r.status)
      assert.equal("until the server closes", r.body)
      r = one(raw("until_close_big"), { max_body = 1000 })
      assert.same({ kind = "protocol", message = "response body is larger than max_body" }, r)
    end)

    it("skips a 100 Continue and reads the final response", function()
      local r = one(raw("interim"))
      assert.equal(201, r.status)
      assert.equal("{}", r.body)
    end)

    it("takes a status line without a reason phrase", function()
      local r = one(raw("no_reason"))
      assert.equal(204, r.status)
      assert.equal("", r.body)
    end)

    it("refuses malformed heads with kind 'protocol'", function()
      -- the line is named by its number: its bytes could hold what the server was sent
      assert.same({ kind = "protocol", message = "malformed status line (line 1)" }, one(raw("bad_status")))
      assert.same({ kind = "protocol", message = "malformed header line (line 2)" }, one(raw("bad_header")))
      assert.same({ kind = "protocol", message = "invalid Content-Length" }, one(raw("bad_length")))
    end)

    it("caps the head at 64 KiB and 256 fields", function()
      assert.same({ kind = "protocol", message = "response headers are too large" }, one(raw("big_head")))
      assert.same({ kind = "protocol", message = "too many response headers" }, one(raw("many_headers")))
    end)

    it("reports a body shorter than its Content-Length with kind 'protocol'", function()
      assert.same({ kind = "protocol",
        message = "the connection closed in the middle of the response body (3 of 10 bytes)" }, one(raw("short")))
    end)

    it("reports a connection closed without a response with kind 'network'", function()
      assert.same({ kind = "network", message = "the server closed the connection without a response" },
        one(raw("empty")))
    end)

    it("times out a stalled head or body with kind 'timeout', within the timeout", function()
      local t0 = core.now()
      assert.same({ kind = "timeout", message = "timed out waiting for the response" },
        one(raw("slow_head"), { timeout = 0.3 }))
      assert.same({ kind = "timeout", message = "timed out reading the response body" },
        one(raw("slow_body"), { timeout = 0.3 }))
      local took = core.now() - t0
      assert.is_true(took < 1.5, "took " .. took .. "s for two 0.3s timeouts")
    end)

    it("reports a refused connection with kind 'network'", function()
      local r = one("http://127.0.0.1:" .. assert(os.getenv("CLOSE_TEST_CLOSED_PORT")) .. "/")
      assert.equal("network", r.kind)
      assert.equal("cannot connect: connection refused", r.message)
    end)
  end)

  describe("the connection pool", function()
    local function conns(results)
      local out = {}
      for i, r in ipairs(results) do
        assert.equal(200, r.status, r.message)
        out[i] = r.headers["x-conn"]
      end
      return out
    end

    it("keeps a connection after a complete Content-Length response", function()
      local c = conns(app.transport(plain("keep"), { calls = 3, pool = app.unique("p") }))
      assert.equal(c[1], c[2])
      assert.equal(c[1], c[3])
    end)

    it("keeps a connection after a complete chunked response", function()
      local rs = app.transport(plain("chunked"), { calls = 2, pool = app.unique("p") })
      assert.equal("part one, part two", rs[1].body)
      local c = conns(rs)
      assert.equal(c[1], c[2])
    end)

    it("closes a connection the server said Connection: close on", function()
      local rs = app.transport(plain("close"), { calls = 2, pool = app.unique("p") })
      assert.equal("close", rs[1].headers.connection)
      local c = conns(rs)
      assert.are_not.equal(c[1], c[2])
    end)

    it("does not pool a connection the server said Connection: close on, even if it stays open", function()
      local rs = app.transport(raw("close_but_stays"), { calls = 2, pool = app.unique("p") })
      assert.equal(200, rs[1].status, rs[1].message)
      assert.equal(200, rs[2].status, rs[2].message)
      assert.are_not.equal(rs[1].headers["x-conn"], rs[2].headers["x-conn"])
    end)

    it("recovers when a pooled connection was closed by the server", function()
      -- the raw upstream closes after each response though it did not say so
      local rs = app.transport(raw("interim"), { calls = 3, pool = app.unique("p") })
      for i = 1, 3 do assert.equal(201, rs[i].status, rs[i].message) end
    end)

    it("sends again on a new connection when a pooled one dies before any response byte", function()
      local rs = app.transport(raw("close_on_next"), { calls = 2, pool = app.unique("p") })
      assert.equal(200, rs[1].status, rs[1].message)
      assert.equal(200, rs[2].status, rs[2].message)
      assert.are_not.equal(rs[1].headers["x-conn"], rs[2].headers["x-conn"])
    end)

    it("talks to an IPv6 loopback upstream", function()
      if not app.raw_url6 then
        pending("no IPv6 loopback on this machine")
        return
      end
      local r = one(app.raw_url6 .. "/plain/keep")
      assert.equal(200, r.status)
      assert.equal("{}", r.body)
    end)
  end)
end)
