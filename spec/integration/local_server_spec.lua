-- scripts/local-server.sh, the local server by hand (README "Trying it
-- locally"): a second start, from another shell, gives the same settings and
-- keeps what the first session made.
local close = require "close"
local cli = require "spec.support.cli"

-- runs a shell line; its stdout, stderr and exit status
local function sh(line)
  local code, out, err = cli.shell(line)
  return out, err, code
end

describe("scripts/local-server.sh", function()
  it("start while it runs: the same address and credentials again, its state kept", function()
    local dir = sh("mktemp -d"):gsub("%s+$", "")
    local env = "CLOSE_LOCAL_DIR=" .. dir .. "/srv "
    finally(function() sh(env .. "scripts/local-server.sh stop; rm -rf " .. dir) end)
    local first, err1, rc1 = sh(env .. "scripts/local-server.sh start")
    assert.equal(0, rc1, err1)
    local url = assert(first:match("export CLOSE_BASE_URL=(%S+)"))
    assert.matches("local-server: up at ", err1, 1, true)
    local client = close.new{ api_key = first:match("export CLOSE_API_KEY=(%S+)"), base_url = url }
    assert(client:create_membership{ email = "kept@acme.com", role_id = "user" })
    local second, err2, rc2 = sh(env .. "scripts/local-server.sh start")
    assert.equal(0, rc2, err2)
    assert.equal(first, second)
    local origin = url:gsub("/api/v1$", "")
    assert.equal(1, err2:find("local-server: already running at " .. origin .. " and ", 1, true), err2)
    assert.truthy(client:find_membership{ email = "kept@acme.com" })
    client:close()
  end)
end)
