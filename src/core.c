/* close.core: the Lua binding. It converts Lua values to the C structs of
 * the pure parts (validate, request, response, retry, wire, rand) and the
 * libcurl transport, and nothing else: policy lives in lua/close/ and the
 * pure C files.
 *
 * Every entry point checks its arguments as the auxiliary library does and
 * raises a Lua error on misuse; tables are read with raw access (no
 * metamethod runs, and a string read from a table stays anchored by it);
 * scratch memory is a userdata, so an error anywhere leaks nothing. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "compat.h"
#include "defaults.h"
#include "http_curl.h"
#include "http_multi.h"
#include "localio.h"
#include "lresp.h"
#include "lscim.h"
#include "rand.h"
#include "request.h"
#include "response.h"
#include "retry.h"
#include "sha256.h"
#include "sqlite_store.h"
#include "validate.h"
#include "wire.h"

#define HTTP_MT "close.core.http"
#define RNG_MT "close.core.rng"
#define LISTENER_MT "close.core.listener"
#define MULTI_MT "close.core.multi"

/* ---- helpers ---- */

static int push_check(lua_State *L, const char *reason) {
    if (reason == NULL) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushnil(L);
    lua_pushstring(L, reason);
    return 2;
}

/* scratch memory owned by the Lua stack (collected even if an error unwinds) */
static char *scratch(lua_State *L, size_t n) {
    return lua_newuserdata(L, n ? n : 1);
}

/* A whole number in [lo, hi] at idx; raises otherwise (luaL_checkinteger
 * would cast an out-of-range double, undefined in C, on Lua 5.1). */
static long check_long(lua_State *L, int idx, long lo, long hi) {
    lua_Number v = luaL_checknumber(L, idx);
    if (!(v >= (lua_Number)lo && v <= (lua_Number)hi) || v != (lua_Number)(long)v)
        luaL_argerror(L, idx, lua_pushfstring(L, "expected a whole number from %d to %d", (int)lo, (int)hi));
    return (long)v;
}

/* t[k] with raw access: its type, value pushed */
static int rawfield(lua_State *L, int t, const char *k) {
    lua_pushstring(L, k);
    lua_rawget(L, t);
    return lua_type(L, -1);
}

/* A string field (NULL when absent); any other type raises. */
static const char *opt_str_field(lua_State *L, int t, const char *k, size_t *len) {
    const char *s = NULL;
    int type = rawfield(L, t, k);
    if (type == LUA_TSTRING) s = lua_tolstring(L, -1, len);
    else if (type != LUA_TNIL) luaL_error(L, "field '%s' must be a string (got %s)", k, lua_typename(L, type));
    lua_pop(L, 1); /* the table keeps it alive */
    return s;
}

/* A number field, dflt when absent; any other type raises. */
static double opt_num_field(lua_State *L, int t, const char *k, double dflt) {
    double v = dflt;
    int type = rawfield(L, t, k);
    if (type == LUA_TNUMBER) v = (double)lua_tonumber(L, -1);
    else if (type != LUA_TNIL) luaL_error(L, "field '%s' must be a number (got %s)", k, lua_typename(L, type));
    lua_pop(L, 1);
    return v;
}

/* headers[name] when it is a string, else NULL (anchored by the table) */
static const char *header(lua_State *L, int t, const char *name) {
    const char *s = NULL;
    if (lua_type(L, t) != LUA_TTABLE) return NULL;
    if (rawfield(L, t, name) == LUA_TSTRING) s = lua_tostring(L, -1);
    lua_pop(L, 1);
    return s;
}

static void set_number(lua_State *L, const char *k, double v) {
    if (v >= 0) {
        lua_pushnumber(L, v);
        lua_setfield(L, -2, k);
    }
}

/* seconds to milliseconds for curl, within [1 ms, 1 day] */
static long clamp_ms(double s) {
    if (!(s > 0.001)) return 1;
    return s > 86400 ? 86400000L : (long)(s * 1000);
}

/* ---- validation and request building ---- */

static int l_validate_email(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    return push_check(L, close_validate_email(s, len));
}

static int l_validate_role(lua_State *L) {
    size_t len;
    char buf[96];
    const char *s = luaL_checklstring(L, 1, &len);
    return push_check(L, close_validate_role(s, len, buf, sizeof buf));
}

