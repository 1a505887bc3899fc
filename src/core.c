/* close.core: the module table. The binding is split by object: lpure.c
 * (the pure parts: validation, requests, interpret, retry, wire, jitter),
 * lhttp.c (the blocking libcurl transport), lmulti.c (the concurrent one),
 * llocalio.c (token files, the login listener, signals, clocks); lutil.c
 * holds their helpers. They convert Lua values to the C structs of the pure
 * parts and the transports, and nothing else: policy lives in lua/close/
 * and the pure C files.
 *
 * Every entry point checks its arguments as the auxiliary library does and
 * raises a Lua error on misuse; tables are read with raw access (no
 * metamethod runs, and a string read from a table stays anchored by it);
 * scratch memory is a userdata, so an error anywhere leaks nothing. */
#include "defaults.h"
#include "lresp.h"
#include "lscim.h"
#include "lutil.h"
#include "sqlite_store.h"
#include "validate.h"
#include "wire.h"

/* functions of the module table itself; the parts add theirs below */
static const luaL_Reg funcs[] = {
    {NULL, NULL},
};

static void set_num(lua_State *L, const char *k, double v) {
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void set_str(lua_State *L, const char *k, const char *v) {
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

/* the defaults of every option (src/defaults.h), for the Lua side and the transports */
static void push_defaults(lua_State *L) {
    lua_newtable(L);
    set_str(L, "base_url", CLOSE_DEFAULT_BASE_URL);
    set_num(L, "timeout", CLOSE_DEFAULT_TIMEOUT);
    set_num(L, "connect_timeout", CLOSE_DEFAULT_CONNECT_TIMEOUT);
    set_num(L, "deadline", CLOSE_DEFAULT_DEADLINE);
    set_num(L, "max_retries", CLOSE_DEFAULT_MAX_RETRIES);
    set_num(L, "max_wait", CLOSE_DEFAULT_MAX_WAIT);
    set_num(L, "backoff_base", CLOSE_DEFAULT_BACKOFF_BASE);
    set_num(L, "max_body", CLOSE_DEFAULT_MAX_BODY);
    set_num(L, "max_seconds", CLOSE_MAX_SECONDS); /* no option in seconds is longer */
}

/* the wire limits (src/wire.h) and their messages */
static void push_limits(lua_State *L) {
    lua_newtable(L);
    set_num(L, "max_head", CLOSE_MAX_HEAD);
    set_num(L, "max_headers", CLOSE_MAX_HEADERS);
    set_num(L, "max_chunk_line", CLOSE_MAX_CHUNK_LINE);
    set_num(L, "max_interim", CLOSE_MAX_INTERIM);
    set_str(L, "head_too_large", CLOSE_MSG_HEAD_TOO_LARGE);
    set_str(L, "body_too_large", CLOSE_MSG_BODY_TOO_LARGE);
    set_str(L, "chunk_line_too_long", CLOSE_MSG_CHUNK_LINE_TOO_LONG);
}

/* ROLES: Close's predefined roles as a set, {admin = true, ...} (validate.c) */
static void push_roles(lua_State *L) {
    int i;
    lua_createtable(L, 0, CLOSE_PREDEFINED_ROLES);
    for (i = 0; i < CLOSE_PREDEFINED_ROLES; i++) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, close_predefined_roles[i]);
    }
}

/* BODY_METHODS: the methods whose requests carry a body, as a set (wire.c) */
static void push_body_methods(lua_State *L) {
    int i;
    lua_createtable(L, 0, CLOSE_BODY_METHODS);
    for (i = 0; i < CLOSE_BODY_METHODS; i++) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, close_body_methods[i]);
    }
}

#if defined(__GNUC__)
__attribute__((visibility("default")))
#endif
int luaopen_close_core(lua_State *L) {
    close_newlib(L, funcs);
    close_open_pure(L);
    close_open_http(L);
    close_open_multi(L);
    close_open_localio(L);
    close_open_scim(L);
    close_open_resp(L);
    close_store_register(L);

    push_defaults(L);
    lua_setfield(L, -2, "defaults");
    push_limits(L);
    lua_setfield(L, -2, "limits");
    push_roles(L);
    lua_setfield(L, -2, "ROLES");
    push_body_methods(L);
    lua_setfield(L, -2, "BODY_METHODS");
    return 1;
}
