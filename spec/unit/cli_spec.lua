-- close.cli (bin/close-provision) without a server: arguments, usage
-- errors, --version, and the dry run that needs no credentials. What it does
-- against Close is in spec/integration/cli_spec.lua.
local cli = require "close.cli"

local tmpfile = require("spec.support.files").tmpfile

local function run(argv, client)
  local out, err = {}, {}
  local code = cli.run{ argv = argv, client = client, no_signals = true,
    out = function(s) out[#out + 1] = s end, err = function(s) err[#err + 1] = s end }
  return code, table.concat(out, "\n"), table.concat(err, "\n")
end

describe("close.cli", function()
  it("refuses bad usage with one line and a hint on stderr, exit 2", function()
    for _, case in ipairs({
      { {}, "close-provision: FILE is missing" },
      { { "a", "b" }, "close-provision: one FILE only" },
      { { "--journal" }, "close-provision: --journal needs a value" },
      { { "--concurrency", "0", "f" }, "close-provision: --concurrency needs a whole number from 1 to 1000, or auto" },
      { { "--concurrency", "many", "f" },
        "close-provision: --concurrency needs a whole number from 1 to 1000, or auto" },
      { { "--apply", "f" }, "close-provision: --apply and --deactivate-missing belong to sync" },
      { { "sync", "--ensure", "f" }, "close-provision: --ensure and --dry-run belong to provisioning (sync plans "
        .. "without --apply)" },
      { { "--quiet", "--verbose", "f" }, "close-provision: --quiet and --verbose exclude each other" },
      { { "--max-deactivate", "x", "f" }, "close-provision: --max-deactivate needs a whole number" },
      { { "--bogus", "f" }, "close-provision: unknown option --bogus" },
    }) do
      local code, out, err = run(case[1])
      assert.equal(2, code)
      assert.equal("", out)
      assert.equal(case[2] .. "\ntry close-provision --help", err)
    end
  end)

  it("--help and --version", function()
    local code, out = run({ "--help" })
    assert.equal(0, code)
    assert.matches("^usage: close%-provision", out)
    code, out = run({ "--version" })
    assert.equal(0, code)
    assert.matches("^close%-provision 0%.1%.0 %(libcurl [%d.]+%)$", out)
  end)

  it("a dry run without credentials checks the file alone and says so", function()
    local path = tmpfile("jane@acme.com,user\nno-at-sign,user\njane@acme.com,user\n")
    local code, out = run({ "--dry-run", path }, false)
    os.remove(path)
    assert.equal(1, code)
    assert.matches("no credentials: checking the file alone", out, 1, true)
    assert.matches("line 2: no-at-sign: INVALID email must contain '@'", out, 1, true)
    assert.matches("line 3: jane@acme.com: INVALID a duplicate of line 1", out, 1, true)
    assert.matches("3 items: 2 invalid, 1 planned", out, 1, true)
  end)

  it("without credentials anything else is a configuration error, exit 2", function()
    local path = tmpfile("jane@acme.com,user\n")
    local code, _, err = run({ path }, false)
    os.remove(path)
    assert.equal(2, code)
    assert.equal("close-provision: no credentials: set CLOSE_API_KEY, CLOSE_ACCESS_TOKEN or CLOSE_TOKEN_FILE", err)
  end)

  it("cannot read a missing file: exit 2", function()
    local code, _, err = run({ "/nonexistent/team.csv" }, false)
    assert.equal(2, code)
    assert.matches("^close%-provision: cannot read /nonexistent/team.csv: ", err)
  end)
end)
