-- close.scim.serve inside a real nginx (Debian's Lua module, 4 workers):
-- how it hands ngx.req to a handler and writes the handler's response. The
-- handler here is test/openresty/scim_echo.lua, which answers what it got.
local scim = require "spec.openresty.support.scim"

local ROOT = scim.ROOT

local CONF = [[
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
user @USER@;
worker_processes 4;
daemon on;
pid @DIR@/nginx.pid;
error_log @DIR@/error.log info;
env CLOSE_API_KEY;
env CLOSE_SCIM_TOKEN;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path @DIR@/tmp;
    lua_package_path "@ROOT@/lua/?.lua;@ROOT@/lua/?/init.lua;@ROOT@/test/openresty/?.lua;/usr/share/lua/5.1/?.lua;;";
    lua_package_cpath "@ROOT@/build/5.1/?.so;;";
    lua_shared_dict close_oauth 1m;
    lua_shared_dict close_scim 1m;
    server {
        listen 127.0.0.1:@PORT@ reuseport;
        # nginx lets bodies through to serve(), which caps them; small
        # buffers spool a body to a file
        client_max_body_size 8m;
        client_body_buffer_size 8k;
        location /scim/v2 {
            content_by_lua_block {
                require("close.scim.serve").serve{ state_dir = "@DIR@", default_role = "admin",
                                                   handler_module = "scim_echo" }
            }
        }
        location /short/scim/v2 {
            content_by_lua_block {
                require("close.scim.serve").serve{ state_dir = "@DIR@", token = "too-short-a-token",
                                                   handler_module = "scim_echo" }
            }
        }
        location /nodir/scim/v2 {
            content_by_lua_block { require("close.scim.serve").serve{ handler_module = "scim_echo" } }
        }
    }
}
]]