static int l_validate_id(lua_State *L) {
    size_t len, plen;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *prefix = luaL_checklstring(L, 2, &plen);
    if (plen == 0 || strlen(prefix) != plen) luaL_argerror(L, 2, "a prefix such as 'memb_'");
    return push_check(L, close_validate_id(s, len, prefix));
}

static int l_check_base_url(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    char *out = scratch(L, len + 1);
    const char *reason = close_check_base_url(s, len, out, len + 1);
    if (reason) return push_check(L, reason);
    lua_pushstring(L, out);
    return 1;
}

static int l_is_loopback_host(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_pushboolean(L, close_is_loopback_host(s, len));
    return 1;
}

/* auth_header("basic", key) -> "Basic base64(key:)"; ("bearer", token) -> "Bearer token" */
static int l_auth_header(lua_State *L) {
    static const char *const schemes[] = {"basic", "bearer", NULL};
    int scheme = luaL_checkoption(L, 1, NULL, schemes);
    size_t len, n;
    const char *secret = luaL_checklstring(L, 2, &len), *reason;
    char *out;
    if (len > 65536) return push_check(L, "is too long");
    n = close_auth_header_size(len);
    out = scratch(L, n);
    reason = close_auth_header(scheme == 0, secret, len, out, n);
    if (reason) return push_check(L, reason);
    lua_pushstring(L, out);
    memset(out, 0, n); /* no copy of the secret waits for the collector */
    return 1;
}

static int l_urlencode(lua_State *L) {
    size_t len, n;
    const char *s = luaL_checklstring(L, 1, &len);
    char *out;
    if (len > ((size_t)-1) / 4) return luaL_argerror(L, 1, "too long");
    out = scratch(L, 3 * len + 1);
    n = close_urlencode(s, len, out);
    lua_pushlstring(L, out, n);
    return 1;
}

/* core.sha256(s): the 32-byte digest; core.base64url(s): without padding */
static int l_sha256(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    unsigned char d[CLOSE_SHA256_LEN];
    close_sha256((const unsigned char *)s, len, d);
    lua_pushlstring(L, (const char *)d, sizeof d);
    return 1;
}

static int l_base64url(lua_State *L) {
    size_t len, n;
    const char *s = luaL_checklstring(L, 1, &len);
    char *out;
    if (len > ((size_t)-1) / 2) return luaL_argerror(L, 1, "too long");
    out = scratch(L, close_base64url_len(len) + 1);
    n = close_base64url((const unsigned char *)s, len, out);
    lua_pushlstring(L, out, n);
    return 1;
}

/* ---- response interpretation and retry ---- */

static int l_status_kind(lua_State *L) {
    const char *k = close_status_kind((int)check_long(L, 1, 0, 9999));
    if (k) lua_pushstring(L, k);
    else lua_pushnil(L);
    return 1;
}

static int l_is_retryable(lua_State *L) {
    int status = lua_isnoneornil(L, 1) ? 0 : (int)check_long(L, 1, 0, 9999);
    lua_pushboolean(L, close_is_retryable(status, luaL_optstring(L, 2, NULL)));
    return 1;
}

static int l_ratelimit(lua_State *L) {
    close_ratelimit rl;
    luaL_checktype(L, 1, LUA_TTABLE);
    if (!close_parse_ratelimit(header(L, 1, "ratelimit"), header(L, 1, "ratelimit-policy"),
                               header(L, 1, "x-rate-limit-limit"), header(L, 1, "x-rate-limit-remaining"),
                               header(L, 1, "x-rate-limit-reset"), &rl)) {
        lua_pushnil(L);
        return 1;
    }
    lua_createtable(L, 0, 3);
    set_number(L, "limit", rl.limit);
    set_number(L, "remaining", rl.remaining);
    set_number(L, "reset", rl.reset);
    return 1;
}

/* wait_hint(status, headers, body_rate_reset, now) -> seconds, source | nil
 * (body_rate_reset: the body's rate_reset as decoded, any type) */
