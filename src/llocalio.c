/* The binding of local I/O (localio.c): the token file, the login's
 * loopback listener, signals, the terminal, and the clocks and sleep. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "defaults.h"
#include "localio.h"
#include "lutil.h"

#define LISTENER_MT "close.core.listener"

static const char *check_path(lua_State *L, int idx) {
    size_t len;
    const char *p = luaL_checklstring(L, idx, &len);
    if (strlen(p) != len) luaL_argerror(L, idx, "a path must not contain NUL");
    return p;
}

/* write_private(path, data) -> true | nil, reason */
static int l_write_private(lua_State *L) {
    size_t len;
    const char *path = check_path(L, 1), *data = luaL_checklstring(L, 2, &len);
    lua_settop(L, 2);
    return close_push_check(L, close_write_private(path, data, len));
}

/* check_private(path) -> true | nil, reason ("missing" when absent) */
static int l_check_private(lua_State *L) {
    const char *path = check_path(L, 1);
    lua_settop(L, 1);
    return close_push_check(L, close_check_private(path));
}

/* mkdir_private(path) -> true | nil, reason (mode 0700; an existing directory is fine) */
static int l_mkdir_private(lua_State *L) {
    const char *path = check_path(L, 1);
    lua_settop(L, 1);
    return close_push_check(L, close_mkdir_private(path));
}

/* catch_signals(): SIGINT/SIGTERM set a flag (see localio.h) */
static int l_catch_signals(lua_State *L) {
    (void)L;
    close_catch_signals();
    return 0;
}

/* caught_signal() -> "SIGINT" | "SIGTERM" | false */
static int l_caught_signal(lua_State *L) {
    int sig = close_caught_signal();
    if (sig == SIGINT) lua_pushliteral(L, "SIGINT");
    else if (sig == SIGTERM) lua_pushliteral(L, "SIGTERM");
    else lua_pushboolean(L, 0);
    return 1;
}

static int l_isatty(lua_State *L) {
    lua_pushboolean(L, close_isatty((int)close_check_long(L, 1, 0, 1024)));
    return 1;
}

static close_listener *check_listener(lua_State *L) {
    return luaL_checkudata(L, 1, LISTENER_MT);
}

/* listen(port) -> listener | nil, reason: one loopback port for a redirect */
static int l_listen(lua_State *L) {
    int port = (int)close_check_long(L, 1, 0, 65535);
    close_listener *l;
    const char *why;
    lua_settop(L, 1);
    l = lua_newuserdata(L, sizeof *l);
    l->fd = -1;
    close_setmetatable(L, LISTENER_MT);
    if ((why = close_listen(l, port)) != NULL) return close_push_check(L, why);
    return 1;
}

static int l_listener_port(lua_State *L) {
    lua_pushinteger(L, check_listener(L)->port);
    return 1;
}

/* listener:accept(timeout, status, html) -> request target | nil, reason */
static int l_listener_accept(lua_State *L) {
    close_listener *l = check_listener(L);
    double timeout = (double)luaL_checknumber(L, 2);
    int status = (int)close_check_long(L, 3, 200, 599);
    const char *body = luaL_checkstring(L, 4);
    char *target = close_scratch(L, 4096);
    const char *why;
    lua_settop(L, 4);
    why = close_accept_once(l, timeout, status, body, target, 4096);
    if (why) return close_push_check(L, why);
    lua_pushstring(L, target);
    return 1;
}

static int l_listener_close(lua_State *L) {
    close_listener_close(check_listener(L));
    return 0;
}

/* ---- clocks and sleep ---- */

static int l_now(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

/* wall-clock seconds since the epoch, fractional (os.time has whole seconds,
 * too coarse for a token that lives two seconds) */
static int l_time(lua_State *L) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
    return 1;
}

static int l_sleep(lua_State *L) {
    double s = (double)luaL_checknumber(L, 1);
    struct timespec ts;
    if (!(s > 0)) return 0; /* NaN too */
    if (s > CLOSE_MAX_SECONDS) s = CLOSE_MAX_SECONDS;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    return 0;
}

static const luaL_Reg listener_methods[] = {
    {"port", l_listener_port},
    {"accept", l_listener_accept},
    {"close", l_listener_close},
    {NULL, NULL},
};

static const luaL_Reg funcs[] = {
    {"write_private", l_write_private},
    {"check_private", l_check_private},
    {"mkdir_private", l_mkdir_private},
    {"listen", l_listen},
    {"catch_signals", l_catch_signals},
    {"caught_signal", l_caught_signal},
    {"isatty", l_isatty},
    {"now", l_now},
    {"time", l_time},
    {"sleep", l_sleep},
    {NULL, NULL},
};

void close_open_localio(lua_State *L) {
    close_new_class(L, LISTENER_MT, listener_methods, l_listener_close);
    close_setfuncs(L, funcs);
}
