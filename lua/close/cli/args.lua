--- close-provision's command line: the usage text and argv -> options.
-- @module close.cli.args

local concurrency_error = require("close.batch").concurrency_error

local M = {}

M.USAGE = [[
usage: close-provision [OPTIONS] FILE          create the members FILE lists
       close-provision sync [OPTIONS] FILE     the plan to make the team FILE; --apply carries it out
       close-provision deactivate [OPTIONS] FILE   deactivate the members FILE lists (emails)
       close-provision export [FILE|-]         the active members, as FILE's format
       close-provision login --client-id ID [--token-file TOKENS] [--port N] [--timeout SECONDS]

FILE is CSV: "email,role" a line, or a header row naming the columns email and
role (in any order, others ignored); ',' or ';'; quotes as in RFC 4180; a
UTF-8 BOM and lines starting with '#' are ignored; '-' reads stdin. A role is
an id (user, superuser, restricteduser, admin, role_...) or a role's name.

  --ensure        provisioning: also change the role of existing members
  --dry-run       provisioning: print the plan, write nothing
  --apply         sync, deactivate: carry the plan out
  --deactivate-missing  sync: deactivate active members not in FILE
  --max-deactivate N    refuse a plan deactivating more (default 10% of
                  the organization, at least 1)
  --keep FILE     emails never to deactivate
  --concurrency N|auto  calls at once (default auto: grows while Close's
                  rate limits leave room); calls are paced by those limits
  --journal FILE  where finished items are recorded (default: FILE.journal)
  --token-file TOKENS   OAuth tokens written by login, refreshed and rotated
                  as they expire (default: CLOSE_TOKEN_FILE)
  --json          one JSON object per item and a summary object, on stdout
  --quiet         failures and the summary only;  --verbose  every item
  --version, --help

login gets the first OAuth tokens: it prints the URL where you approve the
app, takes Close's redirect once on 127.0.0.1 (--port, default any free
port; register http://127.0.0.1:PORT/callback with the app), exchanges the
code and writes TOKENS (default $XDG_CONFIG_HOME/close/tokens.json, mode 0600).

Credentials come from CLOSE_API_KEY, CLOSE_ACCESS_TOKEN or the token file
(with CLOSE_CLIENT_SECRET, never an argument); CLOSE_BASE_URL and
CLOSE_CA_FILE are optional. Exit status: 0 all done (or a plan with nothing
invalid), 1 some items failed, were invalid or not started, 2 bad usage or
configuration.]]

local COMMANDS = { sync = true, deactivate = true, export = true }
local FLAGS = { ensure = true, ["dry-run"] = true, apply = true, ["deactivate-missing"] = true, json = true,
  quiet = true, verbose = true }
local VALUED = { ["max-deactivate"] = true, keep = true, concurrency = true, journal = true, ["token-file"] = true }

-- the words of argv into opts (names as written, values as strings)
local function scan(argv)
  local opts, i = { command = "provision" }, 1
  if COMMANDS[argv[1]] then
    opts.command = argv[1]
    i = 2
  end
  while i <= #argv do
    local a = argv[i]
    local name = a:match("^%-%-([%w%-]+)$")
    if a == "-h" or a == "--help" then opts.help = true
    elseif a == "--version" then opts.version = true
    elseif a == "-" and not opts.file then opts.file = a
    elseif name and FLAGS[name] then opts[name] = true
    elseif name and VALUED[name] then
      i = i + 1
      if argv[i] == nil then return nil, a .. " needs a value" end
      opts[name] = argv[i]
    elseif a:sub(1, 1) == "-" then return nil, "unknown option " .. a
    elseif opts.file then return nil, "one FILE only"
    else opts.file = a end
    i = i + 1
  end
  return opts
end

-- --concurrency and --max-deactivate as numbers
local function numbers(opts)
  local c = opts.concurrency
  if c then
    opts.concurrency = c == "auto" and "auto" or tonumber(c)
    local n = opts.concurrency
    local why = n ~= "auto" and concurrency_error(n)
    if why then return nil, "--concurrency needs " .. why .. ", or auto" end
  end
  if opts["max-deactivate"] then
    local n = tonumber(opts["max-deactivate"])
    if not n or n < 0 or n % 1 ~= 0 then return nil, "--max-deactivate needs a whole number" end
    opts["max-deactivate"] = n
  end
  return opts
end

-- options that the command takes, together
local function fits(opts)
  if opts.command ~= "export" and not opts.file then return nil, "FILE is missing" end
  if opts.command == "provision" and (opts.apply or opts["deactivate-missing"]) then
    return nil, "--apply and --deactivate-missing belong to sync"
  end
  if opts.command ~= "provision" and (opts.ensure or opts["dry-run"]) then
    return nil, "--ensure and --dry-run belong to provisioning (sync plans without --apply)"
  end
  if opts.quiet and opts.verbose then return nil, "--quiet and --verbose exclude each other" end
  return opts
end

--- argv -> options (`command`, `file`, and each option by its name), or nil
-- and the one-line reason.
function M.parse(argv)
  local opts, why = scan(argv)
  if not opts then return nil, why end
  if opts.help or opts.version then return opts end
  opts, why = numbers(opts)
  if not opts then return nil, why end
  opts, why = fits(opts)
  if not opts then return nil, why end
  opts.journal = opts.journal or (opts.file and opts.file ~= "-" and opts.file .. ".journal") or nil
  return opts
end

return M
