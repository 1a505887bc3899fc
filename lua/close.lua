--- close: a client for the Close CRM API, centred on membership provisioning.
--
--     local close = require "close"
--     local client = close.new{ api_key = os.getenv("CLOSE_API_KEY") }
--     local membership, err, meta = client:create_membership{ email = "jane@acme.com", role_id = "user" }
--
-- Runtime failures return `nil, err` (see `close.error` for the shape);
-- programmer mistakes (a non-table argument, an unknown option) raise an
-- error pointing at the caller's line.
-- @module close

local core = require "close.core"
local Error = require "close.error"
local validate = require "close.validate"
local driver = require "close.driver"
local oauth = require "close.oauth"

local close = {
  VERSION = "0.1.0",
  --- The error constructor and shape, for callers that build or test errors.
  error = Error,
  --- OAuth: token stores, `authorize_url`, `exchange_code` (see `close.oauth`).
  oauth = oauth,
}

-- The defaults live in C (src/defaults.h), shared with the transports.
local DEFAULTS = core.defaults

local OPTION_TYPES = {
  api_key = "string", oauth_token = "string", oauth = "table", base_url = "string", ca_file = "string",
  timeout = "number", connect_timeout = "number", deadline = "number",
  max_retries = "number", max_wait = "number", backoff_base = "number", max_body = "number",
  transport = "function", sleep = "function", clock = "function", wallclock = "function",
  random = "function", on_attempt = "function", pace = "boolean",
}

-- Credentials and resolved settings live here, not in the client table, so
-- that printing or serializing a client cannot show a secret.
local private = setmetatable({}, { __mode = "k" })

local Client = {}
Client.__index = Client

local function runtime_name()
  if type(jit) == "table" and jit.version then return jit.version end
  return _VERSION
end

-- Inside OpenResty (nginx + ngx_lua) libcurl and nanosleep would block the
-- worker: there the defaults are the cosocket transport and ngx.sleep.
local function ngx_host()
  local ngx = rawget(_G, "ngx")
  if type(ngx) == "table" and type(ngx.socket) == "table" and type(ngx.socket.tcp) == "function"
    and type(ngx.get_phase) == "function" then
    return require("close.transport.ngx")
  end
end

local function fail(msg)
  error("close.new: " .. msg, 3)
end

local OAUTH_TYPES = {
  client_id = "string", client_secret = "string", refresh_token = "string", access_token = "string",
  expires_at = "number", token_url = "string", on_tokens = "function", store = "table",
  code = "string", redirect_uri = "string",
}

