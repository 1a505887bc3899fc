-- The cosocket transport's per-attempt work, with a scripted ngx (no
-- nginx): the client's fixed header set is checked once, however many
-- requests carry it; the body's framing comes from close.core with the
-- head. (spec/openresty/transport_spec.lua drives it inside a real nginx.)
local core = require "close.core"
local driver = require "close.driver"

-- a socket that records what is sent and answers with the scripted bytes
local function fake_ngx(replies)
  local sent, i = {}, 0
  local sock = {}
  function sock.settimeouts() end
  function sock.settimeout() end
  function sock.connect() return true end
  function sock.getreusedtimes() return i > 1 and 1 or 0 end
  function sock.send(_, data)
    sent[#sent + 1] = type(data) == "table" and table.concat(data) or data
    i = i + 1
    sock.pending = replies[math.min(i, #replies)]
    return #sent[#sent]
  end
  function sock.receiveany()
    local d = sock.pending
    sock.pending = nil
    if d == nil or d == "" then return nil, "closed" end
    return d
  end
  function sock.receive(_, n)
    local d = sock.pending or ""
    sock.pending = d:sub(n + 1)
    if #d < n then return nil, "closed", d end
    return d:sub(1, n)
  end
  function sock.setkeepalive() return true end
  function sock.close() end
  return {
    get_phase = function() return "content" end,
    now = function() return 1000 end,
    update_time = function() end,
    socket = { tcp = function() return setmetatable({}, { __index = sock }) end },
  }, sent
end

local function load_transport(ngx)
  package.loaded["close.transport.ngx"] = nil
  rawset(_G, "ngx", ngx)
  local t = require("close.transport.ngx")
  return t
end

describe("close.transport.ngx per attempt", function()
  local saved_check
  after_each(function()
    rawset(_G, "ngx", nil)
    package.loaded["close.transport.ngx"] = nil
    if saved_check then core.check_header, saved_check = saved_check, nil end
  end)

  local OK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nRateLimit: limit=9, remaining=8, reset=1\r\n\r\n{}"

  it("checks the client's fixed headers once, however many requests carry them", function()
    local ngx, sent = fake_ngx({ OK })
    local checks = 0
    saved_check = core.check_header
    core.check_header = function(...)
      checks = checks + 1
      return saved_check(...)
    end
    local transport = load_transport(ngx).new()
    local h = driver.headers("Basic eDo=", "close-spec")
    for _ = 1, 3 do
      local res = assert(transport({ method = "POST", url = "http://127.0.0.1:9/api/v1/x/", body = "{}",
        headers = h.body, header_lines = h.body_lines }))
      assert.are.same({ 200, "{}" }, { res.status, res.body })
    end
    assert.are.equal(4, checks) -- the set's four headers, for the first request only
    assert.are.equal(3, #sent)
    assert.are.equal("POST /api/v1/x/ HTTP/1.1\r\nHost: 127.0.0.1:9\r\nConnection: keep-alive\r\n"
      .. "Accept: application/json\r\nAuthorization: Basic eDo=\r\nContent-Type: application/json\r\n"
      .. "User-Agent: close-spec\r\nContent-Length: 2\r\n\r\n{}", sent[3])
  end)

  it("checks a header set given without its lines on every request, and refuses a bad one", function()
    local ngx = fake_ngx({ OK })
    local transport = load_transport(ngx).new()
    local res, err = transport({ method = "GET", url = "http://127.0.0.1:9/", headers = { ["X-A"] = "a\r\nb" } })
    assert.is_nil(res)
    assert.are.same({ kind = "protocol", message = "bad request: header 'X-A' has a CR, LF or NUL in its value" }, err)
    res, err = transport({ method = "GET", url = "http://127.0.0.1:9/", headers = { ["X A"] = "b" } })
    assert.is_nil(res)
    assert.are.same({ kind = "protocol", message = "bad request: invalid header name 'X A'" }, err)
  end)

  it("reads the body as close.core frames it", function()
    local chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
    local ngx = fake_ngx({ chunked, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\n{}" })
    local transport = load_transport(ngx).new()
    local req = { method = "GET", url = "http://127.0.0.1:9/" }
    assert.are.equal("{}", assert(transport(req)).body)
    assert.are.same({ nil, { kind = "protocol", message = "unsupported transfer-coding: gzip" } }, { transport(req) })
    assert.are.same({ nil, { kind = "protocol", message = "invalid Content-Length" } }, { transport(req) })
  end)
end)
