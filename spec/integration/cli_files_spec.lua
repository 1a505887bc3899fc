-- close-provision and the files people give it (issue 14 items 14-16): role
-- names in plans, output and export; header names; UTF-16; duplicate lines;
-- where the journal and the failed lines go, from a file or from stdin.
local server = require "spec.support.server"
local cli = require "spec.support.cli"
local files = require "spec.support.files"

local run, members, quote = cli.run, cli.members, cli.quote
local AM = "role_3WbpmlYSKRFDXdPd2em3vSyQ6c5iRYIUmW95yp4i9zH" -- Account Manager
local SALES = "role_WBTAHxOVMWwfjkaBi4UWpkPXhW7wjsYbNCTCpmbjFug" -- Sales Rep

local json_lines = cli.json_lines

describe("close-provision and the files people give it", function()
  local made = cli.per_test()
  local file = made.file
  before_each(made.before)
  after_each(made.after)

  describe("role names (item 14)", function()
    it("an unknown role's message lists every role a user may type, the predefined ones by their UI names", function()
      local f = file("kim@acme.com,Wizard\n")
      local code, out = run("--dry-run " .. f)
      assert.equal(1, code)
      assert.equal("line 1: kim@acme.com: INVALID unknown role 'Wizard' (roles: Admin, Super User, User, "
        .. "Restricted User, Account Manager, Sales Rep, Support)\n1 item: 1 invalid\n", out)
    end)

    it("takes the UI's names (Super User, Restricted User) and shows names in plans and output", function()
      local f = file("email,role\nann@acme.com,Super User\nbob@acme.com,restricted user\n"
        .. "cat@acme.com,Account Manager\nsam@acme.com,Sales Rep\n")
      local code, out = run("sync " .. f)
      assert.equal(0, code, out)
      assert.matches("line 2: ann@acme.com: create (Super User)\n", out, 1, true)
      assert.matches("line 3: bob@acme.com: create (Restricted User)\n", out, 1, true)
      assert.matches("line 4: cat@acme.com: create (Account Manager)\n", out, 1, true)
      assert.matches("line 5: sam@acme.com: change role (User -> Sales Rep)\n", out, 1, true)
      code, out = run("sync --apply " .. f)
      assert.equal(0, code, out)
      assert.equal("superuser", members()["ann@acme.com"].role_id)
      assert.equal("restricteduser", members()["bob@acme.com"].role_id)
      assert.equal(AM, members()["cat@acme.com"].role_id)
      assert.equal(SALES, members()["sam@acme.com"].role_id)
    end)

    it("--json carries the ids beside the names", function()
      local f = file("sam@acme.com,Sales Rep\nnew@acme.com,user\n")
      local code, out = run("sync --json " .. f)
      assert.equal(0, code)
      local docs = json_lines(out)
      assert.same({ "Sales Rep", SALES, "User", "user" }, { docs[1].role, docs[1].role_id, docs[1].previous_role,
        docs[1].previous_role_id })
      assert.same({ "User", "user" }, { docs[2].role, docs[2].role_id })
      -- a deactivate plan reads no roles: a custom role's name is unknown there, so only its id is given
      server.add_members{ { email = "am2@acme.com", role_id = AM, active = true } }
      code, out = run("deactivate --json --max-deactivate 2 " .. file("am2@acme.com\nsam@acme.com\n"))
      assert.equal(0, code)
      docs = json_lines(out)
      assert.same({ AM, nil }, { docs[1].previous_role_id, docs[1].previous_role })
      assert.same({ "user", "User" }, { docs[2].previous_role_id, docs[2].previous_role })
    end)

    it("export writes role names by default and ids with --ids; both read back the same", function()
      server.add_members{ { email = "am@acme.com", role_id = AM, active = true },
        { email = "su@acme.com", role_id = "superuser", active = true } }
      local code, out = run("export")
      assert.equal(0, code)
      assert.equal("email,role\nadmin@acme.com,Admin\nam@acme.com,Account Manager\nsam@acme.com,User\n"
        .. "su@acme.com,Super User\n", out)
      local ids
      code, ids = run("export --ids")
      assert.equal(0, code)
      assert.equal(("email,role\nadmin@acme.com,admin\nam@acme.com,%s\nsam@acme.com,user\nsu@acme.com,superuser\n")
        :format(AM), ids)
      for _, text in ipairs({ out, ids }) do
        local c, plan = run("sync " .. file(text))
        assert.equal(0, c)
        assert.equal("4 items: 4 unchanged\n", plan)
      end
      local c, _, err = run("--ids " .. file("x@acme.com\n"))
      assert.equal(2, c)
      assert.matches("--ids does not belong to provisioning", err, 1, true)
    end)
  end)

  describe("files (item 15)", function()
    it("an exact duplicate line is a warning, not an invalid line: exit 0, done once", function()
      local f = file("dup@acme.com,user\ndup@acme.com,User\nDup@acme.com,user\n")
      local code, out = run(f)
      assert.equal(0, code, out)
      assert.matches("line 1: dup@acme.com: created memb_%w+\n", out)
      assert.matches("line 2: dup@acme.com: warning: a duplicate of line 1, ignored\n", out, 1, true)
      assert.matches("line 3: Dup@acme.com: warning: a duplicate of line 1, ignored\n", out, 1, true)
      assert.matches("3 items: 1 done, 2 duplicate\n", out, 1, true)
      assert.is_nil(files.read(f .. ".failed"))
      local n = 0
      for _, m in ipairs(server.state().memberships) do if m.email:lower() == "dup@acme.com" then n = n + 1 end end
      assert.equal(1, n)
      -- --json: status duplicate, the reason beside it
      code, out = run("--json " .. f)
      assert.equal(0, code)
      local docs = json_lines(out)
      assert.same({ "duplicate", "duplicate", "a duplicate of line 1" }, { docs[2].action, docs[2].status,
        docs[2].reason })
      -- the same address with another role stays invalid on both lines
      code, out = run(file("two@acme.com,user\ntwo@acme.com,superuser\n"))
      assert.equal(1, code)
      assert.matches("line 1: two@acme.com: INVALID the same address as line 2 with another role", out, 1, true)
    end)

    it("reads the header names people write: Email Address, E-mail, Role Name", function()
      for i, header in ipairs({ "Email Address,Role Name", "Name;E-mail;Role", "e-mail address,role_id" }) do
        local sep = header:find(";", 1, true) and ";" or ","
        local row = header:find("Name;", 1, true) and ("Ann;h%d@acme.com;Sales Rep"):format(i)
          or header:find("role_id", 1, true) and ("h%d@acme.com,%s"):format(i, SALES)
          or ("h%d@acme.com" .. sep .. "Sales Rep"):format(i)
        local code, out = run(file(header .. "\n" .. row .. "\n"))
        assert.equal(0, code, header .. ": " .. out)
        assert.matches(("line 2: h%d@acme.com: created"):format(i), out, 1, true)
        assert.equal(SALES, members()[("h%d@acme.com"):format(i)].role_id)
      end
    end)

    it("refuses a UTF-16 file with 'save it as UTF-8', sending nothing", function()
      local text = "email,role\nu16@acme.com,user\n"
      for _, t in ipairs({ "\255\254" .. text:gsub(".", "%0\0"), "\254\255" .. text:gsub(".", "\0%0"),
        (text:gsub(".", "%0\0")) }) do
        local f = file(t)
        local code, out, err = run(f)
        assert.equal(2, code)
        assert.equal("", out)
        assert.equal("close-provision: cannot read " .. f .. ": the file is UTF-16 (Excel's \"Unicode Text\" and "
          .. "some exports write it): save it as UTF-8 (\"CSV UTF-8\") and try again\n", err)
      end
      assert.same({}, server.requests())
    end)
  end)

  describe("the journal and the failed lines (item 16)", function()
    it("--journal FILE and --failed FILE choose where they go, for a file", function()
      local f = file("j1@acme.com,user\nbad,user\n")
      local dir = files.tmpdir()
      local code, out = run(("--journal %s/j --failed %s/f %s"):format(dir, dir, f))
      local journal, failed = files.read(dir .. "/j"), files.read(dir .. "/f")
      os.execute("rm -rf " .. quote(dir))
      assert.equal(1, code)
      assert.matches("j1@acme.com", journal, 1, true)
      assert.equal("bad,user\n", failed)
      assert.is_nil(files.read(f .. ".journal"))
      assert.is_nil(files.read(f .. ".failed"))
      assert.matches("1 line to do again (failed, invalid or not started) is in " .. dir .. "/f\n", out, 1, true)
    end)

    it("from stdin: --journal and --failed, and the run says where they went", function()
      local dir = files.tmpdir()
      local code, out = run(("--journal %s/j --failed %s/f -"):format(dir, dir),
        { stdin = "s1@acme.com,user\nbad,user\n" })
      local journal, failed = files.read(dir .. "/j"), files.read(dir .. "/f")
      assert.equal(1, code)
      assert.matches("s1@acme.com", journal, 1, true)
      assert.equal("bad,user\n", failed)
      assert.matches("\nthe journal is " .. dir .. "/j\n", out, 1, true)
      assert.matches("1 line to do again (failed, invalid or not started) is in " .. dir .. "/f\n", out, 1, true)
      -- without them: stdin.journal and stdin.failed in the working directory, said so
      -- (the launcher, which finds the checkout's modules from another directory)
      local cmd = ("cd %s && printf 's2@acme.com,user\\nbad2,user\\n' | env CLOSE_LUA_VERSION=%s %s "
        .. "%s/bin/close-provision - 2>&1; echo \"exit=$?\""):format(quote(dir), cli.runtime, cli.env_words(),
        os.getenv("PWD"))
      local p = assert(io.popen(cmd))
      local all = p:read("*a")
      p:close()
      local j2, f2 = files.read(dir .. "/stdin.journal"), files.read(dir .. "/stdin.failed")
      os.execute("rm -rf " .. quote(dir))
      assert.matches("exit=1", all, 1, true)
      assert.matches("s2@acme.com", j2, 1, true)
      assert.equal("bad2,user\n", f2)
      assert.matches("\nthe journal is stdin.journal\n", all, 1, true)
      assert.matches("1 line to do again (failed, invalid or not started) is in stdin.failed\n", all, 1, true)
    end)
  end)
end)