static int l_wait_hint(lua_State *L) {
    close_hint_headers h;
    double out, body_reset = -1, now;
    const char *source = NULL;
    h.status = (int)check_long(L, 1, 0, 9999);
    luaL_checktype(L, 2, LUA_TTABLE);
    if (lua_type(L, 3) == LUA_TNUMBER) body_reset = (double)lua_tonumber(L, 3);
    else if (lua_type(L, 3) == LUA_TSTRING && !close_parse_seconds(lua_tostring(L, 3), &body_reset)) body_reset = -1;
    /* anything else is the server's JSON of another type: no hint */
    if (!(body_reset >= 0)) body_reset = -1; /* NaN and negatives are no hint */
    now = (double)luaL_optnumber(L, 4, (lua_Number)time(NULL));
    if (!(now >= 0 && now < 1e12)) luaL_argerror(L, 4, "a time in seconds since the epoch");
    h.retry_after = header(L, 2, "retry-after");
    h.date = header(L, 2, "date");
    h.ratelimit = header(L, 2, "ratelimit");
    h.ratelimit_policy = header(L, 2, "ratelimit-policy");
    h.x_remaining = header(L, 2, "x-rate-limit-remaining");
    h.x_reset = header(L, 2, "x-rate-limit-reset");
    if (!close_wait_hint(&h, body_reset, (time_t)now, &out, &source)) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushnumber(L, out);
    lua_pushstring(L, source);
    return 2;
}

/* retry_decide{attempt=, max_retries=, retryable=, hint=, elapsed=, deadline=,
 *              backoff_base=, max_wait=, random=} -> wait | nil, verdict, wait */
static int l_retry_decide(lua_State *L) {
    close_retry_input in;
    close_retry_verdict v;
    double wait, attempt, retries;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    attempt = opt_num_field(L, 1, "attempt", 1);
    retries = opt_num_field(L, 1, "max_retries", 0);
    in.attempt = !(attempt >= 1) ? 1 : attempt > 1e6 ? 1000000 : (int)attempt;
    in.max_retries = !(retries >= 0) ? 0 : retries > 1e6 ? 1000000 : (int)retries;
    in.retryable = (rawfield(L, 1, "retryable"), lua_toboolean(L, -1));
    lua_pop(L, 1);
    in.has_hint = rawfield(L, 1, "hint") == LUA_TNUMBER && lua_tonumber(L, -1) >= 0;
    lua_pop(L, 1);
    in.hint = in.has_hint ? opt_num_field(L, 1, "hint", 0) : 0;
    in.elapsed = opt_num_field(L, 1, "elapsed", 0);
    in.deadline = opt_num_field(L, 1, "deadline", CLOSE_DEFAULT_DEADLINE);
    in.backoff_base = opt_num_field(L, 1, "backoff_base", CLOSE_DEFAULT_BACKOFF_BASE);
    in.max_wait = opt_num_field(L, 1, "max_wait", CLOSE_DEFAULT_MAX_WAIT);
    in.random = opt_num_field(L, 1, "random", 0);
    v = close_retry_decide(&in, &wait);
    if (v == CLOSE_RETRY) lua_pushnumber(L, wait);
    else lua_pushnil(L);
    lua_pushstring(L, close_retry_verdict_name(v));
    lua_pushnumber(L, wait);
    return 3;
}

/* ---- the wire parser, for the cosocket transport ---- */

/* Pushes the fields as a table: names lower-cased, repeated fields joined
 * with ", " as HTTP allows, an obs-fold appended to its field with a space. */
static void push_fields(lua_State *L, const close_wire_field *f, size_t n) {
    char name[CLOSE_MAX_NAME];
    size_t i, k, last_len = 0;
    lua_createtable(L, 0, (int)n);
    for (i = 0; i < n; i++) {
        if (f[i].name) {
            size_t len = f[i].name_len; /* at most CLOSE_MAX_NAME: the parser says so */
            for (k = 0; k < len; k++) {
                char c = f[i].name[k];
                name[k] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
            }
            last_len = len;
        }
        lua_pushlstring(L, name, last_len);
        lua_pushvalue(L, -1);
        lua_rawget(L, -3);
        if (lua_type(L, -1) == LUA_TSTRING) {
            if (f[i].name) lua_pushliteral(L, ", ");
            else lua_pushliteral(L, " ");
            lua_pushlstring(L, f[i].value, f[i].value_len);
            lua_concat(L, 3);
        } else {
            lua_pop(L, 1);
            lua_pushlstring(L, f[i].value, f[i].value_len);
        }
        lua_rawset(L, -3);
    }
}

