#include "lutil.h"

int close_push_fail(lua_State *L, const char *kind, const char *message) {
    if (kind == NULL && message == NULL) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushnil(L);
    if (kind == NULL) {
        lua_pushstring(L, message);
        return 2;
    }
    lua_createtable(L, 0, 2);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, message);
    lua_setfield(L, -2, "message");
    return 2;
}

char *close_scratch(lua_State *L, size_t n) {
    return lua_newuserdata(L, n ? n : 1);
}

long close_check_long(lua_State *L, int idx, long lo, long hi) {
    lua_Number v = luaL_checknumber(L, idx);
    if (!(v >= (lua_Number)lo && v <= (lua_Number)hi) || v != (lua_Number)(long)v)
        luaL_argerror(L, idx, lua_pushfstring(L, "expected a whole number from %d to %d", (int)lo, (int)hi));
    return (long)v;
}

int close_rawfield(lua_State *L, int t, const char *k) {
    lua_pushstring(L, k);
    lua_rawget(L, t);
    return lua_type(L, -1);
}

const char *close_opt_str_field(lua_State *L, int t, const char *k, size_t *len) {
    const char *s = NULL;
    int type = close_rawfield(L, t, k);
    if (type == LUA_TSTRING) s = lua_tolstring(L, -1, len);
    else if (type != LUA_TNIL) luaL_error(L, "field '%s' must be a string (got %s)", k, lua_typename(L, type));
    lua_pop(L, 1); /* the table keeps it alive */
    return s;
}

double close_opt_num_field(lua_State *L, int t, const char *k, double dflt) {
    double v = dflt;
    int type = close_rawfield(L, t, k);
    if (type == LUA_TNUMBER) v = (double)lua_tonumber(L, -1);
    else if (type != LUA_TNIL) luaL_error(L, "field '%s' must be a number (got %s)", k, lua_typename(L, type));
    lua_pop(L, 1);
    return v;
}

void close_set_number(lua_State *L, const char *k, double v) {
    if (v >= 0) {
        /* a whole number is an integer from Lua 5.3 on (999, not 999.0) */
        double most = sizeof(lua_Integer) >= 8 ? 9007199254740992.0 : 2147483647.0; /* no overflow in the cast */
        if (v <= most && v == (double)(lua_Integer)v) lua_pushinteger(L, (lua_Integer)v);
        else lua_pushnumber(L, v);
        lua_setfield(L, -2, k);
    }
}

void close_new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc) {
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
