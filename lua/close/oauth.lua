--- OAuth 2 for Close, unattended: a token provider that refreshes before
-- expiry and after a refused token, one refresh at a time (single flight),
-- rotated refresh tokens handed to `on_tokens` and saved in a store before
-- the new access token is used; token stores (memory, a private file, an
-- nginx shared dict); and the steps of a first login.
--
--     local client = close.new{ oauth = { client_id = ..., client_secret = ...,
--       refresh_token = ..., on_tokens = function(tokens) save(tokens) end } }
--
-- `on_tokens(tokens)` fails by raising or by returning `nil, err`; the call
-- then fails with kind `auth`, and the new tokens stay in memory and are
-- offered to it again before anything uses them, so none is lost.
-- @module close.oauth

local core = require "close.core"
local cjson = require "cjson.safe"
local Error = require "close.error"
local driver = require "close.driver"
local urls = require "close.url"

local M = {}

--- Where a user approves the app (Close's web app).
M.AUTHORIZE_URL = "https://app.close.com/oauth2/authorize/"

local POLL = 0.01 -- seconds between looks at a refresh another call is making
local MAX_SKEW = 60

-- The token endpoint of a base URL: its origin plus /oauth2/token/.
function M.token_url(base_url)
  local origin = urls.origin(base_url)
  return origin and (origin .. "/oauth2/token/")
end

local form = urls.encode

local copy = require("close.validate").copy

--- The scopes a login asks for: Close gives every app these two, and a
-- refresh token needs `offline_access`.
M.SCOPE = "all.full_access offline_access"

--- `n` bytes from the system's random source (/dev/urandom); nil and the
-- reason when it cannot be read.
function M.random_bytes(n)
  local f, err = io.open("/dev/urandom", "rb")
  if not f then return nil, "cannot read /dev/urandom: " .. tostring(err) end
  local bytes = f:read(n)
  f:close()
  if not bytes or #bytes ~= n then return nil, "cannot read /dev/urandom: short read" end
  return bytes
end

--- RFC 7636's S256 challenge of a code verifier: base64url(SHA-256(verifier)).
function M.code_challenge(verifier)
  return core.base64url(core.sha256(verifier))
end

--- Whether a string is a code verifier RFC 7636 allows: 43 to 128 of
-- A-Z a-z 0-9 `-._~`.
function M.valid_verifier(v)
  return type(v) == "string" and #v >= 43 and #v <= 128 and v:match("^[%w%-%._~]+$") ~= nil
end

--- A new PKCE pair for one login: `{verifier=, challenge=, method="S256"}`
-- (the verifier: 32 random bytes, base64url, 43 characters); or nil and why.
function M.pkce()
  local bytes, err = M.random_bytes(32)
  if not bytes then return nil, err end
  local verifier = core.base64url(bytes)
  return { verifier = verifier, challenge = M.code_challenge(verifier), method = "S256" }
end

--- The URL to send a user to so that they approve the app.
-- @tparam table o `client_id`, `redirect_uri`, `state`, optional
--   `code_challenge` (PKCE, sent with method S256), `scope` (default
--   `SCOPE`), `authorize_url`
-- @treturn string
function M.authorize_url(o)
  assert(type(o) == "table" and type(o.client_id) == "string" and type(o.redirect_uri) == "string"
    and type(o.state) == "string", "close.oauth.authorize_url: client_id, redirect_uri and state are required")
  local base = o.authorize_url or M.AUTHORIZE_URL
  local q = { client_id = o.client_id, response_type = "code", redirect_uri = o.redirect_uri, state = o.state,
    scope = o.scope or M.SCOPE }
  if o.code_challenge then q.code_challenge, q.code_challenge_method = o.code_challenge, "S256" end
  return base .. (base:find("?", 1, true) and "&" or "?") .. form(q)
end

-- The fields a token store and on_tokens see. expires_in is kept so that
-- the refresh skew stays right after a reload.
local TOKEN_FIELDS = { "access_token", "refresh_token", "expires_at", "expires_in", "scope",
  "organization_id", "user_id", "client_id", "refused" }

-- RFC 6750's b64token: what may follow "Bearer " (and nothing that could
-- break a header or a form)
local function valid_token(t)
  return type(t) == "string" and #t <= 4096 and t:match("^[%w%-%._~%+/]+=*$") ~= nil
end
M.valid_token = valid_token

