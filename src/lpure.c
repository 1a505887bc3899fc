/* The binding of the pure parts: validation, request building, what a
 * response means (interpret), the retry verdict, the wire parser and the
 * jitter generator. Tables <-> structs, nothing else. */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "defaults.h"
#include "interpret.h"
#include "lutil.h"
#include "rand.h"
#include "request.h"
#include "retry.h"
#include "sha256.h"
#include "validate.h"

/* ---- validation and request building ---- */

static int l_validate_email(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    return close_push_check(L, close_validate_email(s, len));
}

static int l_validate_role(lua_State *L) {
    size_t len;
    char buf[96];
    const char *s = luaL_checklstring(L, 1, &len);
    return close_push_check(L, close_validate_role(s, len, buf, sizeof buf));
}

static int l_validate_id(lua_State *L) {
    size_t len, plen;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *prefix = luaL_checklstring(L, 2, &plen);
    if (plen == 0 || strlen(prefix) != plen) luaL_argerror(L, 2, "a prefix such as 'memb_'");
    return close_push_check(L, close_validate_id(s, len, prefix));
}

static int l_check_base_url(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    char *out = close_scratch(L, len + 1);
    const char *reason = close_check_base_url(s, len, out, len + 1);
    if (reason) return close_push_check(L, reason);
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
    if (len > 65536) return close_push_check(L, "is too long");
    n = close_auth_header_size(len);
    out = close_scratch(L, n);
    reason = close_auth_header(scheme == 0, secret, len, out, n);
    if (reason) return close_push_check(L, reason);
    lua_pushstring(L, out);
    memset(out, 0, n); /* no copy of the secret waits for the collector */
    return 1;
}

static int l_urlencode(lua_State *L) {
    size_t len, n;
    const char *s = luaL_checklstring(L, 1, &len);
    char *out;
    if (len > ((size_t)-1) / 4) return luaL_argerror(L, 1, "too long");
    out = close_scratch(L, 3 * len + 1);
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
    out = close_scratch(L, close_base64url_len(len) + 1);
    n = close_base64url((const unsigned char *)s, len, out);
    lua_pushlstring(L, out, n);
    return 1;
}

/* ---- what a response means, and the retry verdict ---- */

/* headers[name] when it is a string, else NULL (anchored by the table) */
static const char *header(lua_State *L, int t, const char *name) {
    const char *s = NULL;
    if (close_rawfield(L, t, name) == LUA_TSTRING) s = lua_tostring(L, -1);
    lua_pop(L, 1);
    return s;
}

/* interpret(status, headers, body_rate_reset, now)
 *   -> kind | nil, retryable, hint | nil, hint_source | nil, rate_limit | nil
 * body_rate_reset: the body's rate_reset as decoded, any type; now: the
 * wall clock in seconds since the epoch (default: the system's). */
static int l_interpret(lua_State *L) {
    close_response_facts f;
    close_interpretation out;
    double now;
    const char **slot[CLOSE_INTERPRET_HEADERS];
    int i;
    f.status = (int)close_check_long(L, 1, 0, 9999);
    luaL_checktype(L, 2, LUA_TTABLE);
    f.body_reset = -1;
    if (lua_type(L, 3) == LUA_TNUMBER) f.body_reset = (double)lua_tonumber(L, 3);
    else if (lua_type(L, 3) == LUA_TSTRING && !close_parse_seconds(lua_tostring(L, 3), &f.body_reset))
        f.body_reset = -1;
    /* anything else is the server's JSON of another type: no hint */
    if (!(f.body_reset >= 0)) f.body_reset = -1; /* NaN and negatives are no hint */
    now = lua_isnoneornil(L, 4) ? (double)time(NULL) : (double)luaL_checknumber(L, 4);
    if (!(now >= 0 && now < 1e12)) luaL_argerror(L, 4, "a time in seconds since the epoch");
    f.now = (time_t)now;
    slot[0] = &f.retry_after, slot[1] = &f.date, slot[2] = &f.ratelimit, slot[3] = &f.ratelimit_policy;
    slot[4] = &f.x_limit, slot[5] = &f.x_remaining, slot[6] = &f.x_reset;
    for (i = 0; i < CLOSE_INTERPRET_HEADERS; i++) *slot[i] = header(L, 2, close_interpret_header_names[i]);
    close_interpret(&f, &out);
    if (out.kind) lua_pushstring(L, out.kind);
    else lua_pushnil(L);
    lua_pushboolean(L, out.retryable);
    if (out.has_hint) {
        lua_pushnumber(L, out.hint);
        lua_pushstring(L, out.hint_source);
    } else {
        lua_pushnil(L);
        lua_pushnil(L);
    }
    if (!out.has_ratelimit) {
        lua_pushnil(L);
        return 5;
    }
    lua_createtable(L, 0, 3);
    close_set_number(L, "limit", out.ratelimit.limit);
    close_set_number(L, "remaining", out.ratelimit.remaining);
    close_set_number(L, "reset", out.ratelimit.reset);
    return 5;
}