/* A reason of the wire parser, with the line it refused: never the line's
 * bytes, which a hostile server could fill with what it was sent. */
static const char *head_reason(lua_State *L, const char *why, const close_wire_head *head) {
    if (head->bad_line > 0 && strncmp(why, "malformed", 9) == 0)
        return lua_pushfstring(L, "%s (line %d)", why, head->bad_line);
    return why;
}

/* parse_head(bytes) -> status, headers, version, head_len
 *                    | false (incomplete: read more) | nil, reason */
static int l_parse_head(lua_State *L) {
    size_t len;
    const char *buf = luaL_checklstring(L, 1, &len), *why;
    close_wire_head head;
    close_wire_field fields[CLOSE_MAX_HEADERS]; /* 8 KiB of stack: no allocation per response */
    why = close_wire_parse_head(buf, len, &head, fields, CLOSE_MAX_HEADERS);
    if (why == CLOSE_WIRE_INCOMPLETE) {
        lua_pushboolean(L, 0);
        return 1;
    }
    if (why) return push_check(L, head_reason(L, why, &head));
    lua_pushinteger(L, head.status);
    push_fields(L, fields, head.nfields);
    lua_pushinteger(L, head.version);
    lua_pushinteger(L, (lua_Integer)head.head_len);
    return 4;
}

/* chunk_size(line) -> bytes | nil, reason */
static int l_chunk_size(lua_State *L) {
    size_t len;
    unsigned long size;
    const char *line = luaL_checklstring(L, 1, &len);
    const char *why = close_wire_chunk_size(line, len, &size);
    if (why) return push_check(L, why);
    lua_pushnumber(L, (lua_Number)size);
    return 1;
}

static int l_is_token(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_pushboolean(L, close_wire_is_token(s, len));
    return 1;
}

/* ---- clock, sleep, random ---- */

