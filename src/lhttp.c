/* The binding of the blocking libcurl transport (http_curl.c) as a
 * userdata, and the request/response conversions the concurrent one
 * (lmulti.c) shares. */
#include <string.h>

#include "defaults.h"
#include "lutil.h"

#define HTTP_MT "close.core.http"

/* seconds to milliseconds for curl, within [1 ms, CLOSE_MAX_SECONDS] */
static long clamp_ms(double s) {
    if (!(s > 0.001)) return 1;
    return s > CLOSE_MAX_SECONDS ? (long)(CLOSE_MAX_SECONDS * 1000) : (long)(s * 1000);
}

/* one request header line, checked by the rule of wire.c */
static void check_header(lua_State *L, int k, int v) {
    size_t nlen, vlen;
    const char *name, *value, *why;
    if (lua_type(L, k) != LUA_TSTRING || (lua_type(L, v) != LUA_TSTRING && lua_type(L, v) != LUA_TNUMBER))
        luaL_error(L, "request headers must map names to strings");
    name = lua_tolstring(L, k, &nlen);
    value = lua_tolstring(L, v, &vlen);
    why = close_wire_check_header(name, nlen, value, vlen);
    if (why == CLOSE_WIRE_BAD_NAME) luaL_error(L, "request header names must be HTTP tokens");
    if (why) luaL_error(L, "request header '%s' has a CR, LF or NUL in its value", name);
}

/* The "Name: value" lines of a headers table, checked, into r; t is the
 * table that keeps them alive. */
static void read_header_table(lua_State *L, int idx, int t, close_http_request *r) {
    size_t n = 0, i;
    const char **lines;
    switch (close_rawfield(L, idx, "headers")) {
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
    lines = (const char **)(void *)close_scratch(L, (n ? n : 1) * sizeof *lines);
    lua_rawseti(L, t, 0); /* the scratch memory lives as long as the table */
    for (i = 0; i < n; i++) {
        lua_rawgeti(L, t, (int)i + 1);
        lines[i] = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    r->headers = lines;
    r->nheaders = n;
}

void close_read_request(lua_State *L, int idx, close_http_request *r, const char **block, size_t *blen) {
    size_t mlen, ulen, clen = 0;
    double mb;
    luaL_checktype(L, idx, LUA_TTABLE);
    memset(r, 0, sizeof *r);
    r->method = close_opt_str_field(L, idx, "method", &mlen);
    r->url = close_opt_str_field(L, idx, "url", &ulen);
    if (!r->method || !close_wire_is_token(r->method, mlen)) luaL_argerror(L, idx, "'method' must be an HTTP token");
    if (!r->url || strlen(r->url) != ulen || strpbrk(r->url, " \r\n\t"))
        luaL_argerror(L, idx, "'url' must be a URL without spaces, CR, LF or NUL");
    r->body = close_opt_str_field(L, idx, "body", &r->body_len);
    r->ca_file = close_opt_str_field(L, idx, "ca_file", &clen);
    if (r->ca_file && strlen(r->ca_file) != clen) luaL_argerror(L, idx, "'ca_file' must not contain NUL");
    r->timeout_ms = clamp_ms(close_opt_num_field(L, idx, "timeout", CLOSE_DEFAULT_TIMEOUT));
    r->connect_timeout_ms = clamp_ms(close_opt_num_field(L, idx, "connect_timeout", CLOSE_DEFAULT_CONNECT_TIMEOUT));
    mb = close_opt_num_field(L, idx, "max_body", CLOSE_DEFAULT_MAX_BODY);
    r->max_body = !(mb > 0) ? 0 : mb > 1e12 ? (size_t)1e12 : (size_t)mb;
    /* header_lines: the client's constant lines as one string */
    *block = close_opt_str_field(L, idx, "header_lines", blen);
    lua_newtable(L); /* keeps the "Name: value" strings alive */
    if (!*block) read_header_table(L, idx, lua_gettop(L), r);
}

int close_push_outcome(lua_State *L, const char *kind, const char *message, const close_http_response *res) {
    close_wire_head head;
    close_wire_field fields[CLOSE_MAX_HEADERS]; /* 8 KiB of stack: no allocation per response */
    if (!kind) {
        /* the head curl received, read by the rules both transports share */
        message = close_wire_parse_head(res->head, res->head_len, &head, fields, CLOSE_MAX_HEADERS);
        if (message == CLOSE_WIRE_INCOMPLETE) message = "the response head has no end";
        if (message) {
            kind = "protocol";
            message = close_head_reason(L, message, &head);
        }
    }
    if (kind) return close_push_fail(L, kind, message);
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, head.status);
    lua_setfield(L, -2, "status");
    close_push_fields(L, fields, head.nfields);
    lua_setfield(L, -2, "headers");
    lua_pushlstring(L, res->body, res->body_len);
    lua_setfield(L, -2, "body");
    return 1;
}

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
    close_read_request(L, 2, &r, &block, &blen);
    if (block) {
        /* its curl list is kept between calls */
        if ((why = close_http_set_headers(h, block, blen)) != NULL) return luaL_argerror(L, 2, why);
        r.use_block = 1;
    }
    kind = close_http_perform(h, &r, &res, &message);
    return close_push_outcome(L, kind, message, &res);
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
    {"http", l_http_new},
    {"curl_version", l_curl_version},
    {NULL, NULL},
};

void close_open_http(lua_State *L) {
    close_http_global_init();
    close_new_class(L, HTTP_MT, http_methods, l_http_close);
    close_setfuncs(L, funcs);
}
