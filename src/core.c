/* close.core: the Lua binding. It converts tables to the C structs of the
 * pure parts (validate, request, response, retry) and the libcurl transport,
 * and nothing else: policy lives in lua/close.lua and the pure C files. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"
#include "http_curl.h"
#include "request.h"
#include "response.h"
#include "retry.h"
#include "validate.h"

#define HTTP_MT "close.core.http"

static int push_check(lua_State *L, const char *reason) {
    if (reason == NULL) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushnil(L);
    lua_pushstring(L, reason);
    return 2;
}

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
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    return push_check(L, close_validate_id(s, len, luaL_checkstring(L, 2)));
}

static int l_check_base_url(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    char *out = malloc(len + 1);
    const char *reason;
    if (!out) return luaL_error(L, "out of memory");
    reason = close_check_base_url(s, len, out, len + 1);
    if (reason) {
        free(out);
        return push_check(L, reason);
    }
    lua_pushstring(L, out);
    free(out);
    return 1;
}

/* auth_header("basic", key) -> "Basic base64(key:)"; ("bearer", token) -> "Bearer token" */
static int l_auth_header(lua_State *L) {
    static const char *const schemes[] = {"basic", "bearer", NULL};
    int scheme = luaL_checkoption(L, 1, NULL, schemes);
    size_t len;
    const char *secret = luaL_checklstring(L, 2, &len);
    const char *reason = close_validate_credential(secret, len, scheme == 0);
    if (reason) return push_check(L, reason);
    if (scheme == 0) {
        size_t n = len + 1;
        unsigned char *user = malloc(n);
        char *out = malloc(4 * ((n + 2) / 3) + 7);
        if (!user || !out) {
            free(user);
            free(out);
            return luaL_error(L, "out of memory");
        }
        memcpy(user, secret, len);
        user[len] = ':'; /* the API key is the user name; the password is empty */
        memcpy(out, "Basic ", 6);
        close_base64(user, n, out + 6);
        lua_pushstring(L, out);
        /* scrub the copies of the key before giving the memory back */
        memset(user, 0, n);
        memset(out, 0, 4 * ((n + 2) / 3) + 7);
        free(user);
        free(out);
    } else {
        lua_pushliteral(L, "Bearer ");
        lua_pushvalue(L, 2);
        lua_concat(L, 2);
    }
    return 1;
}

static int l_urlencode(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    char *out = malloc(3 * len + 1);
    size_t n;
    if (!out) return luaL_error(L, "out of memory");
    n = close_urlencode(s, len, out);
    lua_pushlstring(L, out, n);
    free(out);
    return 1;
}

static int l_status_kind(lua_State *L) {
    const char *k = close_status_kind((int)luaL_checkinteger(L, 1));
    if (k) lua_pushstring(L, k);
    else lua_pushnil(L);
    return 1;
}

static int l_is_retryable(lua_State *L) {
    lua_pushboolean(L, close_is_retryable((int)luaL_optinteger(L, 1, 0), luaL_optstring(L, 2, NULL)));
    return 1;
}

/* headers table (lower-case names) field, or NULL */
static const char *header(lua_State *L, int idx, const char *name) {
    if (lua_type(L, idx) != LUA_TTABLE) return NULL;
    lua_getfield(L, idx, name);
    /* the table keeps the string alive while we use it */
    if (lua_type(L, -1) == LUA_TSTRING) {
        const char *s = lua_tostring(L, -1);
        lua_pop(L, 1);
        return s;
    }
    lua_pop(L, 1);
    return NULL;
}

static void set_number(lua_State *L, const char *k, double v) {
    if (v >= 0) {
        lua_pushnumber(L, v);
        lua_setfield(L, -2, k);
    }
}