static int l_now(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

/* wall-clock seconds since the epoch, fractional (os.time has whole seconds,
 * too coarse for a token that lives two seconds) */
static int l_time(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

static int l_sleep(lua_State *L) {
    double s = (double)luaL_checknumber(L, 1);
    struct timespec ts;
    if (!(s > 0)) return 0; /* NaN too */
    if (s > 86400) s = 86400;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    return 0;
}

/* rng() -> a generator for one client's jitter; rng:next() -> [0, 1) */
static int l_rng(lua_State *L) {
    close_rand *r = lua_newuserdata(L, sizeof *r);
    close_rand_seed(r, (unsigned long long)(size_t)r);
    close_setmetatable(L, RNG_MT);
    return 1;
}

static int l_rng_next(lua_State *L) {
    close_rand *r = luaL_checkudata(L, 1, RNG_MT);
    lua_pushnumber(L, (lua_Number)close_rand_next(r));
    return 1;
}

/* ---- the libcurl transport as a userdata ---- */

static close_http *check_http(lua_State *L) {
    close_http *h = luaL_checkudata(L, 1, HTTP_MT);
    if (!close_http_is_open(h)) luaL_error(L, "close.core.http: the transport is closed");
    return h;
}

static int l_http_new(lua_State *L) {
    close_http *h = lua_newuserdata(L, sizeof *h);
    memset(h, 0, sizeof *h);
    close_setmetatable(L, HTTP_MT);
    if (!close_http_init(h)) return luaL_error(L, "close.core.http: libcurl could not be initialised");
    return 1;
}

/* __gc, __close and :close() share this one idempotent function */
static int l_http_close(lua_State *L) {
    close_http_destroy(luaL_checkudata(L, 1, HTTP_MT));
    return 0;
}

/* one request header line, checked: a token name and a value without CR, LF or NUL */
static void check_header(lua_State *L, int k, int v) {
    size_t nlen, vlen, i;
    const char *name, *value;
    if (lua_type(L, k) != LUA_TSTRING || (lua_type(L, v) != LUA_TSTRING && lua_type(L, v) != LUA_TNUMBER))
        luaL_error(L, "request headers must map names to strings");
    name = lua_tolstring(L, k, &nlen);
    if (!close_wire_is_token(name, nlen)) luaL_error(L, "request header names must be HTTP tokens");
    value = lua_tolstring(L, v, &vlen);
    for (i = 0; i < vlen; i++)
        if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0')
            luaL_error(L, "request header '%s' has a CR, LF or NUL in its value", name);
}

/* A request table at idx read into r: every field checked (a Lua error on
 * misuse). Header lines built here stay alive in a table pushed on the stack;
 * *block and *blen give header_lines when the request has them (then
 * headers is not read). */
static void read_request(lua_State *L, int idx, close_http_request *r, const char **block, size_t *blen) {
    size_t n = 0, i, mlen, ulen, clen = 0;
    double mb;
    const char **lines;
    int t;
    luaL_checktype(L, idx, LUA_TTABLE);
    memset(r, 0, sizeof *r);
    r->method = opt_str_field(L, idx, "method", &mlen);
    r->url = opt_str_field(L, idx, "url", &ulen);
    if (!r->method || !close_wire_is_token(r->method, mlen)) luaL_argerror(L, idx, "'method' must be an HTTP token");
    if (!r->url || strlen(r->url) != ulen || strpbrk(r->url, " \r\n\t"))
        luaL_argerror(L, idx, "'url' must be a URL without spaces, CR, LF or NUL");
    r->body = opt_str_field(L, idx, "body", &r->body_len);
    r->ca_file = opt_str_field(L, idx, "ca_file", &clen);
    if (r->ca_file && strlen(r->ca_file) != clen) luaL_argerror(L, idx, "'ca_file' must not contain NUL");
    r->timeout_ms = clamp_ms(opt_num_field(L, idx, "timeout", CLOSE_DEFAULT_TIMEOUT));
    r->connect_timeout_ms = clamp_ms(opt_num_field(L, idx, "connect_timeout", CLOSE_DEFAULT_CONNECT_TIMEOUT));
    mb = opt_num_field(L, idx, "max_body", CLOSE_DEFAULT_MAX_BODY);
    r->max_body = !(mb > 0) ? 0 : mb > 1e12 ? (size_t)1e12 : (size_t)mb;
    /* header_lines: the client's constant lines as one string */
    *block = opt_str_field(L, idx, "header_lines", blen);
    lua_newtable(L); /* keeps the "Name: value" strings alive */
    t = lua_gettop(L);
    if (*block) return;
    switch (rawfield(L, idx, "headers")) {
    case LUA_TTABLE:
        lua_pushnil(L);
        while (lua_next(L, t + 1)) {
            check_header(L, -2, -1);
            lua_pushvalue(L, -2);
            lua_pushliteral(L, ": ");
            lua_pushvalue(L, -3);
            lua_concat(L, 3);
            lua_rawseti(L, t, (int)++n);
            lua_pop(L, 1);
            if (n > 1000) luaL_error(L, "too many request headers");
        }
        break;
    case LUA_TNIL: break;
    default: luaL_argerror(L, idx, "'headers' must be a table");
    }
    lua_pop(L, 1);
    lines = (const char **)(void *)scratch(L, (n ? n : 1) * sizeof *lines);
    lua_rawseti(L, t, 0); /* the scratch memory lives as long as the table */
    for (i = 0; i < n; i++) {
        lua_rawgeti(L, t, (int)i + 1);
        lines[i] = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    r->headers = lines;
    r->nheaders = n;
}

/* Pushes the outcome of a transfer: {status=, headers=, body=}, or nil and
 * {kind=, message=}; returns the count of values. */
static int push_outcome(lua_State *L, const char *kind, const char *message, const close_http_response *res) {
    close_wire_head head;
    close_wire_field fields[CLOSE_MAX_HEADERS]; /* 8 KiB of stack: no allocation per response */
    if (!kind) {
        /* the head curl received, read by the rules both transports share */
        message = close_wire_parse_head(res->head, res->head_len, &head, fields, CLOSE_MAX_HEADERS);
        if (message == CLOSE_WIRE_INCOMPLETE) message = "the response head has no end";
        if (message) {
            kind = "protocol";
            message = head_reason(L, message, &head);
        }
    }
    if (kind) {
        lua_pushnil(L);
        lua_createtable(L, 0, 2);
        lua_pushstring(L, kind);
        lua_setfield(L, -2, "kind");
        lua_pushstring(L, message);
        lua_setfield(L, -2, "message");
        return 2;
    }
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, head.status);
    lua_setfield(L, -2, "status");
    push_fields(L, fields, head.nfields);
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, res->body, res->body_len);
    lua_setfield(L, -2, "body");
    return 1;
}

/* http:request{method=, url=, headers={name=value} | header_lines="A: b\r\nC: d",
 *              body=, timeout=, connect_timeout=, ca_file=, max_body=}
 *   -> {status=, headers=, body=} | nil, {kind=, message=} */
static int l_http_request(lua_State *L) {
    close_http *h = check_http(L);
    close_http_request r;
    close_http_response res;
    const char *kind, *message = NULL, *block, *why;
    size_t blen;
    lua_settop(L, 2);
    read_request(L, 2, &r, &block, &blen);
    if (block) {
        /* its curl list is kept between calls */
        if ((why = close_http_set_headers(h, block, blen)) != NULL) return luaL_argerror(L, 2, why);
        r.use_block = 1;
    }
    kind = close_http_perform(h, &r, &res, &message);
    return push_outcome(L, kind, message, &res);
}

/* ---- the concurrent transport (http_multi.c) ---- */

static close_multi *check_multi(lua_State *L) {
    close_multi *m = luaL_checkudata(L, 1, MULTI_MT);
    if (!close_multi_is_open(m)) luaL_error(L, "close.core.multi: the transport is closed");
    return m;
}

/* multi([max_host]) -> a concurrent transport */
static int l_multi_new(lua_State *L) {
    long max_host = lua_isnoneornil(L, 1) ? 0 : check_long(L, 1, 0, 10000);
    close_multi *m;
    lua_settop(L, 1);
    m = lua_newuserdata(L, sizeof *m);
    memset(m, 0, sizeof *m);
    luaL_getmetatable(L, MULTI_MT);
    lua_setmetatable(L, -2);
    if (!close_multi_init(m, max_host)) return luaL_error(L, "close.core.multi: libcurl could not be initialised");
    return 1;
}

static int l_multi_close(lua_State *L) {
    close_multi_destroy(luaL_checkudata(L, 1, MULTI_MT));
    return 0;
}

/* multi:start(request) -> id | nil, {kind=, message=} */
static int l_multi_start(lua_State *L) {
    close_multi *m = check_multi(L);
    close_http_request r;
    const char *block, *why = NULL, *message = NULL;
    size_t blen;
    struct curl_slist *list;
    long id;
    lua_settop(L, 2);
    read_request(L, 2, &r, &block, &blen);
    list = block ? close_http_block_list(block, blen, &why) : close_http_line_list(&r);
    if (block && why) return luaL_argerror(L, 2, why);
    if (!list) message = "out of memory";
    else if ((id = close_multi_start(m, &r, list, &message)) > 0) {
        lua_pushinteger(L, id);
        return 1;
    }
    lua_pushnil(L);
    lua_createtable(L, 0, 2);
    lua_pushliteral(L, "network");
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, message);
    lua_setfield(L, -2, "message");
    return 2;
}

