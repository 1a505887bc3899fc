/* close.core's SCIM filter functions (src/lscim.c), added to the module
 * table at the top of the stack by luaopen_close_core. */
#ifndef CLOSE_LSCIM_H
#define CLOSE_LSCIM_H

#include <lua.h>

void close_open_scim(lua_State *L);

#endif