static int l_ratelimit(lua_State *L) {
    close_ratelimit rl;
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

/* wait_hint(status, headers, body_rate_reset|nil, now) -> seconds, source | nil */
static int l_wait_hint(lua_State *L) {
    close_hint_headers h;
    double out, body_reset = -1;
    const char *source = NULL;
    h.status = (int)luaL_checkinteger(L, 1);
    if (lua_type(L, 3) == LUA_TNUMBER) body_reset = lua_tonumber(L, 3);
    else if (lua_type(L, 3) == LUA_TSTRING && !close_parse_seconds(lua_tostring(L, 3), &body_reset)) body_reset = -1;
    if (!(body_reset >= 0)) body_reset = -1; /* NaN and negatives are no hint */
    h.retry_after = header(L, 2, "retry-after");
    h.date = header(L, 2, "date");
    h.ratelimit = header(L, 2, "ratelimit");
    h.ratelimit_policy = header(L, 2, "ratelimit-policy");
    h.x_remaining = header(L, 2, "x-rate-limit-remaining");
    h.x_reset = header(L, 2, "x-rate-limit-reset");
    if (!close_wait_hint(&h, body_reset, (time_t)luaL_optnumber(L, 4, (lua_Number)time(NULL)), &out, &source)) {
        lua_pushnil(L);
        return 1;
    }
    lua_pushnumber(L, out);
    lua_pushstring(L, source);
    return 2;
}

static double num_field(lua_State *L, int idx, const char *k, double dflt) {
    double v = dflt;
    if (close_getfield(L, idx, k) == LUA_TNUMBER) v = lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

/* a double to int without undefined behaviour for huge values or NaN */
static int clamp_int(double v) {
    if (!(v > 0)) return 0;
    return v > 1e9 ? 1000000000 : (int)v;
}

/* seconds to milliseconds for curl, within [1 ms, 1 day] */
static long clamp_ms(double s) {
    if (!(s > 0.001)) return 1;
    return s > 86400 ? 86400000L : (long)(s * 1000);
}

/* retry_decide{attempt=, max_retries=, retryable=, hint=, elapsed=, deadline=,
 *              backoff_base=, max_wait=, random=} -> wait | nil, verdict, wait */
static int l_retry_decide(lua_State *L) {
    close_retry_input in;
    close_retry_verdict v;
    double wait;
    luaL_checktype(L, 1, LUA_TTABLE);
    in.attempt = clamp_int(num_field(L, 1, "attempt", 1));
    in.max_retries = clamp_int(num_field(L, 1, "max_retries", 0));
    in.retryable = (close_getfield(L, 1, "retryable"), lua_toboolean(L, -1));
    lua_pop(L, 1);
    in.has_hint = close_getfield(L, 1, "hint") == LUA_TNUMBER && lua_tonumber(L, -1) >= 0;
    lua_pop(L, 1);
    in.hint = num_field(L, 1, "hint", 0);
    in.elapsed = num_field(L, 1, "elapsed", 0);
    in.deadline = num_field(L, 1, "deadline", 0);
    in.backoff_base = num_field(L, 1, "backoff_base", 0.5);
    in.max_wait = num_field(L, 1, "max_wait", 30);
    in.random = num_field(L, 1, "random", 0);
    v = close_retry_decide(&in, &wait);
    if (v == CLOSE_RETRY) lua_pushnumber(L, wait);
    else lua_pushnil(L);
    lua_pushstring(L, close_retry_verdict_name(v));
    lua_pushnumber(L, wait);
    return 3;
}

/* random() -> [0, 1): the jitter source. math.random is unseeded before Lua
 * 5.4, so every process would jitter alike, which defeats the purpose; and
 * nginx workers forked from one master must not share a sequence either, so
 * the state is reseeded whenever the pid changes. */
static int l_random(lua_State *L) {
    static uint64_t state;
    static pid_t seeded_for;
    pid_t pid = getpid();
    if (state == 0 || seeded_for != pid) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        state = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)pid << 40) ^
                (uint64_t)(uintptr_t)&state;
        if (state == 0) state = 0x9e3779b97f4a7c15ULL;
        seeded_for = pid;
    }
    /* xorshift64* */
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    lua_pushnumber(L, (lua_Number)((state * 0x2545f4914f6cdd1dULL) >> 11) / 9007199254740992.0);
    return 1;
}

static int l_now(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

static int l_sleep(lua_State *L) {
    double s = luaL_checknumber(L, 1);
    struct timespec ts;
    if (s <= 0) return 0;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    return 0;
}

/* ---- the libcurl transport as a userdata ---- */

static close_http *check_http(lua_State *L) {
    close_http *h = luaL_checkudata(L, 1, HTTP_MT);
    if (!h->easy) luaL_error(L, "close.core.http: the transport is closed");
    return h;
}

static int l_http_new(lua_State *L) {
    close_http *h = lua_newuserdata(L, sizeof *h);
    memset(h, 0, sizeof *h);
    close_setmetatable(L, HTTP_MT);
    if (!close_http_init(h)) return luaL_error(L, "close.core.http: curl_easy_init failed");
    return 1;
}

/* __gc, __close and :close() share this one idempotent function */
static int l_http_close(lua_State *L) {
    close_http_destroy(luaL_checkudata(L, 1, HTTP_MT));
    return 0;
}

static const char *str_field(lua_State *L, int idx, const char *k, size_t *len) {
    const char *s = NULL;
    if (close_getfield(L, idx, k) == LUA_TSTRING) s = lua_tolstring(L, -1, len);
    lua_pop(L, 1); /* the request table keeps it alive */
    return s;
}

static void push_headers(lua_State *L, const char *head, size_t len) {
    const char *p = head, *end = head + len;
    lua_newtable(L);
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p)), *colon, *v, *ve;
        size_t i, nlen;
        char name[128];
        if (!eol) eol = end;
        colon = memchr(p, ':', (size_t)(eol - p));
        if (colon && (size_t)(colon - p) < sizeof name && memcmp(p, "HTTP/", 5) != 0) {
            nlen = (size_t)(colon - p);
            for (i = 0; i < nlen; i++) {
                char c = p[i];
                name[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
            }
            v = colon + 1;
            ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
            lua_pushlstring(L, name, nlen);
            lua_pushvalue(L, -1);
            lua_rawget(L, -3);
            if (lua_isstring(L, -1)) { /* repeated header: join as HTTP allows */
                lua_pushliteral(L, ", ");
                lua_pushlstring(L, v, (size_t)(ve - v));
                lua_concat(L, 3);
            } else {
                lua_pop(L, 1);
                lua_pushlstring(L, v, (size_t)(ve - v));
            }
            lua_rawset(L, -3);
        }
        p = eol + 1;
    }
}

