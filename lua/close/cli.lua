--- close-provision: keeps Close memberships in line with a file, for people
-- onboarding a team at once and admins keeping a team in sync with a list
-- (bin/close-provision is the launcher).
--
-- Every command reads the organization once and makes a plan (close.sync);
-- provisioning applies its creations (and with --ensure its role changes),
-- `sync` and `deactivate` print it and apply it with --apply. What is
-- applied goes through client:batch (concurrent, paced by Close's limits),
-- each finished item appended at once to a journal (email, action, role,
-- id), so a run that stops halfway loses nothing: running it again plans
-- only what is left. What failed or never started goes to `FILE.failed`.
-- @module close.cli

local close = require "close"
local core = require "close.core"
local rows_mod = require "close.rows"
local sync = require "close.sync"
local cjson = require "cjson.safe"

local M = {}

M.VERSION = close.VERSION

local USAGE = [[
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

-- Kinds after which every further item would fail the same way: no new one starts.
local FATAL = { auth = true, tls = true }
-- A run of these in a row means the key (403 on every call) or Close
-- (an outage) is the problem, not the items: the run stops.
local STREAK = { permission = 5, network = 5, timeout = 5, server = 5 }

local COMMANDS = { sync = true, deactivate = true, export = true }
local FLAGS = { ensure = true, ["dry-run"] = true, apply = true, ["deactivate-missing"] = true, json = true,
  quiet = true, verbose = true }
local VALUED = { ["max-deactivate"] = true, keep = true, concurrency = true, journal = true, ["token-file"] = true }

local function parse_args(argv)
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
  if opts.help or opts.version then return opts end
  local c = opts.concurrency
  if c then
    opts.concurrency = c == "auto" and "auto" or tonumber(c)
    local n = opts.concurrency
    if not n or (n ~= "auto" and (n < 1 or n > 1000 or n % 1 ~= 0)) then
      return nil, "--concurrency needs a whole number from 1 to 1000, or auto"
    end
  end
  if opts["max-deactivate"] then
    local n = tonumber(opts["max-deactivate"])
    if not n or n < 0 or n % 1 ~= 0 then return nil, "--max-deactivate needs a whole number" end
    opts["max-deactivate"] = n
  end
  if opts.command ~= "export" and not opts.file then return nil, "FILE is missing" end
  if opts.command == "provision" and (opts.apply or opts["deactivate-missing"]) then
    return nil, "--apply and --deactivate-missing belong to sync"
  end
  if opts.command ~= "provision" and (opts.ensure or opts["dry-run"]) then
    return nil, "--ensure and --dry-run belong to provisioning (sync plans without --apply)"
  end
  if opts.quiet and opts.verbose then return nil, "--quiet and --verbose exclude each other" end
  opts.journal = opts.journal or (opts.file and opts.file ~= "-" and opts.file .. ".journal") or nil
  return opts
end

-- The journal: "email<TAB>action<TAB>role_id<TAB>membership_id" a line. An
-- item is done when the journal holds the same address, action and role.
local function journal_key(email, action, role_id)
  return (email or ""):lower() .. "\t" .. tostring(action) .. "\t" .. tostring(role_id or "")
end

local function read_journal(path)
  local done = {}
  local f = path and io.open(path, "r")
  if not f then return done end
  for line in f:lines() do
    local email, action, role = line:match("^([^\t]+)\t([^\t]*)\t([^\t]*)")
    if email then done[journal_key(email, action, role)] = true end
  end
  f:close()
  return done
end

local PAST = { create = "created", reactivate = "reactivated", change_role = "role changed",
  deactivate = "deactivated" }

-- The output: human lines (stdout; usage and configuration errors on
-- stderr) or one JSON object a line.
local function output(env, opts)
  local out = env.out or function(s) io.stdout:write(s, "\n") end
  local o = { counts = {}, failed = 0 }
  function o.item(item, status, extra)
    extra = extra or {}
    o.counts[status] = (o.counts[status] or 0) + 1
    if opts.json then
      local err = extra.err
      out(cjson.encode({ line = item.line, email = item.email, action = item.action, status = status,
        membership_id = extra.id or item.membership_id, role_id = item.role_id,
        previous_role_id = item.previous_role_id, reason = item.reason,
        error = err and { kind = err.kind, message = err.message, status = err.status } or nil }))
      return
    end
    local quiet_ok = status ~= "failed" and status ~= "invalid" and status ~= "not_started"
    -- on a terminal the progress line tells what is done; what failed stays above it
    if (opts.quiet or o.progress) and quiet_ok then return end
    if o.progress then io.stderr:write("\r\27[K") end
    if not opts.verbose and (status == "skipped" or (status == "planned" and item.action == "unchanged")
      or (status == "done" and item.action == "unchanged")) then return end
    local where = item.line and ("line " .. item.line) or "member"
    local what
    if status == "invalid" then what = "INVALID " .. tostring(item.reason)
    elseif status == "failed" then what = "FAILED " .. tostring(extra.err)
    elseif status == "not_started" then what = "not started"
    elseif status == "skipped" then what = "already done (journal)"
    elseif status == "planned" then
      what = item.action:gsub("_", " ")
      if item.action == "change_role" then what = ("change role (%s -> %s)"):format(item.previous_role_id, item.role_id)
      elseif item.role_id and item.action ~= "deactivate" then what = what .. " (" .. item.role_id .. ")" end
      if item.reason then what = what .. ": " .. item.reason end
    else
      what = (PAST[item.action] or item.action) .. (extra.id and (" " .. extra.id) or "")
      if extra.attempts and extra.attempts > 1 then what = what .. (" (%d attempts)"):format(extra.attempts) end
    end
    out(("%s: %s: %s"):format(where, tostring(item.email), what))
  end
  function o.note(s) if not opts.json then out(s) end end
  function o.summary(fields)
    local kinds, parts = {}, {}
    for k in pairs(o.counts) do kinds[#kinds + 1] = k end
    table.sort(kinds)
    for i, k in ipairs(kinds) do parts[i] = o.counts[k] .. " " .. k:gsub("_", " ") end
    if opts.json then
      local doc = { summary = true, counts = o.counts }
      for k, v in pairs(fields) do doc[k] = v end
      out(cjson.encode(doc))
    else
      out(("%d items: %s"):format(fields.items, #parts > 0 and table.concat(parts, ", ") or "nothing to do"))
      if fields.stopped then out(fields.stopped) end
      if fields.failed_file then out("failed and unfinished lines written to " .. fields.failed_file) end
    end
  end
  return o
end

local function usage_error(errout, why)
  errout("close-provision: " .. why)
  errout("try close-provision --help")
  return 2
end

-- The client: the one given (specs), the token file given, else the environment.
local function make_client(env, opts)
  if env.client then return env.client end
  if env.client == false then -- specs: as if the environment had no credentials
    return nil, "no credentials: set CLOSE_API_KEY, CLOSE_ACCESS_TOKEN or CLOSE_TOKEN_FILE"
  end
  if opts["token-file"] then
    return close.from_env(function(k)
      if k == "CLOSE_TOKEN_FILE" then return opts["token-file"] end
      if k == "CLOSE_API_KEY" or k == "CLOSE_ACCESS_TOKEN" then return nil end
      return os.getenv(k)
    end)
  end
  return close.default()
end

local function read_keep(path)
  local list, err = rows_mod.read(path)
  if not list then return nil, err end
  local emails = {}
  for _, r in ipairs(list) do if r.email then emails[#emails + 1] = r.email end end
  return emails
end

-- Writes the lines of what is left to do (failed, invalid, not started).
local function write_failed(path, lines, header)
  if not path then return nil end
  if #lines == 0 then
    os.remove(path) -- a list from an earlier run would mislead
    return nil
  end
  local f = io.open(path, "w")
  if not f then return nil end
  -- the file's header row, so that its columns read back the same way
  if header then f:write(header, "\n") end
  for _, line in ipairs(lines) do f:write(line, "\n") end
  f:close()
  return path
end

local function export(env, opts, errout)
  local client, cerr = make_client(env, opts)
  if not client then
    errout("close-provision: " .. tostring(cerr))
    return 2
  end
  local all, err = client:memberships()
  if not all then
    errout("close-provision: " .. tostring(err))
    return 1
  end
  local list = {}
  for _, m in ipairs(all) do list[#list + 1] = { email = m.email, role_id = m.role_id } end
  table.sort(list, function(a, b) return a.email:lower() < b.email:lower() end)
  local text = rows_mod.to_csv(list)
  if not opts.file or opts.file == "-" then
    (env.write or function(s) io.stdout:write(s) end)(text)
  else
    local f, ferr = io.open(opts.file, "w")
    if not f then
      errout("close-provision: cannot write " .. opts.file .. ": " .. tostring(ferr))
      return 2
    end
    f:write(text)
    f:close()
  end
  return 0
end

--- Runs the tool. `env` is `{argv=, out=, err=, client=}` (out/err: functions
-- taking a line; client: a client to use instead of the environment's).
-- Returns the exit status.
function M.run(env)
  local errout = env.err or function(s) io.stderr:write(s, "\n") end
  local argv = env.argv or {}
  if argv[1] == "login" then return M.login(env, env.out or print, errout) end
  local opts, why = parse_args(argv)
  if not opts then return usage_error(errout, why) end
  local o = output(env, opts)
  if opts.help then
    (env.out or print)(USAGE)
    return 0
  end
  if opts.version then
    (env.out or print)(("close-provision %s (libcurl %s)"):format(M.VERSION, core.curl_version()))
    return 0
  end
  if opts.command == "export" then return export(env, opts, errout) end

  local rows, rerr = rows_mod.read(opts.file)
  local info = rows and rerr or {}
  if not rows then
    errout("close-provision: cannot read " .. opts.file .. ": " .. tostring(rerr))
    return 2
  end
  local keep
  if opts.keep then
    local kerr
    keep, kerr = read_keep(opts.keep)
    if not keep then
      errout("close-provision: cannot read " .. opts.keep .. ": " .. tostring(kerr))
      return 2
    end
  end

  local client, cerr = make_client(env, opts)
  if not client then
    if not opts["dry-run"] then
      errout("close-provision: " .. tostring(cerr))
      return 2
    end
    -- a dry run without credentials: what can be checked without Close
    o.note("no credentials: checking the file alone (role names and existing members are not checked)")
    local bad = sync.check_rows(rows)
    local invalid = 0
    for _, row in ipairs(rows) do
      local item = { line = row.line, email = row.email, role_id = row.role_id, action = "create",
        reason = bad[row] }
      if bad[row] then
        invalid = invalid + 1
        item.action = "invalid"
        o.item(item, "invalid")
      else
        o.item(item, "planned")
      end
    end
    o.summary({ items = #rows, command = opts.command, applied = false })
    return invalid > 0 and 1 or 0
  end

  -- the plan
  local plan, perr = client:plan_sync(rows, {
    only = opts.command == "deactivate" and "deactivate" or nil,
    deactivate_missing = opts["deactivate-missing"] or nil, keep = keep,
    max_deactivate = opts["max-deactivate"],
  })
  if not plan then
    errout("close-provision: " .. tostring(perr))
    return perr.kind == "validation" and 2 or 1
  end
  local writes
  if opts.command == "provision" then
    writes = { create = true, reactivate = true, change_role = opts.ensure or nil }
  else
    writes = { create = true, reactivate = true, change_role = true, deactivate = true }
  end
  local apply = (opts.command == "provision" and not opts["dry-run"]) or opts.apply
  local left = {} -- lines for .failed
  local invalid = 0
  for _, item in ipairs(plan.items) do
    if item.action == "invalid" then
      invalid = invalid + 1
      left[#left + 1] = item.text or item.email
    elseif item.action == "change_role" and not writes.change_role then
      -- creating leaves an existing member's role alone: say so, not "provisioned"
      item.action, item.reason = "invalid", ("already a member with role %s, not %s: --ensure (or sync) "
        .. "changes it"):format(item.previous_role_id, item.role_id)
      invalid = invalid + 1
      left[#left + 1] = item.text or item.email
    end
  end
  if not apply then
    for _, item in ipairs(plan.items) do o.item(item, item.action == "invalid" and "invalid" or "planned") end
    o.summary({ items = #plan.items, command = opts.command, applied = false })
    if #left > 0 and opts.command == "provision" then
      write_failed(opts.file ~= "-" and opts.file .. ".failed", left, info.header and info.header_text)
    end
    return invalid > 0 and 1 or 0
  end

  -- apply: concurrent, journaled in one place, each line on disk before the next is reported
  local done = read_journal(opts.journal)
  local journal
  if opts.journal then
    local jerr
    journal, jerr = io.open(opts.journal, "a")
    if not journal then
      errout("close-provision: cannot write the journal " .. opts.journal .. ": " .. tostring(jerr))
      return 2
    end
  end
  for _, item in ipairs(plan.items) do
    if item.action == "invalid" then o.item(item, "invalid")
    elseif not writes[item.action] or item.action == "unchanged" then o.item(item, "done")
    end
  end
  if not env.no_signals then core.catch_signals() end
  local streak, streak_kind, stopped = 0, nil, nil
  local progress = env.progress
  if progress == nil then progress = env.out == nil and not opts.json and not opts.quiet and core.isatty(1) end
  o.progress = progress
  local t0, finished = core.now(), 0
  local to_write = {}
  for _, item in ipairs(plan.items) do if writes[item.action] then to_write[#to_write + 1] = item end end
  local outcomes = client:apply_plan({ items = to_write }, {
    concurrency = opts.concurrency,
    skip = function(item)
      if done[journal_key(item.email, item.action, item.role_id)] then
        o.item(item, "skipped")
        return true
      end
    end,
    stop = function()
      local sig = core.caught_signal()
      if sig then stopped = ("stopped: interrupted (%s); what ran is journaled"):format(sig) return stopped end
      return stopped
    end,
    on_result = function(item, result, err, meta)
      finished = finished + 1
      if result then
        streak = 0
        local id = type(result) == "table" and result.id or item.membership_id
        if journal then
          journal:write(item.email, "\t", item.action, "\t", tostring(item.role_id or ""), "\t", tostring(id), "\n")
          journal:flush()
        end
        o.item(item, "done", { id = id, attempts = meta and meta.attempts })
      else
        left[#left + 1] = item.text or item.email
        o.item(item, "failed", { err = err })
        if FATAL[err.kind] then
          stopped = stopped or ("stopped: %s errors would fail every remaining item"):format(err.kind)
        elseif STREAK[err.kind] then
          if err.kind == streak_kind then streak = streak + 1 else streak, streak_kind = 1, err.kind end
          if streak >= STREAK[err.kind] then
            stopped = stopped or ("stopped: %d %s errors in a row (%s); Close or the key is the problem, not the "
              .. "items"):format(streak, err.kind, tostring(err.message))
          end
        else
          streak = 0
        end
      end
      if progress then
        local rate = finished / math.max(core.now() - t0, 1e-3)
        local limited = 0
        for _, g in pairs(client:pacing()) do limited = limited + g.limited end
        local eta = rate > 0 and (#to_write - finished) / rate or 0
        io.stderr:write(("\r%d/%d done, %.1f/s, ETA %ds, 429s: %d   "):format(finished, #to_write, rate,
          math.ceil(eta), limited))
      end
    end,
  })
  if progress then io.stderr:write("\n") end
  o.progress = false
  if journal then journal:close() end
  for _, oc in ipairs(outcomes) do
    if oc.err and oc.err.kind == "not_started" then
      left[#left + 1] = oc.item.text or oc.item.email
      o.item(oc.item, "not_started")
    end
  end
  local failed_file = write_failed(opts.file ~= "-" and opts.file .. ".failed", left,
    info.header and info.header_text)
  o.summary({ items = #plan.items, command = opts.command, applied = true, stopped = stopped,
    failed_file = failed_file })
  return (#left > 0 or stopped) and 1 or 0
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