/* multi:wait(timeout) -> {{id=, response= | err=}, ...}: what finished
 * within timeout seconds (returning as soon as one does) */
static int l_multi_wait(lua_State *L) {
    close_multi *m = check_multi(L);
    double timeout = (double)luaL_checknumber(L, 2);
    close_multi_xfer *x;
    int n = 0;
    lua_settop(L, 2);
    close_multi_wait(m, timeout);
    lua_newtable(L);
    while ((x = close_multi_done(m)) != NULL) {
        close_http_response res;
        const char *message = NULL, *kind = close_xfer_outcome(x->rc, &x->io, &res, &message);
        int k;
        lua_createtable(L, 0, 2);
        lua_pushinteger(L, x->id);
        lua_setfield(L, -2, "id");
        k = push_outcome(L, kind, message, &res);
        lua_setfield(L, -1 - k, k == 1 ? "response" : "err");
        if (k == 2) lua_pop(L, 1);
        close_multi_free(x);
        lua_rawseti(L, -2, ++n);
    }
    return 1;
}

/* multi:cancel(id) -> whether a transfer of that id was running */
static int l_multi_cancel(lua_State *L) {
    close_multi *m = check_multi(L);
    long id = check_long(L, 2, 1, 2147483647L);
    lua_pushboolean(L, close_multi_cancel(m, id));
    return 1;
}

