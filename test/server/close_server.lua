-- A fake of the Close API (the membership provisioning subset), run inside
-- nginx + ngx_lua for integration tests. All mutable state lives in shared
-- dicts so that it survives between requests; nginx runs one worker, and no
-- handler yields between reading and writing state, so updates are atomic.
--
-- OAuth 2 like Close's (see test/contract/close-oauth.yaml): one
-- registered client; /oauth2/authorize/ approves at once and redirects with a
-- code; POST /oauth2/token/ exchanges codes and rotates refresh tokens. PKCE
-- (RFC 7636): a code asked for with a code_challenge (method S256 only) is
-- exchanged only with the code_verifier whose SHA-256 it is. Each
-- code exchange (or /_test/oauth/grant) starts a token family; presenting an
-- already used refresh token of a family revokes the whole family.
--
-- Rate limits like Close's (per key and endpoint group, and 3x that per
-- organization), a RateLimit header on every authenticated API response, a
-- remote latency (POST /_test/config: latency, latency_jitter) and request
-- counters (GET /_test/stats) for concurrency benchmarks.

local cjson = require "cjson.safe"

local ngx = ngx
local null = cjson.null

math.randomseed(ngx.now() * 1000 + ngx.worker.pid())   -- for latency_jitter

local _M = {}

local API_KEY = "ck_test_4f7a2b9c1d"
local OAUTH_TOKEN = "ct_test_8e6d5c4b3a"     -- fixed, never expires
local OAUTH_CLIENT_ID = "oa2client_test_5d1e"
local OAUTH_CLIENT_SECRET = "oa2secret_test_9c7b"
local OAUTH_SCOPE = "all.full_access offline_access"

local ORG_ID = "orga_yPVZsGazVKgng0gEEYRSyzKDNQz8C2vSz27FKNsHfCK"
local ORG_NAME = "Acme Sales"
local VERIFIED_DOMAINS = { ["acme.com"] = true, ["example.com"] = true }

-- Predefined roles; only admin grants manage_organization.
local PREDEFINED_ROLES = { admin = true, superuser = true, user = true, restricteduser = true }
local CUSTOM_ROLES = {
    { id = "role_3WbpmlYSKRFDXdPd2em3vSyQ6c5iRYIUmW95yp4i9zH", name = "Account Manager",
      permissions = { "bulk_edit", "export" } },
    { id = "role_WBTAHxOVMWwfjkaBi4UWpkPXhW7wjsYbNCTCpmbjFug", name = "Sales Rep",
      permissions = { "calling" } },
    { id = "role_qVcU1hjRWOERqER7EDSR1epSotVFKZl0UiqVA3S7b6Y", name = "Support",
      permissions = { "view_all_leads" } },
}

local SEED_MEMBERS = {
    { email = "admin@acme.com", first_name = "Ada", last_name = "Admin", role_id = "admin", active = true },
    { email = "sam@acme.com", first_name = "Sam", last_name = "Seller", role_id = "user", active = true },
    { email = "old@acme.com", first_name = "Olive", last_name = "Old", role_id = "user", active = false },
}

local DEFAULT_RATE_LIMIT = 1000
local DEFAULT_RATE_WINDOW = 1
local DEFAULT_TOKEN_LIFETIME = 3600
local MAX_TOKEN_LIFETIME = 366 * 86400
local CODE_LIFETIME = 60
-- Expired access tokens are kept this long, so that they are answered as
-- expired rather than unknown.
local EXPIRED_TOKEN_KEPT = 86400
local MAX_WAIT = 300                    -- cap for delay/hang faults, so every wait is bounded
local MAX_OVERSIZE = 64 * 1024 * 1024
local MAX_LOGGED_BODY = 256 * 1024

local state_dict = ngx.shared.close_state
local log_dict = ngx.shared.close_log
local stats_dict = ngx.shared.close_stats

---------------------------------------------------------------------------
-- JSON output. The distro's lua-cjson cannot tell an empty array from an
-- empty object, so structure is encoded here (arrays marked with array())
-- and cjson only encodes scalars. Keys are sorted for stable output.

local array_mt = {}

local function array(t)
    return setmetatable(t or {}, array_mt)
end

local function is_array(t)
    if getmetatable(t) == array_mt then
        return true
    end
    local n = #t
    if n == 0 then
        return false
    end
    local count = 0
    for _ in pairs(t) do
        count = count + 1
    end
    return count == n
end

