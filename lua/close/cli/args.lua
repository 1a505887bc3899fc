--- close-provision's command line: the usage texts and argv -> options.
-- Options may come before or after the command word; each command takes
-- its own, and one it does not take is refused with a one-line reason.
-- @module close.cli.args

local concurrency_error = require("close.batch").concurrency_error

local M = {}

local FILE_TEXT = [[
FILE is CSV: "email,role" a line, or a header row naming the columns (email:
Email, E-mail, Email Address; role: Role, Role Name, or Role ID; in any order,
others ignored); ',' or ';'; quotes as in RFC 4180; UTF-8 (a UTF-16 file is
refused: save it as UTF-8), a BOM and lines starting with '#' are ignored;
'-' reads stdin. A role is a name (Admin, Super User, User, Restricted User,
or the organization's: Account Manager) or an id (superuser, role_...). A
line that repeats an earlier one is a warning and is done once.]]

local COMMON_TEXT = [[
  --concurrency N|auto  calls at once (default auto: grows while Close's
                  rate limits leave room); calls are paced by those limits
  --journal FILE  where what was done is recorded (default: FILE.journal,
                  stdin.journal for '-'); a record only: what to do is
                  decided from the organization
  --failed FILE   where the lines to do again go (default: FILE.failed,
                  stdin.failed for '-')
  --token-file TOKENS   OAuth tokens written by login, refreshed and rotated
                  as they expire (default: CLOSE_TOKEN_FILE)
  --json          one JSON object per item and a summary object, on stdout
  --quiet         failures and the summary only;  --verbose  every item]]

local LIMIT_TEXT = [[
  --max-deactivate N    the most members a plan may deactivate (default 10%
                  of the active members, at least 1; 0: none); a plan over
                  it is shown, marked, and --apply refuses it]]

local ENV_TEXT = [[
Credentials come from CLOSE_API_KEY, CLOSE_ACCESS_TOKEN or the token file
(with CLOSE_CLIENT_SECRET, never an argument); CLOSE_BASE_URL and
CLOSE_CA_FILE are optional. Exit status: 0 all done (or a plan with nothing
invalid), 1 some items failed, were invalid or not started (or a plan over
--max-deactivate), 2 bad usage or configuration (a refused key or token
included), 130 interrupted (SIGINT), 143 terminated (SIGTERM).]]

M.USAGE_OF = {
  provision = table.concat({ [[
usage: close-provision [OPTIONS] FILE    create the members FILE lists

  --ensure        also change the role of existing members
  --dry-run       print the plan and write nothing at all (no journal, no
                  FILE.failed); without credentials, checks the file alone]], COMMON_TEXT, "", FILE_TEXT }, "\n"),
  sync = table.concat({ [[
usage: close-provision sync [OPTIONS] FILE   the plan to make the team FILE

  --apply         carry the plan out (without it nothing is written)
  --deactivate-missing  deactivate the active members not in FILE (never
                  the caller, never the last active admin)
  --keep FILE     emails never to deactivate]], LIMIT_TEXT, COMMON_TEXT, "", FILE_TEXT }, "\n"),
  deactivate = table.concat({ [[
usage: close-provision deactivate [OPTIONS] FILE   deactivate the members FILE lists

  --apply         carry the plan out (without it nothing is written)]], LIMIT_TEXT, COMMON_TEXT, "", FILE_TEXT },
    "\n"),
  export = [==[
usage: close-provision export [-o FILE [--force]] [--ids]   the active members as CSV (email,role)

  -o, --output FILE   write FILE instead of stdout; an existing FILE is
                  never replaced without --force
  --force         replace FILE
  --ids           role ids (admin, role_...) instead of role names
  --token-file TOKENS   as for the other commands]==],
  whoami = [[
usage: close-provision whoami [--json] [--token-file TOKENS]

Who the credentials act as: the organization, the caller, its role, and the
credential (an API key, an access token, or OAuth tokens and when the access
token expires); nothing secret.]],
  login = [[
usage: close-provision login --client-id ID [--token-file TOKENS | --redis URL] [--port N] [--timeout SECONDS]

login gets the first OAuth tokens: it prints the URL where you approve the
app, takes Close's redirect once on 127.0.0.1 (--port, default any free
port; register http://127.0.0.1:PORT/callback with the app), exchanges the
code and writes TOKENS (default $XDG_CONFIG_HOME/close/tokens.json, mode 0600).
It uses PKCE (S256) and the state check, and asks for offline_access.
--redis redis://[:PASSWORD@]HOST[:PORT][/DB] writes the tokens into that
Redis instead (the pair close-scim --redis nodes share; the password also
from CLOSE_REDIS_PASSWORD).

The approval page is CLOSE_AUTHORIZE_URL when set; else, when CLOSE_BASE_URL
points at a loopback address (the local Close-compatible server), that
server's /oauth2/authorize/; else https://app.close.com/oauth2/authorize/.
CLOSE_CLIENT_SECRET holds the app's secret (never an argument).]],
}

M.USAGE = table.concat({ [==[
usage: close-provision [OPTIONS] FILE          create the members FILE lists
       close-provision sync [OPTIONS] FILE     the plan to make the team FILE; --apply carries it out
       close-provision deactivate [OPTIONS] FILE   deactivate the members FILE lists (emails)
       close-provision export [-o FILE [--force]] [--ids]  the active members, as CSV
       close-provision login --client-id ID [--token-file TOKENS | --redis URL] [--port N] [--timeout SECONDS]
       close-provision whoami [--json] [--token-file TOKENS]   who the credentials act as
       close-provision help COMMAND            that command's options (also COMMAND --help)

Options may come before or after the command word. Provisioning takes:

  --ensure        also change the role of existing members
  --dry-run       print the plan and write nothing at all (no journal, no
                  FILE.failed); without credentials, checks the file alone]==], COMMON_TEXT, [[

sync and deactivate take --apply and --max-deactivate N, sync also
--deactivate-missing and --keep FILE (help sync, help deactivate).
]], FILE_TEXT, "", ENV_TEXT, "  --version, --help" }, "\n")

for name, text in pairs(M.USAGE_OF) do M.USAGE_OF[name] = text .. (name == "login" and "" or "\n\n" .. ENV_TEXT) end

-- Each option: whether it takes a value, and the commands that take it.
local COMMON = { provision = true, sync = true, deactivate = true }
local OPTIONS = {
  ensure = { commands = { provision = true } },
  ["dry-run"] = { commands = { provision = true } },
  apply = { commands = { sync = true, deactivate = true } },
  ["deactivate-missing"] = { commands = { sync = true } },
  ["max-deactivate"] = { value = true, commands = { sync = true, deactivate = true } },
  keep = { value = true, commands = { sync = true } },
  concurrency = { value = true, commands = COMMON },
  journal = { value = true, commands = COMMON },
  failed = { value = true, commands = COMMON },
  ["token-file"] = { value = true, commands = { provision = true, sync = true, deactivate = true, export = true,
    whoami = true } },
  json = { commands = { provision = true, sync = true, deactivate = true, whoami = true } },
  quiet = { commands = COMMON },
  verbose = { commands = COMMON },
  output = { value = true, commands = { export = true } },
  force = { commands = { export = true } },
  ids = { commands = { export = true } },
}
local SHORT = { ["-o"] = "output" }
local COMMANDS = { sync = true, deactivate = true, export = true, whoami = true, help = true }

-- the options a command takes, for a refusal's reason
local function takes(command)
  local names = {}
  for name, o in pairs(OPTIONS) do
    if o.commands[command] then names[#names + 1] = (name == "output" and "-o/--" or "--") .. name end
  end
  table.sort(names)
  return table.concat(names, ", ")
end

-- The words of argv: the command word (the first word that is not an
-- option or an option's value), options by name and the other words.
local function scan(argv)
  local opts, words, i = { given = {} }, {}, 1
  while i <= #argv do
    local a = argv[i]
    local name = SHORT[a] or a:match("^%-%-([%w%-]+)$")
    if a == "-h" or a == "--help" then opts.help = true
    elseif a == "--version" then opts.version = true
    elseif a == "-" or a:sub(1, 1) ~= "-" then
      if not opts.word and COMMANDS[a] and #words == 0 then opts.word = a else words[#words + 1] = a end
    elseif not (name and OPTIONS[name]) then return nil, "unknown option " .. a
    else
      local value = true
      if OPTIONS[name].value then
        i = i + 1
        value = argv[i]
        if value == nil then return nil, a .. " needs a value" end
      end
      opts[name], opts.given[#opts.given + 1] = value, name
    end
    i = i + 1
  end
  opts.command = opts.word or "provision"
  return opts, words
end

-- the options given that the command does not take
local function fits(opts)
  for _, name in ipairs(opts.given) do
    if not OPTIONS[name].commands[opts.command] then
      local c = opts.command == "provision" and "provisioning" or opts.command
      return nil, ("--%s does not belong to %s (it takes %s)"):format(name, c, takes(opts.command))
    end
  end
  if (opts.keep or opts["max-deactivate"]) and opts.command == "sync" and not opts["deactivate-missing"] then
    return nil, "--keep and --max-deactivate go with --deactivate-missing"
  end
  if opts.force and not opts.output then return nil, "--force goes with -o FILE" end
  if opts.quiet and opts.verbose then return nil, "--quiet and --verbose exclude each other" end
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

-- the words after the command: FILE (export, whoami: none)
local function file_of(opts, words)
  if #words > 1 then return nil, "one FILE only" end
  if opts.command == "export" then
    if words[1] then return nil, "export writes to stdout, or to -o FILE" end
    return opts
  end
  if opts.command == "whoami" then
    if words[1] then return nil, "whoami takes no FILE" end
    return opts
  end
  opts.file = words[1]
  if not opts.file then return nil, "FILE is missing" end
  return opts
end

-- `help [COMMAND]` and `COMMAND --help`: the topic of the usage to print
local function help_of(opts, words)
  if opts.command ~= "help" then
    opts.topic = opts.word
    return opts
  end
  opts.help, opts.topic = true, words[1]
  if #words > 1 or (words[1] and not M.USAGE_OF[words[1]]) then
    return nil, "help takes one command: provision, sync, deactivate, export, login, whoami"
  end
  return opts
end

-- a path as a comparable string: absolute (from $PWD), without "." parts or
-- doubled slashes (".." and links are left as they are)
local function plain_path(p)
  if p:sub(1, 1) ~= "/" then p = (os.getenv("PWD") or ".") .. "/" .. p end
  p = p:gsub("/+", "/")
  local n
  repeat p, n = p:gsub("/%./", "/") until n == 0
  return (p:gsub("/%.$", ""))
end

-- What a run writes must not be what it reads: --failed replaces its file,
-- the journal is appended to.
local function outputs_apart(opts)
  if not opts.file or opts.file == "-" then return opts end
  local file = plain_path(opts.file)
  for _, name in ipairs({ "failed", "journal" }) do
    if opts[name] and plain_path(opts[name]) == file then
      return nil, ("--%s names FILE itself (%s): give another path"):format(name, opts.file)
    end
  end
  if plain_path(opts.failed) == plain_path(opts.journal) then
    return nil, "--journal and --failed name the same file: give each its own"
  end
  return opts
end

--- argv -> options (`command`, `file`, `help` with its `topic`, `version`,
-- and each option by its name), or nil and the one-line reason.
function M.parse(argv)
  local opts, words = scan(argv)
  if not opts then return nil, words end
  if opts.version then return opts end
  if opts.help or opts.command == "help" then return help_of(opts, words) end
  local why
  opts, why = file_of(opts, words)
  if not opts then return nil, why end
  opts, why = fits(opts)
  if not opts then return nil, why end
  opts, why = numbers(opts)
  if not opts then return nil, why end
  -- beside FILE; from stdin, in the working directory (and the run says so)
  local base = opts.file and (opts.file == "-" and "stdin" or opts.file)
  opts.journal = opts.journal or (base and base .. ".journal") or nil
  opts.failed = opts.failed or (base and base .. ".failed") or nil
  return outputs_apart(opts)
end

--- The usage text to print for --help: the topic's, or the whole.
function M.usage(opts)
  return opts.topic and M.USAGE_OF[opts.topic] or M.USAGE
end

return M
