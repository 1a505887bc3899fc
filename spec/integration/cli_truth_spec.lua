-- close-provision tells the truth (issue 14, items 1-13): bin/close-provision
-- run as a process against the local server. Its seed organization:
-- admin@acme.com (admin, the key's user), sam@acme.com (user),
-- old@acme.com (inactive); roles Account Manager, Sales Rep, Support.
local cjson = require "cjson"
local server = require "spec.support.server"
local cli = require "spec.support.cli"
local files = require "spec.support.files"

local run, members, read = cli.run, cli.members, files.read

local function count_lines(s) return select(2, (s or ""):gsub("\n", "")) end

local function lines_of(n, tag, role)
  local t = {}
  for i = 1, n do t[i] = ("%s%d@acme.com,%s\n"):format(tag, i, role or "user") end
  return table.concat(t)
end

local json_docs = cli.json_lines

describe("close-provision (issue 14)", function()
  local each = cli.per_test()
  local file = each.file
  before_each(each.before)
  after_each(each.after)

  describe("1: the organization's state decides; the journal is a record", function()
    it("a member removed, added back and removed again is deactivated again", function()
      local all = file("admin@acme.com,admin\nsam@acme.com,user\n" .. lines_of(5, "leaver"))
      local without = file("admin@acme.com,admin\nsam@acme.com,user\n" .. lines_of(4, "leaver"))
      assert.equal(0, (run("sync --apply " .. all)))
      local code, out = run("sync --deactivate-missing --max-deactivate 5 --apply " .. without)
      assert.equal(0, code, out)
      assert.is_false(members()["leaver5@acme.com"].active)
      assert.equal(0, (run("sync --apply " .. all)))
      assert.is_true(members()["leaver5@acme.com"].active)
      code, out = run("sync --deactivate-missing --max-deactivate 5 --apply " .. without)
      assert.equal(0, code, out)
      assert.matches("member: leaver5@acme.com: deactivated", out, 1, true)
      assert.matches("7 items: 1 done, 6 unchanged", out, 1, true)
      assert.is_false(members()["leaver5@acme.com"].active)
    end)

    it("a role changed in Close since the last run is changed back", function()
      local frank = assert(each.client:create_membership{ email = "frank4@acme.com", role_id = "superuser" })
      local f = file(lines_of(5, "frank"))
      assert.equal(0, (run("sync --apply " .. f)))
      assert.equal("user", members()["frank4@acme.com"].role_id)
      assert(each.client:update_membership(frank.id, { role_id = "superuser" }))
      local code, out = run("sync --apply " .. f)
      assert.equal(0, code, out)
      assert.matches("line 4: frank4@acme.com: role changed", out, 1, true)
      assert.matches("5 items: 1 done, 4 unchanged", out, 1, true)
      assert.equal("user", members()["frank4@acme.com"].role_id)
    end)

    it("the same file against another organization (none of its members) creates every line", function()
      local f = file(lines_of(3, "org"))
      assert.equal(0, (run(f)))
      server.reset() -- another organization: the seed, without these members
      local code, out = run(f)
      assert.equal(0, code, out)
      assert.matches("3 items: 3 done", out, 1, true)
      for i = 1, 3 do assert.is_true(members()[("org%d@acme.com"):format(i)].active) end
    end)

    it("records organization, time, address, action, role, membership id and outcome, failures too", function()
      local f = file("rec@acme.com,user\nboss@acme.com,admin\n")
      local code = run("--concurrency 1 " .. f)
      assert.equal(1, code)
      local recs = {}
      for line in read(f .. ".journal"):gmatch("[^\n]+") do
        local t = {}
        for v in (line .. "\t"):gmatch("([^\t]*)\t") do t[#t + 1] = v end
        recs[#recs + 1] = t
      end
      assert.equal(2, #recs)
      local org = each.client:request("GET", "/me/", { query = { _fields = "organization_id" } }).organization_id
      assert.equal(7, #recs[1])
      assert.same({ org, "rec@acme.com", "create", "user", members()["rec@acme.com"].id, "done" },
        { recs[1][1], recs[1][3], recs[1][4], recs[1][5], recs[1][6], recs[1][7] })
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$", recs[1][2])
      assert.same({ org, "boss@acme.com", "create", "admin", "", "failed:permission" },
        { recs[2][1], recs[2][3], recs[2][4], recs[2][5], recs[2][6], recs[2][7] })
    end)
  end)

  it("2: export writes stdout or -o FILE, never replacing a file without --force", function()
    local mine = file("Name;Role;Email\nAnn;user;ann@acme.com\n")
    local code, out, err = run("export " .. mine)
    assert.equal(2, code)
    assert.equal("", out)
    assert.equal("close-provision: export writes to stdout, or to -o FILE\ntry close-provision --help\n", err)
    code, out, err = run("export -o " .. mine)
    assert.equal(2, code)
    assert.equal("", out)
    assert.equal(("close-provision: %s exists: export replaces it only with --force\n"):format(mine), err)
    assert.equal("Name;Role;Email\nAnn;user;ann@acme.com\n", read(mine))
    code = run("export --output " .. mine .. " --force")
    assert.equal(0, code)
    assert.equal("email,role\nadmin@acme.com,Admin\nsam@acme.com,User\n", read(mine))
    local fresh = mine .. ".journal" -- a path that does not exist yet (removed after the spec)
    code, out = run("export -o " .. fresh)
    assert.equal(0, code)
    assert.equal("", out)
    assert.equal("email,role\nadmin@acme.com,Admin\nsam@acme.com,User\n", read(fresh))
  end)

  it("3: --dry-run writes nothing at all: the last real run's .failed and journal stay", function()
    local f = file("dry1@acme.com,user\nboss@acme.com,admin\nno-at-sign,user\n")
    assert.equal(1, (run("--concurrency 1 " .. f)))
    local failed, journal = read(f .. ".failed"), read(f .. ".journal")
    assert.equal("no-at-sign,user\nboss@acme.com,admin\n", failed)
    local code, out = run("--dry-run " .. f)
    assert.equal(1, code)
    assert.matches("line 3: no-at-sign: INVALID email must contain '@'", out, 1, true)
    assert.equal(failed, read(f .. ".failed"))
    assert.equal(journal, read(f .. ".journal"))
    local g = file("dry2@acme.com,user\nbad,user\n")
    assert.equal(1, (run("--dry-run " .. g)))
    assert.is_nil(read(g .. ".failed"))
    assert.is_nil(read(g .. ".journal"))
  end)

  it("4: --dry-run with credentials given but broken fails as a real run does, exit 2", function()
    local f = file("cred@acme.com,user\n")
    local dir = files.tmpdir()
    local open = dir .. "/open.json"
    local t = assert(io.open(open, "w"))
    t:write('{"access_token":"a_token_0123456789","refresh_token":"r_token_0123456789","client_id":"cid"}')
    t:close()
    os.execute("chmod 0644 " .. open)
    local private = dir .. "/private.json"
    os.execute(("cp %s %s && chmod 0600 %s"):format(open, private, private))
    for _, case in ipairs({
      { "CLOSE_TOKEN_FILE=" .. open, "token file " .. open },
      { "CLOSE_TOKEN_FILE=" .. dir .. "/missing.json", "does not exist: run close-provision login first" },
      { "CLOSE_TOKEN_FILE=" .. private .. " CLOSE_CLIENT_SECRET=", "needs CLOSE_CLIENT_SECRET" },
    }) do
      local real_code, real_out, real_err = run(f, { key = false, vars = case[1] })
      local code, out, err = run("--dry-run " .. f, { key = false, vars = case[1] })
      assert.equal(2, real_code)
      assert.equal(2, code, out)
      assert.equal("", out)
      assert.equal(real_out, out)
      assert.equal(real_err, err)
      assert.matches(case[2], err, 1, true)
    end
    -- no credential at all: the file alone
    local code, out = run("--dry-run " .. f, { key = false, vars = "CLOSE_API_KEY=" })
    assert.equal(0, code)
    assert.matches("no credentials: checking the file alone", out, 1, true)
    os.execute("rm -rf " .. dir)
  end)

  it("5: a plan never lowers the caller's role: that line is invalid with the reason", function()
    local f = file("admin@acme.com,user\nlow@acme.com,user\n")
    for _, args in ipairs({ "--ensure " .. f, "sync --apply " .. f }) do
      local code, out = run(args)
      assert.equal(1, code)
      assert.matches("line 1: admin@acme.com: INVALID the caller's own role is never lowered (admin, not user)", out,
        1, true)
      assert.equal("admin", members()["admin@acme.com"].role_id)
      assert.is_true(members()["low@acme.com"].active)
    end
  end)

  it("6: on a terminal the created lines print above the progress line", function()
    local f = file(lines_of(3, "tty"))
    local code, out = cli.run_tty("--concurrency 1 " .. f)
    assert.equal(0, code, out)
    for i = 1, 3 do
      -- the progress line is cleared, the item line printed, the progress line drawn again under it
      assert.matches(("\r\27%%[Kline %d: tty%d@acme.com: created memb_%%w+\r?\n\r%%d/3 done"):format(i, i), out)
    end
    assert.matches("3/3 done", out, 1, true)
    assert.matches("3 items: 3 done", out, 1, true)
  end)

  describe("7: interrupted at any moment: the summary, no traceback, 130 or 143", function()
    it("SIGINT while the organization is read", function()
      local f = file(lines_of(5, "int"))
      server.faults{ { mode = "delay", seconds = 2, times = 1 } }
      local code, out = cli.run_signalled(f, "INT", 0.7)
      assert.equal(130, code)
      assert.matches("5 items: 5 not started\nstopped: interrupted (SIGINT); while reading the organization; "
        .. "nothing was written", out, 1, true)
      assert.is_nil(out:find("traceback", 1, true))
      assert.is_nil(out:find("interrupted!", 1, true))
      assert.is_nil(members()["int1@acme.com"])
    end)

    it("SIGINT while export reads the organization: one line, no traceback, nothing written", function()
      local out_file = file("") .. ".export"
      each.add(out_file)
      os.remove(out_file)
      server.faults{ { mode = "delay", seconds = 2, times = 1 } }
      local code, out = cli.run_signalled("export -o " .. out_file, "INT", 0.7)
      assert.equal(130, code)
      assert.equal("close-provision: stopped: interrupted (SIGINT) while reading the organization; nothing was "
        .. "written\n", out)
      assert.is_nil(read(out_file))
    end)

    it("SIGTERM while applying, and --json's summary says why in a word", function()
      local f = file(lines_of(30, "term"))
      server.faults{ { mode = "delay", seconds = 0, times = 4 }, { mode = "delay", seconds = 0.3, times = 30 } }
      local code, out = cli.run_signalled("--json --concurrency 1 " .. f, "TERM", 1.2)
      assert.equal(143, code)
      local docs = json_docs(out)
      local summary = docs[#docs]
      assert.is_true(summary.summary)
      assert.equal("interrupted", summary.stopped)
      assert.equal("stopped: interrupted (SIGTERM); what ran is journaled", summary.message)
      local n = 0
      for _, v in pairs(summary.counts) do n = n + v end
      assert.equal(30, n)
      assert.equal(30 - summary.counts.done, summary.counts.not_started)
    end)
  end)

  describe("8: a plan over --max-deactivate", function()
    before_each(function()
      for i = 1, 3 do assert(each.client:create_membership{ email = ("x%d@acme.com"):format(i), role_id = "user" }) end
    end)

    it("is shown whole and marked, naming the members and the flag; only --apply is refused", function()
      local f = file("admin@acme.com,admin\n")
      local code, out = run("sync --deactivate-missing " .. f)
      assert.equal(1, code)
      for _, e in ipairs({ "sam", "x1", "x2", "x3" }) do
        assert.matches(("member: %s@acme.com: deactivate"):format(e), out, 1, true)
      end
      assert.matches("over the limit: the plan deactivates 4 members, more than --max-deactivate 1 (10% of 5 active "
        .. "members, at least 1) (sam@acme.com, x1@acme.com, x2@acme.com, x3@acme.com); --apply is refused: give "
        .. "--max-deactivate 4 to allow it", out, 1, true)
      local before = #server.requests()
      local err
      code, out, err = run("sync --deactivate-missing --apply " .. f)
      assert.equal(2, code)
      assert.matches("member: x1@acme.com: deactivate", out, 1, true)
      assert.matches("close-provision: over the limit: the plan deactivates 4 members", err, 1, true)
      for i = before + 1, #server.requests() do assert.equal("GET", server.requests()[i].method) end
      assert.is_true(members()["sam@acme.com"].active)
    end)

    it("--max-deactivate 0 means none, and deactivate FILE has the same limit", function()
      local f = file("sam@acme.com\n")
      local code, out = run("deactivate --max-deactivate 0 " .. f)
      assert.equal(1, code)
      assert.matches("more than --max-deactivate 0 (sam@acme.com)", out, 1, true)
      assert.is_nil(out:find("10%", 1, true))
      code = run("deactivate --max-deactivate 0 --apply " .. f)
      assert.equal(2, code)
      assert.is_true(members()["sam@acme.com"].active)
      local two = file("sam@acme.com\nx1@acme.com\n")
      code, out = run("deactivate " .. two)
      assert.equal(1, code)
      assert.matches("more than --max-deactivate 1 (10% of 5 active members, at least 1)", out, 1, true)
    end)
  end)

  it("9: options that do not belong to the command are refused; before or after the word; help COMMAND", function()
    local f = file("sam@acme.com\n")
    local code, out, err = run("deactivate --deactivate-missing " .. f)
    assert.equal(2, code)
    assert.equal("", out)
    assert.matches("^close%-provision: %-%-deactivate%-missing does not belong to deactivate %(it takes ", err)
    local _
    code, _, err = run("export --apply")
    assert.equal(2, code)
    assert.matches("^close%-provision: %-%-apply does not belong to export", err)
    code, out = run("--apply deactivate " .. f)
    assert.equal(0, code, out)
    assert.is_false(members()["sam@acme.com"].active)
    code, out = run("help sync")
    assert.equal(0, code)
    assert.matches("^usage: close%-provision sync %[OPTIONS%] FILE", out)
    local code2, out2 = run("sync --help")
    assert.equal(0, code2)
    assert.equal(out, out2)
  end)

  describe("10: honest summaries", function()
    it("a second run that writes nothing says unchanged, and the counts add up", function()
      local f = file(lines_of(12, "same"))
      assert.equal(0, (run(f)))
      local code, out = run(f)
      assert.equal(0, code)
      assert.equal("12 items: 12 unchanged\n", out)
      code, out = run("--json " .. f)
      assert.equal(0, code)
      local summary = json_docs(out)[13]
      assert.same({ unchanged = 12 }, summary.counts)
    end)

    it("a deactivate run counts the lines that are not members", function()
      local f = file("sam@acme.com\nnobody@acme.com\nold@acme.com\n")
      local code, out = run("deactivate --apply " .. f)
      assert.equal(0, code)
      assert.matches("line 2: nobody@acme.com: not a member", out, 1, true)
      assert.matches("3 items: 1 already inactive, 1 done, 1 not a member", out, 1, true)
    end)
  end)

  describe("11: fatal errors", function()
    it("a refused key with --json: exit 2, a JSON object on stdout, a line on stderr", function()
      local f = file(lines_of(3, "key"))
      local code, out, err = run("--json " .. f, { key = "ck_wrong_key_000" })
      assert.equal(2, code)
      local docs = json_docs(out)
      assert.equal(1, #docs)
      assert.is_true(docs[1].summary)
      assert.equal(0, docs[1].items)
      assert.equal("auth", docs[1].stopped)
      assert.matches("^close: auth: ", docs[1].message)
      assert.equal(1, count_lines(err))
      assert.matches("^close%-provision: close: auth: ", err)
    end)

    it("a revoked refresh token: exit 2", function()
      local g = server.oauth_grant()
      -- someone else uses the refresh token first: it is revoked
      assert(each.client:request("GET", "/me/")) -- (the key works; the token file is what is broken)
      local dir = files.tmpdir()
      local tokens = dir .. "/tokens.json"
      local t = assert(io.open(tokens, "w"))
      t:write(cjson.encode({ refresh_token = g.refresh_token, client_id = server.oauth_client_id }))
      t:close()
      os.execute("chmod 0600 " .. tokens)
      local http = require("close.core").http()
      assert(http:request{ method = "POST", url = server.token_url, ca_file = server.ca,
        headers = { ["Content-Type"] = "application/x-www-form-urlencoded" },
        body = ("grant_type=refresh_token&refresh_token=%s&client_id=%s&client_secret=%s"):format(
          g.refresh_token, server.oauth_client_id, server.oauth_client_secret) })
      local f = file(lines_of(2, "tok"))
      local code, out, err = run("--json " .. f, { key = false, base_url = server.https_url,
        vars = ("CLOSE_TOKEN_FILE=%s CLOSE_CLIENT_SECRET=%s CLOSE_CA_FILE=%s"):format(tokens,
          cli.quote(server.oauth_client_secret), server.ca) })
      os.execute("rm -rf " .. dir)
      assert.equal(2, code, err)
      assert.equal("auth", json_docs(out)[1].stopped)
      assert.matches("^close%-provision: close: auth: ", err)
    end)

    it("every field of --json's objects is in README's schema", function()
      local readme = read("README.md")
      local item_schema = readme:match("`%-%-json` prints one object per\n?%s*item instead, (`{.-}`)")
      local summary_schema = readme:match("then\n?%s*(`{\"summary\": true.-}`)")
      assert.truthy(item_schema, "README's item schema")
      assert.truthy(summary_schema, "README's summary schema")
      local function documented(schema, key) return schema:find('"' .. key .. '"', 1, true) ~= nil end
      local f = file("j1@acme.com,user\nboss@acme.com,admin\nbad,user\n" .. lines_of(8, "js"))
      server.faults{ { mode = "delay", seconds = 0, times = 4 }, { mode = "status", status = 503, times = 1000 } }
      local code, out = run("--json --concurrency 1 " .. f)
      assert.equal(1, code)
      local docs = json_docs(out)
      local summary = table.remove(docs)
      for k in pairs(summary) do assert.is_true(documented(summary_schema, k), k) end
      assert.equal(f .. ".failed", summary.failed_file)
      assert.equal("consecutive_failures", summary.stopped)
      for _, d in ipairs(docs) do
        for k in pairs(d) do assert.is_true(documented(item_schema, k), k) end
        if d.error then for k in pairs(d.error) do assert.is_true(documented(item_schema, k), k) end end
      end
    end)
  end)

  it("12: a stopped run prints how many did not start and where the list is, not the list", function()
    local f = file(lines_of(30, "stop"))
    server.faults{ { mode = "delay", seconds = 0, times = 4 }, { mode = "status", status = 503, times = 1000 } }
    local code, out = run("--concurrency 1 " .. f)
    assert.equal(1, code)
    assert.is_nil(out:find(": not started", 1, true))
    assert.matches("30 items: 5 failed, 25 not started", out, 1, true)
    assert.matches("30 lines to do again (failed, invalid or not started) are in " .. f .. ".failed", out, 1, true)
    assert.equal(30, count_lines(read(f .. ".failed")))
  end)

  it("13: messages never say nil", function()
    local f = file("name,email,role\nBob,,user\nAnn,ann@acme.com,user\n")
    local code, out = run("--dry-run " .. f)
    assert.equal(1, code)
    assert.matches("line 2: INVALID empty email (column 2)", out, 1, true)
    assert.is_nil(out:find("nil", 1, true))
  end)
end)