-- A token set read from a store or given by the caller, checked; nil and a reason if unusable.
local function checked(t)
  if type(t) ~= "table" then return nil, "holds no token table" end
  if t.access_token ~= nil and not valid_token(t.access_token) then return nil, "has an invalid access_token" end
  if t.refresh_token ~= nil and not valid_token(t.refresh_token) then return nil, "has an invalid refresh_token" end
  if t.access_token == nil and t.refresh_token == nil then return nil, "has neither access_token nor refresh_token" end
  if t.refused ~= nil and type(t.refused) ~= "string" then return nil, "has a refused that is not a string" end
  for _, k in ipairs({ "expires_at", "expires_in" }) do
    if t[k] ~= nil and (type(t[k]) ~= "number" or t[k] ~= t[k]) then
      return nil, "has a " .. k .. " that is not a number"
    end
  end
  local out = {}
  for _, k in ipairs(TOKEN_FIELDS) do out[k] = t[k] end
  return out
end

-- ---------------------------------------------------------------------------
-- Stores: load() -> tokens | nil (none) | nil, err; save(tokens) -> true |
-- nil, err (| nil, err, "newer": the store refused to replace a pair rotated
-- since it was read, which the provider then adopts); lock(ttl) -> true
-- (held now) | false (another holds it) | nil, err; unlock(). One lock per
-- store makes one refresh per store.

--- Tokens kept in this Lua state only (the default).
function M.memory_store()
  local s = {}
  return {
    load = function() return s.tokens and copy(s.tokens) end,
    save = function(_, t) s.tokens = copy(t) return true end,
    lock = function() if s.locked then return false end s.locked = true return true end,
    unlock = function() s.locked = nil end,
  }
end

--- Tokens in a JSON file that only its owner may read, written atomically
-- (a temporary file of mode 0600, fsync, rename). A file that others may
-- read is refused. The lock is the store's: clients that share a file share
-- one store (and one process uses a file at a time).
-- @tparam string path
function M.file_store(path)
  assert(type(path) == "string" and path ~= "", "close.oauth.file_store: expected a path")
  local locked = false
  return {
    path = path,
    load = function()
      local ok, why = core.check_private(path)
      if not ok then
        if why == "missing" then return nil end
        return nil, "token file " .. path .. " " .. why
      end
      local f, err = io.open(path, "rb")
      if not f then return nil, "token file " .. path .. ": " .. tostring(err) end
      local text = f:read("*a")
      f:close()
      local doc = cjson.decode(text)
      if type(doc) ~= "table" then return nil, "token file " .. path .. " is not JSON" end
      local t, bad = checked(doc)
      if not t then return nil, "token file " .. path .. " " .. bad end
      return t
    end,
    save = function(_, t)
      local ok, why = core.write_private(path, cjson.encode(t))
      if not ok then return nil, "token file " .. path .. ": " .. why end
      return true
    end,
    lock = function()
      if locked then return false end
      locked = true
      return true
    end,
    unlock = function() locked = false end,
  }
end

--- Tokens in an nginx `lua_shared_dict`, shared by every worker of one
-- nginx, with the lock in the dict too: one refresh for all workers.
-- @tparam string dict_name
-- @tparam[opt="close_oauth"] string key
function M.shared_store(dict_name, key)
  local ngx = rawget(_G, "ngx")
  local dict = ngx and ngx.shared and ngx.shared[dict_name]
  assert(dict, "close.oauth.shared_store: no lua_shared_dict " .. tostring(dict_name))
  key = key or "close_oauth"
  local lock_key = key .. ":lock"
  return {
    load = function()
      local text = dict:get(key)
      if text == nil then return nil end
      local t, bad = checked(cjson.decode(text))
      if not t then return nil, "shared dict " .. dict_name .. " " .. bad end
      return t
    end,
    save = function(_, t)
      local ok, err = dict:set(key, cjson.encode(t))
      if not ok then return nil, "shared dict " .. dict_name .. ": " .. tostring(err) end
      return true
    end,
    -- the lock expires by itself, so a worker that dies holding it stops no one for long
    lock = function(_, ttl)
      local ok, err = dict:add(lock_key, ngx.worker.pid(), ttl)
      if ok then return true end
      if err == "exists" then return false end
      return nil, "shared dict " .. dict_name .. ": " .. tostring(err)
    end,
    unlock = function() dict:delete(lock_key) end,
  }
end

