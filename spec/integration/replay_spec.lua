-- The libcurl transport against a server that answers broken HTTP
-- (test/replay): every broken answer is a typed error, the next call on the
-- same client works, and nothing reads freed memory (these specs also run
-- with the core under ASan+UBSan and under valgrind).
local close = require "close"
local replay = require "spec.support.replay"

local OK = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"

-- Each broken answer with what the client must report for it.
local BROKEN = {
  { name = "a status line that is not HTTP", after = "keep",
    bytes = "FOO 200 OK\r\nContent-Length: 2\r\n\r\n{}", message = "Received HTTP/0.9 when not allowed" },
  { name = "an HTTP/0.9 body", after = "keep", bytes = "{}", message = "Received HTTP/0.9 when not allowed" },
  { name = "a header with a junk name", after = "keep",
    bytes = "HTTP/1.1 200 OK\r\n\1\2junk: x\r\nContent-Length: 2\r\n\r\n{}",
    message = "malformed header line (line 2)" },
  { name = "two Transfer-Encoding headers with unknown codings", after = "keep",
    bytes = "HTTP/1.1 200 OK\r\nTransfer-Encoding: foo\r\nTransfer-Encoding: bar\r\n\r\n{}",
    message = "^Unrecognized content encoding type%." },
  { name = "a Content-Length that lies", after = "close",
    bytes = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}",
    message = "transfer closed with 98 bytes remaining to read" },
  { name = "truncated chunking", after = "close",
    bytes = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{}",
    message = "transfer closed with outstanding read data remaining" },
  { name = "a chunk size that is not hex", after = "close",
    bytes = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    message = "Illegal or missing hexadecimal sequence in chunked-encoding" },
  { name = "a first header line that is folded", after = "keep",
    bytes = "HTTP/1.1 200 OK\r\n\tX-Folded: yes\r\nContent-Length: 2\r\n\r\n{}", message = "malformed header line" },
  { name = "more than 256 header fields", after = "keep",
    bytes = "HTTP/1.1 200 OK\r\n" .. ("X-F: 1\r\n"):rep(300) .. "Content-Length: 2\r\n\r\n{}",
    message = "too many response headers" },
}

local function client(url)
  -- no retry: one call, one record
  return close.new{ api_key = "ck_replay_key", base_url = url .. "/api/v1", max_retries = 0, timeout = 2 }
end

local function check(res, err, case)
  assert.is_nil(res, case.name)
  assert.equal("protocol", err.kind, case.name)
  if case.message:sub(1, 1) == "^" then
    assert.matches(case.message, err.message, nil, false, case.name)
  else
    assert.equal(case.message, err.message, case.name)
  end
  assert.equal(1, err.attempts)
end

describe("the libcurl transport against broken HTTP", function()
  for _, case in ipairs(BROKEN) do
    it(("reports %s as kind 'protocol', and the next call on the client works"):format(case.name), function()
      local s = replay.start({ { case.after, case.bytes }, { "close", OK } })
      local c = client(s.url)
      local res, err = c:request("GET", "/me/")
      check(res, err, case)
      res, err = c:create_membership{ email = "next@acme.com", role_id = "user" }
      assert.is_nil(err)
      assert.same({}, res)
      c:close()
      assert.equal(2, s.stop())
    end)
  end

  it("survives a folded first header line after a complete response on one connection "
    .. "(libcurl 7.88.1 read the freed previous header there)", function()
    local s = replay.start({
      { "keep", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: close\r\n\r\n{}" },
      { "keep", "HTTP/1.1 200 OK\r\n\tX-Folded: yes\r\nContent-Length: 2\r\n\r\n{}" },
      { "keep", OK },
    })
    local c = client(s.url)
    assert.same({}, (c:request("GET", "/me/")))
    local res, err = c:request("GET", "/me/")
    assert.is_nil(res)
    assert.same({ "protocol", "malformed header line" }, { err.kind, err.message })
    assert.same({}, (c:request("GET", "/me/")))
    c:close()
    assert.equal(3, s.stop())
  end)

  it("gives each of 60 calls (creates and requests, one client) the outcome of its answer", function()
    local records, expected = {}, {}
    for round = 1, 3 do
      for i, case in ipairs(BROKEN) do
        records[#records + 1] = { case.after, case.bytes }
        expected[#expected + 1] = case
        if (i + round) % 3 == 0 then
          records[#records + 1] = { "keep", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Last: close\r\n\r\n{}" }
          expected[#expected + 1] = false
        end
      end
    end
    while #records < 60 do
      records[#records + 1] = { "keep", OK }
      expected[#expected + 1] = false
    end
    local s = replay.start(records, 30)
    local c = client(s.url)
    for i, case in ipairs(expected) do
      local res, err
      if i % 2 == 0 then
        res, err = c:create_membership{ email = ("u%d@acme.com"):format(i), role_id = "user" }
      else
        res, err = c:request("GET", "/me/")
      end
      if case then
        check(res, err, case)
      else
        assert.is_nil(err, "call " .. i)
        assert.same({}, res)
      end
    end
    c:close()
    assert.equal(#records, s.stop())
  end)
end)
