/* close.core's RESP2 reply parser (src/lresp.c), added to the module table
 * at the top of the stack by luaopen_close_core. */
#ifndef CLOSE_LRESP_H
#define CLOSE_LRESP_H

#include <lua.h>

void close_open_resp(lua_State *L);

#endif
