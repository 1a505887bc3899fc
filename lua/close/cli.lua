--- close-provision: provisions many memberships from a file, for people
-- onboarding a team at once (bin/close-provision is the launcher).
--
-- Each line of the file is `email,role` where role is a role id (`user`,
-- `role_...`) or a role name ("Account Manager"). Every finished line is
-- appended at once to a journal, so a run that stops halfway (an outage, a
-- Ctrl-C, a dead laptop) loses nothing: running it again skips what the
-- journal holds and carries on. Lines that failed are written to a
-- `.failed` file, ready to be fixed and fed back.
-- @module close.cli

local close = require "close"
local core = require "close.core"
local validate = require "close.validate"

local M = {}

local USAGE = [[
usage: close-provision [--ensure] [--dry-run] [--concurrency N|auto] [--journal FILE] [--token-file TOKENS] FILE
       close-provision login --client-id ID [--token-file TOKENS] [--port N] [--timeout SECONDS]

Provisions the memberships listed in FILE, one "email,role" a line ('#'
starts a comment; role is a role id such as user or role_..., or a role name).

  --ensure        make each membership match: create, reactivate or change
                  the role as needed (default: create, which never changes
                  an existing member's role)
  --dry-run       check every line and send nothing
  --concurrency N|auto
                  calls at once (default auto: grows while Close's rate
                  limits leave room); calls are paced by those limits
  --journal FILE  where finished lines are recorded (default: FILE.journal);
                  lines already in it are skipped, so an interrupted run
                  can simply be started again
  --token-file TOKENS
                  OAuth tokens written by login, refreshed and rotated as
                  they expire (default: CLOSE_TOKEN_FILE)

login gets the first OAuth tokens: it prints the URL where you approve the
app, takes Close's redirect once on 127.0.0.1 (--port, default any free
port; register http://127.0.0.1:PORT/callback with the app), exchanges the
code and writes TOKENS (default $XDG_CONFIG_HOME/close/tokens.json, mode 0600).

Credentials come from CLOSE_API_KEY, CLOSE_ACCESS_TOKEN or the token file
(with CLOSE_CLIENT_SECRET, never an argument); CLOSE_BASE_URL and
CLOSE_CA_FILE are optional. Exit status: 0 all done, 1 some lines failed
or the run stopped, 2 bad usage or configuration.]]

-- Kinds after which every further line would fail the same way.
local FATAL = { auth = true, permission = true, tls = true }

local function parse_args(argv)
  local opts = {}
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "--ensure" then opts.ensure = true
    elseif a == "--dry-run" then opts.dry_run = true
    elseif a == "--journal" then
      i = i + 1
      opts.journal = argv[i]
      if not opts.journal then return nil, "--journal needs a file name" end
    elseif a == "--concurrency" then
      i = i + 1
      local v = argv[i]
      opts.concurrency = v == "auto" and "auto" or tonumber(v)
      local n = opts.concurrency
      if not n or (n ~= "auto" and (n < 1 or n > 1000 or n % 1 ~= 0)) then
        return nil, "--concurrency needs a whole number or auto"
      end
    elseif a == "--token-file" then
      i = i + 1
      opts.token_file = argv[i]
      if not opts.token_file then return nil, "--token-file needs a file name" end
    elseif a == "-h" or a == "--help" then opts.help = true
    elseif a:sub(1, 1) == "-" then return nil, "unknown option " .. a
    elseif opts.file then return nil, "one FILE only"
    else opts.file = a end
    i = i + 1
  end
  if not opts.file and not opts.help then return nil, "FILE is missing" end
  opts.journal = opts.journal or (opts.file and opts.file .. ".journal")
  return opts
end

--- Reads the rows of a membership file.
-- Returns `{ {line=n, text=, email=, role_id= | role=}, ... }`.
function M.read_rows(path)
  local f, err = io.open(path, "r")
  if not f then return nil, err end
  local rows, n = {}, 0
  for line in f:lines() do
    n = n + 1
    local text = line:gsub("\r$", ""):gsub("#.*", ""):gsub("^%s+", ""):gsub("%s+$", "")
    if text ~= "" then
      local email, role = text:match("^([^,]*),(.*)$")
      email = (email or text):gsub("%s+$", "")
      role = (role or ""):gsub("^%s+", "")
      local row = { line = n, text = text, email = email }
      -- a role that reads as an id is one; anything else is a role name
      if role == "" or core.validate_role(role) or role:lower():match("^role_") then
        row.role_id = role
      else
        row.role = role
      end
      rows[#rows + 1] = row
    end
  end
  f:close()
  return rows
end

-- The journal: one line a finished row, "email<TAB>outcome<TAB>id".
local function read_journal(path)
  local done = {}
  local f = io.open(path, "r")
  if not f then return done end
  for line in f:lines() do
    local email = line:match("^([^\t]+)\t")
    if email then done[email] = true end
  end
  f:close()
  return done
end

--- Runs the tool. `env` is `{argv=, out=, err=, client=}` (out/err: functions
-- taking a line; client: a client to use instead of close.default()).
-- Returns the exit status.
function M.run(env)
  local out, errout = env.out or print, env.err or function(s) io.stderr:write(s, "\n") end
  if (env.argv or {})[1] == "login" then return M.login(env, out, errout) end
  local opts, why = parse_args(env.argv or {})
  if not opts then
    errout("close-provision: " .. why)
    errout(USAGE)
    return 2
  end
  if opts.help then
    out(USAGE)
    return 0
  end
  local rows, rerr = M.read_rows(opts.file)
  if not rows then
    errout("close-provision: cannot read " .. opts.file .. ": " .. tostring(rerr))
    return 2
  end
  local client = env.client
  if not client and not opts.dry_run then
    local cerr
    if opts.token_file then
      -- the file given wins over any credential in the environment
      client, cerr = close.from_env(function(k)
        if k == "CLOSE_TOKEN_FILE" then return opts.token_file end
        if k == "CLOSE_API_KEY" or k == "CLOSE_ACCESS_TOKEN" then return nil end
        return os.getenv(k)
      end)
    else
      client, cerr = close.default()
    end
    if not client then
      errout("close-provision: " .. tostring(cerr))
      return 2
    end
  end

  local done = read_journal(opts.journal)
  local journal
  if not opts.dry_run then
    local jerr
    journal, jerr = io.open(opts.journal, "a")
    if not journal then
      errout("close-provision: cannot write the journal " .. opts.journal .. ": " .. tostring(jerr))
      return 2
    end
  end

  local counts, failed, stopped = {}, {}, nil
  local function count(k) counts[k] = (counts[k] or 0) + 1 end
  local width = #tostring(#rows)
  local function prefix(i, row) return ("[%" .. width .. "d/%d] %s"):format(i, #rows, row.email) end
  local function args_of(row) return { email = row.email, role_id = row.role_id, role = row.role } end
  local todo, index = {}, {}
  for i, row in ipairs(rows) do
    if done[row.email] then
      count("skipped")
      out(prefix(i, row) .. ": already done (journal)")
    elseif opts.dry_run then
      -- no client: validate the fields alone (a role name is resolved only when sent)
      local errs = validate.membership(args_of(row), validate.CREATE, { "email" }, true)
      if errs then
        count("invalid")
        failed[#failed + 1] = row
        local parts = {}
        for k, v in pairs(errs) do parts[#parts + 1] = k .. ": " .. v end
        table.sort(parts)
        out(prefix(i, row) .. ": INVALID " .. table.concat(parts, "; "))
      else
        count("valid")
        out(prefix(i, row) .. ": ok")
      end
    else
      todo[#todo + 1] = row
      index[row] = i
    end
  end

  if #todo > 0 then
    -- concurrent, paced by the server; each finished line is journaled here,
    -- in one place, and on disk before the next is reported
    local progress = env.progress
    if progress == nil then progress = env.out == nil and core.isatty(1) end
    local t0, finished, limited = core.now(), 0, 0
    local function show(force)
      if not progress then return end
      local now = core.now()
      if not force and env.last_shown and now - env.last_shown < 0.1 then return end
      env.last_shown = now
      local rate = finished / math.max(now - t0, 1e-3)
      local eta = rate > 0 and (#todo - finished) / rate or 0
      io.stdout:write(("\r%d/%d done, %.1f/s, ETA %ds, 429s: %d   "):format(finished, #todo, rate, math.ceil(eta),
        limited))
      io.stdout:flush()
    end
    if not env.no_signals then core.catch_signals() end
    local fatal
    local outcomes = client:batch(todo, function(cl, row)
      if opts.ensure then return cl:ensure_membership(args_of(row)) end
      return cl:create_membership(args_of(row))
    end, {
      concurrency = opts.concurrency,
      stop = function()
        local sig = core.caught_signal()
        if sig then return "the run was interrupted (" .. sig .. ")" end
        if fatal then return ("the run stopped after a %s error"):format(fatal) end
      end,
      on_result = function(_, row, m, err, extra)
        finished = finished + 1
        local line
        if m then
          local outcome = opts.ensure and extra.action or "provisioned"
          count(outcome)
          journal:write(row.email, "\t", outcome, "\t", tostring(m.id), "\n")
          journal:flush()
          local attempts = extra and extra.attempts or 1
          line = ("%s: %s %s%s"):format(prefix(index[row], row), outcome, tostring(m.id),
            attempts > 1 and (" (" .. attempts .. " attempts)") or "")
        else
          count("failed")
          failed[#failed + 1] = row
          line = ("%s: FAILED %s"):format(prefix(index[row], row), tostring(err))
          if FATAL[err.kind] and not stopped then
            fatal = err.kind
            stopped = ("stopped: %s errors would fail every remaining line"):format(err.kind)
          end
        end
        limited = 0
        for _, g in pairs(client:pacing()) do limited = limited + g.limited end
        if progress then
          if not m then -- failures stay on screen; the rest is the progress line
            io.stdout:write("\r", line, "\n")
          end
          show(false)
        else
          out(line)
        end
      end,
    })
    show(true)
    if progress then io.stdout:write("\n") end
    -- lines the batch never started (after a fatal error or a signal): the
    -- next run does them, as the journal does not hold them
    for k, o in ipairs(outcomes) do
      if o.err and o.err.kind == "not_started" then
        count("not started")
        failed[#failed + 1] = todo[k] -- .failed lists what is left to do
      end
    end
    local sig = core.caught_signal()
    if sig then stopped = ("stopped: interrupted (%s); what ran is journaled"):format(sig) end
  end
  if journal then journal:close() end

  local summary = {}
  for k, n in pairs(counts) do summary[#summary + 1] = n .. " " .. k end
  table.sort(summary)
  out(("%d lines: %s"):format(#rows, #summary > 0 and table.concat(summary, ", ") or "nothing to do"))
  if stopped then out(stopped .. "; run again to continue where it stopped") end
  if not opts.dry_run then
    local path = opts.file .. ".failed"
    if #failed == 0 then
      os.remove(path) -- a list from an earlier run would mislead
    else
      local f = io.open(path, "w")
      if f then
        for _, row in ipairs(failed) do f:write(row.text, "\n") end
        f:close()
        out(("failed lines written to %s"):format(path))
      end
    end
  end
  return (#failed > 0 or stopped) and 1 or 0
end

-- ---------------------------------------------------------------------------
-- login: the first OAuth tokens

local function random_state()
  local f = io.open("/dev/urandom", "rb")
  local bytes = f and f:read(16)
  if f then f:close() end
  if not bytes or #bytes ~= 16 then return nil end
  return (bytes:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

local function query_args(q)
  local t = {}
  for k, v in (q or ""):gmatch("([^&=]+)=([^&]*)") do
    local function dec(x)
      return (x:gsub("%+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
    end
    t[dec(k)] = dec(v)
  end
  return t
end

--- The default token file: $XDG_CONFIG_HOME/close/tokens.json (~/.config/...).
function M.default_token_file(getenv)
  getenv = getenv or os.getenv
  local base = getenv("XDG_CONFIG_HOME")
  if not base or base == "" then
    local home = getenv("HOME")
    if not home or home == "" then return nil end
    base = home .. "/.config"
  end
  return base .. "/close/tokens.json", base
end

local PAGE = "<!doctype html><title>close-provision</title>"
  .. "<p>close-provision got Close's answer: see your terminal. You may close this tab.</p>"

--- `close-provision login`: prints the authorize URL, takes the redirect
-- once on 127.0.0.1, exchanges the code and writes the token file.
function M.login(env, out, errout)
  local argv = env.argv
  local getenv = env.getenv or os.getenv
  local o = { port = 0, timeout = 300 }
  local i = 2
  while i <= #argv do
    local a, v = argv[i], argv[i + 1]
    if a == "--client-id" then o.client_id = v
    elseif a == "--token-file" then o.token_file = v
    elseif a == "--port" then o.port = tonumber(v)
    elseif a == "--timeout" then o.timeout = tonumber(v)
    elseif a == "-h" or a == "--help" then out(USAGE) return 0
    else
      errout("close-provision login: unknown argument " .. a)
      return 2
    end
    if v == nil or (a == "--port" or a == "--timeout") and not tonumber(v) then
      local what = (a == "--port" or a == "--timeout") and "number" or "value"
      errout("close-provision login: " .. a .. " needs a " .. what)
      return 2
    end
    i = i + 2
  end
  if not o.client_id then
    errout("close-provision login: --client-id is required (the OAuth app's client id)")
    return 2
  end
  local secret = getenv("CLOSE_CLIENT_SECRET")
  if not secret or secret == "" then
    errout("close-provision login: set CLOSE_CLIENT_SECRET to the OAuth app's client secret")
    return 2
  end
  local dir
  if not o.token_file then
    o.token_file, dir = M.default_token_file(getenv)
    if not o.token_file then
      errout("close-provision login: no HOME or XDG_CONFIG_HOME: give --token-file")
      return 2
    end
    for _, d in ipairs({ dir, dir .. "/close" }) do
      local ok, why = core.mkdir_private(d)
      if not ok then
        errout("close-provision login: " .. d .. " " .. why)
        return 2
      end
    end
  end
  local state = random_state()
  if not state then
    errout("close-provision login: cannot read /dev/urandom for the state parameter")
    return 2
  end
  local listener, lerr = core.listen(o.port)
  if not listener then
    errout("close-provision login: " .. lerr)
    return 2
  end
  local redirect_uri = ("http://127.0.0.1:%d/callback"):format(listener:port())
  local authorize = getenv("CLOSE_AUTHORIZE_URL")
  local url = close.oauth.authorize_url{ client_id = o.client_id, redirect_uri = redirect_uri, state = state,
    authorize_url = authorize ~= "" and authorize or nil }
  out("Open this URL in a browser and approve the app:")
  out("  " .. url)
  out("Waiting for Close's redirect to " .. redirect_uri .. " ...")
  if env.flush then env.flush() else io.stdout:flush() end -- whoever reads the URL needs it now

  local deadline = core.now() + o.timeout
  local code
  for _ = 1, 50 do -- bounded: a browser may ask for a favicon or two first
    local left = deadline - core.now()
    if left <= 0 then break end
    local target = listener:accept(left, 200, PAGE)
    if target then
      local path, q = target:match("^([^?]*)%??(.*)$")
      local args = query_args(q)
      if path == "/callback" and args.state == state then
        if args.error then
          listener:close()
          errout(("close-provision login: the app was not approved (%s%s)"):format(args.error,
            args.error_description and (": " .. args.error_description) or ""))
          return 1
        end
        code = args.code
        if code then break end
      elseif path == "/callback" then
        errout("close-provision login: ignored a redirect whose state is not this login's")
      end
    end
  end
  listener:close()
  if not code then
    errout(("close-provision login: no redirect came within %gs"):format(o.timeout))
    return 1
  end
  local base_url, ca_file = getenv("CLOSE_BASE_URL"), getenv("CLOSE_CA_FILE")
  local tokens, err = close.oauth.exchange_code{ client_id = o.client_id, client_secret = secret, code = code,
    redirect_uri = redirect_uri, base_url = base_url ~= "" and base_url or nil,
    ca_file = ca_file ~= "" and ca_file or nil, store = close.oauth.file_store(o.token_file) }
  if not tokens then
    errout("close-provision login: " .. tostring(err))
    return 1
  end
  out(("Logged in%s; tokens saved to %s (mode 0600)."):format(
    tokens.organization_id and (" to " .. tokens.organization_id) or "", o.token_file))
  out(("Run: CLOSE_CLIENT_SECRET=... close-provision --token-file %s FILE"):format(o.token_file))
  return 0
end

return M