static int bounded_int(double v, int lo) {
    return !(v >= lo) ? lo : v > 1e6 ? 1000000 : (int)v;
}

static int bool_field(lua_State *L, int t, const char *k) {
    int b;
    close_rawfield(L, t, k);
    b = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return b;
}

/* The jitter: a number, or a generator (rng()) to draw from here, which
 * saves the caller a call into C. */
static double jitter(lua_State *L, int t) {
    double v = 0;
    int type = close_rawfield(L, t, "random");
    if (type == LUA_TNUMBER) v = (double)lua_tonumber(L, -1);
    else if (type == LUA_TUSERDATA) v = close_rand_next(luaL_checkudata(L, -1, CLOSE_RNG_MT));
    else if (type != LUA_TNIL) luaL_error(L, "field 'random' must be a number or a generator (got %s)",
                                          lua_typename(L, type));
    lua_pop(L, 1);
    return v;
}

/* retry_decide{attempt=, max_retries=, status=, kind=, idempotent=,
 *              can_reauthorize=, reauthorized=, hint=, elapsed=, deadline=,
 *              backoff_base=, max_wait=, random=} -> wait | nil, verdict, wait */
static int l_retry_decide(lua_State *L) {
    close_retry_input in;
    close_retry_verdict v;
    double wait;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    in.attempt = bounded_int(close_opt_num_field(L, 1, "attempt", 1), 1);
    in.max_retries = bounded_int(close_opt_num_field(L, 1, "max_retries", 0), 0);
    in.status = bounded_int(close_opt_num_field(L, 1, "status", 0), 0);
    in.kind = close_opt_str_field(L, 1, "kind", NULL);
    in.idempotent = bool_field(L, 1, "idempotent");
    in.can_reauthorize = bool_field(L, 1, "can_reauthorize");
    in.reauthorized = bool_field(L, 1, "reauthorized");
    in.has_hint = close_rawfield(L, 1, "hint") == LUA_TNUMBER && lua_tonumber(L, -1) >= 0;
    lua_pop(L, 1);
    in.hint = in.has_hint ? close_opt_num_field(L, 1, "hint", 0) : 0;
    in.elapsed = close_opt_num_field(L, 1, "elapsed", 0);
    in.deadline = close_opt_num_field(L, 1, "deadline", CLOSE_DEFAULT_DEADLINE);
    in.backoff_base = close_opt_num_field(L, 1, "backoff_base", CLOSE_DEFAULT_BACKOFF_BASE);
    in.max_wait = close_opt_num_field(L, 1, "max_wait", CLOSE_DEFAULT_MAX_WAIT);
    in.random = jitter(L, 1);
    v = close_retry_decide(&in, &wait);
    if (v == CLOSE_RETRY || v == CLOSE_RETRY_REAUTHORIZE) lua_pushnumber(L, wait);
    else lua_pushnil(L);
    lua_pushstring(L, close_retry_verdict_name(v));
    lua_pushnumber(L, wait);
    return 3;
}

/* ---- the wire parser, for the cosocket transport ---- */

/* Whether field i's name appeared before it (case-insensitively). */
static int seen_before(const close_wire_field *f, size_t i) {
    size_t j, k;
    for (j = 0; j < i; j++) {
        if (!f[j].name || f[j].name_len != f[i].name_len) continue;
        for (k = 0; k < f[i].name_len && (f[j].name[k] | 0x20) == (f[i].name[k] | 0x20); k++) {}
        if (k == f[i].name_len) return 1; /* a false match ("@" and "`") only takes the slow path */
    }
    return 0;
}

void close_push_fields(lua_State *L, const close_wire_field *f, size_t n) {
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
        /* a repeat or a fold joins the value already there (few fields: a scan beats a lookup) */
        if (!f[i].name || (n <= 32 ? seen_before(f, i) : 1)) {
            lua_pushvalue(L, -1);
            lua_rawget(L, -3);
            if (lua_type(L, -1) == LUA_TSTRING) {
                if (f[i].name) lua_pushliteral(L, ", ");
                else lua_pushliteral(L, " ");
                lua_pushlstring(L, f[i].value, f[i].value_len);
                lua_concat(L, 3);
                lua_rawset(L, -3);
                continue;
            }
            lua_pop(L, 1);
        }
        lua_pushlstring(L, f[i].value, f[i].value_len);
        lua_rawset(L, -3);
    }
}

/* A reason of the wire parser, with the line it refused: never the line's
 * bytes, which a hostile server could fill with what it was sent. */
const char *close_head_reason(lua_State *L, const char *why, const close_wire_head *head) {
    if (head->bad_line > 0 && strncmp(why, "malformed", 9) == 0)
        return lua_pushfstring(L, "%s (line %d)", why, head->bad_line);
    return why;
}

/* The reason for a body the reader cannot take, with the coding named
 * (cut, and without control or non-ASCII bytes). */