static int l_multi_running(lua_State *L) {
    lua_pushinteger(L, close_multi_running(check_multi(L)));
    return 1;
}

/* ---- the token file and the login listener (localio.c) ---- */

static const char *check_path(lua_State *L, int idx) {
    size_t len;
    const char *p = luaL_checklstring(L, idx, &len);
    if (strlen(p) != len) luaL_argerror(L, idx, "a path must not contain NUL");
    return p;
}

/* write_private(path, data) -> true | nil, reason */
static int l_write_private(lua_State *L) {
    size_t len;
    const char *path = check_path(L, 1), *data = luaL_checklstring(L, 2, &len);
    lua_settop(L, 2);
    return push_check(L, close_write_private(path, data, len));
}

/* check_private(path) -> true | nil, reason ("missing" when absent) */
static int l_check_private(lua_State *L) {
    const char *path = check_path(L, 1);
    lua_settop(L, 1);
    return push_check(L, close_check_private(path));
}

/* mkdir_private(path) -> true | nil, reason (mode 0700; an existing directory is fine) */
static int l_mkdir_private(lua_State *L) {
    const char *path = check_path(L, 1);
    lua_settop(L, 1);
    return push_check(L, close_mkdir_private(path));
}

/* catch_signals(): SIGINT/SIGTERM set a flag (see localio.h) */
static int l_catch_signals(lua_State *L) {
    (void)L;
    close_catch_signals();
    return 0;
}

/* caught_signal() -> "SIGINT" | "SIGTERM" | false */
static int l_caught_signal(lua_State *L) {
    int sig = close_caught_signal();
    if (sig == SIGINT) lua_pushliteral(L, "SIGINT");
    else if (sig == SIGTERM) lua_pushliteral(L, "SIGTERM");
    else lua_pushboolean(L, 0);
    return 1;
}

static int l_isatty(lua_State *L) {
    lua_pushboolean(L, close_isatty((int)check_long(L, 1, 0, 1024)));
    return 1;
}

static close_listener *check_listener(lua_State *L) {
    return luaL_checkudata(L, 1, LISTENER_MT);
}

/* listen(port) -> listener | nil, reason: one loopback port for a redirect */
static int l_listen(lua_State *L) {
    int port = (int)check_long(L, 1, 0, 65535);
    close_listener *l;
    const char *why;
    lua_settop(L, 1);
    l = lua_newuserdata(L, sizeof *l);
    l->fd = -1;
    luaL_getmetatable(L, LISTENER_MT);
    lua_setmetatable(L, -2);
    if ((why = close_listen(l, port)) != NULL) {
        lua_pushnil(L);
        lua_pushstring(L, why);
        return 2;
    }
    return 1;
}

static int l_listener_port(lua_State *L) {
    lua_pushinteger(L, check_listener(L)->port);
    return 1;
}

/* listener:accept(timeout, status, html) -> request target | nil, reason */
static int l_listener_accept(lua_State *L) {
    close_listener *l = check_listener(L);
    double timeout = (double)luaL_checknumber(L, 2);
    int status = (int)check_long(L, 3, 200, 599);
    const char *body = luaL_checkstring(L, 4);
    char *target = scratch(L, 4096);
    const char *why;
    lua_settop(L, 4);
    why = close_accept_once(l, timeout, status, body, target, 4096);
    if (why) {
        lua_pushnil(L);
        lua_pushstring(L, why);
        return 2;
    }
    lua_pushstring(L, target);
    return 1;
}

static int l_listener_close(lua_State *L) {
    close_listener_close(check_listener(L));
    return 0;
}

static int l_curl_version(lua_State *L) {
    lua_pushstring(L, curl_version_info(CURLVERSION_NOW)->version);
    return 1;
}

static const luaL_Reg http_methods[] = {
    {"request", l_http_request},
    {"close", l_http_close},
    {NULL, NULL},
};

static const luaL_Reg multi_methods[] = {
    {"start", l_multi_start},
    {"wait", l_multi_wait},
    {"cancel", l_multi_cancel},
    {"running", l_multi_running},
    {"close", l_multi_close},
    {NULL, NULL},
};

static const luaL_Reg listener_methods[] = {
    {"port", l_listener_port},
    {"accept", l_listener_accept},
    {"close", l_listener_close},
    {NULL, NULL},
};

