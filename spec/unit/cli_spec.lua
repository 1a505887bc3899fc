-- close.cli (bin/close-provision) with a stubbed client: file parsing, the
-- journal, when it stops, and what it prints.
local cli = require "close.cli"
local fake = require "spec.unit.support.fake"

local tmpfile = require("spec.support.files").tmpfile

local function run(argv, client)
  local lines = {}
  local code = cli.run{ argv = argv, client = client, no_signals = true,
    out = function(s) lines[#lines + 1] = s end, err = function(s) lines[#lines + 1] = s end }
  return code, table.concat(lines, "\n")
end

describe("close.cli", function()
  it("reads rows: comments, blank lines, CRLF, spaces, role ids and role names", function()
    local path = tmpfile("# header\r\n\r\n  jane@acme.com , user \r\nkim@acme.com,Account Manager # note\n" ..
      "x@acme.com,Admin\ny@acme.com,Role_abc\nz@acme.com\n")
    local rows = cli.read_rows(path)
    os.remove(path)
    assert.same({
      { line = 3, text = "jane@acme.com , user", email = "jane@acme.com", role_id = "user" },
      { line = 4, text = "kim@acme.com,Account Manager", email = "kim@acme.com", role = "Account Manager" },
      { line = 5, text = "x@acme.com,Admin", email = "x@acme.com", role = "Admin" },
      { line = 6, text = "y@acme.com,Role_abc", email = "y@acme.com", role_id = "Role_abc" },
      { line = 7, text = "z@acme.com", email = "z@acme.com", role_id = "" },
    }, rows)
  end)

  it("skips what the journal holds and records what it finishes", function()
    local path = tmpfile("a@acme.com,user\nb@acme.com,user\n")
    local journal = tmpfile("a@acme.com\tprovisioned\tmemb_A\n")
    local h = fake.harness({ fake.ok('{"id": "memb_B"}') })
    local code, out = run({ "--journal", journal, path }, h.client)
    assert.equal(0, code)
    assert.equal(1, #h.calls)
    assert.matches("[1/2] a@acme.com: already done (journal)", out, 1, true)
    assert.matches("[2/2] b@acme.com: provisioned memb_B", out, 1, true)
    assert.equal("a@acme.com\tprovisioned\tmemb_A\nb@acme.com\tprovisioned\tmemb_B\n",
      require("spec.support.files").read(journal))
    os.remove(path); os.remove(journal); os.remove(path .. ".failed")
  end)

  it("stops at the first auth, permission or tls error, and keeps going after others", function()
    local path = tmpfile("a@acme.com,user\nb@acme.com,user\nc@acme.com,user\nd@acme.com,user\n")
    local h = fake.harness({ fake.status(400, '{"errors": ["nope"]}'), fake.ok('{"id": "memb_B"}'),
      fake.status(403, '{"error": "Forbidden."}'), fake.ok('{"id": "memb_D"}') })
    local code, out = run({ "--concurrency", "1", "--journal", path .. ".journal", path }, h.client)
    assert.equal(1, code)
    assert.equal(3, #h.calls)
    assert.matches("[1/4] a@acme.com: FAILED close: bad_request: nope", out, 1, true)
    assert.matches("stopped: permission errors would fail every remaining line", out, 1, true)
    assert.equal("a@acme.com,user\nc@acme.com,user\nd@acme.com,user\n",
      require("spec.support.files").read(path .. ".failed"))
    os.remove(path); os.remove(path .. ".journal"); os.remove(path .. ".failed")
  end)

  it("never prints the credential", function()
    local path = tmpfile("a@acme.com,user\n")
    local h = fake.harness({ fake.status(401, '{"error": "bad key ' .. fake.KEY .. '"}') })
    local _, out = run({ "--journal", path .. ".journal", path }, h.client)
    assert.is_nil(out:find(fake.KEY, 1, true))
    os.remove(path); os.remove(path .. ".journal"); os.remove(path .. ".failed")
  end)

  it("refuses bad usage with exit 2", function()
    assert.equal(2, (run({})))
    assert.equal(2, (run({ "a", "b" })))
    assert.equal(2, (run({ "--journal" })))
    assert.equal(2, (run({ "--concurrency", "0", "f" })))
    assert.equal(2, (run({ "--concurrency", "many", "f" })))
    assert.equal(0, (run({ "--help" })))
  end)
end)