--- Tokens in Redis, shared by every node and worker: one refresh per expiry
-- for all of them (a lock with an expiry and an owner; a compare-and-set
-- save). Options: host, port, password, db, key (default "close:oauth"),
-- timeout (seconds), redis (a module like lua-resty-redis; default it inside
-- nginx when present, else close.redis) or connect (a function returning a
-- connected client with that interface). See close.oauth.redis_store.
-- @tparam table o
function M.redis_store(o)
  return require("close.oauth.redis_store").new(o, checked, function()
    local bytes, err = M.random_bytes(16)
    if not bytes then return nil, err end
    return (bytes:gsub(".", function(ch) return ("%02x"):format(ch:byte()) end))
  end)
end

-- ---------------------------------------------------------------------------
-- The provider: what driver.call asks for the headers of each attempt.

local Provider = {}
Provider.__index = Provider

local function add_secrets(parts, t)
  parts.secrets:add(t.access_token)
  parts.secrets:add(t.refresh_token)
end

-- the headers of each token request: a form, no Authorization (the client
-- authenticates in the body, as Close's token endpoint wants)
local function form_headers(parts)
  local h = driver.headers(nil, parts.user_agent, "application/x-www-form-urlencoded")
  return { plain = h.body, plain_lines = h.body_lines, body = h.body, body_lines = h.body_lines }
end

--- Builds the provider of a client (close.auth does, from its `oauth`
-- option); `parts` is the client's internals, whose `secrets` the provider adds
-- every token to.
-- @local
function M.provider(o, parts)
  local p = setmetatable({
    client_id = o.client_id, client_secret = o.client_secret, on_tokens = o.on_tokens,
    store = o.store or M.memory_store(), code = o.code, redirect_uri = o.redirect_uri,
    code_verifier = o.code_verifier, token_url = o.token_url, refused = {}, nrefused = 0,
  }, Provider)
  parts.secrets:add(o.code_verifier, true) -- one login's secret, as the code is
  if o.access_token or o.refresh_token then
    p.tokens = { access_token = o.access_token, refresh_token = o.refresh_token, expires_at = o.expires_at }
    if o.expires_at then p.tokens.expires_in = o.expires_at - parts.wallclock() end
    add_secrets(parts, p.tokens)
  end
  p.form_headers = form_headers(parts)
  return p
end

-- refresh this long before expiry: a tenth of the lifetime, at most a minute
-- (a minute for Close's hour, 0.2 s for a 2-second token in tests)
local function skew(t)
  local life = t.expires_in
  if type(life) ~= "number" or life <= 0 then return MAX_SKEW end
  return math.min(MAX_SKEW, life / 10)
end

function Provider:usable(t, parts)
  if not t or not t.access_token or self.refused[t.access_token] then return false end
  return t.expires_at == nil or parts.wallclock() < t.expires_at - skew(t)
end

--- After a 401: true when the token was ours to replace (then refresh and retry once).
function Provider:rejected(token)
  if not token or self.refused[token] then return false end
  if self.nrefused >= 64 then self.refused, self.nrefused = {}, 0 end -- bounded
  self.refused[token] = true
  self.nrefused = self.nrefused + 1
  return true
end

local function auth_error(parts, message, fields)
  return Error.new("auth", message, fields, parts.secrets)
end

-- a refusal of the token endpoint, said so that the reader knows what to do
local function token_error(parts, err, grant)
  local code = err.code
  if code == "invalid_grant" then
    local what = grant == "authorization_code" and "the authorization code" or "the refresh token"
    return auth_error(parts, ("%s was refused (%s): it was revoked, expired or already used; authorize again "
      .. "(close-provision login)"):format(what, err.message), err)
  elseif code == "invalid_client" or (err.status == 401 and not code) then
    return auth_error(parts, ("the OAuth client was refused (%s): check client_id and client_secret"):format(
      err.message), err)
  elseif code or err.kind == "bad_request" or err.kind == "auth" then
    return auth_error(parts, "the token endpoint refused the request: " .. tostring(err.message), err)
  end
  local e = Error.new(err.kind, "token endpoint: " .. tostring(err.message), err, parts.secrets)
  return e
end

-- One token request (a grant) through the client's transport and retry
-- policy, within what is left of the caller's deadline.
local function grant_request(parts, p, fields, remaining)
  fields.client_id, fields.client_secret = p.client_id, p.client_secret
  local doc, err = driver.call(parts, { method = "POST", url = p.token_url or parts.token_url, form = form(fields),
    headers = p.form_headers, idempotent = true, deadline = remaining })
  if not doc then return nil, token_error(parts, err, fields.grant_type) end
  local url = p.token_url or parts.token_url
  local bad
  if type(doc.token_type) ~= "string" or doc.token_type:lower() ~= "bearer" then bad = "token_type is not Bearer"
  elseif not valid_token(doc.access_token) then bad = "access_token is missing or invalid"
  elseif type(doc.expires_in) ~= "number" or doc.expires_in ~= doc.expires_in or doc.expires_in <= 0 then
    bad = "expires_in is not a positive number"
  elseif doc.refresh_token ~= nil and not valid_token(doc.refresh_token) then bad = "refresh_token is invalid"
  end
  if bad then
    -- a token it sent may still be in doc: none of it goes into the message
    return nil, Error.new("protocol", "the token endpoint's answer is unusable: " .. bad,
      { method = "POST", url = url, status = 200 }, parts.secrets)
  end
  -- client_id goes along so that a token file is enough to refresh later
  -- (with the secret from the environment)
  local t = { access_token = doc.access_token, refresh_token = doc.refresh_token, client_id = p.client_id,
    expires_in = doc.expires_in, expires_at = parts.wallclock() + doc.expires_in }
  for _, k in ipairs({ "scope", "organization_id", "user_id" }) do
    if type(doc[k]) == "string" then t[k] = doc[k] end
  end
  return t
end

-- Hands new tokens to on_tokens, then to the store; only then are they ours.
function Provider:persist(parts, t)
  if self.on_tokens then
    local ok, res, why = pcall(self.on_tokens, copy(t))
    local failed = not ok and res or ((res == nil or res == false) and why) or nil
    if failed then
      return nil, auth_error(parts, "on_tokens failed: " .. tostring(failed) .. "; the new tokens are kept "
        .. "in memory and offered to it again before they are used")
    end
  end
  local ok, err, newer = self.store:save(t)
  if not ok and newer then
    -- the store holds a pair another node rotated since (it refused to go back): that one wins
    self.pending = nil
    local usable, aerr = self:adopt_stored(parts)
    if usable or aerr then return usable, aerr end
    return nil, auth_error(parts, "the token store holds another node's newer pair, which is not usable: "
      .. tostring(err))
  end
  if not ok then
    return nil, auth_error(parts, "the token store could not save the new tokens (" .. tostring(err)
      .. "); they are kept in memory and saved again before they are used")
  end
  self.pending = nil
  self.tokens = t
  return true
end

-- Takes what the store holds when it differs from ours (another worker or
-- process refreshed); true when that is usable now.
function Provider:adopt_stored(parts)
  local s, err = self.store:load()
  if err then return nil, auth_error(parts, "token store: " .. tostring(err)) end
  if not s then return false end
  local t = self.tokens
  if not t or s.access_token ~= t.access_token or s.refresh_token ~= t.refresh_token then
    add_secrets(parts, s)
    self.tokens = s
  end
  -- another worker or process had this refresh token refused: it stays refused here too
  if s.refused and s.refresh_token and self.dead ~= s.refresh_token then
    self.dead, self.dead_err = s.refresh_token, auth_error(parts, s.refused)
  end
  return self:usable(self.tokens, parts)
end

-- One grant: the code of a login, else the refresh token.
function Provider:grant(parts, remaining)
  local t = self.tokens
  local fields
  if self.code then
    fields = { grant_type = "authorization_code", code = self.code, redirect_uri = self.redirect_uri,
      code_verifier = self.code_verifier }
  elseif t and t.refresh_token then
    fields = { grant_type = "refresh_token", refresh_token = t.refresh_token }
    -- a refresh token once refused stays refused: no second request for it
    if self.dead == t.refresh_token then return nil, self.dead_err end
  else
    return nil, auth_error(parts, "the access token expired or was refused and there is no refresh token: "
      .. "authorize again (close-provision login)")
  end
  local new, err = grant_request(parts, self, fields, remaining)
  if not new then
    if err.kind == "auth" and fields.refresh_token then
      self.dead, self.dead_err = fields.refresh_token, err
      -- the store tells the others (workers, processes): no second request for it anywhere
      local s = self.store:load()
      if err.code == "invalid_grant" and s and s.refresh_token == fields.refresh_token and not s.refused then
        s.refused = err.message
        self.store:save(s)
      end
    end
    if err.kind == "auth" then self.code, self.code_verifier = nil, nil end
    return nil, err
  end
  self.code, self.code_verifier = nil, nil
  -- a server that does not rotate keeps the refresh token it had
  new.refresh_token = new.refresh_token or (t and t.refresh_token)
  add_secrets(parts, new)
  self.pending = new
  return self:persist(parts, new)
end

-- A refresh under the store's lock, unless the store has a usable token.
function Provider:refresh(parts, remaining)
  local clock = parts.clock
  local give_up = clock() + remaining
  local store = self.store
  local ok, err = self:adopt_stored(parts)
  if ok or err then return ok, err end
  while true do
    local got, lerr = store:lock(math.min(remaining, 60) + 1)
    if got then break end
    if got == nil then return nil, auth_error(parts, "token store: " .. tostring(lerr)) end
    if clock() + POLL > give_up then
      return nil, Error.new("timeout", "timed out waiting for another refresh of the token", {}, parts.secrets)
    end
    driver.io(parts).sleep(POLL)
    ok, err = self:adopt_stored(parts)
    if ok or err then return ok, err end
  end
  -- the lock is ours: the holder before us may have just saved. (No pcall
  -- around it: Lua 5.1 cannot yield across one, and the transport may
  -- yield; a call that raises midway leaves a flight that the next call
  -- finds stale, see token.)
  self.flight.locked = true
  local res, gerr = self:adopt_stored(parts)
  if not (res or gerr) then res, gerr = self:grant(parts, give_up - clock()) end
  self.flight.locked = false
  store:unlock()
  return res, gerr
end

local function running()
  local co, main = coroutine.running()
  if main then return nil end -- 5.2+: the main thread; 5.1 says nil already
  return co
end

-- A flight whose owner has ended (it raised midway) or is the caller itself
-- holds nothing any more: its store lock is released.
function Provider:drop_stale_flight()
  local f = self.flight
  if not f then return end
  local owner = f.owner
  if owner == running() or (owner and coroutine.status(owner) == "dead") then
    if f.locked then self.store:unlock() end
    self.flight = nil
  end
end

-- The token for an attempt, refreshed first when needed; one refresh in
-- flight per provider, the other calls waiting for its result.
function Provider:token(parts, remaining)
  local clock = parts.clock
  local give_up = clock() + remaining
  while true do
    self:drop_stale_flight()
    if self.pending and not self.flight then
      local ok, err = self:persist(parts, self.pending)
      if not ok then return nil, err end
    end
    if self:usable(self.tokens, parts) then return self.tokens end
    if not self.flight then
      self.flight = { owner = running() }
      local ok, err = self:refresh(parts, give_up - clock())
      self.flight = nil
      if not ok then return nil, err end
      if not self:usable(self.tokens, parts) then
        return nil, auth_error(parts, "the token endpoint gave an access token that was refused before or has "
          .. "expired already (check this machine's clock)")
      end
      return self.tokens
    end
    if clock() + POLL > give_up then
      return nil, Error.new("timeout", "timed out waiting for another call's refresh of the token", {}, parts.secrets)
    end
    driver.io(parts).sleep(POLL)
    -- the call that refreshed may have failed for good: its error is ours too
    if not self.flight and self.dead and self.tokens and self.dead == self.tokens.refresh_token
      and not self:usable(self.tokens, parts) then
      return nil, self.dead_err
    end
  end
end

--- The header set for an attempt (driver.call asks before every send).
-- @local
function Provider:headers(parts, remaining)
  local t, err = self:token(parts, remaining)
  if not t then return nil, err end
  local h = self.hset
  if not h or h.token ~= t.access_token then
    h = driver.headers(core.auth_header("bearer", t.access_token), parts.user_agent)
    h.token = t.access_token
    self.hset = h
    parts.secrets:add("Bearer " .. t.access_token)
  end
  return h
end

--- Exchanges the code of a login for tokens (`grant_type=authorization_code`).
-- @tparam table o `client_id`, `client_secret`, `code`, `redirect_uri`,
-- `code_verifier` (PKCE: the verifier whose challenge the authorize URL
-- carried), and any option of `close.new` (`base_url`, `ca_file`, `token_url` ...)
-- @return tokens ; or nil, err
function M.exchange_code(o)
  assert(type(o) == "table", "close.oauth.exchange_code: expected a table")
  local close = require "close" -- at call time: close requires this module
  local opts = copy(o)
  local oauth = { client_id = o.client_id, client_secret = o.client_secret, code = o.code,
    redirect_uri = o.redirect_uri, code_verifier = o.code_verifier, token_url = o.token_url,
    on_tokens = o.on_tokens, store = o.store }
  for _, k in ipairs({ "client_id", "client_secret", "code", "redirect_uri", "code_verifier", "token_url",
    "on_tokens", "store" }) do
    opts[k] = nil
  end
  opts.oauth = oauth
  local client = close.new(opts)
  return client:tokens()
end

return M
