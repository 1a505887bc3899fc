-- bin/close-scim as a command: its usage errors (exit 2, one line), its
-- start (the "listening on" line once nginx answers, 4 workers), its stop
-- on SIGTERM and SIGINT, TLS with a CA made here, and no secret anywhere.
local scim = require "spec.openresty.support.scim"
local server = require "spec.support.server"

local TOKEN = scim.TOKEN
local CREDS = ("CLOSE_API_KEY=%s CLOSE_BASE_URL=%s"):format(server.api_key, server.http_url)

-- Runs close-scim to its end: exit status, stdout, stderr.
local function run(args, env)
  local dir = scim.tmpdir()
  local cmd = ("env -i PATH=\"$PATH\" %s %s/bin/close-scim %s >%s/out 2>%s/err </dev/null; echo $? >%s/rc")
    :format(env or "", scim.ROOT, args, dir, dir, dir)
  scim.sh("sh -c '" .. cmd:gsub("'", "'\\''") .. "'")
  local rc = tonumber(scim.read(dir .. "/rc"))
  local out, err = scim.read(dir .. "/out"), scim.read(dir .. "/err")
  scim.sh("rm -rf " .. dir)
  return rc, out, err
end

local function worker_count(inst)
  local master = scim.master(inst)
  local n = 0
  for _ in scim.capture("pgrep -P " .. master):gmatch("%d+") do n = n + 1 end
  return n
end

