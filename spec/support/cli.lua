-- bin/close-provision as a user runs it, against the local server
-- (spec.support.server): a real process, its exit status and its output.
local server = require "spec.support.server"
local files = require "spec.support.files"

local M = {}

function M.quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- the Lua that runs the specs runs the tool too
M.lua = arg and arg[-1] or "lua"
-- and the launcher (bin/close-provision run directly) is told the same
-- runtime: left to itself it takes build/5.4, whatever the run is testing
M.runtime = jit and "luajit" or _VERSION:match("%d+%.%d+")

--- The environment words of a run: the server's address and the key (or
-- `env.key`; false: none), plus `env.vars` ("NAME=value ..." as written).
function M.env_words(env)
  env = env or {}
  local key = env.key
  if key == nil then key = server.api_key end
  return ("%sCLOSE_BASE_URL=%s %s"):format(key and ("CLOSE_API_KEY=" .. M.quote(key) .. " ") or "",
    M.quote(env.base_url or server.http_url), env.vars or "")
end

--- Runs `bin/close-provision ARGS`; returns exit status, stdout, stderr.
function M.run(args, env)
  env = env or {}
  local errf = os.tmpname()
  local cmd = ("%s env %s %s bin/close-provision %s 2>%s; echo \"exit=$?\""):format(
    env.stdin and ("printf '%s' " .. M.quote(env.stdin) .. " |"):format("%s") or "", M.env_words(env), M.lua, args,
    errf)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  local err = files.read(errf) or ""
  os.remove(errf)
  local code = tonumber(out:match("exit=(%d+)%s*$"))
  return code, (out:gsub("exit=%d+%s*$", "")), err
end

--- Starts the tool in the background, sends `signal` after `after`
-- seconds; returns exit status and its output (stdout and stderr).
function M.run_signalled(args, signal, after, env)
  local outf = os.tmpname()
  local cmd = ("env %s %s bin/close-provision %s > %s 2>&1 & pid=$!; sleep %s; kill -%s $pid; wait $pid; "
    .. "echo \"exit=$?\""):format(M.env_words(env), M.lua, args, outf, after, signal)
  local p = assert(io.popen(cmd))
  local status = p:read("*a")
  p:close()
  local out = files.read(outf) or ""
  os.remove(outf)
  return tonumber(status:match("exit=(%d+)")), out
end

--- Runs the tool on a pseudo-terminal (script(1)): its output as a
-- terminal shows it, stdout and stderr together.
function M.run_tty(args, env)
  local outf = os.tmpname()
  local inner = ("env %s %s bin/close-provision %s"):format(M.env_words(env), M.lua, args)
  local p = assert(io.popen(("script -q -e -c %s %s >/dev/null 2>&1; echo \"exit=$?\""):format(M.quote(inner),
    outf)))
  local status = p:read("*a")
  p:close()
  local out = files.read(outf) or ""
  os.remove(outf)
  return tonumber(status:match("exit=(%d+)")), out
end

--- The state's memberships by address.
function M.members()
  local by = {}
  for _, m in ipairs(server.state().memberships) do by[m.email] = m end
  return by
end

return M
