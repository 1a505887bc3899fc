/* The binding of the concurrent libcurl transport (http_multi.c) as a
 * userdata: start transfers, wait for some to finish, cancel. */
#include <string.h>

#include "http_multi.h"
#include "lutil.h"

#define MULTI_MT "close.core.multi"

static close_multi *check_multi(lua_State *L) {
    close_multi *m = luaL_checkudata(L, 1, MULTI_MT);
    if (!close_multi_is_open(m)) luaL_error(L, "close.core.multi: the transport is closed");
    return m;
}

/* multi([max_host]) -> a concurrent transport */
static int l_multi_new(lua_State *L) {
    long max_host = lua_isnoneornil(L, 1) ? 0 : close_check_long(L, 1, 0, 10000);
    close_multi *m;
    lua_settop(L, 1);
    m = lua_newuserdata(L, sizeof *m);
    memset(m, 0, sizeof *m);
    close_setmetatable(L, MULTI_MT);
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
    close_read_request(L, 2, &r, &block, &blen);
    if (block) {
        /* parsed once per header block, shared by the transfers that send it */
        if ((why = close_multi_set_headers(m, block, blen)) != NULL) {
            if (strcmp(why, "out of memory") != 0) return luaL_argerror(L, 2, why);
            return close_push_fail(L, "network", why);
        }
        r.use_block = 1;
        list = NULL;
    } else if ((list = close_http_line_list(&r)) == NULL) {
        message = "out of memory";
    }
    if (!message && (id = close_multi_start(m, &r, list, &message)) > 0) {
        lua_pushinteger(L, id);
        return 1;
    }
    return close_push_fail(L, "network", message);
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
        k = close_push_outcome(L, kind, message, &res);
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
    long id = close_check_long(L, 2, 1, 2147483647L);
    lua_pushboolean(L, close_multi_cancel(m, id));
    return 1;
}

static int l_multi_running(lua_State *L) {
    lua_pushinteger(L, close_multi_running(check_multi(L)));
    return 1;
}

static const luaL_Reg multi_methods[] = {
    {"start", l_multi_start},
    {"wait", l_multi_wait},
    {"cancel", l_multi_cancel},
    {"running", l_multi_running},
    {"close", l_multi_close},
    {NULL, NULL},
};

static const luaL_Reg funcs[] = {
    {"multi", l_multi_new},
    {NULL, NULL},
};

void close_open_multi(lua_State *L) {
    close_new_class(L, MULTI_MT, multi_methods, l_multi_close);
    close_setfuncs(L, funcs);
}
