-- bin/close-provision, run as a user runs it, against the local server. The
-- seed organization: admin@acme.com (admin, the key's user), sam@acme.com
-- (user), old@acme.com (inactive); roles Account Manager, Sales Rep, Support.
local server = require "spec.support.server"
local cjson = require "cjson"

local files = require "spec.support.files"
local cli = require "spec.support.cli"
local read = files.read

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Runs the tool with the test server's credentials (or `key`); returns exit
-- status, stdout, stderr.
local function run(args, key, stdin)
  return cli.run(args, { key = key, stdin = stdin })
end

local members = cli.members

local function count_lines(s) return select(2, (s or ""):gsub("\n", "")) end

-- n lines "<tag><i>@acme.com,user"
local function team(n, tag)
  local lines = {}
  for i = 1, n do lines[i] = ("%s%d@acme.com,user\n"):format(tag, i) end
  return table.concat(lines)
end

describe("close-provision", function()
  local made = cli.per_test()
  local file = made.file
  before_each(made.before)
  after_each(made.after)

  it("provisions every line, names the file's lines, prints a summary, exits 0", function()
    local f = file("# team\njane@acme.com,user\n\njoe@acme.com, Sales Rep\nkim@acme.com,superuser\n")
    local code, out = run(f)
    assert.equal(0, code)
    assert.matches("line 2: jane@acme.com: created memb_%w+", out)
    assert.matches("line 4: joe@acme.com: created memb_%w+", out)
    assert.matches("3 items: 3 done", out, 1, true)
    assert.is_nil(read(f .. ".failed"))
    assert.is_nil(out:find(server.api_key, 1, true))
    assert.equal(3, count_lines(read(f .. ".journal")))
  end)

  it("one line's 403 about its role is that line's failure; the rest go on (defect 1)", function()
    local f = file("a1@acme.com,user\nboss@acme.com,admin\na2@acme.com,user\n")
    local code, out = run("--concurrency 1 " .. f)
    assert.equal(1, code)
    assert.matches("line 2: boss@acme.com: FAILED close: permission: You cannot grant a role", out, 1, true)
    assert.matches("line 3: a2@acme.com: created", out, 1, true)
    assert.equal("boss@acme.com,admin\n", read(f .. ".failed"))
    -- a re-run does not stop on it either
    code, out = run("--concurrency 1 " .. f)
    assert.equal(1, code)
    assert.matches("line 2: boss@acme.com: FAILED", out, 1, true)
  end)

  it("a refused key is a configuration error: exit 2, a line on stderr, nothing written (issue 14 item 11)", function()
    local f = file(team(10, "k"))
    local code, out, err = run("--concurrency 1 " .. f, "ck_wrong_key_000")
    -- the plan itself cannot be read with a wrong key: nothing is written
    assert.equal(2, code)
    assert.matches("auth", err, 1, true)
    assert.equal("", out)
  end)

  it("a member with another role is not 'provisioned': create says so, --ensure changes it (defect 2)", function()
    local f = file("sam@acme.com,superuser\nnew@acme.com,user\n")
    local code, out = run(f)
    assert.equal(1, code)
    assert.matches("line 1: sam@acme.com: INVALID already a member with role User, not Super User: --ensure", out, 1,
      true)
    assert.equal("user", members()["sam@acme.com"].role_id)
    -- after a plain run, --ensure is not skipped by the journal: it changes the role
    code, out = run("--ensure " .. f)
    assert.equal(0, code)
    assert.matches("line 1: sam@acme.com: role changed", out, 1, true)
    assert.equal("superuser", members()["sam@acme.com"].role_id)
  end)

  it("duplicate lines with conflicting roles are both refused, naming each other (defect 2)", function()
    local f = file("dup@acme.com,user\ndup@acme.com,superuser\n")
    local code, out = run(f)
    assert.equal(1, code)
    assert.matches("line 1: dup@acme.com: INVALID the same address as line 2 with another role", out, 1, true)
    assert.matches("line 2: dup@acme.com: INVALID the same address as line 1 with another role", out, 1, true)
    assert.is_nil(members()["dup@acme.com"])
  end)

  it("--ensure matches addresses without regard to case: Sam@acme.com is not created again (defect 3)", function()
    local f = file("Sam@acme.com,user\n")
    for _ = 1, 2 do
      local code = run("--ensure " .. f)
      assert.equal(0, code)
    end
    local n = 0
    for _, m in ipairs(server.state().memberships) do if m.email:lower() == "sam@acme.com" then n = n + 1 end end
    assert.equal(1, n)
  end)

  it("reads Excel's CSV: a BOM, a header row, ';', quotes, and # inside an email (defect 4)", function()
    local f = file('\239\187\191Name;E-mail;Email;Role\r\n"Doe; Jo";x;"jo#e@acme.com";"Sales Rep"\r\n'
      .. '# a comment\r\nAnn;y;ann@acme.com;user\r\n')
    local code, out = run(f)
    assert.equal(0, code, out)
    assert.matches("line 2: jo#e@acme.com: created", out, 1, true)
    assert.matches("line 4: ann@acme.com: created", out, 1, true)
    assert.truthy(members()["jo#e@acme.com"])
  end)

  it(".failed keeps the file's header row, so that it reads back the same way", function()
    local f = file("name,role,email\nBoss,admin,boss@acme.com\nAnn,user,ann2@acme.com\n")
    local code = run(f)
    assert.equal(1, code)
    assert.equal("name,role,email\nBoss,admin,boss@acme.com\n", read(f .. ".failed"))
  end)

  it("reads stdin with -", function()
    local code, out = run("--journal /dev/null -", nil, "stdin1@acme.com,user\n")
    assert.equal(0, code, out)
    assert.matches("line 1: stdin1@acme.com: created", out, 1, true)
  end)

  it("--dry-run resolves role names and flags duplicates, and writes nothing (defect 5)", function()
    local f = file("jane@acme.com,user\nno-at-sign,user\nkim@acme.com,Wizard\nkim@acme.com,Wizard\n"
      .. "lou@acme.com,Account Manager\n")
    local code, out = run("--dry-run --verbose " .. f)
    assert.equal(1, code)
    assert.matches("line 1: jane@acme.com: create (User)", out, 1, true)
    assert.matches("line 2: no-at-sign: INVALID email must contain '@'", out, 1, true)
    assert.matches("line 3: kim@acme.com: INVALID unknown role 'Wizard' (roles: Admin, Super User, User, "
      .. "Restricted User, Account Manager, Sales Rep, Support)",
      out, 1, true)
    assert.matches("line 4: kim@acme.com: warning: a duplicate of line 3, ignored", out, 1, true)
    assert.matches("line 5: lou@acme.com: create (Account Manager)", out, 1, true)
    for _, r in ipairs(server.requests()) do assert.equal("GET", r.method) end
  end)

  it("an outage stops the run after a few failures in a row, listing what is left (defect 6)", function()
    local f = file(team(30, "o"))
    -- the plan's four reads pass (GET /me/ twice, /organization/, /role/), then every write gets a 503
    server.faults{ { mode = "delay", seconds = 0, times = 4 }, { mode = "status", status = 503, times = 1000 } }
    local code, out = run("--concurrency 1 " .. f)
    assert.equal(1, code)
    assert.matches("stopped: 5 server errors in a row", out, 1, true)
    assert.equal(30, count_lines(read(f .. ".failed")))
    assert.matches("25 not started", out, 1, true)
    assert.is_true(#server.requests() <= 4 + 5 * 4, tostring(#server.requests()))
  end)

  it("usage errors: one line and a hint on stderr, exit 2; --version; --quiet (defect 7)", function()
    local code, out, err = run("--bogus x.csv")
    assert.equal(2, code)
    assert.equal("", out)
    assert.equal("close-provision: unknown option --bogus\ntry close-provision --help\n", err)
    code, out = run("--version")
    assert.equal(0, code)
    assert.matches("^close%-provision 0%.1%.0 %(libcurl [%d.]+%)\n$", out)
    local f = file("q1@acme.com,user\nq2@acme.com,user\n")
    code, out = run("--quiet " .. f)
    assert.equal(0, code)
    assert.equal("2 items: 2 done\n", out)
    local err2
    code, out, err2 = run(f, "")
    assert.equal("", out)
    assert.equal(2, code)
    assert.matches("no credentials: set CLOSE_API_KEY, CLOSE_ACCESS_TOKEN or CLOSE_TOKEN_FILE", err2, 1, true)
    code = run("/nonexistent/members.csv")
    assert.equal(2, code)
  end)

  it("--json: one object per item and a summary, in the documented schema", function()
    local f = file("j1@acme.com,user\nbad,user\nsam@acme.com,user\n")
    local code, out = run("--json --verbose " .. f)
    assert.equal(1, code)
    local docs = {}
    for line in out:gmatch("[^\n]+") do docs[#docs + 1] = cjson.decode(line) end
    local summary = table.remove(docs)
    assert.is_true(summary.summary)
    assert.is_true(summary.applied)
    assert.equal(3, summary.items)
    local by = {}
    for _, d in ipairs(docs) do
      for k in pairs(d) do
        assert.truthy(({ line = 1, email = 1, action = 1, status = 1, membership_id = 1, role_id = 1,
          previous_role_id = 1, reason = 1, error = 1, role = 1, previous_role = 1 })[k], k)
      end
      by[d.email] = d
    end
    assert.same({ 1, "create", "done", "user" }, { by["j1@acme.com"].line, by["j1@acme.com"].action,
      by["j1@acme.com"].status, by["j1@acme.com"].role_id })
    assert.matches("^memb_", by["j1@acme.com"].membership_id)
    assert.same({ "invalid", "invalid" }, { by.bad.action, by.bad.status })
    assert.same({ "unchanged", "unchanged" }, { by["sam@acme.com"].action, by["sam@acme.com"].status })
  end)

  it("stopped by SIGINT: journals what ran, prints the summary and .failed, exits 1, no traceback", function()
    local big = file(team(40, "sig"))
    -- four reads for the plan, then slow writes
    server.faults{ { mode = "delay", seconds = 0, times = 4 }, { mode = "delay", seconds = 0.3, times = 40 } }
    local lua = arg and arg[-1] or "lua"
    local cmd = ("CLOSE_API_KEY=%s CLOSE_BASE_URL=%s %s bin/close-provision --concurrency 2 %s > %s.out 2>&1 & "
      .. "pid=$!; sleep 1; kill -INT $pid; wait $pid; echo \"exit=$?\""):format(sh_quote(server.api_key),
      sh_quote(server.http_url), lua, big, big)
    local p = assert(io.popen(cmd))
    local status = p:read("*a")
    p:close()
    local out = read(big .. ".out")
    os.remove(big .. ".out")
    assert.matches("exit=130", status, 1, true) -- 128 + SIGINT (issue 14 item 7)
    assert.matches("stopped: interrupted (SIGINT); what ran is journaled", out, 1, true)
    assert.is_nil(out:find("traceback", 1, true))
    local journaled = count_lines(read(big .. ".journal"))
    assert.is_true(journaled >= 2 and journaled < 40, tostring(journaled))
    assert.matches(("40 items: %d done, %d not started"):format(journaled, 40 - journaled), out, 1, true)
    assert.equal(40 - journaled, count_lines(read(big .. ".failed")))
    -- the next run plans only what is left, and does it once each
    local code = run(big)
    assert.equal(0, code)
    local by = {}
    for _, m in ipairs(server.state().memberships) do by[m.email] = (by[m.email] or 0) + 1 end
    for i = 1, 40 do assert.equal(1, by[("sig%d@acme.com"):format(i)]) end
  end)

  describe("sync", function()
    it("prints the plan and writes nothing without --apply; --apply carries it out; again writes nothing", function()
      local f = file("email,role\nnew@acme.com,user\nold@acme.com,superuser\nsam@acme.com,Support\n"
        .. "admin@acme.com,admin\n")
      local code, out = run("sync " .. f)
      assert.equal(0, code)
      assert.matches("line 2: new@acme.com: create (User)", out, 1, true)
      assert.matches("line 3: old@acme.com: reactivate (Super User)", out, 1, true)
      assert.matches("line 4: sam@acme.com: change role (User -> Support)", out, 1, true)
      for _, r in ipairs(server.requests()) do assert.equal("GET", r.method) end
      code, out = run("sync --apply " .. f)
      assert.equal(0, code)
      assert.matches("4 items: 3 done, 1 unchanged", out, 1, true)
      local before = #server.requests()
      code = run("sync --apply " .. f)
      assert.equal(0, code)
      for i = before + 1, #server.requests() do assert.equal("GET", server.requests()[i].method) end
    end)

    it("--deactivate-missing: never the caller, never --keep, at most --max-deactivate", function()
      local f = file("new@acme.com,user\n")
      local keep = file("sam@acme.com\n")
      local code, out = run("sync --deactivate-missing " .. f)
      assert.equal(0, code)
      assert.matches("member: sam@acme.com: deactivate", out, 1, true)
      assert.is_nil(out:find("admin@acme.com", 1, true))
      code, out = run("sync --deactivate-missing --keep " .. keep .. " " .. f)
      assert.equal(0, code)
      assert.is_nil(out:find("deactivate", 1, true))
      for i = 1, 3 do assert(run(("--journal /dev/null %s"):format(file(("x%d@acme.com,user\n"):format(i))))) end
      local code2, out2 = run("sync --deactivate-missing " .. f)
      assert.equal(1, code2)
      assert.matches("more than --max-deactivate 1", out2, 1, true)
      code = run("sync --deactivate-missing --max-deactivate 10 --apply " .. f)
      assert.equal(0, code)
      assert.is_false(members()["sam@acme.com"].active)
      assert.is_true(members()["admin@acme.com"].active)
    end)
  end)

  it("deactivate FILE: plan, --apply, and export writes the team as a file sync takes", function()
    local f = file("sam@acme.com\nnobody@acme.com\n")
    local code, out = run("deactivate " .. f)
    assert.equal(0, code)
    assert.matches("line 1: sam@acme.com: deactivate", out, 1, true)
    assert.is_true(members()["sam@acme.com"].active)
    code = run("deactivate --apply " .. f)
    assert.equal(0, code)
    assert.is_false(members()["sam@acme.com"].active)
    local exported
    code, exported = run("export")
    assert.equal(0, code)
    assert.equal("email,role\nadmin@acme.com,Admin\n", exported)
    local ef = file(exported)
    code, out = run("sync " .. ef)
    assert.equal(0, code)
    assert.equal("1 item: 1 unchanged\n", out)
  end)
end)