describe("bin/close-scim", function()
  describe("refuses bad usage with exit 2 and one line, starting nothing:", function()
    local env = CREDS .. " CLOSE_SCIM_TOKEN=" .. TOKEN
    local cases = {
      { "", "close-scim: --listen HOST:PORT is required" },
      { "--listen 127.0.0.1:1", "close-scim: --state-dir DIR is required" },
      { "--listen 127.0.0.1 --state-dir state", "close-scim: --listen must be HOST:PORT, got '127.0.0.1'" },
      { "--listen 127.0.0.1:70000 --state-dir state",
        "close-scim: --listen: the port must be a number from 1 to 65535, got '70000'" },
      { "--listen 'a;b:80' --state-dir state", "close-scim: --listen: 'a;b' is not a host name or address" },
      { "--listen 127.0.0.1:1 --state-dir state --workers 0",
        "close-scim: --workers must be a number from 1 to 64, got '0'" },
      { "--listen 127.0.0.1:1 --state-dir state --workers 65",
        "close-scim: --workers must be a number from 1 to 64, got '65'" },
      { "--listen 127.0.0.1:1 --state-dir 'x;y'",
        "close-scim: --state-dir must not contain quotes, backslashes, $, ;, braces or control characters" },
      { "--listen 127.0.0.1:1 --state-dir state --tls-cert README.md",
        "close-scim: --tls-cert and --tls-key go together" },
      { "--listen 127.0.0.1:1 --state-dir state --tls-cert no-such-file --tls-key no-such-file",
        "close-scim: cannot read the TLS file 'no-such-file'" },
      { "--listen 127.0.0.1:1 --state-dir state --scim-token-file no-such-file",
        "close-scim: cannot read the SCIM token file 'no-such-file'" },
      { "--listen 127.0.0.1:1 --state-dir state --bogus", "close-scim: unknown argument '--bogus' (see --help)" },
      { "--listen", "close-scim: --listen needs a value (see --help)" },
      -- the default role: a mistake of the operator's at start, not a 400 on every POST /Users later
      { "--listen 127.0.0.1:1 --state-dir state --default-role nosuch", "close-scim: --default-role: unknown role "
        .. "'nosuch' (roles: Admin, Super User, User, Restricted User, Account Manager, Sales Rep, Support)" },
      { "--listen 127.0.0.1:1 --state-dir state --default-role 'role_bad!x'",
        "close-scim: --default-role: 'role_bad!x' is not a valid role id" },
      { "--listen 127.0.0.1:1 --state-dir state --default-role role_" .. ("a"):rep(43),
        "close-scim: --default-role: Close has no role with the id 'role_" .. ("a"):rep(43) .. "'" },
      { "--listen 127.0.0.1:1 --state-dir state --default-role ' '", "close-scim: --default-role is empty" },
    }
    for _, case in ipairs(cases) do
      it(case[1] == "" and "(no arguments)" or case[1], function()
        local rc, out, err = run(case[1], env)
        assert.equal(2, rc)
        assert.equal("", out)
        assert.equal(case[2] .. "\n", err)
      end)
    end

    it("no SCIM token", function()
      local rc, _, err = run("--listen 127.0.0.1:1 --state-dir state", CREDS)
      assert.equal(2, rc)
      assert.equal("close-scim: no SCIM token: set CLOSE_SCIM_TOKEN or pass --scim-token-file FILE\n", err)
    end)

    it("a SCIM token shorter than 32 characters, from the environment or a file", function()
      local msg = "close-scim: the SCIM token has 31 characters; at least 32 are needed (e.g. openssl rand -hex 24)\n"
      local rc, _, err = run("--listen 127.0.0.1:1 --state-dir state", CREDS .. " CLOSE_SCIM_TOKEN=" .. ("t"):rep(31))
      assert.equal(2, rc)
      assert.equal(msg, err)
      local f = os.tmpname()
      scim.write(f, ("t"):rep(31) .. "\n")
      rc, _, err = run("--listen 127.0.0.1:1 --state-dir state --scim-token-file " .. f, CREDS)
      os.remove(f)
      assert.equal(2, rc)
      assert.equal(msg, err)
    end)

    it("a SCIM token file others may read (a secret, as close-provision's token file is)", function()
      local f = os.tmpname()
      scim.write(f, TOKEN .. "\n")
      scim.sh("chmod 644 " .. f)
      -- without Close credentials, so that a bridge that took the file stops at once (exit 2, another line)
      local rc, out, err = run("--listen 127.0.0.1:1 --state-dir state --scim-token-file " .. f)
      os.remove(f)
      assert.equal(2, rc)
      assert.equal("", out)
      assert.equal(("close-scim: the SCIM token file '%s' may be read or written by others than its owner "
        .. "(chmod 600 it)\n"):format(f), err)
    end)

    it("a Close token file others may read: refused at start, as close-provision refuses it", function()
      local f = os.tmpname()
      scim.write(f, "{}\n")
      scim.sh("chmod 644 " .. f)
      -- no nginx: a bridge that took the file stops at once (exit 2, another line)
      local rc, out, err = run("--listen 127.0.0.1:1 --state-dir state", "CLOSE_SCIM_TOKEN=" .. TOKEN
        .. " CLOSE_TOKEN_FILE=" .. f .. " CLOSE_CLIENT_SECRET=s CLOSE_SCIM_NGINX=/nonexistent/nginx")
      os.remove(f)
      assert.equal(2, rc)
      assert.equal("", out)
      assert.equal(("close-scim: the token file %s may be read or written by others than its owner (chmod 600 it)\n")
        :format(f), err)
    end)

    it("no Close credentials, and a token file that does not exist", function()
      local rc, _, err = run("--listen 127.0.0.1:1 --state-dir state", "CLOSE_SCIM_TOKEN=" .. TOKEN)
      assert.equal(2, rc)
      assert.equal("close-scim: no Close credentials: set CLOSE_API_KEY, CLOSE_ACCESS_TOKEN or CLOSE_TOKEN_FILE\n", err)
      rc, _, err = run("--listen 127.0.0.1:1 --state-dir state",
        "CLOSE_SCIM_TOKEN=" .. TOKEN .. " CLOSE_TOKEN_FILE=no-such-file CLOSE_CLIENT_SECRET=s")
      assert.equal(2, rc)
      assert.equal("close-scim: the token file no-such-file does not exist: run close-provision login first\n", err)
    end)
  end)

  it("takes a custom --default-role Close has, and a predefined one without asking Close", function()
    local inst = assert(scim.start{ args = { "--default-role", "sales rep" },
      env = CREDS .. " CLOSE_SCIM_TOKEN=" .. TOKEN })
    finally(function() scim.cleanup(inst) end)
    assert.equal("", scim.read(inst.err))
    scim.cleanup(inst)
    local down = ("CLOSE_API_KEY=%s CLOSE_BASE_URL=http://127.0.0.1:1/api/v1 CLOSE_SCIM_TOKEN=%s")
      :format(server.api_key, TOKEN)
    local offline = assert(scim.start{ args = { "--default-role", "Super User" }, env = down })
    finally(function() scim.cleanup(offline) end)
    assert.equal("", scim.read(offline.err))
  end)

  it("starts with a warning when Close's roles cannot be read to check a custom --default-role", function()
    local down = ("CLOSE_API_KEY=%s CLOSE_BASE_URL=http://127.0.0.1:1/api/v1 CLOSE_SCIM_TOKEN=%s")
      :format(server.api_key, TOKEN)
    local inst = assert(scim.start{ args = { "--default-role", "Sales Rep" }, env = down })
    finally(function() scim.cleanup(inst) end)
    assert.matches("^close%-scim: warning: %-%-default%-role 'Sales Rep' not checked: close: network: [^\n]*"
      .. "%(GET http://127%.0%.0%.1:1/api/v1/role/, 2 attempts%)\n$", scim.read(inst.err))
    assert.is_nil(scim.read(inst.err):find(server.api_key, 1, true))
  end)

  it("--help prints the usage and exits 0", function()
    local rc, out, err = run("--help")
    assert.equal(0, rc)
    assert.matches("^usage: close%-scim %-%-listen HOST:PORT %-%-state%-dir DIR", out)
    assert.equal("", err)
  end)

  describe("started with 4 workers", function()
    local inst
    setup(function()
      local why
      inst, why = scim.start{ args = { "--workers", "4" }, env = CREDS .. " CLOSE_SCIM_TOKEN=" .. TOKEN }
      assert(inst, why)
    end)
    teardown(function() scim.cleanup(inst) end)

    it("prints one line with the URL when nginx answers, and runs 4 workers", function()
      assert.equal(("close-scim: listening on http://127.0.0.1:%d/scim/v2 (4 workers, state in %s)")
        :format(inst.port, inst.state), inst.line)
      assert.equal(inst.line .. "\n", scim.read(inst.out))
      assert.equal(4, worker_count(inst))
      local status, _, res = scim.request("GET", "http://127.0.0.1:" .. inst.port .. "/healthz", nil, { auth = false })
      assert.equal(200, status)
      assert.matches("^ok %S+\n$", res.body)
    end)

    it("answers 404 in SCIM's shape outside /scim/v2", function()
      local status, doc, res = scim.request("GET", "http://127.0.0.1:" .. inst.port .. "/Users")
      assert.equal(404, status)
      assert.equal("application/scim+json", res.headers["content-type"])
      assert.same({ schemas = { "urn:ietf:params:scim:api:messages:2.0:Error" }, status = "404",
                    detail = "SCIM is served under /scim/v2" }, doc)
    end)

    it("answers nginx's own errors in SCIM's shape: a NUL in the URI, a 20 KB header, a 9 KB URI", function()
      local base = "http://127.0.0.1:" .. inst.port
      local cases = {
        { base .. "/scim/v2/Users/%00", nil, 400, "the request is malformed (its request line, URI or headers)" },
        { base .. "/scim/v2/Users", { ["X-Big"] = ("a"):rep(20000) }, 400,
          "the request headers are too large (8 KiB a line, 32 KiB in all)" },
        { base .. "/scim/v2/Users?filter=" .. ("a"):rep(9000), nil, 414, "the request URI is longer than 8 KiB" },
      }
      for _, c in ipairs(cases) do
        local status, doc, res = scim.request("GET", c[1], nil, { headers = c[2] })
        assert.equal(c[3], status)
        assert.equal("application/scim+json", res.headers["content-type"])
        assert.same({ schemas = { "urn:ietf:params:scim:api:messages:2.0:Error" }, status = tostring(c[3]),
                      detail = c[4] }, doc)
      end
    end)

    it("keeps its nginx.conf and logs in the state directory (mode 700), without a secret", function()
      assert.equal("700", (scim.capture("stat -c %a " .. inst.state):gsub("%s", "")))
      local conf = scim.read(inst.state .. "/nginx.conf")
      assert.matches("worker_processes 4;", conf, 1, true)
      assert.matches("daemon off;", conf, 1, true)
      local texts = { conf, scim.read(inst.out), scim.read(inst.err), scim.read(inst.state .. "/error.log") }
      for _, text in ipairs(texts) do
        assert.is_nil(text:find(TOKEN, 1, true))
        assert.is_nil(text:find(server.api_key, 1, true))
      end
    end)

    it("stops on SIGTERM: nginx and its workers are gone, exit 0", function()
      local master = scim.master(inst)
      assert.is_true(scim.stop(inst, "TERM"))
      assert.equal(0, scim.status(inst))
      assert.is_false(scim.alive(master))
      assert.matches("close%-scim: stopped\n$", scim.read(inst.err))
    end)
  end)

  it("stops on SIGINT too", function()
    local inst = assert(scim.start{ env = CREDS .. " CLOSE_SCIM_TOKEN=" .. TOKEN })
    finally(function() scim.cleanup(inst) end)
    assert.is_true(scim.stop(inst, "INT"))
    assert.equal(0, scim.status(inst))
    scim.cleanup(inst)
  end)

  it("exits 1 naming the address when the port is taken", function()
    local first = assert(scim.start{ env = CREDS .. " CLOSE_SCIM_TOKEN=" .. TOKEN })
    finally(function() scim.cleanup(first) end)
    local second, why, inst = scim.start{ port = first.port, env = CREDS .. " CLOSE_SCIM_TOKEN=" .. TOKEN }
    assert.is_nil(second)
    assert.equal(1, scim.status(inst))
    assert.matches("Address already in use", why, 1, true)
    assert.matches("close-scim: nginx did not come up on 127.0.0.1:" .. first.port, why, 1, true)
    scim.cleanup(inst)
    scim.cleanup(first)
  end)

  it("takes the SCIM token from --scim-token-file (its line, without the newline)", function()
    local dir = scim.tmpdir()
    scim.write(dir .. "/scim-token", TOKEN .. "\n")
    scim.sh("chmod 600 " .. dir .. "/scim-token") -- a secret: its owner's alone, or close-scim refuses it
    local inst = assert(scim.start{ dir = dir, args = { "--scim-token-file", dir .. "/scim-token" }, env = CREDS })
    finally(function() scim.cleanup(inst) end)
    assert.equal(200, (scim.request("GET", inst.base .. "/ServiceProviderConfig")))
    assert.equal(401, (scim.request("GET", inst.base .. "/ServiceProviderConfig", nil, { auth = TOKEN .. "x" })))
    assert.is_nil(scim.read(inst.state .. "/nginx.conf"):find(TOKEN, 1, true))
  end)

  it("serves HTTPS with --tls-cert and --tls-key (a CA made for this test)", function()
    local dir = scim.tmpdir()
    local certs = scim.make_certs(dir)
    local inst = assert(scim.start{ dir = dir, args = { "--tls-cert", certs.cert, "--tls-key", certs.key },
                                    env = CREDS .. " CLOSE_SCIM_TOKEN=" .. TOKEN })
    finally(function() scim.cleanup(inst) end)
    assert.equal(("https://127.0.0.1:%d/scim/v2"):format(inst.port), inst.base)
    local status = scim.request("GET", "https://127.0.0.1:" .. inst.port .. "/healthz", nil,
      { auth = false, ca_file = certs.ca })
    assert.equal(200, status)
    -- plain HTTP to the TLS port is refused by nginx, and a client without the CA refuses the server
    status = scim.request("GET", "http://127.0.0.1:" .. inst.port .. "/healthz", nil, { auth = false })
    assert.equal(400, status)
    local ok = pcall(scim.request, "GET", "https://127.0.0.1:" .. inst.port .. "/healthz", nil,
      { auth = false, ca_file = server.other_ca })
    assert.is_false(ok)
    scim.cleanup(inst)
  end)
end)
