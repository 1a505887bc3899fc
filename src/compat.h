/* Every Lua version difference the binding needs, in one place, so the other
 * sources compile unchanged against Lua 5.1 (and LuaJIT), 5.2, 5.3 and 5.4. */
#ifndef CLOSE_COMPAT_H
#define CLOSE_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM < 502
/* Lua 5.1 / LuaJIT */
#define close_setfuncs(L, l) luaL_register((L), NULL, (l))
#define close_newlib(L, l) (lua_newtable(L), luaL_register((L), NULL, (l)))
static inline void close_setmetatable(lua_State *L, const char *tname) {
    luaL_getmetatable(L, tname);
    lua_setmetatable(L, -2);
}
#else
#define close_setfuncs(L, l) luaL_setfuncs((L), (l), 0)
#define close_newlib(L, l) luaL_newlib((L), (l))
#define close_setmetatable(L, tname) luaL_setmetatable((L), (tname))
#endif

#endif
