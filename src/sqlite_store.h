/* The embedded key-value store of the SCIM bridge (SQLite in WAL mode, one
 * file shared by every nginx worker) and the append-only audit file, bound
 * to Lua as core.sqlite_open(path, busy_ms) and core.open_append(path). */
#ifndef CLOSE_SQLITE_STORE_H
#define CLOSE_SQLITE_STORE_H

#include <lua.h>

/* Adds sqlite_open and open_append to the table on top of the stack and
 * registers their metatables. */
void close_store_register(lua_State *L);

#endif
