/* The helpers every part of the Lua binding uses: argument checks as the
 * auxiliary library makes them, raw table reads, scratch memory owned by
 * the Lua stack, and the one way a failure is pushed. */
#ifndef CLOSE_LUTIL_H
#define CLOSE_LUTIL_H

#include <stddef.h>

#include "compat.h"
#include "http_curl.h"
#include "wire.h"

/* Pushes a failure and returns the count of values: nil and a reason when
 * kind is NULL (a check: `nil, "reason"`), else nil and {kind=, message=}
 * (a transport's error). With kind and message both NULL, pushes true: the
 * check passed. */
int close_push_fail(lua_State *L, const char *kind, const char *message);
#define close_push_check(L, reason) close_push_fail((L), NULL, (reason))

/* Scratch memory owned by the Lua stack (collected even if an error unwinds). */
char *close_scratch(lua_State *L, size_t n);

/* A whole number in [lo, hi] at idx; raises otherwise (luaL_checkinteger
 * would cast an out-of-range double, undefined in C, on Lua 5.1). */
long close_check_long(lua_State *L, int idx, long lo, long hi);

/* t[k] with raw access: its type, value pushed */
int close_rawfield(lua_State *L, int t, const char *k);

/* A string field (NULL when absent); any other type raises. The table keeps it alive. */
const char *close_opt_str_field(lua_State *L, int t, const char *k, size_t *len);

/* A number field, dflt when absent; any other type raises. */
double close_opt_num_field(lua_State *L, int t, const char *k, double dflt);

/* t[k] = v on the table at the top, when v >= 0 (absent otherwise); a whole
 * number as an integer. */
void close_set_number(lua_State *L, const char *k, double v);

/* A metatable with methods as __index and gc as __gc and __close. */
void close_new_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc);

/* Shared between the parts: the wire parser's fields as a Lua table (names
 * lower-cased, repeats joined), a wire reason with the line it refused, and
 * a request table read into the struct of the libcurl transports (a table
 * keeping header lines alive is pushed) and a transfer's outcome pushed. */
void close_push_fields(lua_State *L, const close_wire_field *f, size_t n);
const char *close_head_reason(lua_State *L, const char *why, const close_wire_head *head);
void close_read_request(lua_State *L, int idx, close_http_request *r, const char **block, size_t *blen);
int close_push_outcome(lua_State *L, const char *kind, const char *message, const close_http_response *res);

#define CLOSE_RNG_MT "close.core.rng"

/* The parts of the binding, each adding its functions to the module table
 * at the top of the stack. */
void close_open_pure(lua_State *L);    /* lpure.c: validation, requests, interpret, retry, wire, clock */
void close_open_http(lua_State *L);    /* lhttp.c: the blocking libcurl transport */
void close_open_multi(lua_State *L);   /* lmulti.c: the concurrent one */
void close_open_localio(lua_State *L); /* llocalio.c: token files, the login listener, signals */

#endif