-- The `oauth` option, checked field by field (it raises at close.new's caller).
local function check_oauth(o)
  local function ofail(msg) error("close.new: " .. msg, 4) end
  for k, v in pairs(o) do
    local want = OAUTH_TYPES[k]
    if not want then ofail("unknown field 'oauth." .. tostring(k) .. "'") end
    if type(v) ~= want then ofail(("field 'oauth.%s' must be a %s (got %s)"):format(k, want, type(v))) end
  end
  for _, k in ipairs({ "client_id", "client_secret" }) do
    if not o[k] then ofail("field 'oauth." .. k .. "' is required") end
    if o[k] == "" or o[k]:find("[%c ]") then
      ofail("field 'oauth." .. k .. "' must be non-empty, without spaces or control characters")
    end
  end
  for _, k in ipairs({ "refresh_token", "access_token" }) do
    if o[k] and not oauth.valid_token(o[k]) then
      ofail("field 'oauth." .. k .. "' must be a token (letters, digits and -._~+/, at most 4096)")
    end
  end
  if o.expires_at and o.expires_at ~= o.expires_at then ofail("field 'oauth.expires_at' must be a number") end
  if not (o.refresh_token or o.access_token or o.store or o.code) then
    ofail("field 'oauth' needs refresh_token, access_token, store or code")
  end
  if o.code and not o.redirect_uri then ofail("field 'oauth.redirect_uri' is required with 'code'") end
  if o.code and not o.code:match("^[\32-\126]+$") then -- RFC 6749: 1*VSCHAR
    ofail("field 'oauth.code' must be printable ASCII, not empty")
  end
  if o.redirect_uri and not o.redirect_uri:match("^https?://[%w%-%._~%%!$&'()*+,;=:@/?]+$") then
    ofail("field 'oauth.redirect_uri' must be an http or https URI")
  end
  if o.store then
    for _, m in ipairs({ "load", "save", "lock", "unlock" }) do
      if type(o.store[m]) ~= "function" then ofail("field 'oauth.store' must have a " .. m .. " function") end
    end
  end
  if o.token_url then
    local ok, why = core.check_base_url(o.token_url)
    if not ok then ofail("field 'oauth.token_url' " .. why) end
  end
  return o
end

--- Creates a client.
-- Options: `api_key` or `oauth_token` (exactly one), `base_url`, `timeout`,
-- `connect_timeout`, `deadline`, `max_retries`, `max_wait`, `backoff_base`,
-- `max_body`, `ca_file`, `transport`, `sleep`, `clock`, `wallclock`,
-- `random`, `on_attempt`. See README for their meaning and defaults.
-- @tparam table opts
-- @return the client
function close.new(opts)
  if type(opts) ~= "table" then
    error("close.new: expected a table of options, got " .. type(opts), 2)
  end
  for k, v in pairs(opts) do
    local want = OPTION_TYPES[k]
    if not want then fail("unknown option '" .. tostring(k) .. "'") end
    if type(v) ~= want then
      fail(("option '%s' must be a %s (got %s)"):format(k, want, type(v)))
    end
  end
  local c = {}
  for k, v in pairs(DEFAULTS) do c[k] = opts[k] == nil and v or opts[k] end
  for _, k in ipairs({ "timeout", "connect_timeout", "deadline", "max_wait", "max_body" }) do
    if c[k] ~= c[k] or c[k] <= 0 then fail(("option '%s' must be positive"):format(k)) end
  end
  if c.backoff_base ~= c.backoff_base or c.backoff_base < 0 then fail("option 'backoff_base' must not be negative") end
  if not (c.max_retries >= 0 and c.max_retries <= 100) or c.max_retries ~= math.floor(c.max_retries) then
    fail("option 'max_retries' must be a whole number from 0 to 100")
  end
  for _, k in ipairs({ "timeout", "connect_timeout" }) do
    if c[k] > 86400 then fail(("option '%s' must be at most 86400 seconds"):format(k)) end
  end

  local given = (opts.api_key and 1 or 0) + (opts.oauth_token and 1 or 0) + (opts.oauth and 1 or 0)
  if given ~= 1 then fail("give exactly one of 'api_key', 'oauth_token' and 'oauth'") end
  if opts.oauth then
    c.secrets = {}
  else
    local scheme, secret = "basic", opts.api_key
    if opts.oauth_token then scheme, secret = "bearer", opts.oauth_token end
    local header, reason = core.auth_header(scheme, secret)
    if not header then
      fail(("option '%s' %s"):format(opts.api_key and "api_key" or "oauth_token", reason))
    end
    c.secrets = { secret, header, (header:gsub("^%S+ ", "")) }
    c.header = header
  end

  local base, why = core.check_base_url(c.base_url)
  if not base then fail("option 'base_url' " .. why) end
  c.base_url = base
  c.ca_file = opts.ca_file

  local in_ngx = ngx_host()
  c.user_agent = ("close-lua/%s (%s; %s)"):format(close.VERSION, runtime_name(),
    in_ngx and in_ngx.runtime() or ("libcurl/" .. core.curl_version()))
  c.sleep = opts.sleep or (in_ngx and in_ngx.sleep) or core.sleep
  c.clock = opts.clock or core.now
  c.wallclock = opts.wallclock or core.time
  if opts.random then
    c.random = opts.random
  else
    -- jitter from a generator of this client's own: math.random is unseeded
    -- before Lua 5.4, and clients (and forked nginx workers) must not share a sequence
    -- (the driver hands the generator itself to the retry verdict, which
    -- draws in C: one call into C less per retry)
    c.rng = core.rng()
    local rng = c.rng
    c.random = function() return rng:next() end
  end
  c.on_attempt = opts.on_attempt
  c.transport = opts.transport
  if in_ngx then
    c.transport = c.transport or in_ngx.new()
    -- a call from a phase without cosockets (init, init_worker, set, log,
    -- filters) is refused before any I/O instead of blocking the worker
    c.check_phase = in_ngx.available
  elseif not c.transport then
    c.transport, c.http = require("close.transport.curl").new()
  end
  if opts.oauth then
    c.auth_name = "oauth"
    c.auth = oauth.provider(check_oauth(opts.oauth, c), c)
    c.token_url = opts.oauth.token_url or oauth.token_url(c.base_url)
  else
    c.auth_name = opts.api_key and "api_key" or "oauth_token"
    c.headers = driver.headers(c.header, c.user_agent)
    c.header = nil
  end

  local client = setmetatable({}, Client)
  private[client] = c
  return client
end

-- Both raise at the caller of the public method: `depth` is how many
-- functions of ours stand between it and them (default 1: the method).
local function config(self, method, depth)
  local c = type(self) == "table" and private[self]
  if not c then
    error(("close: call client:%s{...} with ':' on a client from close.new"):format(method), 2 + (depth or 1))
  end
  return c
end

local function check_args(method, args, depth)
  if type(args) ~= "table" then
    error(("close: %s expects a table of fields, got %s"):format(method, type(args)), 2 + (depth or 1))
  end
end

--- JSON null, for fields that accept it (`default_caller_id = close.null`).
close.null = require("cjson.safe").null

local MEMBERSHIP = "/membership/"
local ORG_MAX_BODY = 64 * 1048576
local memb_id = validate.id("memb_")
local save_id = validate.id("save_")

local function copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end

--- Lists the organization's roles (GET /role/), cached per client.
-- @return list of role tables (`id`, `name`, ...), nil, meta (`cached = true` when cached) ; or nil, err
function Client:roles()
  local c = config(self, "roles")
  if c.roles then return c.roles, nil, { cached = true } end
  local roles, skip, meta = {}, 0, nil
  for _ = 1, 100 do -- bounded: 100 pages of roles is far past any real organization
    local page, err
    page, err, meta = driver.call(c, { method = "GET", path = "/role/", idempotent = true,
      query = skip > 0 and { _skip = skip } or nil })
    if not page then return nil, err end
    local data = type(page.data) == "table" and page.data or {}
    -- a role is usable only with an id; anything else in the list is skipped
    for _, r in ipairs(data) do
      if type(r) == "table" and type(r.id) == "string" then roles[#roles + 1] = r end
    end
    if page.has_more ~= true or #data == 0 then
      c.roles = roles
      return roles, nil, meta
    end
    skip = skip + #data
  end
  -- a partial list, cached, would later call a real role unknown
  return nil, Error.new("protocol", "GET /role/ still has more after 100 pages",
    { method = "GET", url = c.base_url .. "/role/", status = meta.status, attempts = meta.attempts })
end

-- Resolves `role` (a name) to a role id, in place; returns nil or an error.
-- GET /role/ only for a name that is not a predefined role.
local function resolve_role(self, args, method, url)
  if args.role == nil then return end
  local resolved = validate.role_named(args.role)
  if not resolved then
    local roles, err = self:roles()
    if not roles then return err end
    local why
    resolved, why = validate.role_named(args.role, roles)
    if not resolved then return Error.validation({ role = why }, method, url) end
  end
  args.role, args.role_id = nil, resolved
end

-- Validates an argument table for a call; returns the checked copy or an error.
-- With need_role, one of role_id and role is required.
local function prepare(self, method, url, args, schema, required, need_role)
  local errs = validate.membership(args, schema, required, need_role)
  if errs then return nil, Error.validation(errs, method, url) end
  args = copy(args)
  local err = resolve_role(self, args, method, url)
  if err then return nil, err end
  return args
end

-- The arguments of a create (`email` and `role_id` or `role`), checked.
-- Returns the client's config and the checked arguments, or the config, nil, err.
local function prepare_create(self, method_name, args)
  local c = config(self, method_name, 2)
  check_args(method_name, args, 2)
  -- the common case, checked without the general machinery: exactly an
  -- email and a role id, both valid
  local email, role_id = args.email, args.role_id
  if type(email) == "string" and type(role_id) == "string" and next(args, next(args, next(args))) == nil
    and core.validate_email(email) and core.validate_role(role_id) then
    return c, args
  end
  local a, err = prepare(self, "POST", c.base_url .. MEMBERSHIP, args, validate.CREATE, { "email" }, true)
  return c, a, err
end

--- Ensures an active membership for `email` (POST /membership/).
-- Close adds an existing user to the organization or provisions a new one;
-- repeating the call for the same email is harmless, so it is retried.
-- @tparam table args `{email = string, role_id = string}` (or `role = "Role name"`)
-- @return membership table, nil, meta (`status`, `headers`, `rate_limit`,
--   `attempts`, `duration`) ; or nil, err
function Client:create_membership(args)
  local c, a, err = prepare_create(self, "create_membership", args)
  if not a then return nil, err end
  return driver.call(c, { method = "POST", path = MEMBERSHIP, idempotent = true,
    body = { email = a.email, role_id = a.role_id } })
end

local function check_id(checker, field, id, method, url)
  local why = checker(id)
  if why then return Error.validation({ [field] = why }, method, url) end
end

--- Updates a membership (PUT /membership/{id}/) with any of `role_id` (or
-- `role`), `auto_record_calls`, `default_caller_id`, `hangup_recording_url`,
-- `may_workflows_impersonate`, `track_email_opens`.
-- @return the membership, nil, meta ; or nil, err
function Client:update_membership(id, fields)
  local c = config(self, "update_membership")
  check_args("update_membership", fields)
  local path = MEMBERSHIP .. tostring(id) .. "/"
  local err = check_id(memb_id, "id", id, "PUT", c.base_url .. MEMBERSHIP)
  if err then return nil, err end
  if next(fields) == nil then
    return nil, Error.validation({ fields = "name at least one field to update" }, "PUT", c.base_url .. path)
  end
  local a
  a, err = prepare(self, "PUT", c.base_url .. path, fields, validate.UPDATE)
  if not a then return nil, err end
  return driver.call(c, { method = "PUT", path = path, idempotent = true, body = a })
end

-- How many ids go into one bulk call: Close reads `id__in` from the body,
-- but proxies and servers cap bodies and logs, so stay well under 8 KiB.
local BULK_IDS_BYTES = 4000

--- Updates many memberships (PUT /membership/ with `_params.id__in`). Long
-- lists are split into several calls and the counts summed.
-- @return `{count = N}`, nil, meta (`calls`) ; or nil, err where
--   `err.count` is how many were updated by the calls that succeeded
function Client:bulk_update_memberships(ids, fields)
  local c = config(self, "bulk_update_memberships")
  if type(ids) ~= "table" then
    error("close: bulk_update_memberships expects a list of membership ids, got " .. type(ids), 2)
  end
  check_args("bulk_update_memberships", fields)
  local url = c.base_url .. MEMBERSHIP
  local errs, seen = {}, {}
  if #ids == 0 then errs.ids = "must name at least one membership" end
  for i = 1, #ids do -- not ipairs: a hole must be reported, not end the list
    local id = ids[i]
    local why = memb_id(id)
    if why then errs["ids[" .. i .. "]"] = why
    elseif seen[id] then errs["ids[" .. i .. "]"] = "duplicate of ids[" .. seen[id] .. "]"
    else seen[id] = i end
  end
  if next(fields) == nil then errs.fields = "name at least one field to update" end
  if next(errs) then return nil, Error.validation(errs, "PUT", url) end
  local a, err = prepare(self, "PUT", url, fields, validate.UPDATE)
  if not a then return nil, err end
  local total, calls, i = 0, 0, 1
  while i <= #ids do
    local chunk, size = {}, 0
    while i <= #ids and (size == 0 or size + #ids[i] + 1 <= BULK_IDS_BYTES) do
      chunk[#chunk + 1] = ids[i]
      size = size + #ids[i] + 1
      i = i + 1
    end
    local body = copy(a)
    body._params = { id__in = table.concat(chunk, ",") }
    local res
    res, err = driver.call(c, { method = "PUT", path = MEMBERSHIP, idempotent = true, body = body })
    if not res then
      err.count = total
      return nil, err
    end
    calls = calls + 1
    total = total + (tonumber(res.count) or 0)
  end
  return { count = total }, nil, { calls = calls }
end

--- Deactivates a membership (DELETE /membership/{id}/), removing the user
-- from the organization.
-- @return the (empty) response table, nil, meta ; or nil, err
function Client:deactivate_membership(id)
  local c = config(self, "deactivate_membership")
  local err = check_id(memb_id, "id", id, "DELETE", c.base_url .. MEMBERSHIP)
  if err then return nil, err end
  return driver.call(c, { method = "DELETE", path = MEMBERSHIP .. id .. "/", idempotent = true })
end

--- The ordered pinned views of a membership.
-- @return list of saved view ids, nil, meta ; or nil, err
function Client:pinned_views(id)
  local c = config(self, "pinned_views")
  local err = check_id(memb_id, "id", id, "GET", c.base_url .. MEMBERSHIP)
  if err then return nil, err end
  local res, meta
  res, err, meta = driver.call(c, { method = "GET", path = MEMBERSHIP .. id .. "/pinned_views/", idempotent = true })
  if not res then return nil, err end
  return res.saved_view_ids or {}, nil, meta
end

--- Replaces the ordered pinned views of a membership.
-- @return list of saved view ids, nil, meta ; or nil, err
function Client:set_pinned_views(id, saved_view_ids)
  local c = config(self, "set_pinned_views")
  if type(saved_view_ids) ~= "table" then
    error("close: set_pinned_views expects a list of saved view ids, got " .. type(saved_view_ids), 2)
  end
  local path = MEMBERSHIP .. tostring(id) .. "/pinned_views/"
  local err = check_id(memb_id, "id", id, "PUT", c.base_url .. MEMBERSHIP)
  if err then return nil, err end
  local errs, list = {}, {}
  for i = 1, #saved_view_ids do -- not ipairs: a hole must be reported, not end the list
    local v = saved_view_ids[i]
    local why = save_id(v)
    if why then errs["saved_view_ids[" .. i .. "]"] = why end
    list[i] = v
  end
  if next(errs) then return nil, Error.validation(errs, "PUT", c.base_url .. path) end
  -- written by hand: cjson (Debian's) writes an empty list as {}, and the ids
  -- are checked to be letters, digits and '_' so they need no escaping
  local json = '{"saved_view_ids":[' .. (#list > 0 and ('"' .. table.concat(list, '","') .. '"') or "") .. "]}"
  local res, meta
  res, err, meta = driver.call(c, { method = "PUT", path = path, idempotent = true, json = json })
  if not res then return nil, err end
  return res.saved_view_ids or {}, nil, meta
end

-- A membership as returned by GET /organization/{id}/ (user_ fields or a
-- nested user), as a plain table.
local function flatten(m, active)
  local u = type(m.user) == "table" and m.user or {}
  return {
    id = m.id, user_id = m.user_id or u.id, role_id = m.role_id, active = active,
    email = m.user_email or u.email,
    name = m.user_full_name or u.full_name,
    first_name = m.user_first_name or u.first_name,
    last_name = m.user_last_name or u.last_name,
    organization_id = m.organization_id,
  }
end

--- The organization's memberships (GET /me/, then GET /organization/{id}/).
-- @tparam[opt] table opts `{inactive = true}` to include inactive memberships
-- @return list of `{id, user_id, email, name, first_name, last_name,
--   role_id, active}`, nil, meta ; or nil, err
function Client:memberships(opts)
  local c = config(self, "memberships")
  opts = opts or {}
  check_args("memberships", opts)
  for k, v in pairs(opts) do
    if k ~= "inactive" then error("close: memberships: unknown option '" .. tostring(k) .. "'", 2) end
    if type(v) ~= "boolean" then error("close: memberships: option 'inactive' must be a boolean", 2) end
  end
  if not c.organization_id then
    local me, err, me_meta = driver.call(c, { method = "GET", path = "/me/", idempotent = true,
      query = { _fields = "organization_id" } })
    if not me then return nil, err end
    if type(me.organization_id) ~= "string" then
      return nil, Error.new("protocol", "GET /me/ returned no organization_id",
        { method = "GET", url = c.base_url .. "/me/?_fields=organization_id",
          status = me_meta.status, attempts = me_meta.attempts })
    end
    c.organization_id = me.organization_id
  end
  local lists = opts.inactive and { "memberships", "inactive_memberships" } or { "memberships" }
  local expand = {}
  for i, l in ipairs(lists) do expand[i] = l .. "__user" end
  local org, err, meta = driver.call(c, {
    method = "GET", path = "/organization/" .. core.urlencode(c.organization_id) .. "/", idempotent = true,
    -- an organization of thousands is several MiB: more than max_body, bounded still
    max_body = math.max(c.max_body, ORG_MAX_BODY),
    query = { _fields = "id," .. table.concat(lists, ","), _expand = table.concat(expand, ",") },
  })
  if not org then return nil, err end
  local out = {}
  for _, l in ipairs(lists) do
    for _, m in ipairs(type(org[l]) == "table" and org[l] or {}) do
      if type(m) ~= "table" then
        return nil, Error.new("protocol", ("GET /organization/ returned a %s in %s"):format(type(m), l),
          { method = "GET", url = c.base_url .. "/organization/", status = meta.status, attempts = meta.attempts })
      end
      local f = flatten(m, l == "memberships")
      f.organization_id = f.organization_id or c.organization_id
      out[#out + 1] = f
    end
  end
  return out, nil, meta
end

-- Emails match with the local part as written and the domain in any case.
-- Close matches addresses without regard to case (the local part too), so
-- Sam@acme.com is sam@acme.com's membership
local function email_key(email)
  return email:lower()
end

--- The membership of `email`: the active one, else the inactive one
-- (`active = false`), else nil with no error.
-- @tparam table args `{email = string}`
-- @return membership table (as in `memberships`) or nil, nil, meta ; or nil, err
function Client:find_membership(args)
  local c = config(self, "find_membership")
  check_args("find_membership", args)
  local errs = validate.fields(args, { email = validate.email }, { "email" })
  if errs then return nil, Error.validation(errs, "GET", c.base_url .. "/organization/") end
  local all, err, meta = self:memberships{ inactive = true }
  if not all then return nil, err end
  local key, found = email_key(args.email), nil
  for _, m in ipairs(all) do
    if type(m.email) == "string" and email_key(m.email) == key then
      if m.active then return m, nil, meta end
      found = found or m
    end
  end
  return found, nil, meta
end

--- The idempotent call automation wants: afterwards `email` has an active
-- membership with the role. Creates (or reactivates) it when absent or
-- inactive, changes the role when it differs, does nothing when it matches.
-- @tparam table args `{email = string, role_id = string}` (or `role = "Role name"`)
-- @return membership, nil, meta with `action` ("created", "reactivated",
--   "role_changed" or "unchanged") and `previous_role_id` ; or nil, err
function Client:ensure_membership(args)
  local _, a, err = prepare_create(self, "ensure_membership", args)
  if not a then return nil, err end
  local existing
  existing, err = self:find_membership{ email = a.email }
  if err then return nil, err end
  local before = existing and existing.role_id
  if existing and existing.active then
    if existing.role_id == a.role_id then return existing, nil, { action = "unchanged", previous_role_id = before } end
    local m, meta
    m, err, meta = self:update_membership(existing.id, { role_id = a.role_id })
    if not m then return nil, err end
    meta.action, meta.previous_role_id = "role_changed", before
    return m, nil, meta
  end
  local m, meta
  m, err, meta = self:create_membership{ email = a.email, role_id = a.role_id }
  if not m then return nil, err end
  if m.role_id ~= nil and m.role_id ~= a.role_id then
    m, err, meta = self:update_membership(m.id, { role_id = a.role_id })
    if not m then return nil, err end
  end
  meta.action, meta.previous_role_id = existing and "reactivated" or "created", before
  return m, nil, meta
end

local METHODS = { GET = true, POST = true, PUT = true, PATCH = true, DELETE = true }
local IDEMPOTENT = { GET = true, PUT = true, DELETE = true }

--- Any other Close endpoint, with the client's auth, retries and error shape.
-- Retries only idempotent methods (GET, PUT, DELETE) unless `retry = true`.
-- @tparam string method "GET", "POST", "PUT", "PATCH" or "DELETE"
-- @tparam string path relative to base_url, e.g. "/lead/"
-- @tparam[opt] table opts `{query = {...}, body = {...}, retry = boolean}`
-- @return the decoded response, nil, meta ; or nil, err
function Client:request(method, path, opts)
  local c = config(self, "request")
  opts = opts or {}
  if type(method) ~= "string" or not METHODS[method:upper()] then
    error("close: request: method must be one of GET, POST, PUT, PATCH, DELETE", 2)
  end
  if type(path) ~= "string" then error("close: request: path must be a string", 2) end
  check_args("request", opts)
  for k in pairs(opts) do
    if k ~= "query" and k ~= "body" and k ~= "retry" then
      error("close: request: unknown option '" .. tostring(k) .. "'", 2)
    end
  end
  if opts.retry ~= nil and type(opts.retry) ~= "boolean" then
    error("close: request: option 'retry' must be a boolean", 2)
  end
  method = method:upper()
  local why
  if path:sub(1, 1) ~= "/" then why = "must start with '/'"
  elseif path:find("%.%.") then why = "must not contain '..'"
  elseif path:find("[%s%c?#]") then why = "must not contain spaces, '?' or '#' (pass query = {...})"
  end
  if why then return nil, Error.validation({ path = why }, method, c.base_url .. path) end
  if opts.query ~= nil then
    local bad = type(opts.query) ~= "table" and "must be a table"
    for k, v in pairs(type(opts.query) == "table" and opts.query or {}) do
      if type(k) ~= "string" then bad = "keys must be strings"
      elseif type(v) ~= "string" and type(v) ~= "number" and type(v) ~= "boolean" then
        bad = ("'%s' must be a string, number or boolean"):format(k)
      end
    end
    if bad then return nil, Error.validation({ query = bad }, method, c.base_url .. path) end
  end
  return driver.call(c, { method = method, path = path, query = opts.query, body = opts.body,
    idempotent = IDEMPOTENT[method] or opts.retry == true })
end

--- Releases the client's connection. Idempotent; the client is unusable after.
function Client:close()
  local c = config(self, "close")
  if c.http then c.http:close() end
  if c.multi then c.multi:close() end
end

--- The plan of a sync: what each row would change (see `close.sync`).
-- @tparam table rows `{ {line=, email=, role_id= | role=}, ... }` (from `close.rows`)
-- @tparam[opt] table opts `deactivate_missing`, `keep`, `max_deactivate`, `only`
-- @return plan, nil, meta ; or nil, err (and the plan, when only the
--   deactivation limit refused it)
function Client:plan_sync(rows, opts)
  config(self, "plan_sync")
  check_args("plan_sync", rows)
  return require("close.sync").plan(self, rows, opts)
end

--- Carries out a plan of `plan_sync` through `batch`.
-- @tparam table plan
-- @tparam[opt] table opts `concurrency`, `on_result(item, result, err, meta)`, `stop`, `skip(item)`
-- @return outcomes `{ {item=, ok=, result=, err=, meta=}, ... }`, nil, meta
function Client:apply_plan(plan, opts)
  config(self, "apply_plan")
  check_args("apply_plan", plan)
  return require("close.sync").apply(self, plan, opts)
end

--- What the pacer knows per endpoint group (after a batch or with `pace`):
-- `{[group] = {interval=, factor=, paused_until=, limited=}}`, `limited`
-- counting the 429s the group got.
function Client:pacing()
  local c = config(self, "pacing")
  return c.pacer and c.pacer:snapshot() or {}
end

--- Runs `fn(client, item)` for every item, each in a coroutine of its own,
-- up to `opts.concurrency` at once (a number, or `"auto"`, the default:
-- starts at 4 and grows while the server's limits leave room, up to
-- `opts.max_concurrency`, 64). Every call of the client made inside `fn`
-- runs concurrently with the others and is paced by the server's rate
-- limits, per endpoint group. After an `auth` or `tls` error no new item
-- starts. `opts.on_result(i, item, result, err, meta)` is called as each
-- item finishes; `opts.stop()` returning a reason stops new items.
-- @tparam table items
-- @tparam function fn
-- @tparam[opt] table opts
-- @return outcomes in input order, `{ok=, result=, err=, meta=}` (an item
-- never started has `err.kind == "not_started"`); nil; `{stopped=,
-- not_started=, peak_concurrency=}`
function Client:batch(items, fn, opts)
  local c = config(self, "batch")
  return require("close.batch").run(c, self, items, fn, opts, c.check_phase ~= nil)
end
Client.__close = Client.close

--- The OAuth tokens the client holds (refreshed first when they are due),
-- e.g. to save them after `close.oauth.exchange_code`.
-- @return tokens ; or nil, err
function Client:tokens()
  local c = config(self, "tokens")
  if not c.auth then
    return nil, Error.validation({ oauth = "this client has no OAuth provider (it has " .. c.auth_name .. ")" })
  end
  local t, err = c.auth:token(c, c.deadline)
  if not t then return nil, err end
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end

function Client:__tostring()
  local c = private[self]
  return ("close.client(%s, %s)"):format(c.base_url, c.auth_name)
end

-- The module-level default client, built on first use from the environment.
local default_client

--- A client from the environment, as `close.default` builds it: CLOSE_API_KEY,
-- else CLOSE_ACCESS_TOKEN, else CLOSE_TOKEN_FILE (a token file written by
-- `close-provision login`, kept rotated; the secret from CLOSE_CLIENT_SECRET,
-- the client id from the file or CLOSE_CLIENT_ID); CLOSE_BASE_URL and
-- CLOSE_CA_FILE optional.
-- @tparam[opt=os.getenv] function getenv where the variables come from
-- @return the client ; or nil, err
function close.from_env(getenv)
  getenv = getenv or os.getenv
  local function var(k)
    local v = getenv(k)
    if v ~= "" then return v end
  end
  local opts = { base_url = var("CLOSE_BASE_URL"), ca_file = var("CLOSE_CA_FILE") }
  local token_file = var("CLOSE_TOKEN_FILE")
  if var("CLOSE_API_KEY") then
    opts.api_key = var("CLOSE_API_KEY") -- the key wins, as documented
  elseif var("CLOSE_ACCESS_TOKEN") then
    opts.oauth_token = var("CLOSE_ACCESS_TOKEN")
  elseif token_file then
    local store = oauth.file_store(token_file)
    local t, why = store.load()
    if not t then
      return nil, Error.validation({ token_file = why or ("token file " .. token_file
        .. " does not exist: run close-provision login first") })
    end
    local client_id, secret = var("CLOSE_CLIENT_ID") or t.client_id, var("CLOSE_CLIENT_SECRET")
    if not client_id or not secret then
      return nil, Error.validation({ token_file = "refreshing its tokens needs CLOSE_CLIENT_SECRET"
        .. (client_id and "" or " and CLOSE_CLIENT_ID") .. " set" })
    end
    opts.oauth = { client_id = client_id, client_secret = secret, store = store }
  else
    return nil, Error.validation({
      api_key = "no credentials: set CLOSE_API_KEY, CLOSE_ACCESS_TOKEN or CLOSE_TOKEN_FILE" })
  end
  local ok, client = pcall(close.new, opts)
  if not ok then
    return nil, Error.validation({ environment = tostring(client):gsub("^.-close%.new: ", "") })
  end
  return client
end

--- The default client, or nil and an error when the environment has no
-- usable credentials (see `close.from_env`).
function close.default()
  if default_client then return default_client end
  local client, err = close.from_env()
  if not client then return nil, err end
  default_client = client
  return client
end

--- Replaces the default client (nil: rebuild from the environment on next use).
function close.set_default(client)
  if client ~= nil and not (type(client) == "table" and private[client]) then
    error("close.set_default: expected a client from close.new (or nil)", 2)
  end
  default_client = client
end

--- `close.create_membership{...}`: create_membership on the default client.
function close.create_membership(args)
  check_args("create_membership", args)
  local client, err = close.default()
  if not client then return nil, err end
  return client:create_membership(args)
end

return close