static const char *framing_reason(lua_State *L, const char *why, const char *te) {
    char shown[81];
    size_t i;
    if (why != CLOSE_WIRE_BAD_CODING) return why;
    for (i = 0; i < 80 && te[i]; i++) {
        unsigned char c = (unsigned char)te[i];
        shown[i] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    shown[i] = '\0';
    return lua_pushfstring(L, "%s: %s", why, shown);
}

/* The body framing of the head whose fields table is at the top; pushes
 * kind, length, keep_alive (3 values) or returns a reason (nothing pushed). */
static const char *push_framing(lua_State *L, const char *method, int status, int version, double max_body) {
    static const char *const kinds[] = {"none", "length", "chunked", "close"};
    close_wire_body body;
    int t = lua_gettop(L);
    const char *te = header(L, t, "transfer-encoding");
    const char *why = close_wire_body_framing(method, status, version, header(L, t, "connection"), te,
                                              header(L, t, "content-length"),
                                              max_body >= 1e15 ? 1000000000000000ULL : (unsigned long long)max_body,
                                              &body);
    if (why) return framing_reason(L, why, te);
    lua_pushstring(L, kinds[body.kind]);
    lua_pushnumber(L, (lua_Number)body.length);
    lua_pushboolean(L, body.keep_alive);
    return NULL;
}

/* parse_head(bytes [, method, max_body])
 *   -> status, headers, version, head_len [, body, length, keep_alive]
 *    | false (incomplete: read more) | nil, reason
 * With a method, a final HTTP/1.x response also gets its body framing:
 * "none", "length" (length bytes), "chunked" or "close" (until the server
 * closes), and whether the connection may be kept. */
static int l_parse_head(lua_State *L) {
    size_t len;
    const char *buf = luaL_checklstring(L, 1, &len), *why;
    const char *method = luaL_optstring(L, 2, NULL);
    double max_body = (double)luaL_optnumber(L, 3, CLOSE_DEFAULT_MAX_BODY);
    close_wire_head head;
    close_wire_field fields[CLOSE_MAX_HEADERS]; /* 8 KiB of stack: no allocation per response */
    why = close_wire_parse_head(buf, len, &head, fields, CLOSE_MAX_HEADERS);
    if (why == CLOSE_WIRE_INCOMPLETE) {
        lua_pushboolean(L, 0);
        return 1;
    }
    if (why) return close_push_check(L, close_head_reason(L, why, &head));
    lua_pushinteger(L, head.status);
    close_push_fields(L, fields, head.nfields);
    if (method && head.status >= 200 && head.version >= 10 && head.version < 20) {
        if ((why = push_framing(L, method, head.status, head.version, max_body < 0 ? 0 : max_body)) != NULL)
            return close_push_check(L, why);
        lua_pushinteger(L, head.version);
        lua_insert(L, -4);
        lua_pushinteger(L, (lua_Integer)head.head_len);
        lua_insert(L, -4);
        return 7;
    }
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
    if (why) return close_push_check(L, why);
    lua_pushnumber(L, (lua_Number)size);
    return 1;
}

static int l_is_token(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_pushboolean(L, close_wire_is_token(s, len));
    return 1;
}

/* check_header(name, value) -> true | nil, "name" | "value": the rule of
 * every request header we send (a token name; no CR, LF or NUL in the value) */
static int l_check_header(lua_State *L) {
    size_t nlen, vlen;
    const char *name = luaL_checklstring(L, 1, &nlen), *value = luaL_checklstring(L, 2, &vlen);
    return close_push_check(L, close_wire_check_header(name, nlen, value, vlen));
}

/* ---- the jitter generator ---- */

/* A seed no other generator gets: the wall clock, the pid (workers forked
 * from one master), the generator's address and a counter (two generators
 * made within one clock tick). The counter is process state because a
 * process is what it tells apart. */
static unsigned long long rng_seed(const void *where) {
    static unsigned long long counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return close_rand_mix((unsigned long long)ts.tv_nsec ^ ((unsigned long long)ts.tv_sec << 30)) ^
           close_rand_mix((unsigned long long)getpid() << 16 ^ ++counter) ^
           close_rand_mix((unsigned long long)(size_t)where);
}

/* rng() -> a generator for one client's jitter; rng:next() -> [0, 1) */
static int l_rng(lua_State *L) {
    close_rand *r = lua_newuserdata(L, sizeof *r);
    close_rand_seed(r, rng_seed(r));
    close_setmetatable(L, CLOSE_RNG_MT);
    return 1;
}

static int l_rng_next(lua_State *L) {
    close_rand *r = luaL_checkudata(L, 1, CLOSE_RNG_MT);
    lua_pushnumber(L, (lua_Number)close_rand_next(r));
    return 1;
}

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
    {"interpret", l_interpret},
    {"retry_decide", l_retry_decide},
    {"parse_head", l_parse_head},
    {"chunk_size", l_chunk_size},
    {"is_token", l_is_token},
    {"check_header", l_check_header},
    {"rng", l_rng},
    {NULL, NULL},
};

void close_open_pure(lua_State *L) {
    close_new_class(L, CLOSE_RNG_MT, rng_methods, NULL);
    close_setfuncs(L, funcs);
}
