-- Defects found by trying close-provision as a new user would (the QA pass):
-- bin/close-provision as a process against the local server. Its seed
-- organization: admin@acme.com (admin, the key's user), sam@acme.com (user).
local server = require "spec.support.server"
local cli = require "spec.support.cli"
local files = require "spec.support.files"

local run, members = cli.run, cli.members

local json_docs = cli.json_lines

describe("close-provision, as a new user tries it", function()
  local each = cli.per_test()
  local file = each.file
  before_each(each.before)
  after_each(each.after)

  it("--json: a refused --apply over --max-deactivate still says over_limit and the limit, as the plan did", function()
    for i = 1, 3 do assert(each.client:create_membership{ email = ("q%d@acme.com"):format(i), role_id = "user" }) end
    local f = file("admin@acme.com,admin\n")
    local code, out, err = run("sync --json --deactivate-missing --max-deactivate 1 --apply " .. f)
    assert.equal(2, code)
    assert.matches("close-provision: over the limit: the plan deactivates 4 members", err, 1, true)
    local docs = json_docs(out)
    local summary = docs[#docs]
    assert.is_true(summary.summary)
    assert.equal("over_limit", summary.stopped)
    assert.is_true(summary.over_limit)
    assert.equal(1, summary.max_deactivate)
    assert.matches("^orga_", summary.organization_id)
    assert.is_false(summary.applied)
    assert.is_true(members()["sam@acme.com"].active)
  end)

  it("--failed or --journal naming FILE itself is refused before anything is read or written", function()
    local text = "email,role\nqa1@acme.com,user\nbad@@acme.com,user\n"
    local f = file(text)
    local before = #server.requests()
    local code, out, err = run("--failed " .. f .. " " .. f)
    assert.equal(2, code)
    assert.equal("", out)
    assert.equal(("close-provision: --failed names FILE itself (%s): give another path\n"
      .. "try close-provision --help\n"):format(f), err)
    code, out, err = run("--journal " .. f .. " " .. f)
    assert.equal(2, code)
    assert.equal("", out)
    assert.matches("^close%-provision: %-%-journal names FILE itself %(", err)
    code, out, err = run("--journal " .. f .. ".out --failed " .. f .. ".out " .. f)
    assert.equal(2, code)
    assert.equal("", out)
    assert.matches("^close%-provision: %-%-journal and %-%-failed name the same file: give each its own\n", err)
    assert.equal(text, files.read(f))
    assert.equal(before, #server.requests())
    assert.is_nil(members()["qa1@acme.com"])
  end)

  it("login: a --port or --timeout out of range is one line and exit 2, not a traceback", function()
    local cases = {
      { "--port 99999", "--port needs a whole number from 0 to 65535 (0: any free port)" },
      { "--port 1.5", "--port needs a whole number from 0 to 65535 (0: any free port)" },
      { "--timeout -1", "--timeout needs a number of seconds over 0" },
      { "--timeout 0", "--timeout needs a number of seconds over 0" },
    }
    for _, case in ipairs(cases) do
      local code, out, err = run("login --client-id cid --token-file /nonexistent/t.json " .. case[1],
        { vars = "CLOSE_CLIENT_SECRET=s" })
      assert.equal(2, code, case[1])
      assert.equal("", out)
      assert.equal("close-provision login: " .. case[2] .. "\n", err)
    end
  end)
end)
