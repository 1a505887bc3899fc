-- bin/close-provision, run as a user runs it, against the local server.
local server = require "spec.support.server"

local files = require "spec.support.files"
local tmpfile, read = files.tmpfile, files.read

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Runs the tool with the test server's credentials; returns exit status, output.
local function run(args, key)
  local lua = arg and arg[-1] or "lua"
  local cmd = ("CLOSE_API_KEY=%s CLOSE_BASE_URL=%s %s bin/close-provision %s 2>&1; echo \"exit=$?\""):format(
    sh_quote(key or server.api_key), sh_quote(server.http_url), lua, args)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  local code = tonumber(out:match("exit=(%d+)%s*$"))
  return code, out:gsub("exit=%d+%s*$", "")
end

describe("close-provision", function()
  local file, created
  before_each(function()
    server.reset()
    file = tmpfile("# team\njane@acme.com,user\njoe@acme.com, Sales Rep\nkim@acme.com,superuser\n" ..
      "lou@acme.com,restricteduser\n")
    created = { file, file .. ".journal", file .. ".failed" }
  end)
  after_each(function()
    for _, f in ipairs(created) do os.remove(f) end
  end)

  it("provisions every line, shows progress and a summary, exits 0", function()
    local code, out = run(file)
    assert.equal(0, code)
    assert.matches("%[1/4%] jane@acme.com: provisioned memb_%w+", out)
    assert.matches("%[2/4%] joe@acme.com: provisioned memb_%w+", out)
    assert.matches("4 lines: 4 provisioned", out, 1, true)
    assert.equal(4, #server.requests() - 1) -- and one GET /role/ for "Sales Rep"
    assert.is_nil(read(file .. ".failed"))
    assert.is_nil(out:find(server.api_key, 1, true))
  end)

  it("loses nothing when a run stops halfway: the next run carries on", function()
    -- requests 1-3 pass (GET /role/ included), the 4th meets a refused key
    server.faults{ { mode = "delay", seconds = 0, times = 3 },
      { mode = "status", status = 401, body = '{"error": "Invalid API key"}' } }
    local code, out = run("--concurrency 1 " .. file) -- one at a time: which request meets the 401 is known
    assert.equal(1, code)
    assert.matches("%[3/4%] kim@acme.com: FAILED close: auth: Invalid API key", out)
    assert.matches("stopped: auth errors would fail every remaining line", out, 1, true)
    assert.is_nil(out:find("[4/4]", 1, true))
    local journal = read(file .. ".journal")
    assert.equal(2, select(2, journal:gsub("\n", "")))
    -- .failed: what is left to do, the line that failed and the one never started
    assert.equal("kim@acme.com,superuser\nlou@acme.com,restricteduser\n", read(file .. ".failed"))

    code, out = run(file)
    assert.equal(0, code)
    assert.matches("[1/4] jane@acme.com: already done (journal)", out, 1, true)
    assert.matches("[3/4] kim@acme.com: provisioned", out, 1, true)
    assert.matches("4 lines: 2 provisioned, 2 skipped", out, 1, true)
    assert.equal(4, select(2, read(file .. ".journal"):gsub("\n", "")))
    assert.is_nil(read(file .. ".failed"))
    local emails = {}
    for _, m in ipairs(server.state().memberships) do emails[m.email] = m.active end
    for _, e in ipairs({ "jane@acme.com", "joe@acme.com", "kim@acme.com", "lou@acme.com" }) do
      assert.is_true(emails[e], e)
    end
  end)

  it("--ensure reports what it did for each line", function()
    local team = tmpfile("sam@acme.com,user\nold@acme.com,user\nsam@acme.com,Account Manager\nnew@acme.com,user\n")
    created[#created + 1] = team
    created[#created + 1] = team .. ".journal"
    local code, out = run("--ensure --journal /dev/null " .. team)
    assert.equal(0, code)
    assert.matches("[1/4] sam@acme.com: unchanged", out, 1, true)
    assert.matches("[2/4] old@acme.com: reactivated", out, 1, true)
    assert.matches("[3/4] sam@acme.com: role_changed", out, 1, true)
    assert.matches("[4/4] new@acme.com: created", out, 1, true)
  end)

  it("--dry-run checks every line and sends nothing", function()
    local bad = tmpfile("jane@acme.com,user\nno-at-sign,user\nkim@acme.com,Admin\nlou@acme.com,role_x-y\n")
    created[#created + 1] = bad
    local code, out = run("--dry-run " .. bad)
    assert.equal(1, code)
    assert.matches("[2/4] no-at-sign: INVALID email: must contain '@'", out, 1, true)
    assert.matches("[3/4] kim@acme.com: ok", out, 1, true) -- a role name, resolved when sent
    assert.matches("[4/4] lou@acme.com: INVALID role_id: custom role id must be", out, 1, true)
    assert.equal(0, #server.requests())
  end)

  it("exits 2 without credentials or with bad usage, saying why", function()
    local code, out = run("--bogus " .. file)
    assert.equal(2, code)
    assert.matches("close-provision: unknown option --bogus", out, 1, true)
    code, out = run(file, "")
    assert.equal(2, code)
    assert.matches("no credentials: set CLOSE_API_KEY, CLOSE_ACCESS_TOKEN or CLOSE_TOKEN_FILE", out, 1, true)
    code = run("/nonexistent/members.csv")
    assert.equal(2, code)
  end)

  it("stopped by SIGINT: journals what ran, prints the summary and .failed, exits 1, no traceback", function()
    local lines = {}
    for i = 1, 40 do lines[i] = ("sig%d@acme.com,user"):format(i) end
    local big = tmpfile(table.concat(lines, "\n") .. "\n")
    created[#created + 1] = big
    created[#created + 1] = big .. ".journal"
    created[#created + 1] = big .. ".failed"
    server.faults{ { mode = "delay", seconds = 0.3, times = 40 } }
    local lua = arg and arg[-1] or "lua"
    local cmd = ("CLOSE_API_KEY=%s CLOSE_BASE_URL=%s %s bin/close-provision --concurrency 2 %s > %s.out 2>&1 & "
      .. "pid=$!; sleep 1; kill -INT $pid; wait $pid; echo \"exit=$?\""):format(sh_quote(server.api_key),
      sh_quote(server.http_url), lua, big, big)
    local p = assert(io.popen(cmd))
    local status = p:read("*a")
    p:close()
    local out = read(big .. ".out")
    os.remove(big .. ".out")
    assert.matches("exit=1", status, 1, true)
    assert.matches("stopped: interrupted (SIGINT); what ran is journaled", out, 1, true)
    assert.is_nil(out:find("traceback", 1, true))
    local journaled = select(2, read(big .. ".journal"):gsub("\n", ""))
    assert.is_true(journaled >= 2 and journaled < 40, tostring(journaled))
    assert.matches(("40 lines: %d not started, %d provisioned"):format(40 - journaled, journaled), out, 1, true)
    assert.equal(40 - journaled, select(2, read(big .. ".failed"):gsub("\n", "")))
    -- what the journal holds was created; the next run does the rest, once each
    local code = run(big)
    assert.equal(0, code)
    local by = {}
    for _, m in ipairs(server.state().memberships) do by[m.email] = (by[m.email] or 0) + 1 end
    for i = 1, 40 do assert.equal(1, by[("sig%d@acme.com"):format(i)]) end
  end)
end)