local function encode_into(v, out)
    if type(v) ~= "table" then
        out[#out + 1] = v == nil and "null" or cjson.encode(v)
    elseif is_array(v) then
        out[#out + 1] = "["
        for i = 1, #v do
            if i > 1 then out[#out + 1] = "," end
            encode_into(v[i], out)
        end
        out[#out + 1] = "]"
    else
        local keys = {}
        for k in pairs(v) do
            keys[#keys + 1] = k
        end
        table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
        out[#out + 1] = "{"
        for i, k in ipairs(keys) do
            if i > 1 then out[#out + 1] = "," end
            out[#out + 1] = cjson.encode(tostring(k))
            out[#out + 1] = ":"
            encode_into(v[k], out)
        end
        out[#out + 1] = "}"
    end
end

local function encode(v)
    local out = {}
    encode_into(v, out)
    return table.concat(out)
end

local function nullable(v)
    if v == nil then return null end
    return v
end

local function copy_array(t)
    local out = array()
    for i, v in ipairs(t or {}) do out[i] = v end
    return out
end

local function is_object(v)
    return type(v) == "table" and (next(v) == nil or not is_array(v))
end

---------------------------------------------------------------------------
-- Responses

local function send_raw(status, body, content_type, headers)
    ngx.status = status
    ngx.header["Content-Type"] = content_type
    ngx.header["Content-Length"] = #body
    if ngx.var.https == "on" then
        ngx.header["Strict-Transport-Security"] = "max-age=31536000"
    end
    for k, v in pairs(headers or {}) do
        ngx.header[k] = v
    end
    ngx.print(body)
end

local function send_json(status, obj, headers)
    return send_raw(status, encode(obj), "application/json", headers)
end

local function send_error(status, message, headers)
    return send_json(status, { error = message }, headers)
end

local function send_invalid(errors, field_errors)
    return send_json(400, { errors = array(errors), ["field-errors"] = field_errors or {} })
end

local function send_405(allowed)
    return send_json(405, { error = 'Method "' .. ngx.req.get_method() .. '" not allowed.' },
                     { Allow = table.concat(allowed, ", ") })
end

---------------------------------------------------------------------------
-- Deterministic ids: md5 of the seed mapped onto the alphabet Close uses.

local ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

local function derive_id(prefix, seed)
    local bytes = ngx.md5_bin(prefix .. ":1:" .. seed) .. ngx.md5_bin(prefix .. ":2:" .. seed)
                  .. ngx.md5_bin(prefix .. ":3:" .. seed)
    local out = {}
    for i = 1, 43 do
        local j = bytes:byte(i) % 62 + 1
        out[i] = ALNUM:sub(j, j)
    end
    return prefix .. "_" .. table.concat(out)
end

---------------------------------------------------------------------------
-- State: one JSON document holding the memberships, in creation order.

local function new_member(email, first_name, last_name, role_id, active)
    return {
        id = derive_id("memb", email),
        user_id = derive_id("user", email),
        email = email,
        first_name = first_name,
        last_name = last_name,
        role_id = role_id,
        active = active,
        auto_record_calls = "unset",
        may_workflows_impersonate = false,
        track_email_opens = true,
        saved_view_ids = {},
        -- default_caller_id / hangup_recording_url: absent means null
    }
end

local function seed_state()
    local members = {}
    for i, s in ipairs(SEED_MEMBERS) do
        members[i] = new_member(s.email, s.first_name, s.last_name, s.role_id, s.active)
    end
    return { members = members }
end

local function load_state()
    local raw = state_dict:get("state")
    local st = raw and cjson.decode(raw)
    if not st then
        st = seed_state()
    end
    st.members = st.members or {}
    return st
end

local function save_state(st)
    -- stored with cjson itself, in C: the state is never sent as it is, so
    -- the careful encoder (empty arrays, sorted keys) is not needed, and with
    -- thousands of members it cost tens of milliseconds a write
    local ok, err = state_dict:safe_set("state", cjson.encode(st))
    if not ok then
        ngx.log(ngx.ERR, "cannot save state: ", err)
    end
end

local function find_member(st, id)
    for _, m in ipairs(st.members) do
        if m.id == id then return m end
    end
end

local function find_member_by_email(st, email)
    for _, m in ipairs(st.members) do
        if m.email == email then return m end
    end
end

local function find_custom_role(id)
    for _, r in ipairs(CUSTOM_ROLES) do
        if r.id == id then return r end
    end
end

local function is_valid_role(id)
    return PREDEFINED_ROLES[id] or find_custom_role(id) ~= nil
end

local function admin_member(st)
    return find_member_by_email(st, "admin@acme.com") or new_member("admin@acme.com", "Ada", "Admin", "admin", true)
end

local function full_name(m)
    local parts = {}
    if m.first_name and m.first_name ~= "" then parts[#parts + 1] = m.first_name end
    if m.last_name and m.last_name ~= "" then parts[#parts + 1] = m.last_name end
    return table.concat(parts, " ")
end

local function membership_view(m)
    return {
        id = m.id,
        user_id = m.user_id,
        organization_id = ORG_ID,
        role_id = m.role_id,
        role = m.role_id,
        auto_record_calls = m.auto_record_calls,
        default_caller_id = nullable(m.default_caller_id),
        hangup_recording_url = nullable(m.hangup_recording_url),
        may_workflows_impersonate = m.may_workflows_impersonate,
        track_email_opens = m.track_email_opens,
        is_free = false,
        onboarding_status = "in-progress",
        permissions_granted = array(),
    }
end

local function user_view(m)
    return {
        id = m.user_id,
        email = m.email,
        first_name = m.first_name,
        last_name = m.last_name,
        full_name = full_name(m),
    }
end

---------------------------------------------------------------------------
-- Rate limiting like Close's: fixed windows of rate_window seconds, counted
--   * per credential and endpoint group (method + path template, ids
--     replaced by {id}: "PUT /api/v1/membership/{id}/"): rate_limit calls;
--   * per organization, across every key and group: org_rate_limit calls
--     (default ORG_LIMIT_FACTOR * rate_limit).
-- A call counts in both only when admitted; a refused call counts nowhere,
-- so a group at its limit never uses up the organization's calls. Both
-- windows share one clock (same index, same reset). A generation number in
-- the keys lets a config change start fresh counts.

local ORG_LIMIT_FACTOR = 3
local RATE_BODY_MODES = { json = true, none = true, alternate = true }

local function rate_config()
    local limit = state_dict:get("rate_limit") or DEFAULT_RATE_LIMIT
    return limit, state_dict:get("rate_window") or DEFAULT_RATE_WINDOW,
           state_dict:get("org_rate_limit") or ORG_LIMIT_FACTOR * limit
end

local function round_seconds(s)
    s = math.max(s, 0.001)
    return tonumber(string.format("%.3f", s))
end

local function format_number(n)
    local s = string.format("%.3f", n):gsub("0+$", ""):gsub("%.$", "")
    return s
end

-- Counts one call of `group` by `credential`. Returns a table:
-- {allowed, header (RateLimit value), limit, window, reset, scope}, where
-- scope says which limit refused the call ("key" or "organization").
-- The header is the group's; its remaining is the smaller of the group's
-- and the organization's, so that it reaches 0 whichever limit is hit.
local function rate_check(credential, group)
    local limit, window, org_limit = rate_config()
    ngx.update_time()
    local now = ngx.now()
    local index = math.floor(now / window)
    local reset = round_seconds((index + 1) * window - now)
    local gen = state_dict:get("rate_gen") or 0
    local key = "rl:" .. gen .. ":k:" .. ngx.md5(credential) .. ":" .. ngx.md5(group) .. ":" .. index
    local org_key = "rl:" .. gen .. ":org:" .. index
    -- No yield from here to the increments: one worker, so this is atomic.
    local count, org_count = state_dict:get(key) or 0, state_dict:get(org_key) or 0
    local scope
    if count >= limit then
        scope = "key"
    elseif org_count >= org_limit then
        scope = "organization"
    else
        local err
        count, err = state_dict:incr(key, 1, 0, window + 1)
        if not count then
            ngx.log(ngx.ERR, "rate counter failed: ", err)
            count = 1
        end
        org_count, err = state_dict:incr(org_key, 1, 0, window + 1)
        if not org_count then
            ngx.log(ngx.ERR, "organization rate counter failed: ", err)
            org_count = 1
        end
    end
    local remaining = scope and 0 or math.max(math.min(limit - count, org_limit - org_count), 0)
    return {
        allowed = scope == nil,
        header = string.format("limit=%d, remaining=%d, reset=%s", limit, remaining, format_number(reset)),
        limit = scope == "organization" and org_limit or limit,
        window = window,
        reset = reset,
        scope = scope,
    }
end

-- Whether a path segment is an object id: a known prefix, or any lowercase
-- prefix whose rest has a capital or a digit ("pinned_views" is no id).
local ID_PREFIXES = { memb = true, orga = true, user = true, role = true, save = true, lead = true,
                      cont = true, acti = true, oppo = true, task = true }

local function is_id_segment(seg)
    local prefix, rest = seg:match("^([a-z][a-z0-9]*)_([A-Za-z0-9]+)$")
    return prefix ~= nil and (ID_PREFIXES[prefix] or rest:find("[A-Z0-9]") ~= nil)
end

-- The endpoint group of a request: "METHOD /api/v1/path/{id}/" (HEAD counts as GET).
local function endpoint_group()
    local method = ngx.req.get_method()
    if method == "HEAD" then method = "GET" end
    local path = ngx.var.uri:gsub("[^/]+", function(seg)
        if is_id_segment(seg) then return "{id}" end
    end)
    if #path > 200 then path = path:sub(1, 200) .. "..." end   -- a stray long path stays one short key
    return method .. " " .. path
end

-- 429 body by config rate_limit_body: Close's JSON (json), empty (none), or
-- json and none in turn, starting with json (alternate).
local function rate_limit_body_mode()
    local mode = state_dict:get("rate_limit_body") or "json"
    if mode == "alternate" then
        local n = state_dict:incr("rate_body_n", 1, 0)
        return n % 2 == 1 and "json" or "none"
    end
    return mode
end

local function send_rate_limited(rl)
    local headers = {}
    if state_dict:get("retry_after") then
        headers["Retry-After"] = tostring(math.ceil(rl.reset))
    end
    if rate_limit_body_mode() == "none" then
        return send_raw(429, "", "text/plain", headers)
    end
    return send_json(429, { error = {
        rate_reset = rl.reset,
        message = "API call count exceeded for this period",
        rate_limit = rl.limit,
        rate_window = rl.window,
        rate_limit_type = rl.scope,
    } }, headers)
end

---------------------------------------------------------------------------
-- Latency of a remote API: config latency (fixed) + uniform 0..latency_jitter
-- seconds before an API or token request is answered. ngx.sleep yields, so
-- concurrent requests wait side by side; every handler does its state
-- read-modify-write after this, without yielding in between.

local MAX_LATENCY = 10

local function apply_latency()
    local fixed = state_dict:get("latency") or 0
    local jitter = state_dict:get("latency_jitter") or 0
    local s = fixed + (jitter > 0 and math.random() * jitter or 0)
    s = math.min(math.max(s, 0), 2 * MAX_LATENCY)
    if s > 0 then
        ngx.sleep(s)
    end
end

---------------------------------------------------------------------------
-- Counters of API requests for GET /_test/stats, in the close_stats dict:
--   n:requests, s:<status>, g:<group>, inflight, max_inflight, conns, c:<serial>
-- In-flight requests are counted up on entry and down in the log phase
-- (which runs however the request ended). A per-worker epoch, bumped by
-- /_test/reset, keeps a request that began before a reset from counting
-- down after it.

local stats_epoch = 0

local function stats_enter(group)
    ngx.ctx.stats_epoch = stats_epoch
    stats_dict:incr("n:requests", 1, 0)
    stats_dict:incr("g:" .. group, 1, 0)
    local serial = ngx.var.connection
    if serial and stats_dict:safe_add("c:" .. serial, true) then
        stats_dict:incr("conns", 1, 0)
    end
    local n = stats_dict:incr("inflight", 1, 0) or 0
    if n > (stats_dict:get("max_inflight") or 0) then
        stats_dict:set("max_inflight", n)
    end
end

local function stats_leave()
    if ngx.ctx.stats_epoch ~= stats_epoch then return end
    ngx.ctx.stats_epoch = nil
    local n = stats_dict:incr("inflight", -1, 1)
    if n and n < 0 then stats_dict:set("inflight", 0) end
    stats_dict:incr("s:" .. tostring(ngx.status), 1, 0)
end

---------------------------------------------------------------------------
-- OAuth state, in close_state under "oauth:" keys (so /_test/reset clears it):
--   oauth:code:<code>  {redirect_uri, issued, used, code_challenge}
--   oauth:fam:<id>     {revoked, refresh_token (the current one)}
--   oauth:at:<token>   {family, expires_at}
--   oauth:rt:<token>   {family, used}
--   oauth:n:<counter>  counts for GET /_test/oauth
--   oauth:issued, oauth:tok:<n>  the n-th access token issued: {issued_at,
--                      expires_at, replaced_at} (GET /_test/oauth/tokens)

local OAUTH_COUNTERS = { "token_requests", "refreshes", "codes_exchanged", "families_revoked", "invalid_grant",
                         "pkce_verified" }

local function oauth_count(name)
    state_dict:incr("oauth:n:" .. name, 1, 0)
end

local function oauth_get(key)
    local raw = state_dict:get("oauth:" .. key)
    return raw and cjson.decode(raw)
end

local function oauth_put(key, v, ttl)
    local ok, err = state_dict:safe_set("oauth:" .. key, encode(v), ttl or 0)
    if not ok then
        ngx.log(ngx.ERR, "cannot save OAuth state: ", err)
    end
    return ok
end

local function token_lifetime()
    return state_dict:get("token_lifetime") or DEFAULT_TOKEN_LIFETIME
end

local fallback_serial = 0      -- per worker, so it survives /_test/reset

-- n random alphanumerics: /dev/urandom, else md5 of a serial and the clock.
local function random_alnum(n)
    local f = io.open("/dev/urandom", "rb")
    local bytes = f and f:read(n)
    if f then f:close() end
    if not bytes or #bytes < n then
        local parts = {}
        repeat
            fallback_serial = fallback_serial + 1
            parts[#parts + 1] = ngx.md5_bin(table.concat({ ngx.worker.pid(), ngx.now(), fallback_serial }, ":"))
        until #parts * 16 >= n
        bytes = table.concat(parts)
    end
    local out = {}
    for i = 1, n do
        local j = bytes:byte(i) % 62 + 1
        out[i] = ALNUM:sub(j, j)
    end
    return table.concat(out)
end

-- SHA-256 (FIPS 180-4) with LuaJIT's bit ops: PKCE's S256, checked here
-- independently of the client's C implementation.
local bit = require "bit"
local band, bor, bxor, bnot, rshift, lshift, ror, tobit =
    bit.band, bit.bor, bit.bxor, bit.bnot, bit.rshift, bit.lshift, bit.ror, bit.tobit
local SHA_K = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

local function sha256(msg)   -- for short strings (a verifier is at most 128 bytes)
    local len = #msg
    msg = msg .. "\128" .. string.rep("\0", (55 - len) % 64)
    local bits = len * 8
    for i = 7, 0, -1 do msg = msg .. string.char(math.floor(bits / 2 ^ (8 * i)) % 256) end
    local h = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 }
    for i = 1, #h do h[i] = tobit(h[i]) end
    for blk = 1, #msg, 64 do
        local w = {}
        for t = 0, 15 do
            local a, b, c, d = msg:byte(blk + 4 * t, blk + 4 * t + 3)
            w[t] = bor(lshift(a, 24), lshift(b, 16), lshift(c, 8), d)
        end
        for t = 16, 63 do
            local s0 = bxor(ror(w[t - 15], 7), ror(w[t - 15], 18), rshift(w[t - 15], 3))
            local s1 = bxor(ror(w[t - 2], 17), ror(w[t - 2], 19), rshift(w[t - 2], 10))
            w[t] = tobit(w[t - 16] + s0 + w[t - 7] + s1)
        end
        local a, b, c, d, e, f, g, k = h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]
        for t = 0, 63 do
            local t1 = tobit(k + bxor(ror(e, 6), ror(e, 11), ror(e, 25)) + bxor(band(e, f), band(bnot(e), g))
                             + SHA_K[t + 1] + w[t])
            local t2 = tobit(bxor(ror(a, 2), ror(a, 13), ror(a, 22)) + bxor(band(a, b), band(a, c), band(b, c)))
            k, g, f, e, d, c, b, a = g, f, e, tobit(d + t1), c, b, a, tobit(t1 + t2)
        end
        h[1], h[2], h[3], h[4] = tobit(h[1] + a), tobit(h[2] + b), tobit(h[3] + c), tobit(h[4] + d)
        h[5], h[6], h[7], h[8] = tobit(h[5] + e), tobit(h[6] + f), tobit(h[7] + g), tobit(h[8] + k)
    end
    local out = {}
    for i = 1, 8 do
        out[i] = string.char(band(rshift(h[i], 24), 255), band(rshift(h[i], 16), 255),
                             band(rshift(h[i], 8), 255), band(h[i], 255))
    end
    return table.concat(out)
end

-- RFC 7636: code_challenge = base64url(SHA-256(code_verifier)), no padding
local function s256(verifier)
    return (ngx.encode_base64(sha256(verifier), true):gsub("[+/]", { ["+"] = "-", ["/"] = "_" }))
end

-- RFC 7636 section 4.1: 43 to 128 unreserved characters (a challenge is 43 of them)
local function pkce_value(v, min)
    return type(v) == "string" and #v >= min and #v <= 128 and v:find("^[%w%-%._~]+$") ~= nil
end

-- Issues an access + refresh token in a family (new when family is nil).
-- Returns the grant, or nil when the dict is full.
local function issue_tokens(family)
    ngx.update_time()
    local now = ngx.now()
    local lifetime = token_lifetime()
    family = family or ("fam_" .. random_alnum(16))
    local access, refresh = "access_" .. random_alnum(32), "refresh_" .. random_alnum(32)
    local expires_at = now + lifetime
    local n = state_dict:incr("oauth:issued", 1, 0)
    if not (n and oauth_put("at:" .. access, { family = family, expires_at = expires_at },
                      lifetime + EXPIRED_TOKEN_KEPT)
            and oauth_put("rt:" .. refresh, { family = family, used = false })
            and oauth_put("fam:" .. family, { revoked = false, refresh_token = refresh, n = n })
            and oauth_put("tok:" .. n, { issued_at = now, expires_at = expires_at })) then
        return nil
    end
    return { access_token = access, refresh_token = refresh, expires_at = expires_at,
             expires_in = math.ceil(lifetime), family = family }
end

local function revoke_family(family)
    local fam = oauth_get("fam:" .. family)
    if fam and not fam.revoked then
        fam.revoked = true
        oauth_put("fam:" .. family, fam)
        oauth_count("families_revoked")
    end
end

---------------------------------------------------------------------------
-- Authentication. Returns the scheme seen (for the request log) and, when
-- the credential is valid, an opaque key for the rate limiter; for a refused
-- Bearer token also why (expired, revoked, invalid).

local BEARER_ERRORS = {
    expired = "The access token has expired.",
    revoked = "The access token has been revoked.",
    invalid = "The access token is invalid.",
}

local function bearer_status(value)
    if value == OAUTH_TOKEN then
        return "bearer:" .. value
    end
    local at = oauth_get("at:" .. value)
    if not at then
        return nil, "invalid"
    end
    local fam = oauth_get("fam:" .. at.family)
    if not fam or fam.revoked then
        return nil, "revoked"
    end
    ngx.update_time()
    if ngx.now() >= at.expires_at then
        return nil, "expired"
    end
    return "oauth:" .. at.family          -- one rate limit per family
end

local function authenticate()
    local h = ngx.var.http_authorization
    if not h then
        return "none"
    end
    local scheme, value = h:match("^%s*(%S+)%s+(%S+)%s*$")
    if not scheme then
        return "invalid"
    end
    scheme = scheme:lower()
    if scheme == "basic" then
        local decoded = ngx.decode_base64(value)
        local user, pass = (decoded or ""):match("^([^:]*):(.*)$")
        if not user then
            return "invalid"
        end
        if user == API_KEY and pass == "" then
            return "basic", "basic:" .. user
        end
        return "basic"
    elseif scheme == "bearer" then
        return "bearer", bearer_status(value)
    end
    return "invalid"
end

---------------------------------------------------------------------------
-- Request body and request log

local function read_body()
    ngx.req.read_body()
    local body = ngx.req.get_body_data()
    if body then return body end
    local path = ngx.req.get_body_file()      -- large bodies are spooled to disk
    if path then
        local f = io.open(path, "rb")
        if f then
            body = f:read("*a")
            f:close()
            return body
        end
    end
    return ""
end

-- `extra` replaces or adds fields (the token endpoint logs no raw body).
local function log_request(body, auth_scheme, authenticated, fault, extra)
    ngx.update_time()
    local entry = {
        method = ngx.req.get_method(),
        uri = ngx.var.request_uri,
        content_type = nullable(ngx.var.http_content_type),
        accept = nullable(ngx.var.http_accept),
        user_agent = nullable(ngx.var.http_user_agent),
        auth_scheme = auth_scheme,
        authenticated = authenticated,
        body = body,
        time = ngx.now(),
        fault = fault and fault.mode or null,
        -- nginx's connection serial: equal for requests on one kept-alive connection
        connection = tonumber(ngx.var.connection),
    }
    if #body > MAX_LOGGED_BODY then
        entry.body = body:sub(1, MAX_LOGGED_BODY)
        entry.body_truncated = true
    end
    for k, v in pairs(extra or {}) do
        entry[k] = v
    end
    local n = log_dict:incr("n", 1, 0)
    local ok, err = log_dict:safe_set("r:" .. n, encode(entry))
    if not ok then
        ngx.log(ngx.WARN, "request log full, entry dropped: ", err)
    end
end

---------------------------------------------------------------------------
-- Faults: a FIFO queue of {mode, times, target, ...}; each API request takes
-- one use of the first fault without a target, each token-endpoint request
-- one use of the first with target "oauth".

local FAULT_MODES = { status = true, delay = true, reset = true, truncate = true,
                      hang = true, oversize = true, garbage = true }

local function load_faults()
    local raw = state_dict:get("faults")
    return raw and cjson.decode(raw) or {}
end

local FAULT_TARGETS = { oauth = true }

local function take_fault(target)
    local queue = load_faults()
    local index, f
    for i, q in ipairs(queue) do
        if q.target == target then
            index, f = i, q
            break
        end
    end
    if not f then return nil end
    local left = (f.times or 1) - 1
    if left <= 0 then
        table.remove(queue, index)
    else
        f.times = left
    end
    state_dict:set("faults", encode(array(queue)))
    return f
end

local function bounded_seconds(v, default)
    v = tonumber(v) or default
    return math.min(math.max(v, 0), MAX_WAIT)
end

local function has_header(headers, name)
    for k in pairs(headers) do
        if k:lower() == name then return true end
    end
    return false
end

-- Returns true when the fault produced the whole outcome of the request.
local function apply_fault(f)
    local mode = f.mode
    if mode == "delay" then
        ngx.sleep(bounded_seconds(f.seconds, 1))
        return false
    elseif mode == "status" then
        local body = f.body or ""
        local headers = f.headers or {}
        ngx.status = f.status
        for k, v in pairs(headers) do
            ngx.header[k] = v
        end
        if not has_header(headers, "content-type") then
            -- Not given: label it by what it looks like.
            ngx.header["Content-Type"] = (body ~= "" and cjson.decode(body) ~= nil)
                                         and "application/json" or "text/plain"
        end
        ngx.header["Content-Length"] = #body
        ngx.print(body)
        return true
    elseif mode == "reset" then
        ngx.exit(444)                         -- nginx closes without a response
        return true
    elseif mode == "truncate" then
        local full = encode({ id = derive_id("memb", "truncated"), organization_id = ORG_ID,
                              role_id = "user", padding = string.rep("x", 200) })
        ngx.status = 200
        ngx.header["Content-Type"] = "application/json"
        ngx.header["Content-Length"] = #full
        ngx.print(full:sub(1, math.floor(#full / 2)))
        ngx.flush(true)
        ngx.exit(444)                         -- close with the body short of Content-Length
        return true
    elseif mode == "hang" then
        ngx.sleep(bounded_seconds(f.seconds, 20))
        ngx.exit(444)
        return true
    elseif mode == "oversize" then
        local n = math.min(math.max(math.floor(tonumber(f.bytes) or 1048576), 2), MAX_OVERSIZE)
        local body
        if n >= 14 then
            body = '{"padding":"' .. string.rep("x", n - 14) .. '"}'
        else
            body = "{}" .. string.rep(" ", n - 2)
        end
        send_raw(200, body, "application/json")
        return true
    elseif mode == "garbage" then
        send_raw(200, "<html>oops</html>", "text/html")
        return true
    end
    return false
end

---------------------------------------------------------------------------
-- Validation helpers

local function is_valid_email(email)
    if type(email) ~= "string" or #email > 254 then return false end
    local local_part, domain = email:match("^(.+)@([^@]+)$")
    if not local_part then return false end
    if not ngx.re.find(local_part, [[^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$]], "jo") then
        return false
    end
    return ngx.re.find(domain, [[^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$]], "jo") ~= nil
end

local function is_json_request()
    local ct = ngx.var.http_content_type
    return ct ~= nil and ngx.re.find(ct, [[^\s*application/json\s*(;.*)?$]], "joi") ~= nil
end

-- Decodes a JSON object body; on failure sends the error and returns nil.
local function json_object_body(body)
    if not is_json_request() then
        send_error(415, "Unsupported media type")
        return nil
    end
    local obj = cjson.decode(body)
    if obj == nil then
        send_invalid({ "Request body is not valid JSON." })
        return nil
    end
    if not is_object(obj) then
        send_invalid({ "Request body must be a JSON object." })
        return nil
    end
    return obj
end

local UPDATE_FIELDS = {
    role_id = function(v)
        if type(v) ~= "string" then return "Not a valid string." end
        if not is_valid_role(v) then return "Invalid role." end
    end,
    auto_record_calls = function(v)
        if v ~= "enabled" and v ~= "disabled" and v ~= "unset" then
            return '"' .. tostring(v) .. '" is not a valid choice.'
        end
    end,
    default_caller_id = function(v)
        if v ~= null and type(v) ~= "string" then return "Not a valid string." end
    end,
    hangup_recording_url = function(v)
        if v ~= null and type(v) ~= "string" then return "Not a valid string." end
    end,
    may_workflows_impersonate = function(v)
        if type(v) ~= "boolean" then return "Must be a valid boolean." end
    end,
    track_email_opens = function(v)
        if type(v) ~= "boolean" then return "Must be a valid boolean." end
    end,
}

-- Checks update fields (ignoring keys in `skip`); returns the changes or
-- sends a 400 and returns nil.
local function validate_update(obj, skip)
    local changes, errors, n = {}, {}, 0
    for k, v in pairs(obj) do
        if not (skip and skip[k]) then
            local check = UPDATE_FIELDS[k]
            local err
            if check then
                err = check(v)
            else
                err = "Unknown field."
            end
            if err then
                errors[tostring(k)] = err
            else
                changes[k] = v
                n = n + 1
            end
        end
    end
    if next(errors) then
        send_invalid({}, errors)
        return nil
    end
    if n == 0 then
        send_invalid({ "At least one field to update is required." })
        return nil
    end
    return changes
end

local function apply_changes(m, changes)
    for k, v in pairs(changes) do
        if v == null then
            m[k] = nil
        else
            m[k] = v
        end
    end
end

---------------------------------------------------------------------------
-- API handlers

local function create_membership(body)
    local obj = json_object_body(body)
    if not obj then return end

    local errors = {}
    for k in pairs(obj) do
        if k ~= "email" and k ~= "role_id" then
            errors[tostring(k)] = "Unknown field."
        end
    end
    local email, role_id = obj.email, obj.role_id
    if email == nil then
        errors.email = "This field is required."
    elseif type(email) ~= "string" or not is_valid_email(email) then
        errors.email = "Enter a valid email address."
    end
    if role_id == nil then
        errors.role_id = "This field is required."
    elseif type(role_id) ~= "string" or not is_valid_role(role_id) then
        errors.role_id = "Invalid role."
    end
    if next(errors) then
        return send_invalid({}, errors)
    end

    if role_id == "admin" then
        return send_error(403, "You cannot grant a role with the manage_organization permission.")
    end
    email = email:lower()
    local domain = email:match("@([^@]+)$")
    if not VERIFIED_DOMAINS[domain] then
        return send_invalid({ "Email domain is not one of the organization's verified domains." })
    end

    local st = load_state()
    local m = find_member_by_email(st, email)
    if m and m.active then
        return send_json(200, membership_view(m))
    elseif m then
        m.active = true
        m.role_id = role_id
    else
        m = new_member(email, email:match("^[^@]+"), "", role_id, true)
        st.members[#st.members + 1] = m
    end
    save_state(st)
    return send_json(200, membership_view(m))
end

local function bulk_update(body)
    local obj = json_object_body(body)
    if not obj then return end
    local params = obj._params
    local ids_csv = is_object(params) and params.id__in
    if type(ids_csv) ~= "string" or not ngx.re.find(ids_csv, [[^memb_[A-Za-z0-9]+(,memb_[A-Za-z0-9]+)*$]], "jo") then
        return send_invalid({}, { _params = "_params.id__in must be a comma-separated list of membership ids." })
    end
    local changes = validate_update(obj, { _params = true })
    if not changes then return end

    local st = load_state()
    local seen, count = {}, 0
    for id in ids_csv:gmatch("[^,]+") do
        local m = not seen[id] and find_member(st, id)
        seen[id] = true
        if m then
            apply_changes(m, changes)
            count = count + 1
        end
    end
    save_state(st)
    return send_json(200, { count = count })
end

local function update_membership(id, body)
    local obj = json_object_body(body)
    if not obj then return end
    local st = load_state()
    local m = find_member(st, id)
    if not m then
        return send_error(404, "Membership not found.")
    end
    local changes = validate_update(obj)
    if not changes then return end
    apply_changes(m, changes)
    save_state(st)
    return send_json(200, membership_view(m))
end

local function delete_membership(id)
    local st = load_state()
    local m = find_member(st, id)
    if not m then
        return send_error(404, "Membership not found.")
    end
    m.active = false
    save_state(st)
    return send_json(200, {})
end

local function pinned_views(id, body)
    local st = load_state()
    local m = find_member(st, id)
    if not m then
        return send_error(404, "Membership not found.")
    end
    if ngx.req.get_method() == "PUT" then
        local obj = json_object_body(body)
        if not obj then return end
        local errors = {}
        for k in pairs(obj) do
            if k ~= "saved_view_ids" then errors[tostring(k)] = "Unknown field." end
        end
        local ids = obj.saved_view_ids
        if ids == nil then
            errors.saved_view_ids = "This field is required."
        elseif type(ids) ~= "table" or (next(ids) ~= nil and not is_array(ids)) then
            errors.saved_view_ids = "Expected a list of items."
        else
            for _, v in ipairs(ids) do
                if type(v) ~= "string" or not v:find("^save_[A-Za-z0-9]+$") then
                    errors.saved_view_ids = "Invalid saved view id."
                    break
                end
            end
        end
        if next(errors) then
            return send_invalid({}, errors)
        end
        m.saved_view_ids = ids
        save_state(st)
    end
    return send_json(200, { saved_view_ids = copy_array(m.saved_view_ids) })
end

local function split_set(s)
    local set = {}
    for item in (s or ""):gmatch("[^,%s]+") do set[item] = true end
    return set
end

-- Applies `_fields` to a top-level object, if given.
local function select_fields(obj)
    local arg = ngx.var.arg__fields
    if not arg or arg == "" then return obj end
    local wanted, out = split_set(ngx.unescape_uri(arg)), {}
    for k, v in pairs(obj) do
        if wanted[k] then out[k] = v end
    end
    return out
end

local function get_me()
    local st = load_state()
    local admin = admin_member(st)
    return send_json(200, select_fields({
        id = admin.user_id,
        email = admin.email,
        first_name = admin.first_name,
        last_name = admin.last_name,
        organization_id = ORG_ID,
        organizations = array({ { id = ORG_ID, name = ORG_NAME } }),
    }))
end

local function get_organization(id)
    if id ~= ORG_ID then
        return send_error(404, "Organization not found.")
    end
    local expand = split_set(ngx.unescape_uri(ngx.var.arg__expand or ""))
    local function list(active, expand_key)
        local out = array()
        for _, m in ipairs(load_state().members) do
            if m.active == active then
                local v = membership_view(m)
                if expand[expand_key] then
                    v.user = user_view(m)
                else
                    v.user_email = m.email
                    v.user_full_name = full_name(m)
                    v.user_first_name = m.first_name
                    v.user_last_name = m.last_name
                end
                out[#out + 1] = v
            end
        end
        return out
    end
    return send_json(200, select_fields({
        id = ORG_ID,
        name = ORG_NAME,
        memberships = list(true, "memberships__user"),
        inactive_memberships = list(false, "inactive_memberships__user"),
    }))
end

local function role_view(r)
    return {
        id = r.id,
        name = r.name,
        editable = true,
        permissions = copy_array(r.permissions),
        visibility_user_lcf_behavior = null,
        visibility_user_lcf_ids = null,
    }
end

local function list_roles()
    local data = array()
    for i, r in ipairs(CUSTOM_ROLES) do data[i] = role_view(r) end
    return send_json(200, { data = data, has_more = false })
end

local function get_role(id)
    local r = find_custom_role(id)
    if not r then
        return send_error(404, "Role not found.")
    end
    return send_json(200, role_view(r))
end

-- Routes: pattern over the path below /api/v1, then method -> handler(captures, body).
local ROUTES = {
    { "^/membership/$", {
        POST = function(_, body) return create_membership(body) end,
        PUT = function(_, body) return bulk_update(body) end } },
    { "^/membership/([^/]+)/$", {
        PUT = function(c, body) return update_membership(c[1], body) end,
        DELETE = function(c) return delete_membership(c[1]) end } },
    { "^/membership/([^/]+)/pinned_views/$", {
        GET = function(c) return pinned_views(c[1]) end,
        PUT = function(c, body) return pinned_views(c[1], body) end } },
    { "^/me/$", { GET = function() return get_me() end } },
    { "^/organization/([^/]+)/$", { GET = function(c) return get_organization(c[1]) end } },
    { "^/role/$", { GET = function() return list_roles() end } },
    { "^/role/([^/]+)/$", { GET = function(c) return get_role(c[1]) end } },
}

local function route(path, body)
    local method = ngx.req.get_method()
    if method == "HEAD" then method = "GET" end
    for _, r in ipairs(ROUTES) do
        local captures = { path:match(r[1]) }
        if captures[1] then
            local handler = r[2][method]
            if not handler then
                local allowed = {}
                for m in pairs(r[2]) do allowed[#allowed + 1] = m end
                table.sort(allowed)
                return send_405(allowed)
            end
            if captures[1] == path then captures = {} end   -- no capture groups
            return handler(captures, body)
        end
    end
    return send_error(404, "Not found.")
end

function _M.api()
    local group = endpoint_group()
    stats_enter(group)
    local body = read_body()
    local scheme, credential, why = authenticate()
    local fault = take_fault()
    log_request(body, scheme, credential ~= nil, fault)

    -- The remote latency, before anything is answered; from here on nothing
    -- yields (but a delay or hang fault), so handlers update state atomically.
    apply_latency()

    -- Faults act like the ingress in front of the API: before auth and limits.
    if fault and apply_fault(fault) then
        return
    end

    if not credential then
        if why then
            -- RFC 6750's challenge, so that a client can tell expiry from the rest
            return send_error(401, BEARER_ERRORS[why], {
                ["WWW-Authenticate"] = 'Bearer error="invalid_token", error_description="'
                                       .. BEARER_ERRORS[why] .. '"' })
        end
        return send_error(401, "Invalid API key")
    end

    local rl = rate_check(credential, group)
    ngx.header["RateLimit"] = rl.header
    if not rl.allowed then
        return send_rate_limited(rl)
    end

    local path = ngx.var.uri:sub(#"/api/v1" + 1)
    return route(path, body)
end

-- log_by_lua of /api/v1/: the request is over, however it ended.
function _M.log()
    stats_leave()
end

---------------------------------------------------------------------------
-- OAuth 2 endpoints (/oauth2/...)

local function send_oauth(status, obj, headers)
    headers = headers or {}
    headers["Cache-Control"] = "no-store"
    headers["Pragma"] = "no-cache"
    return send_json(status, obj, headers)
end

local function oauth_error(status, code, description)
    if code == "invalid_grant" then oauth_count("invalid_grant") end
    return send_oauth(status, { error = code, error_description = description })
end

local function is_form_request()
    local ct = ngx.var.http_content_type
    return ct ~= nil and ngx.re.find(ct, [[^\s*application/x-www-form-urlencoded\s*(;.*)?$]], "joi") ~= nil
end

-- What the request log may show of a form: names that look like parameter
-- names (a stray credential sent as a name is not shown), and grant_type.
local function form_summary(form)
    local keys = array()
    for k in pairs(form) do
        keys[#keys + 1] = (#k <= 64 and k:find("^[a-z_]+$")) and k or "<redacted name>"
    end
    table.sort(keys)
    local gt = form.grant_type
    if type(gt) == "string" and not (#gt <= 100 and gt:find("^[a-z_:.%-]+$")) then
        gt = "<redacted>"
    end
    return { body = "<redacted form>", form_keys = keys, grant_type = type(gt) == "string" and gt or null }
end

local function grant_response(g)
    local admin = admin_member(load_state())
    return send_oauth(200, {
        token_type = "Bearer",
        access_token = g.access_token,
        expires_in = g.expires_in,
        refresh_token = g.refresh_token,
        scope = OAUTH_SCOPE,
        organization_id = ORG_ID,
        user_id = admin.user_id,
    })
end

local function grant_authorization_code(form)
    local code = form.code
    if not code or code == "" then
        return oauth_error(400, "invalid_request", "The code parameter is required.")
    end
    local c = oauth_get("code:" .. code)
    ngx.update_time()
    if not c then
        return oauth_error(400, "invalid_grant", "The authorization code is invalid.")
    elseif c.used then
        return oauth_error(400, "invalid_grant", "The authorization code was already used.")
    elseif ngx.now() - c.issued > CODE_LIFETIME then
        return oauth_error(400, "invalid_grant", "The authorization code has expired.")
    elseif c.redirect_uri and form.redirect_uri ~= c.redirect_uri then
        return oauth_error(400, "invalid_grant", "The redirect_uri does not match the authorization request.")
    elseif c.code_challenge and not form.code_verifier then
        return oauth_error(400, "invalid_grant", "The code_verifier is required: the authorization request "
                           .. "had a code_challenge.")
    elseif c.code_challenge
            and not (pkce_value(form.code_verifier, 43) and s256(form.code_verifier) == c.code_challenge) then
        return oauth_error(400, "invalid_grant", "The code_verifier does not match the code_challenge.")
    elseif not c.code_challenge and form.code_verifier then
        return oauth_error(400, "invalid_grant", "A code_verifier was sent, but the authorization request had "
                           .. "no code_challenge.")
    end
    if c.code_challenge then oauth_count("pkce_verified") end
    c.used = true
    if not oauth_put("code:" .. code, c, CODE_LIFETIME * 2) then
        return oauth_error(503, "temporarily_unavailable", "The server cannot store tokens.")
    end
    local g = issue_tokens()
    if not g then
        return oauth_error(503, "temporarily_unavailable", "The server cannot store tokens.")
    end
    oauth_count("codes_exchanged")
    return grant_response(g)
end

local function grant_refresh_token(form)
    local token = form.refresh_token
    if not token or token == "" then
        return oauth_error(400, "invalid_request", "The refresh_token parameter is required.")
    end
    local rt = oauth_get("rt:" .. token)
    local fam = rt and oauth_get("fam:" .. rt.family)
    if not fam then
        return oauth_error(400, "invalid_grant", "The refresh token is invalid.")
    elseif fam.revoked then
        return oauth_error(400, "invalid_grant", "The refresh token was revoked.")
    elseif rt.used or fam.refresh_token ~= token then
        -- A rotated-out token came back: it may be stolen, so end the family.
        revoke_family(rt.family)
        return oauth_error(400, "invalid_grant",
                           "The refresh token was already used; all tokens of its grant are revoked.")
    end
    rt.used = true
    local replaced = fam.n and oauth_get("tok:" .. fam.n)
    if replaced then
        ngx.update_time()
        replaced.replaced_at = ngx.now()
        oauth_put("tok:" .. fam.n, replaced)
    end
    local g = oauth_put("rt:" .. token, rt) and issue_tokens(rt.family)
    if not g then
        return oauth_error(503, "temporarily_unavailable", "The server cannot store tokens.")
    end
    oauth_count("refreshes")
    return grant_response(g)
end

local GRANTS = { authorization_code = grant_authorization_code, refresh_token = grant_refresh_token }

local function token_endpoint()
    local body = read_body()
    local method = ngx.req.get_method()
    if method == "POST" then oauth_count("token_requests") end
    local is_form = is_form_request()
    local form = is_form and ngx.decode_args(body, 0) or {}
    local client_ok = form.client_id == OAUTH_CLIENT_ID and form.client_secret == OAUTH_CLIENT_SECRET
    local fault = take_fault("oauth")
    local summary = form_summary(form)
    summary.uri = ngx.var.uri                -- never a query string
    log_request(body, (form.client_id or form.client_secret) and "client_secret_post" or "none",
                client_ok, fault, summary)

    apply_latency()    -- then no yield (but a fault's) until the tokens are stored
    if fault and apply_fault(fault) then
        return
    end
    if method ~= "POST" then
        return send_405({ "POST" })
    end
    if not is_form then
        return oauth_error(400, "invalid_request", "The body must be application/x-www-form-urlencoded.")
    end
    for k, v in pairs(form) do
        if type(v) == "table" then
            return oauth_error(400, "invalid_request", "The parameter " .. k .. " is repeated.")
        elseif v == true then
            form[k] = ""                     -- a name without "="
        end
    end
    if not client_ok then
        return oauth_error(401, "invalid_client", "Client authentication failed: wrong or missing "
                           .. "client_id and client_secret.")
    end
    local gt = form.grant_type
    if not gt or gt == "" then
        return oauth_error(400, "invalid_request", "The grant_type parameter is required.")
    end
    local grant = GRANTS[gt]
    if not grant then
        return oauth_error(400, "unsupported_grant_type",
                           "grant_type must be authorization_code or refresh_token.")
    end
    return grant(form)
end

-- Whether a redirect_uri is a loopback http URL (the only kind approved here).
local function loopback_redirect(uri)
    if type(uri) ~= "string" or uri:find("[#%s%c]") then return false end   -- it goes into Location
    local host = uri:match("^[hH][tT][tT][pP]://([^/?:]+)")
    if not host then return false end
    local rest = uri:sub(#"http://" + #host + 1)
    if not (rest == "" or rest:find("^:%d+$") or rest:find("^:%d+[/?]") or rest:find("^[/?]")) then
        return false
    end
    host = host:lower()
    return host == "127.0.0.1" or host == "localhost"
end

-- Stand-in for Close's consent page: the user approves at once.
local function authorize_endpoint()
    local method = ngx.req.get_method()
    if method ~= "GET" and method ~= "HEAD" then
        return send_405({ "GET" })
    end
    local args = ngx.req.get_uri_args(0)
    local function refuse(description)
        return send_oauth(400, { error = "invalid_request", error_description = description })
    end
    for k, v in pairs(args) do
        if type(v) == "table" then return refuse("The parameter " .. k .. " is repeated.") end
    end
    if args.client_id ~= OAUTH_CLIENT_ID then
        return refuse("Unknown or missing client_id.")
    elseif args.response_type ~= "code" then
        return refuse("response_type must be code.")
    elseif not loopback_redirect(args.redirect_uri) then
        return refuse("redirect_uri must be an http URL on 127.0.0.1 or localhost, without a fragment.")
    elseif args.code_challenge ~= nil and args.code_challenge_method ~= "S256" then
        return refuse("code_challenge_method must be S256.")
    elseif args.code_challenge == nil and args.code_challenge_method ~= nil then
        return refuse("code_challenge_method without a code_challenge.")
    elseif args.code_challenge ~= nil and not (pkce_value(args.code_challenge, 43) and #args.code_challenge == 43) then
        return refuse("code_challenge must be 43 characters of base64url (SHA-256, RFC 7636).")
    end
    local code = "code_" .. random_alnum(32)
    ngx.update_time()
    if not oauth_put("code:" .. code, { redirect_uri = args.redirect_uri, issued = ngx.now(), used = false,
                                        code_challenge = args.code_challenge }, CODE_LIFETIME * 2) then
        return send_oauth(503, { error = "temporarily_unavailable", error_description = "cannot store the code" })
    end
    local uri = args.redirect_uri
    local sep = uri:find("?", 1, true) and ((uri:find("[?&]$") and "") or "&") or "?"
    local location = uri .. sep .. "code=" .. code
    if type(args.state) == "string" then
        location = location .. "&state=" .. ngx.escape_uri(args.state)
    end
    ngx.header["Location"] = location
    return send_raw(302, "", "text/plain", { ["Cache-Control"] = "no-store" })
end

function _M.oauth()
    local path = ngx.var.uri
    if path == "/oauth2/token/" then
        return token_endpoint()
    elseif path == "/oauth2/authorize/" then
        return authorize_endpoint()
    end
    return send_error(404, "Not found.")
end

---------------------------------------------------------------------------
-- Control API (/_test/...), no auth.

local function validate_fault(f)
    if not is_object(f) or not FAULT_MODES[f.mode] then
        return "each fault needs a mode: status, delay, reset, truncate, hang, oversize or garbage"
    end
    if f.target ~= nil and not FAULT_TARGETS[f.target] then
        return 'target must be "oauth" (token endpoint) or absent (API requests)'
    end
    if f.times ~= nil and (type(f.times) ~= "number" or f.times < 1 or f.times % 1 ~= 0) then
        return "times must be a positive integer"
    end
    if f.mode == "status" then
        if type(f.status) ~= "number" or f.status < 100 or f.status > 599 or f.status % 1 ~= 0 then
            return "status must be an integer in 100..599"
        end
        if f.headers ~= nil and not is_object(f.headers) then
            return "headers must be an object"
        end
        if f.body ~= nil and type(f.body) ~= "string" then
            return "body must be a string"
        end
    end
    if f.seconds ~= nil and type(f.seconds) ~= "number" then
        return "seconds must be a number"
    end
    if f.bytes ~= nil and type(f.bytes) ~= "number" then
        return "bytes must be a number"
    end
end

local function control_reset()
    state_dict:flush_all()
    state_dict:flush_expired()
    log_dict:flush_all()
    log_dict:flush_expired()
    stats_epoch = stats_epoch + 1        -- requests under way count no more
    stats_dict:flush_all()
    stats_dict:flush_expired()
    save_state(seed_state())
    return send_json(200, { ok = true })
end

-- POST /_test/members {members = {{email=, role_id=, active=}, ...}}: adds
-- members in one go (a benchmark's organization of thousands), skipping
-- addresses already there.
local function control_members(body)
    local obj = cjson.decode(body)
    if not is_object(obj) or type(obj.members) ~= "table" then
        return send_error(400, "expected {members = [{email, role_id, active}, ...]}")
    end
    local st = load_state()
    local added = 0
    for _, m in ipairs(obj.members) do
        if type(m) ~= "table" or type(m.email) ~= "string" or not is_valid_role(m.role_id or "user") then
            return send_error(400, "each member needs an email and a valid role_id")
        end
        local email = m.email:lower()
        if not find_member_by_email(st, email) then
            st.members[#st.members + 1] = new_member(email, "Bulk", "Member", m.role_id or "user", m.active ~= false)
            added = added + 1
        end
    end
    save_state(st)
    return send_json(200, { added = added })
end

local function config_view()
    local limit, window, org_limit = rate_config()
    return {
        rate_limit = limit,
        rate_window = window,
        org_rate_limit = org_limit,
        rate_limit_body = state_dict:get("rate_limit_body") or "json",
        retry_after = state_dict:get("retry_after") or false,
        latency = state_dict:get("latency") or 0,
        latency_jitter = state_dict:get("latency_jitter") or 0,
        token_lifetime = token_lifetime(),
    }
end

local function check_seconds(v, name, max)
    if v ~= nil and (type(v) ~= "number" or not (v >= 0 and v <= max)) then
        return name .. " must be a number of seconds in [0, " .. max .. "]"
    end
end

-- POST: sets the given keys (others keep their values; /_test/reset restores
-- the defaults). org_rate_limit = null drops the override. Any rate key, or
-- none of the others, starts counting afresh.
local function control_config(body)
    if ngx.req.get_method() == "POST" then
        local obj = cjson.decode(body)
        if not is_object(obj) then
            return send_error(400, "expected a JSON object")
        end
        local limit, window, lifetime = obj.rate_limit, obj.rate_window, obj.token_lifetime
        local org, mode, retry_after = obj.org_rate_limit, obj.rate_limit_body, obj.retry_after
        local latency, jitter = obj.latency, obj.latency_jitter
        if limit ~= nil and (type(limit) ~= "number" or limit < 0 or limit % 1 ~= 0) then
            return send_error(400, "rate_limit must be a non-negative integer")
        end
        if window ~= nil and (type(window) ~= "number" or window <= 0 or window > 3600) then
            return send_error(400, "rate_window must be a number of seconds in (0, 3600]")
        end
        if org ~= nil and org ~= null and (type(org) ~= "number" or org < 0 or org % 1 ~= 0) then
            return send_error(400, "org_rate_limit must be a non-negative integer or null (3 * rate_limit)")
        end
        if mode ~= nil and not RATE_BODY_MODES[mode] then
            return send_error(400, 'rate_limit_body must be "json", "none" or "alternate"')
        end
        if retry_after ~= nil and type(retry_after) ~= "boolean" then
            return send_error(400, "retry_after must be a boolean")
        end
        local bad = check_seconds(latency, "latency", MAX_LATENCY)
                    or check_seconds(jitter, "latency_jitter", MAX_LATENCY)
        if bad then
            return send_error(400, bad)
        end
        if lifetime ~= nil
           and (type(lifetime) ~= "number" or not (lifetime > 0 and lifetime <= MAX_TOKEN_LIFETIME)) then
            return send_error(400, "token_lifetime must be a number of seconds in (0, " .. MAX_TOKEN_LIFETIME .. "]")
        end
        if limit then state_dict:set("rate_limit", limit) end
        if window then state_dict:set("rate_window", window) end
        if org == null then
            state_dict:delete("org_rate_limit")
        elseif org then
            state_dict:set("org_rate_limit", org)
        end
        if mode then
            state_dict:set("rate_limit_body", mode)
            state_dict:delete("rate_body_n")          -- alternate starts with json
        end
        if retry_after ~= nil then state_dict:set("retry_after", retry_after) end
        if latency then state_dict:set("latency", latency) end
        if jitter then state_dict:set("latency_jitter", jitter) end
        if lifetime then state_dict:set("token_lifetime", lifetime) end  -- for tokens issued from now on
        -- Start counting afresh on a rate change, or when nothing else changed.
        if limit or window or org ~= nil
           or not (lifetime or mode or retry_after ~= nil or latency or jitter) then
            state_dict:incr("rate_gen", 1, 0)
        end
    end
    return send_json(200, config_view())
end

local function control_stats()
    local by_status, by_group = {}, {}
    for _, k in ipairs(stats_dict:get_keys(0)) do
        local kind, name = k:match("^([sg]):(.*)$")
        if kind then
            local t = kind == "s" and by_status or by_group
            t[name] = stats_dict:get(k)
        end
    end
    return send_json(200, {
        requests = stats_dict:get("n:requests") or 0,
        by_status = by_status,
        by_group = by_group,
        in_flight = stats_dict:get("inflight") or 0,
        max_concurrency = stats_dict:get("max_inflight") or 0,
        connections = stats_dict:get("conns") or 0,
    })
end

local function control_faults(body)
    if ngx.req.get_method() == "POST" then
        local list = cjson.decode(body)
        if is_object(list) and list.mode then
            list = { list }                         -- a single fault object
        end
        if type(list) ~= "table" or (next(list) ~= nil and not is_array(list)) then
            return send_error(400, "expected a JSON array of faults")
        end
        for i, f in ipairs(list) do
            local err = validate_fault(f)
            if err then
                return send_error(400, "fault " .. i .. ": " .. err)
            end
        end
        local queue = load_faults()
        for _, f in ipairs(list) do
            queue[#queue + 1] = f
        end
        state_dict:set("faults", encode(array(queue)))
    end
    return send_json(200, array(load_faults()))
end

local function control_requests()
    local n = log_dict:get("n") or 0
    local entries = {}
    for i = 1, n do
        entries[#entries + 1] = log_dict:get("r:" .. i)
    end
    return send_raw(200, "[" .. table.concat(entries, ",") .. "]", "application/json")
end

local function control_state()
    local st = load_state()
    local members = array()
    for i, m in ipairs(st.members) do
        local v = user_view(m)
        v.user_id, v.id = v.id, m.id
        v.role_id = m.role_id
        v.active = m.active
        v.auto_record_calls = m.auto_record_calls
        v.default_caller_id = nullable(m.default_caller_id)
        v.hangup_recording_url = nullable(m.hangup_recording_url)
        v.may_workflows_impersonate = m.may_workflows_impersonate
        v.track_email_opens = m.track_email_opens
        v.saved_view_ids = copy_array(m.saved_view_ids)
        members[i] = v
    end
    return send_json(200, { organization_id = ORG_ID, memberships = members })
end

-- Mints a token family without the login flow.
local function control_oauth_grant()
    local g = issue_tokens()
    if not g then
        return send_error(503, "cannot store tokens")
    end
    return send_json(200, { access_token = g.access_token, refresh_token = g.refresh_token,
                            expires_in = g.expires_in, expires_at = g.expires_at })
end

local function control_oauth_stats()
    local out = {}
    for _, name in ipairs(OAUTH_COUNTERS) do
        out[name] = state_dict:get("oauth:n:" .. name) or 0
    end
    return send_json(200, out)
end

-- every access token issued since the last reset, in issue order:
-- {issued_at, expires_at, replaced_at (by a refresh; absent while current)},
-- epoch seconds: a spec counts the expiries a run went through and how
-- long each token served
local function control_oauth_tokens()
    local out = {}
    for n = 1, state_dict:get("oauth:issued") or 0 do
        out[#out + 1] = oauth_get("tok:" .. n)
    end
    return send_json(200, setmetatable(out, cjson.array_mt))
end

local CONTROL = {
    ["/oauth/grant"] = { POST = control_oauth_grant },
    ["/oauth/tokens"] = { GET = control_oauth_tokens },
    ["/oauth"] = { GET = control_oauth_stats },
    ["/reset"] = { POST = control_reset },
    ["/members"] = { POST = control_members },
    ["/config"] = { GET = control_config, POST = control_config },
    ["/faults"] = { GET = control_faults, POST = control_faults },
    ["/requests"] = { GET = control_requests },
    ["/stats"] = { GET = control_stats },
    ["/state"] = { GET = control_state },
    ["/ping"] = { GET = function() return send_json(200, { ok = true }) end },
}

function _M.control()
    local body = read_body()
    local path = ngx.var.uri:sub(#"/_test" + 1):gsub("/+$", "")
    local methods = CONTROL[path]
    if not methods then
        return send_error(404, "Not found.")
    end
    local handler = methods[ngx.req.get_method()]
    if not handler then
        local allowed = {}
        for m in pairs(methods) do allowed[#allowed + 1] = m end
        table.sort(allowed)
        return send_405(allowed)
    end
    return handler(body)
end

function _M.not_found()
    return send_error(404, "Not found.")
end

return _M
