-- examples/nginx.conf, the README's OpenResty configuration, run as it is
-- against the local Close-compatible server: only its listen port is
-- swapped for a free one. README's nginx block must be that file.
local core = require "close.core"
local cjson = require "cjson.safe"
local server = require "spec.support.server"
local files = require "spec.support.files"

local ROOT = assert(io.popen("pwd")):read("*l")
local http = core.http()

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

local sh = files.sh

local free_port = files.free_port

-- Starts the example with env; returns base URL and a stop function.
local function start(env)
  local dir = assert(io.popen("mktemp -d")):read("*l")
  local port = free_port()
  local conf = read("examples/nginx.conf")
  local n
  conf, n = conf:gsub("listen 127%.0%.0%.1:8080;", "listen 127.0.0.1:" .. port .. ";")
  assert(n == 1, "examples/nginx.conf must listen on 127.0.0.1:8080 once")
  local f = assert(io.open(dir .. "/nginx.conf", "w"))
  f:write(conf)
  f:close()
  -- a prefix as a deployment has it (README: /opt/close): nginx started as
  -- root runs its workers as nobody, who must be able to read it
  assert(sh(("mkdir -p %s/logs %s/build && cp -R %s/lua %s/ && cp -R %s/build/5.1 %s/build/ && chmod -R a+rX %s")
    :format(dir, dir, ROOT, dir, ROOT, dir, dir)))
  local cmd = ("env -i PATH=\"$PATH\" %s nginx -p %s/ -c %s/nginx.conf -e %s/logs/error.log"):format(env, dir, dir, dir)
  if not sh(cmd) then
    error("nginx did not start: " .. read(dir .. "/logs/error.log"))
  end
  local base = "http://127.0.0.1:" .. port
  for _ = 1, 100 do
    if http:request({ method = "GET", url = base .. "/", timeout = 1, connect_timeout = 1 }) then break end
    sh("sleep 0.05")
  end
  return base, function()
    sh(("kill $(cat %s/logs/nginx.pid) 2>/dev/null; sleep 0.2; rm -rf %s"):format(dir, dir))
  end, dir
end

local function get(url)
  local res, err = http:request({ method = "GET", url = url, timeout = 10, connect_timeout = 2 })
  assert(res, err and err.message)
  return res.status, cjson.decode(res.body), res
end

describe("examples/nginx.conf", function()
  before_each(function() server.reset() end)

  it("is the nginx block of README, line for line", function()
    local readme = read("README.md")
    local block = readme:match("```nginx\n(.-)```")
    assert.is_string(block, "README has no nginx block")
    assert.equal(read("examples/nginx.conf"), block)
  end)

  describe("with CLOSE_API_KEY and CLOSE_BASE_URL", function()
    local base, stop
    setup(function()
      base, stop = start(("CLOSE_API_KEY=%s CLOSE_BASE_URL=%s"):format(server.api_key, server.http_url))
    end)
    teardown(function() stop() end)

    it("onboards a user and answers the membership id", function()
      local status, doc = get(base .. "/onboard?email=jane@acme.com&role=user")
      assert.equal(200, status)
      assert.matches("^memb_%w+$", doc.id)
      local found
      for _, m in ipairs(server.state().memberships) do
        if m.email == "jane@acme.com" then found = m end
      end
      assert.equal(doc.id, found and found.id)
      assert.equal("user", found.role_id)
    end)

    it("answers 400 naming the field for an email refused before sending, and sends nothing", function()
      local status, doc = get(base .. "/onboard?email=not-an-email&role=user")
      assert.equal(400, status)
      assert.equal("validation", doc.kind)
      assert.equal("must contain '@'", doc.field_errors.email)
      assert.equal(0, #server.requests())
    end)

    it("answers 400 when Close refuses the input (its 400 is the caller's, not a bad gateway)", function()
      local status, doc = get(base .. "/onboard?email=jane@unverified.example&role=user")
      assert.equal(400, status)
      assert.equal("bad_request", doc.kind)
      assert.equal("Email domain is not one of the organization's verified domains.", doc.message)
      assert.equal(1, #server.requests())
    end)

    it("queues a call from a timer and answers at once", function()
      local status, doc = get(base .. "/onboard-later?email=later@acme.com")
      assert.equal(200, status)
      assert.is_true(doc.queued)
      local created
      for _ = 1, 100 do
        for _, m in ipairs(server.state().memberships) do
          if m.email == "later@acme.com" and m.active then created = m end
        end
        if created then break end
        sh("sleep 0.05")
      end
      assert.matches("^memb_%w+$", created and created.id)
    end)
  end)

  it("answers 500 with the reason as JSON when CLOSE_API_KEY is not set", function()
    local base, stop = start("")
    local status, doc = get(base .. "/onboard?email=jane@acme.com")
    stop()
    assert.equal(500, status)
    assert.equal("configuration", doc.kind)
    assert.matches("set CLOSE_API_KEY", doc.message)
  end)
end)
