-- close-provision whoami against the local server (issue 14 item 19): the
-- organization, the caller, its role and the credential kind, and nothing
-- secret, for an API key, an access token and OAuth tokens in a file.
local server = require "spec.support.server"
local files = require "spec.support.files"
local cli = require "spec.support.cli"
local core = require "close.core"
local cjson = require "cjson"

local ORG = "orga_yPVZsGazVKgng0gEEYRSyzKDNQz8C2vSz27FKNsHfCK"
local ADMIN = "user_zOWTHY3H5X907FSCrl76CkpR22M1C3wzPmtiDxShlix"

local sh_quote = cli.quote

-- Runs `close-provision whoami ARGS` with the environment `env`; returns exit status, stdout, stderr.
local function whoami(args, env)
  local parts = { "CLOSE_API_KEY= CLOSE_ACCESS_TOKEN= CLOSE_TOKEN_FILE=",
    "CLOSE_BASE_URL=" .. sh_quote(server.http_url) }
  for k, v in pairs(env) do parts[#parts + 1] = k .. "=" .. sh_quote(v) end
  return cli.shell(("%s %s bin/close-provision whoami %s"):format(table.concat(parts, " "), cli.lua, args))
end

-- the tool with the API key and these words, as written
local function run_words(words)
  return cli.run(words)
end

local function assert_no_secret(text, secrets)
  for _, s in ipairs(secrets) do assert.is_nil(text:find(s, 1, true), "a secret in the output") end
end

describe("close-provision whoami", function()
  before_each(function() server.reset() end)

  it("with an API key: organization, caller, role and 'API key', no key", function()
    local code, out, err = whoami("", { CLOSE_API_KEY = server.api_key })
    assert.equal(0, code, err)
    assert.equal(("organization: Acme Sales (%s)\ncaller: Ada Admin <admin@acme.com> (%s)\nrole: Admin (admin)\n"
      .. "credential: API key (CLOSE_API_KEY)\n"):format(ORG, ADMIN), out)
    assert.equal("", err)
    assert_no_secret(out, { server.api_key })
  end)

  it("--json: the same as one object, ids beside the names", function()
    local code, out = whoami("--json", { CLOSE_API_KEY = server.api_key })
    assert.equal(0, code)
    assert.same({ organization = { id = ORG, name = "Acme Sales" },
      user = { id = ADMIN, email = "admin@acme.com", name = "Ada Admin" }, role = "Admin", role_id = "admin",
      credential = { kind = "api_key", source = "CLOSE_API_KEY" } }, cjson.decode(out))
  end)

  it("a custom role is named", function()
    server.add_members{ { email = "rep@acme.com", role_id = "role_WBTAHxOVMWwfjkaBi4UWpkPXhW7wjsYbNCTCpmbjFug",
      active = true } }
    -- the key acts as the admin; the admin's role changed to the custom one
    local by
    for _, m in ipairs(server.state().memberships) do if m.email == "admin@acme.com" then by = m end end
    local h = core.http()
    local res = assert(h:request{ method = "PUT", url = server.http_url .. "/membership/" .. by.id .. "/",
      headers = { Authorization = core.auth_header("basic", server.api_key), ["Content-Type"] = "application/json" },
      body = '{"role_id":"role_3WbpmlYSKRFDXdPd2em3vSyQ6c5iRYIUmW95yp4i9zH"}', timeout = 5 })
    assert.equal(200, res.status, res.body)
    local code, out = whoami("", { CLOSE_API_KEY = server.api_key })
    assert.equal(0, code)
    assert.matches("\nrole: Account Manager %(role_3Wbpml%w+%)\n", out)
  end)

  it("with an access token: 'OAuth access token', no token", function()
    local code, out = whoami("", { CLOSE_ACCESS_TOKEN = server.oauth_token })
    assert.equal(0, code)
    assert.matches("\ncredential: OAuth access token %(CLOSE_ACCESS_TOKEN%), not refreshed: its expiry is Close's\n$",
      out)
    assert_no_secret(out, { server.oauth_token })
  end)

  it("with OAuth tokens in a file: the file and the access token's expiry, no token, no client secret", function()
    local g = server.oauth_grant()
    local dir = files.tmpdir()
    local path = dir .. "/tokens.json"
    assert(core.write_private(path, cjson.encode({ access_token = g.access_token, refresh_token = g.refresh_token,
      expires_at = g.expires_at, expires_in = 3600, client_id = server.oauth_client_id })))
    local code, out, err = whoami("--token-file " .. sh_quote(path),
      { CLOSE_CLIENT_SECRET = server.oauth_client_secret })
    local jcode, jout = whoami("--json --token-file " .. sh_quote(path),
      { CLOSE_CLIENT_SECRET = server.oauth_client_secret })
    os.execute("rm -rf " .. sh_quote(dir))
    assert.equal(0, code, err)
    local when = os.date("!%Y-%m-%d %H:%M:%S UTC", math.floor(g.expires_at))
    assert.matches(("\ncredential: OAuth, refreshed and rotated as needed, tokens in %s; the access token expires "
      .. "%s %%(in 5%%d min%%)\n$"):format(path:gsub("%p", "%%%0"), (when:gsub("%p", "%%%0"))), out)
    assert.matches("^organization: Acme Sales", out)
    assert_no_secret(out .. err .. jout, { g.access_token, g.refresh_token, server.oauth_client_secret })
    assert.equal(0, jcode)
    local doc = cjson.decode(jout)
    assert.same({ kind = "oauth", token_file = path, expires_at = g.expires_at }, doc.credential)
  end)

  it("a refused key: exit 2 and the reason on stderr; no credentials: exit 2", function()
    local code, out, err = whoami("", { CLOSE_API_KEY = "ck_wrong_key_000" })
    assert.equal(2, code)
    assert.equal("", out)
    assert.matches("^close%-provision: close: auth: ", err)
    assert_no_secret(err, { "ck_wrong_key_000" })
    code, out, err = whoami("", {})
    assert.equal(2, code)
    assert.equal("", out)
    assert.matches("no credentials", err, 1, true)
  end)

  it("refuses an option it does not take, with a one-line reason", function()
    local code, out, err = whoami("--apply", { CLOSE_API_KEY = server.api_key })
    assert.equal(2, code)
    assert.equal("", out)
    assert.equal("close-provision: --apply does not belong to whoami (it takes --json, --token-file)\n"
      .. "try close-provision --help\n", err)
    -- options before the command word too
    local c2, out2 = run_words("--json whoami")
    assert.equal(0, c2)
    assert.same({ "Admin", "admin" }, { cjson.decode(out2).role, cjson.decode(out2).role_id })
  end)
end)