/* http:request{method=, url=, headers={name=value}, body=, timeout=,
 *              connect_timeout=, ca_file=, max_body=}
 *   -> {status=, headers=, body=} | nil, {kind=, message=} */
static int l_http_request(lua_State *L) {
    close_http *h = check_http(L);
    close_http_request r;
    close_http_response res;
    const char *kind, *message = NULL;
    const char **lines;
    size_t n = 0, cap = 0;
    luaL_checktype(L, 2, LUA_TTABLE);
    memset(&r, 0, sizeof r);
    r.method = str_field(L, 2, "method", NULL);
    r.url = str_field(L, 2, "url", NULL);
    if (!r.method || !r.url) return luaL_argerror(L, 2, "method and url are required");
    r.body = str_field(L, 2, "body", &r.body_len);
    r.ca_file = str_field(L, 2, "ca_file", NULL);
    r.timeout_ms = clamp_ms(num_field(L, 2, "timeout", 30));
    r.connect_timeout_ms = clamp_ms(num_field(L, 2, "connect_timeout", 10));
    {
        double mb = num_field(L, 2, "max_body", 1 << 20);
        r.max_body = !(mb > 0) ? 0 : mb > 1e12 ? (size_t)1e12 : (size_t)mb;
    }

    /* "Name: value" lines built on the Lua stack, kept alive in a table */
    lua_newtable(L); /* index 3 */
    if (close_getfield(L, 2, "headers") == LUA_TTABLE) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {
            if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
                lua_pushvalue(L, -2);
                lua_pushliteral(L, ": ");
                lua_pushvalue(L, -3);
                lua_concat(L, 3);
                lua_rawseti(L, 3, (int)++n);
            }
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    cap = n ? n : 1;
    lines = malloc(cap * sizeof *lines);
    if (!lines) return luaL_error(L, "out of memory");
    for (cap = 0; cap < n; cap++) {
        lua_rawgeti(L, 3, (int)cap + 1);
        lines[cap] = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    r.headers = lines;
    r.nheaders = n;
    kind = close_http_perform(h, &r, &res, &message);
    free(lines);
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
    lua_pushinteger(L, (lua_Integer)res.status);
    lua_setfield(L, -2, "status");
    push_headers(L, res.head, res.head_len);
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, res.body, res.body_len);
    lua_setfield(L, -2, "body");
    return 1;
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

static const luaL_Reg funcs[] = {
    {"validate_email", l_validate_email},
    {"validate_role", l_validate_role},
    {"validate_id", l_validate_id},
    {"check_base_url", l_check_base_url},
    {"auth_header", l_auth_header},
    {"urlencode", l_urlencode},
    {"status_kind", l_status_kind},
    {"is_retryable", l_is_retryable},
    {"ratelimit", l_ratelimit},
    {"wait_hint", l_wait_hint},
    {"retry_decide", l_retry_decide},
    {"now", l_now},
    {"random", l_random},
    {"sleep", l_sleep},
    {"http", l_http_new},
    {"curl_version", l_curl_version},
    {NULL, NULL},
};

#if defined(__GNUC__)
__attribute__((visibility("default")))
#endif
int luaopen_close_core(lua_State *L) {
    /* not thread-safe, but module loading runs before any request */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (luaL_newmetatable(L, HTTP_MT)) {
        lua_newtable(L);
        close_setfuncs(L, http_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_http_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, l_http_close);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    close_newlib(L, funcs);
    return 1;
}
