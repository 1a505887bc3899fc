-- close-provision, defects a QA pass found after issue 14: an empty file with
-- --deactivate-missing, header rows that name nothing known and
-- tab-separated files, quoted addresses with spaces, "1 items", an empty
-- journal. Seed organization: admin@acme.com (admin, the caller),
-- sam@acme.com (user), old@acme.com (inactive).
local server = require "spec.support.server"
local cli = require "spec.support.cli"
local files = require "spec.support.files"

local run, members, read = cli.run, cli.members, files.read

local HEADERS = "line 1 looks like a header row but names no known column: name the email "
  .. "column email, e-mail, email address, e-mail address or mail (and a role column role, role name, "
  .. "rolename, role id or roleid)\n"

describe("close-provision (QA fixes)", function()
  local made = cli.per_test()
  local file = made.file
  before_each(made.before)
  after_each(made.after)

  describe("1: --deactivate-missing and a file that lists nobody", function()
    local REFUSED = "close-provision: %s lists nobody: with --deactivate-missing every active member would be "
      .. "deactivated; refused\n"

    it("is refused (exit 2, one line) before the organization is read, with --apply and --json alike", function()
      server.add_members{ { email = "ann@acme.com", role_id = "user", active = true } }
      for _, content in ipairs({ "", "email,role\n", "# nobody\n\n", ",,\n" }) do
        local f = file(content)
        for _, flags in ipairs({ "", "--apply ", "--max-deactivate 100 --apply ", "--json " }) do
          local code, out, err = run("sync --deactivate-missing " .. flags .. f)
          assert.equal(2, code, content .. flags)
          assert.equal(REFUSED:format(f), err)
          if flags == "--json " then
            local doc = cli.json_lines(out)[1]
            assert.same({ true, "configuration", 0 }, { doc.summary, doc.stopped, doc.items })
          else
            assert.equal("", out)
          end
        end
      end
      assert.equal(0, server.stats().requests)
      assert.is_true(members()["ann@acme.com"].active)
      assert.is_true(members()["sam@acme.com"].active)
    end)

    it("a file of invalid lines only lists nobody as well; without credentials too", function()
      local f = file("email\nnot-an-address\n")
      local code, out, err = run("sync --deactivate-missing " .. f)
      assert.equal(2, code)
      assert.equal("", out)
      assert.equal(REFUSED:format(f), err)
      code, out, err = run("sync --deactivate-missing " .. f, { key = false })
      assert.equal(2, code)
      assert.equal("", out)
      assert.equal(REFUSED:format(f), err)
      assert.equal(0, server.stats().requests)
    end)

    it("an empty file without --deactivate-missing is nothing to do", function()
      local code, out = run("sync " .. file("email,role\n"))
      assert.equal(0, code)
      assert.equal("0 items: nothing to do\n", out)
    end)
  end)

  describe("2: a header row that names no known column, and tab-separated files", function()
    it("refuses a header of unknown names with the accepted names, nothing read as data", function()
      for _, content in ipairs({ "Work Email,Level\njo@acme.com,user\n", "Work Email\njo@acme.com\n" }) do
        local f = file(content)
        local code, out, err = run("sync " .. f)
        assert.equal(2, code)
        assert.equal("", out)
        assert.equal("close-provision: cannot read " .. f .. ": " .. HEADERS, err)
      end
      assert.equal(0, server.stats().requests)
    end)

    it("refuses a tab-separated file, header or not, saying fields are separated by , or ;", function()
      local TABS = "line 1 is separated by tabs: separate the fields with ',' or ';' (save as CSV)\n"
      for _, content in ipairs({ "email\trole\njo@acme.com\tuser\n", "jo@acme.com\tuser\n",
        "Work Email\tRole\njo@acme.com\tuser\n" }) do
        local f = file(content)
        local code, out, err = run("sync " .. f)
        assert.equal(2, code)
        assert.equal("", out)
        assert.equal("close-provision: cannot read " .. f .. ": " .. TABS, err)
      end
    end)

    it("a first line with an address is data, as before; a known header still works", function()
      local code, out = run("sync " .. file("jo@acme.com,user\n"))
      assert.equal(0, code, out)
      assert.equal("line 1: jo@acme.com: create (User)\n1 item: 1 planned\n", out)
      code, out = run("sync " .. file("Email Address;Role Name\njo@acme.com;user\n"))
      assert.equal(0, code, out)
      assert.equal("line 2: jo@acme.com: create (User)\n1 item: 1 planned\n", out)
    end)
  end)

  it("3: a quoted address is trimmed as an unquoted one is; as the role is", function()
    local f = file('" jo@acme.com ",user\n"ann@acme.com\t", user \n"  ",user\n" bob@acme.com ","Sales Rep "\n')
    local code, out = run("--concurrency 1 " .. f)
    assert.equal(1, code)
    local m = members()
    assert.equal("line 3: INVALID empty email (column 1)\n"
      .. "line 1: jo@acme.com: created " .. m["jo@acme.com"].id .. "\n"
      .. "line 2: ann@acme.com: created " .. m["ann@acme.com"].id .. "\n"
      .. "line 4: bob@acme.com: created " .. m["bob@acme.com"].id .. "\n"
      .. "4 items: 3 done, 1 invalid\n"
      .. "1 line to do again (failed, invalid or not started) is in " .. f .. ".failed\n", out)
    assert.equal("user", m["jo@acme.com"].role_id)
    assert.equal("user", m["ann@acme.com"].role_id)
    assert.matches("^role_", m["bob@acme.com"].role_id)
  end)

  describe("4: counts agree in number", function()
    it("1 item, 2 items; 1 line to do again", function()
      local code, out = run("sync " .. file("sam@acme.com,user\n"))
      assert.equal(0, code)
      assert.equal("1 item: 1 unchanged\n", out)
      code, out = run("sync " .. file("sam@acme.com,user\nadmin@acme.com,admin\n"))
      assert.equal(0, code)
      assert.equal("2 items: 2 unchanged\n", out)
      local f = file("jo@acme.com,user\nbad,user\n")
      code, out = run(f)
      assert.equal(1, code)
      assert.matches("\n1 line to do again (failed, invalid or not started) is in " .. f .. ".failed\n", out, 1, true)
      code, out = run("deactivate --max-deactivate 0 " .. file("sam@acme.com\n"))
      assert.equal(1, code)
      assert.matches("over the limit: the plan deactivates 1 member, more than --max-deactivate 0 (sam@acme.com)",
        out, 1, true)
    end)
  end)

  describe("5: the journal is created at its first record", function()
    it("a run that writes nothing leaves no journal; one that writes has it", function()
      local f = file("nobody@acme.com\nold@acme.com\n")
      local code, out = run("deactivate --apply " .. f)
      assert.equal(0, code, out)
      assert.is_nil(read(f .. ".journal"))
      local g = file("sam@acme.com\n")
      code, out = run("deactivate --apply " .. g)
      assert.equal(0, code, out)
      assert.matches("\tsam@acme.com\tdeactivate\t", read(g .. ".journal"), 1, true)
    end)

    it("a journal whose directory is missing is refused before any write (exit 2)", function()
      local dir = files.tmpdir()
      local f = file("one@acme.com\n")
      local code, out, err = run("--journal " .. dir .. "/missing/j " .. f)
      assert.equal(2, code, out)
      assert.matches("^close%-provision: cannot write the journal " .. dir:gsub("%p", "%%%0") .. "/missing/j: ", err)
      assert.is_nil(members()["one@acme.com"])
      os.remove(dir)
    end)

    it("a journal that cannot be created stops the run at the first write (exit 2)", function()
      local dir = files.tmpdir()
      local j = dir .. "/" .. ("j"):rep(300) -- longer than a file name may be
      local f = file("one@acme.com\ntwo@acme.com\n")
      local code, out = run("--concurrency 1 --journal " .. j .. " " .. f)
      assert.equal(2, code, out)
      assert.matches("\n2 items: 1 done, 1 not started\nstopped: cannot write the journal (" .. j
        .. ": File name too long)\n", out, 1, true)
      assert.is_true(members()["one@acme.com"].active)
      assert.is_nil(members()["two@acme.com"])
      os.remove(dir)
    end)
  end)
end)
