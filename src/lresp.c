/* close.core.resp_parse(buffer, null): the first Redis reply in buffer as
 * Lua values, the way lua-resty-redis gives them (an error inside an array
 * is {false, message}; a null bulk string or array is the null argument):
 *   "value", value, bytes   a complete reply
 *   "error", message, bytes a complete error reply ("-ERR ...")
 *   "more", bytes           incomplete: at least that many more bytes needed
 *   "bad", reason           not RESP2 (or past the limits of resp.h) */
#include "compat.h"
#include "lresp.h"
#include "resp.h"

#define NULL_ARG 2

static void push_item(lua_State *L, const close_resp_item *items, size_t *i) {
    const close_resp_item *it = &items[(*i)++];
    long long k;
    switch (it->type) {
    case CLOSE_RESP_SIMPLE:
    case CLOSE_RESP_BULK: lua_pushlstring(L, it->s, it->len); break;
    case CLOSE_RESP_ERROR:
        lua_createtable(L, 2, 0);
        lua_pushboolean(L, 0);
        lua_rawseti(L, -2, 1);
        lua_pushlstring(L, it->s, it->len);
        lua_rawseti(L, -2, 2);
        break;
    case CLOSE_RESP_INTEGER:
#if LUA_VERSION_NUM >= 503
        lua_pushinteger(L, (lua_Integer)it->n);
#else
        lua_pushnumber(L, (lua_Number)it->n);
#endif
        break;
    case CLOSE_RESP_ARRAY:
        luaL_checkstack(L, 3, "reply nested too deeply");
        lua_createtable(L, it->n > 0 && it->n < 1 << 20 ? (int)it->n : 0, 0);
        for (k = 1; k <= it->n; k++) {
            push_item(L, items, i);
            lua_rawseti(L, -2, (int)k);
        }
        break;
    default: lua_pushvalue(L, NULL_ARG);
    }
}

static int l_resp_parse(lua_State *L) {
    size_t len, count, n, i = 0;
    const char *buf = luaL_checklstring(L, 1, &len), *why;
    const close_resp_limits *lim = &close_resp_default_limits;
    close_resp_item *items;
    close_resp_status st;
    lua_settop(L, NULL_ARG);
    st = close_resp_parse(buf, len, lim, NULL, 0, &count, &n, &why);
    if (st == CLOSE_RESP_MORE) {
        lua_pushliteral(L, "more");
        lua_pushinteger(L, (lua_Integer)n);
        return 2;
    }
    if (st == CLOSE_RESP_BAD) {
        lua_pushliteral(L, "bad");
        lua_pushstring(L, why);
        return 2;
    }
    /* counted: now the items themselves, in a userdata the GC frees */
    items = lua_newuserdata(L, count * sizeof *items);
    close_resp_parse(buf, len, lim, items, count, &count, &n, &why);
    if (items[0].type == CLOSE_RESP_ERROR) {
        lua_pushliteral(L, "error");
        lua_pushlstring(L, items[0].s, items[0].len);
    } else {
        lua_pushliteral(L, "value");
        push_item(L, items, &i);
    }
    lua_pushinteger(L, (lua_Integer)n);
    return 3;
}

static const luaL_Reg resp_funcs[] = {
    {"resp_parse", l_resp_parse},
    {NULL, NULL},
};

void close_open_resp(lua_State *L) { close_setfuncs(L, resp_funcs); }