describe("close.scim.serve in nginx", function()
  local dir, base

  setup(function()
    dir = scim.tmpdir()
    local port = scim.free_port()
    local conf = CONF:gsub("@DIR@", dir):gsub("@ROOT@", ROOT):gsub("@PORT@", tostring(port))
      :gsub("@USER@", (scim.capture("id -un"):gsub("%s", "")))
    scim.write(dir .. "/nginx.conf", conf)
    assert(scim.sh(("mkdir -p %s/tmp && env -i PATH=\"$PATH\" CLOSE_API_KEY=ck_not_used CLOSE_SCIM_TOKEN=%s "
      .. "nginx -p %s -c %s/nginx.conf -e %s/error.log"):format(dir, scim.TOKEN, dir, dir, dir)),
      "nginx did not start: " .. tostring(scim.read(dir .. "/error.log")))
    base = "http://127.0.0.1:" .. port
    assert(scim.wait_for(function()
      local ok = pcall(scim.request, "GET", base .. "/scim/v2/x")
      return ok
    end, 10), "no answer from nginx")
  end)

  teardown(function()
    scim.sh(("kill -QUIT $(cat %s/nginx.pid) 2>/dev/null; sleep 0.3; rm -rf %s"):format(dir, dir))
  end)

  it("hands the handler the method, decoded path, raw query, lower-case headers and the body", function()
    local url = base .. "/scim/v2/Users/memb_1%2Bx?filter=userName+eq+%22a%22&count=2"
    local status, doc, res = scim.request("PATCH", url, '{"Operations":[]}',
      { headers = { ["X-Custom"] = "One", ["Content-Type"] = "application/scim+json; charset=utf-8" } })
    assert.equal(200, status, res.body)
    assert.equal("application/scim+json", res.headers["content-type"])
    assert.equal("PATCH", doc.method)
    assert.equal("/scim/v2/Users/memb_1+x", doc.path)
    assert.equal("filter=userName+eq+%22a%22&count=2", doc.query)
    assert.equal("One", doc.headers["x-custom"])
    assert.equal("application/scim+json; charset=utf-8", doc.headers["content-type"])
    assert.equal("Bearer " .. scim.TOKEN, doc.headers.authorization)
    assert.equal(17, doc.body_length)
    assert.equal(('{"Operations":[]}'):sub(1, 16), doc.body_head)
    assert.equal(('{"Operations":[]}'):sub(-16), doc.body_tail)
  end)

  it("hands an empty query and an empty body as empty strings", function()
    local status, doc = scim.request("GET", base .. "/scim/v2/ServiceProviderConfig")
    assert.equal(200, status)
    assert.equal("", doc.query)
    assert.equal(0, doc.body_length)
  end)

  it("reads a body that nginx spooled to a file, whole", function()
    local body = "{" .. ("x"):rep(300000) .. "}"
    local status, doc = scim.request("POST", base .. "/scim/v2/Users", body)
    assert.equal(200, status)
    assert.equal(#body, doc.body_length)
    assert.equal(body:sub(1, 16), doc.body_head)
    assert.equal(body:sub(-16), doc.body_tail)
  end)

  it("answers 413 in SCIM's shape for a body over 1 MiB, with or without a length", function()
    local body = ("x"):rep(1048577)
    local status, doc, res = scim.request("POST", base .. "/scim/v2/Users", body)
    assert.equal(413, status)
    assert.equal("application/scim+json", res.headers["content-type"])
    assert.same({ schemas = { "urn:ietf:params:scim:api:messages:2.0:Error" }, status = "413",
                  detail = "the request body is larger than 1048576 bytes" }, doc)
    status = scim.request("POST", base .. "/scim/v2/Users", body, { headers = { ["Transfer-Encoding"] = "chunked" } })
    assert.equal(413, status)
    -- exactly 1 MiB is fine
    status, doc = scim.request("POST", base .. "/scim/v2/Users", body:sub(2))
    assert.equal(200, status)
    assert.equal(1048576, doc.body_length)
  end)

  it("writes the handler's status, headers and body; a 204 without a body", function()
    local status, doc, res = scim.request("POST", base .. "/scim/v2/created", "{}")
    assert.equal(201, status)
    assert.equal("/scim/v2/Users/x", res.headers.location)
    assert.equal("yes", res.headers["x-echo"])
    assert.same({ id = "x" }, doc)
    local _
    status, _, res = scim.request("DELETE", base .. "/scim/v2/empty")
    assert.equal(204, status)
    assert.equal("", res.body)
  end)

  it("builds the handler with the options, the token from the environment and a client", function()
    local _, doc = scim.request("GET", base .. "/scim/v2/Users")
    assert.same({ default_role = "admin", base_path = "/scim/v2", max_results = 100, token_length = #scim.TOKEN,
                  client = "close.client(https://api.close.com/api/v1, api_key)", clock = doc.config.clock },
                doc.config)
    assert.is_true(math.abs(doc.config.clock - os.time()) < 5)
  end)

  it("answers 500 in SCIM's shape when the handler raises, and logs why", function()
    local status, doc = scim.request("GET", base .. "/scim/v2/boom")
    assert.equal(500, status)
    assert.same({ schemas = { "urn:ietf:params:scim:api:messages:2.0:Error" }, status = "500",
                  detail = "internal error" }, doc)
    assert.matches("close%-scim: the handler failed: .*the echo handler was asked to fail",
      scim.read(dir .. "/error.log"))
  end)

  it("answers 500 when it cannot be configured, and logs the reason without the token", function()
    local status, doc = scim.request("GET", base .. "/short/scim/v2/Users")
    assert.equal(500, status)
    assert.equal("the SCIM bridge is not configured; its error log says why", doc.detail)
    local log = scim.read(dir .. "/error.log")
    assert.matches("not configured: the SCIM token has 17 characters; at least 32 are needed", log, 1, true)
    assert.is_nil(log:find("too-short-a-token", 1, true))
    status = scim.request("GET", base .. "/nodir/scim/v2/Users")
    assert.equal(500, status)
    assert.matches("not configured: opts.state_dir is required", scim.read(dir .. "/error.log"), 1, true)
  end)

  it("gives every worker one store (scim.db in the state dir)", function()
    local status, doc = scim.request("POST", base .. "/scim/v2/store", { op = "set", key = "user:m1", value = "v1" })
    assert.equal(200, status)
    assert.is_true(doc.result)
    local pids = {}
    for _ = 1, 40 do
      local _, got = scim.request("POST", base .. "/scim/v2/store", { op = "get", key = "user:m1" },
        { headers = { Connection = "close" } })
      assert.equal("v1", got.result)
      pids[got.pid] = true
    end
    local n = 0
    for _ in pairs(pids) do n = n + 1 end
    assert.is_true(n >= 2, "all 40 requests went to one worker")
    assert.is_true(scim.sh("test -s " .. dir .. "/scim.db"))
  end)

  it("appends the handler's audit records as JSON lines with a time", function()
    for i = 1, 20 do
      scim.request("POST", base .. "/scim/v2/audit", { op = "create", email = "a" .. i .. "@acme.com" },
        { headers = { Connection = "close" } })
    end
    local records = scim.audit({ state = dir })
    assert.equal(20, #records)
    for i, r in ipairs(records) do
      assert.equal("a" .. i .. "@acme.com", r.email)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$", r.time)
    end
    assert.is_nil(scim.read(dir .. "/audit.log"):find(scim.TOKEN, 1, true))
    assert.equal("600", (scim.capture("stat -c %a " .. dir .. "/audit.log"):gsub("%s", "")))
  end)
end)