static const luaL_Reg rng_methods[] = {
    {"next", l_rng_next},
    {NULL, NULL},
};

static const luaL_Reg funcs[] = {
    {"validate_email", l_validate_email},
    {"validate_role", l_validate_role},
    {"validate_id", l_validate_id},
    {"check_base_url", l_check_base_url},
    {"is_loopback_host", l_is_loopback_host},
    {"auth_header", l_auth_header},
    {"urlencode", l_urlencode},
    {"sha256", l_sha256},
    {"base64url", l_base64url},
    {"status_kind", l_status_kind},
    {"is_retryable", l_is_retryable},
    {"ratelimit", l_ratelimit},
    {"wait_hint", l_wait_hint},
    {"retry_decide", l_retry_decide},
    {"parse_head", l_parse_head},
    {"chunk_size", l_chunk_size},
    {"is_token", l_is_token},
    {"now", l_now},
    {"time", l_time},
    {"write_private", l_write_private},
    {"check_private", l_check_private},
    {"mkdir_private", l_mkdir_private},
    {"listen", l_listen},
    {"catch_signals", l_catch_signals},
    {"caught_signal", l_caught_signal},
    {"isatty", l_isatty},
    {"sleep", l_sleep},
    {"rng", l_rng},
    {"http", l_http_new},
    {"multi", l_multi_new},
    {"curl_version", l_curl_version},
    {NULL, NULL},
};

static void new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc) {
    if (luaL_newmetatable(L, name)) {
        lua_newtable(L);
        close_setfuncs(L, methods);
        lua_setfield(L, -2, "__index");
        if (gc) {
            lua_pushcfunction(L, gc);
            lua_setfield(L, -2, "__gc");
            lua_pushcfunction(L, gc);
            lua_setfield(L, -2, "__close");
        }
    }
    lua_pop(L, 1);
}

static void set_num(lua_State *L, const char *k, double v) {
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

#if defined(__GNUC__)
__attribute__((visibility("default")))
#endif
int luaopen_close_core(lua_State *L) {
    close_http_global_init();
    new_class(L, HTTP_MT, http_methods, l_http_close);
    new_class(L, RNG_MT, rng_methods, NULL);
    new_class(L, LISTENER_MT, listener_methods, l_listener_close);
    new_class(L, MULTI_MT, multi_methods, l_multi_close);
    close_newlib(L, funcs);
    close_open_scim(L);
    close_open_resp(L);
    close_store_register(L);

    /* the defaults of every option (src/defaults.h), for close.lua and the transports */
    lua_newtable(L);
    lua_pushstring(L, CLOSE_DEFAULT_BASE_URL);
    lua_setfield(L, -2, "base_url");
    set_num(L, "timeout", CLOSE_DEFAULT_TIMEOUT);
    set_num(L, "connect_timeout", CLOSE_DEFAULT_CONNECT_TIMEOUT);
    set_num(L, "deadline", CLOSE_DEFAULT_DEADLINE);
    set_num(L, "max_retries", CLOSE_DEFAULT_MAX_RETRIES);
    set_num(L, "max_wait", CLOSE_DEFAULT_MAX_WAIT);
    set_num(L, "backoff_base", CLOSE_DEFAULT_BACKOFF_BASE);
    set_num(L, "max_body", CLOSE_DEFAULT_MAX_BODY);
    lua_setfield(L, -2, "defaults");

    /* the wire limits (src/wire.h) and their messages */
    lua_newtable(L);
    set_num(L, "max_head", CLOSE_MAX_HEAD);
    set_num(L, "max_headers", CLOSE_MAX_HEADERS);
    set_num(L, "max_chunk_line", CLOSE_MAX_CHUNK_LINE);
    set_num(L, "max_interim", CLOSE_MAX_INTERIM);
    lua_pushstring(L, CLOSE_MSG_HEAD_TOO_LARGE);
    lua_setfield(L, -2, "head_too_large");
    lua_pushstring(L, CLOSE_MSG_BODY_TOO_LARGE);
    lua_setfield(L, -2, "body_too_large");
    lua_pushstring(L, CLOSE_MSG_CHUNK_LINE_TOO_LONG);
    lua_setfield(L, -2, "chunk_line_too_long");
    lua_setfield(L, -2, "limits");
    return 1;
}
