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
      { { "--apply", "f" }, "close-provision: --apply does not belong to provisioning (it takes --concurrency, "
        .. "--dry-run, --ensure, --failed, --journal, --json, --quiet, --token-file, --verbose)" },
      { { "sync", "--ensure", "f" }, "close-provision: --ensure does not belong to sync (it takes --apply, "
        .. "--concurrency, --deactivate-missing, --failed, --journal, --json, --keep, --max-deactivate, --quiet, "
        .. "--token-file, --verbose)" },
      -- issue 14 item 9: each command takes its own options, before or after the command word
      { { "deactivate", "--deactivate-missing", "f" }, "close-provision: --deactivate-missing does not belong to "
        .. "deactivate (it takes --apply, --concurrency, --failed, --journal, --json, --max-deactivate, --quiet, "
        .. "--token-file, --verbose)" },
      { { "export", "--apply" }, "close-provision: --apply does not belong to export (it takes --force, "
        .. "--ids, --token-file, -o/--output)" },
      { { "--apply", "export" }, "close-provision: --apply does not belong to export (it takes --force, "
        .. "--ids, --token-file, -o/--output)" },
      { { "export", "team.csv" }, "close-provision: export writes to stdout, or to -o FILE" },
      { { "export", "--force" }, "close-provision: --force goes with -o FILE" },
      { { "sync", "--keep", "k", "f" }, "close-provision: --keep and --max-deactivate go with --deactivate-missing" },
      { { "help", "bogus" }, "close-provision: help takes one command: provision, sync, deactivate, export, login, "
        .. "whoami" },
      { { "--quiet", "--verbose", "f" }, "close-provision: --quiet and --verbose exclude each other" },
      { { "deactivate", "--max-deactivate", "x", "f" }, "close-provision: --max-deactivate needs a whole number" },
      { { "--bogus", "f" }, "close-provision: unknown option --bogus" },
    }) do
      local code, out, err = run(case[1])
      assert.equal(2, code)
      assert.equal("", out)
      assert.equal(case[2] .. "\ntry close-provision --help", err)
    end
  end)

  it("options before or after the command word: --json export is export, not a file named export", function()
    local code, out, err = run({ "--json", "export" })
    assert.equal(2, code)
    assert.equal("", out)
    assert.equal("close-provision: --json does not belong to export (it takes --force, --ids, --token-file, "
      .. "-o/--output)\ntry close-provision --help", err)
    local lines = {}
    code = cli.run{ argv = { "--token-file", "/nonexistent/t.json", "export" }, no_signals = true,
      out = function() end, err = function(s) lines[#lines + 1] = s end }
    assert.equal(2, code)
    assert.equal(1, #lines)
    assert.matches("token file /nonexistent/t.json", lines[1], 1, true)
  end)

  it("help COMMAND and COMMAND --help print that command's usage (issue 14 item 9)", function()
    for _, argv in ipairs({ { "help", "sync" }, { "sync", "--help" }, { "--help", "sync" } }) do
      local code, out = run(argv)
      assert.equal(0, code)
      assert.matches("^usage: close%-provision sync %[OPTIONS%] FILE", out)
      assert.matches("--deactivate-missing", out, 1, true)
      assert.is_nil(out:find("--ensure", 1, true))
    end
    local code, out = run({ "help", "export" })
    assert.equal(0, code)
    assert.matches("^usage: close%-provision export %[%-o FILE %[%-%-force%]%]", out)
    code, out = run({ "help", "whoami" })
    assert.equal(0, code)
    assert.matches("^usage: close%-provision whoami", out)
    code, out = run({ "help" })
    assert.equal(0, code)
    assert.matches("^usage: close%-provision %[OPTIONS%] FILE", out)
    assert.matches("write nothing at all", out, 1, true) -- issue 14 item 3
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
    -- an exact duplicate is a warning (issue 14 item 15)
    assert.matches("line 3: jane@acme.com: warning: a duplicate of line 1, ignored", out, 1, true)
    assert.matches("3 items: 1 duplicate, 1 invalid, 1 planned", out, 1, true)
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
