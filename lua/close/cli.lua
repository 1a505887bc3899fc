--- close-provision: keeps Close memberships in line with a file, for people
-- onboarding a team at once and admins keeping a team in sync with a list
-- (bin/close-provision is the launcher). This module picks the command; the
-- rooms are in close/cli/: args (the command line), provision (plan and
-- apply from a file), apply (the writes, journal, progress, stop rule),
-- output (text and JSON), journal, export, login, whoami, credentials (the
-- client).
-- @module close.cli

local close = require "close"
local core = require "close.core"
local args = require "close.cli.args"
local export = require "close.cli.export"
local login = require "close.cli.login"
local provision = require "close.cli.provision"
local whoami = require "close.cli.whoami"

local M = {}

M.VERSION = close.VERSION
M.default_token_file = login.default_token_file

--- `close-provision login` (see close.cli.login); returns the exit status.
function M.login(env, out, errout) return login.run(env, out, errout, args.USAGE_OF.login) end

--- Runs the tool. `env` is `{argv=, out=, err=, client=}` (out/err: functions
-- taking a line; client: a client to use instead of the environment's).
-- Returns the exit status.
function M.run(env)
  local errout = env.err or function(s) io.stderr:write(s, "\n") end
  local out = env.out or print
  local argv = env.argv or {}
  if argv[1] == "login" then return M.login(env, out, errout) end
  local opts, why = args.parse(argv)
  if not opts then
    errout("close-provision: " .. why)
    errout("try close-provision --help")
    return 2
  end
  if opts.help then
    out(args.usage(opts))
    return 0
  end
  if opts.version then
    out(("close-provision %s (libcurl %s)"):format(M.VERSION, core.curl_version()))
    return 0
  end
  if opts.command == "export" then return export.run(env, opts, errout) end
  if opts.command == "whoami" then return whoami.run(env, opts, errout) end
  return provision.run(env, opts, errout)
end

return M
