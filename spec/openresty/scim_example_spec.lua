-- examples/scim-nginx.conf, README's configuration for your own nginx, run
-- as it is against the local Close-compatible server: only its listen port
-- is swapped for a free loopback one; its TLS files are made by this test.
-- README's SCIM nginx block must be that file.
local scim = require "spec.openresty.support.scim"
local server = require "spec.support.server"

local ROOT = scim.ROOT
local USER = "urn:ietf:params:scim:schemas:core:2.0:User"

local function running_as_root()
  return scim.capture("id -u"):match("^0") ~= nil
end

describe("examples/scim-nginx.conf", function()
  it("is the nginx block of README's SCIM section, line for line", function()
    local readme = scim.read("README.md")
    local section = readme:match("\n## SCIM for Okta and Entra ID\n(.-)\n## ")
    assert.is_string(section, "README has no section 'SCIM for Okta and Entra ID'")
    local block = section:match("```nginx\n(.-)```")
    assert.is_string(block, "README's SCIM section has no nginx block")
    assert.equal(scim.read("examples/scim-nginx.conf"), block)
  end)

  describe("run by nginx", function()
    local dir, base, certs
    setup(function()
      server.reset()
      dir = scim.tmpdir()
      local port = scim.free_port()
      local conf, n = scim.read("examples/scim-nginx.conf"):gsub("\n        listen 8443 ssl;",
        "\n        listen 127.0.0.1:" .. port .. " ssl;")
      assert(n == 1, "examples/scim-nginx.conf must listen on 8443 ssl once")
      scim.write(dir .. "/nginx.conf", conf)
      assert(scim.sh(("mkdir -p %s/logs %s/build %s/state %s/tls && cp -R %s/lua %s/ && cp -R %s/build/5.1 %s/build/")
        :format(dir, dir, dir, dir, ROOT, dir, ROOT, dir)))
      certs = scim.make_certs(dir .. "/tls")
      assert(scim.sh(("cp %s %s/tls/cert.pem && cp %s %s/tls/key.pem"):format(certs.cert, dir, certs.key, dir)))
      -- nginx started by root runs its workers as nobody: the prefix is read
      -- by all, the state directory is nobody's (README says the same)
      assert(scim.sh(("chmod -R a+rX %s"):format(dir)))
      if running_as_root() then assert(scim.sh(("chown nobody %s/state"):format(dir))) end
      local cmd = ("env -i PATH=\"$PATH\" CLOSE_API_KEY=%s CLOSE_BASE_URL=%s CLOSE_SCIM_TOKEN=%s "
        .. "nginx -p %s/ -c %s/nginx.conf -e %s/logs/error.log")
        :format(server.api_key, server.http_url, scim.TOKEN, dir, dir, dir)
      assert(scim.sh(cmd), "nginx did not start: " .. tostring(scim.read(dir .. "/logs/error.log")))
      base = "https://127.0.0.1:" .. port .. "/scim/v2"
      assert(scim.wait_for(function()
        return pcall(scim.request, "GET", base .. "/ServiceProviderConfig", nil, { ca_file = certs.ca })
      end, 10), "no answer from the example")
    end)
    teardown(function()
      scim.sh(("kill -QUIT $(cat %s/logs/nginx.pid) 2>/dev/null; sleep 0.3; rm -rf %s"):format(dir, dir))
    end)

    it("serves SCIM over TLS: discovery, a create that reaches Close, the store in $prefix/state", function()
      local status, doc = scim.request("GET", base .. "/ServiceProviderConfig", nil, { ca_file = certs.ca })
      assert.equal(200, status)
      assert.same({ "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig" }, doc.schemas)
      local res
      status, doc, res = scim.request("POST", base .. "/Users", { schemas = { USER }, userName = "example.ann@acme.com",
        displayName = "Ann Example", active = true }, { ca_file = certs.ca })
      assert.equal(201, status, res.body)
      local found
      for _, m in ipairs(server.state().memberships) do
        if m.email == "example.ann@acme.com" then found = m end
      end
      assert.equal(doc.id, found and found.id)
      status, doc = scim.request("GET", base .. "/Users/" .. doc.id, nil, { ca_file = certs.ca })
      assert.equal(200, status)
      assert.equal("Ann Example", doc.displayName)
      assert.is_true(scim.sh("test -s " .. dir .. "/state/scim.db && test -s " .. dir .. "/state/audit.log"))
    end)

    it("answers 401 without the token and 413 in SCIM's shape over 1 MiB", function()
      local status = scim.request("GET", base .. "/Users", nil, { ca_file = certs.ca, auth = false })
      assert.equal(401, status)
      local doc, res
      status, doc, res = scim.request("POST", base .. "/Users", ("x"):rep(1048577), { ca_file = certs.ca })
      assert.equal(413, status)
      assert.equal("application/scim+json", res.headers["content-type"])
      assert.equal("413", doc.status)
    end)

    it("answers nginx's own 400s in SCIM's shape: a NUL in the URI, a 20 KB header", function()
      local cases = {
        { base .. "/Users/%00", nil, "the request is malformed (its request line, URI or headers)" },
        { base .. "/Users", { ["X-Big"] = ("a"):rep(20000) },
          "the request headers are too large (8 KiB a line, 32 KiB in all)" },
      }
      for _, c in ipairs(cases) do
        local status, doc, res = scim.request("GET", c[1], nil, { ca_file = certs.ca, headers = c[2] })
        assert.equal(400, status)
        assert.equal("application/scim+json", res.headers["content-type"])
        assert.same({ schemas = { "urn:ietf:params:scim:api:messages:2.0:Error" }, status = "400", detail = c[3] }, doc)
      end
    end)
  end)
end)
