-- bin/close-provision as a user runs it, against the local server
-- (spec.support.server): a real process, its exit status and its output.
local close = require "close"
local server = require "spec.support.server"
local files = require "spec.support.files"
local cjson = require "cjson"

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

--- Runs the shell command `cmd` (stderr is taken here); returns exit
-- status, stdout, stderr.
function M.shell(cmd)
  local errf = os.tmpname()
  local p = assert(io.popen(("%s 2>%s; echo \"exit=$?\""):format(cmd, errf)))
  local out = p:read("*a")
  p:close()
  local err = files.read(errf) or ""
  os.remove(errf)
  local code = tonumber(out:match("exit=(%d+)%s*$"))
  return code, (out:gsub("exit=%d+%s*$", "")), err
end

--- Runs `bin/close-provision ARGS`; returns exit status, stdout, stderr.
function M.run(args, env)
  env = env or {}
  return M.shell(("%s env %s %s bin/close-provision %s"):format(
    env.stdin and ("printf '%s' " .. M.quote(env.stdin) .. " |"):format("%s") or "", M.env_words(env), M.lua, args))
end

--- One JSON document a line (--json output), decoded.
function M.json_lines(out)
  local docs = {}
  for line in out:gmatch("[^\n]+") do docs[#docs + 1] = cjson.decode(line) end
  return docs
end

--- The members files of a describe: made.file(content) writes one and
-- remembers it with its .journal and .failed, made.add(path) remembers any
-- other file, made.clean() (an after_each) removes them all.
function M.made_files()
  local list, made = {}, {}
  function made.add(path) list[#list + 1] = path end
  function made.file(content)
    local f = files.tmpfile(content)
    for _, x in ipairs({ f, f .. ".journal", f .. ".failed" }) do made.add(x) end
    return f
  end
  function made.clean()
    for _, f in ipairs(list) do os.remove(f) end
    list = {}
  end
  return made
end

--- A CLI spec's set-up, made_files' fields and: `before` (give it to
--- before_each: the server's seed organization and a library client on it,
--- `each.client`), `after` (to after_each: the files `each.file` made are
--- removed). Busted's before_each is the spec file's, not this module's.
function M.per_test()
  local each = M.made_files()
  function each.before()
    server.reset()
    each.client = close.new{ api_key = server.api_key, base_url = server.http_url }
  end
  function each.after()
    each.clean()
    each.client:close()
  end
  return each
end

-- Runs the shell command cmd_for(outf), which leaves the tool's output in
-- the file outf and echoes "exit=N"; returns N and that output.
local function via_file(cmd_for)
  local outf = os.tmpname()
  local p = assert(io.popen(cmd_for(outf)))
  local status = p:read("*a")
  p:close()
  local out = files.read(outf) or ""
  os.remove(outf)
  return tonumber(status:match("exit=(%d+)")), out
end

--- Starts the tool in the background, sends `signal` after `after`
-- seconds; returns exit status and its output (stdout and stderr).
function M.run_signalled(args, signal, after, env)
  return via_file(function(outf)
    return ("env %s %s bin/close-provision %s > %s 2>&1 & pid=$!; sleep %s; kill -%s $pid; wait $pid; "
      .. "echo \"exit=$?\""):format(M.env_words(env), M.lua, args, outf, after, signal)
  end)
end

--- Runs the tool on a pseudo-terminal (script(1)): its output as a
-- terminal shows it, stdout and stderr together.
function M.run_tty(args, env)
  local inner = ("env %s %s bin/close-provision %s"):format(M.env_words(env), M.lua, args)
  return via_file(function(outf)
    return ("script -q -e -c %s %s >/dev/null 2>&1; echo \"exit=$?\""):format(M.quote(inner), outf)
  end)
end

--- The state's memberships by address.
function M.members()
  local by = {}
  for _, m in ipairs(server.state().memberships) do by[m.email] = m end
  return by
end

return M
