/* The SCIM bridge's embedded store: one SQLite file in WAL mode that every
 * nginx worker opens (each its own connection, after the fork), and the
 * audit file every worker appends to. See sqlite_store.h.
 *
 * Durability: journal_mode=WAL with synchronous=FULL, so a set() that
 * returned has been fsynced to the WAL: neither a kill -9 of the process nor
 * a power cut loses it. (NORMAL would survive a kill -9 too, since the WAL is
 * in the page cache before the call returns, but not a power cut; the
 * bridge's writes are paced by Close's rate limit, so one fsync each costs
 * nothing that matters.) Readers never wait for writers in WAL mode;
 * writers wait for each other up to busy_ms. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "compat.h"
#include "sqlite_store.h"

#define STORE_MT "close.core.sqlite"
#define APPEND_MT "close.core.append"
#define MAX_SIZE ((size_t)64 << 20) /* within SQLite's default limit and an int */

enum { ST_GET, ST_SET, ST_DEL, ST_SCAN_FROM, ST_SCAN_RANGE, ST_COUNT };

static const char *const SQL[ST_COUNT] = {
    "SELECT v FROM kv WHERE k = ?1",
    "INSERT INTO kv (k, v) VALUES (?1, ?2) ON CONFLICT (k) DO UPDATE SET v = excluded.v",
    "DELETE FROM kv WHERE k = ?1",
    "SELECT k, v FROM kv WHERE k >= ?1",
    "SELECT k, v FROM kv WHERE k >= ?1 AND k < ?2",
};

typedef struct {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
} store;

typedef struct {
    int fd;
} appender;

static const char *check_path(lua_State *L, int idx) {
    size_t len;
    const char *p = luaL_checklstring(L, idx, &len);
    luaL_argcheck(L, strlen(p) == len, idx, "a path must not contain NUL");
    return p;
}

static int push_fail(lua_State *L, const char *what, const char *why) {
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", what, why);
    return 2;
}

static void store_close(store *s) {
    int i;
    if (!s->db) return;
    for (i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(s->st[i]);
        s->st[i] = NULL;
    }
    sqlite3_close_v2(s->db);
    s->db = NULL;
}

/* The file is made 0600 before SQLite sees it (its -wal and -shm files take
 * the same mode): what a provider sends about people is no one else's. */
static const char *create_private(const char *path) {
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return strerror(errno);
    close(fd);
    return NULL;
}

static const char *store_init(store *s, const char *path, int busy_ms) {
    static const char *const setup =
        "PRAGMA journal_mode = WAL;"
        "PRAGMA synchronous = FULL;"
        "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;";
    int i, rc;
    const char *why = create_private(path);
    if (why) return why;
    rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) return s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
    sqlite3_busy_timeout(s->db, busy_ms);
    if (sqlite3_exec(s->db, setup, NULL, NULL, NULL) != SQLITE_OK) return sqlite3_errmsg(s->db);
    for (i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v2(s->db, SQL[i], -1, &s->st[i], NULL) != SQLITE_OK) return sqlite3_errmsg(s->db);
    }
    return NULL;
}

/* sqlite_open(path, busy_ms) -> store | nil, reason */
static int l_sqlite_open(lua_State *L) {
    const char *path = check_path(L, 1), *why;
    lua_Number busy = luaL_optnumber(L, 2, 5000);
    store *s;
    luaL_argcheck(L, busy >= 0 && busy <= 600000, 2, "busy_ms must be 0..600000");
    s = lua_newuserdata(L, sizeof *s);
    memset(s, 0, sizeof *s);
    close_setmetatable(L, STORE_MT);
    if ((why = store_init(s, path, (int)busy)) != NULL) {
        lua_pushfstring(L, "cannot open %s: %s", path, why);
        store_close(s);
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    return 1;
}

static store *check_store(lua_State *L) {
    store *s = luaL_checkudata(L, 1, STORE_MT);
    if (!s->db) luaL_error(L, "the store is closed");
    return s;
}

static sqlite3_stmt *bind_key(lua_State *L, store *s, int which) {
    size_t len;
    const char *k = luaL_checklstring(L, 2, &len);
    sqlite3_stmt *st = s->st[which];
    luaL_argcheck(L, len <= MAX_SIZE, 2, "a key of at most 64 MiB");
    sqlite3_reset(st);
    sqlite3_bind_blob(st, 1, k, (int)len, SQLITE_TRANSIENT);
    return st;
}

static void push_column(lua_State *L, sqlite3_stmt *st, int col) {
    const void *p = sqlite3_column_blob(st, col);
    lua_pushlstring(L, p ? (const char *)p : "", (size_t)sqlite3_column_bytes(st, col));
}

/* get(key) -> value | nil (absent) | nil, reason */
static int l_store_get(lua_State *L) {
    store *s = check_store(L);
    sqlite3_stmt *st = bind_key(L, s, ST_GET);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        push_column(L, st, 0);
        sqlite3_reset(st);
        return 1;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE) {
        lua_pushnil(L);
        return 1;
    }
    return push_fail(L, "get", sqlite3_errmsg(s->db));
}

/* Runs a write statement to its end: true | nil, reason. */
static int finish_write(lua_State *L, store *s, sqlite3_stmt *st, const char *what) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return push_fail(L, what, sqlite3_errmsg(s->db));
    lua_pushboolean(L, 1);
    return 1;
}

/* set(key, value) -> true | nil, reason (durable when it returns true) */
static int l_store_set(lua_State *L) {
    store *s = check_store(L);
    size_t len;
    const char *v = luaL_checklstring(L, 3, &len);
    sqlite3_stmt *st;
    luaL_argcheck(L, len <= MAX_SIZE, 3, "a value of at most 64 MiB");
    st = bind_key(L, s, ST_SET);
    sqlite3_bind_blob(st, 2, v, (int)len, SQLITE_TRANSIENT);
    return finish_write(L, s, st, "set");
}

/* delete(key) -> true | nil, reason (true also when it was absent) */
static int l_store_delete(lua_State *L) {
    store *s = check_store(L);
    return finish_write(L, s, bind_key(L, s, ST_DEL), "delete");
}

/* The smallest string above every string that starts with prefix: the last
 * byte below 0xff incremented, what follows it dropped; 0 when there is
 * none (a prefix of 0xff bytes only), so the scan has no upper bound. */
static size_t prefix_end(const char *p, size_t len, luaL_Buffer *b) {
    while (len > 0 && (unsigned char)p[len - 1] == 0xff) len--;
    if (len == 0) return 0;
    luaL_addlstring(b, p, len - 1);
    luaL_addchar(b, (char)((unsigned char)p[len - 1] + 1));
    return len;
}

/* scan(prefix) -> {key = value, ...} | nil, reason */
static int l_store_scan(lua_State *L) {
    store *s = check_store(L);
    size_t len, end_len;
    const char *p = luaL_checklstring(L, 2, &len);
    luaL_Buffer b;
    sqlite3_stmt *st;
    int rc;
    luaL_buffinit(L, &b);
    end_len = prefix_end(p, len, &b);
    luaL_pushresult(&b); /* index 3: the upper bound */
    st = bind_key(L, s, end_len ? ST_SCAN_RANGE : ST_SCAN_FROM);
    if (end_len) {
        size_t n;
        const char *e = lua_tolstring(L, 3, &n);
        sqlite3_bind_blob(st, 2, e, (int)n, SQLITE_TRANSIENT);
    }
    lua_newtable(L);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        push_column(L, st, 0);
        push_column(L, st, 1);
        lua_rawset(L, -3);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) return push_fail(L, "scan", sqlite3_errmsg(s->db));
    return 1;
}

static int l_store_close(lua_State *L) {
    store_close(luaL_checkudata(L, 1, STORE_MT));
    return 0;
}

/* ---- the audit file: O_APPEND, one write(2) per record ---- */

/* open_append(path) -> file | nil, reason (created with mode 0600) */
static int l_open_append(lua_State *L) {
    const char *path = check_path(L, 1);
    appender *a = lua_newuserdata(L, sizeof *a);
    a->fd = -1;
    close_setmetatable(L, APPEND_MT);
    a->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (a->fd < 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "cannot open %s: %s", path, strerror(errno));
        return 2;
    }
    return 1;
}

/* write(record) -> true | nil, reason. One write(2): with O_APPEND, records
 * of several processes never interleave; a short write (disk full) is an error. */
static int l_append_write(lua_State *L) {
    appender *a = luaL_checkudata(L, 1, APPEND_MT);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    ssize_t n;
    if (a->fd < 0) return push_fail(L, "write", "the file is closed");
    do {
        n = write(a->fd, data, len);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return push_fail(L, "write", strerror(errno));
    if ((size_t)n != len) return push_fail(L, "write", "short write");
    lua_pushboolean(L, 1);
    return 1;
}

static int l_append_close(lua_State *L) {
    appender *a = luaL_checkudata(L, 1, APPEND_MT);
    if (a->fd >= 0) close(a->fd);
    a->fd = -1;
    return 0;
}

static void add_class(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc) {
    luaL_newmetatable(L, name);
    lua_newtable(L);
    close_setfuncs(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
}

void close_store_register(lua_State *L) {
    static const luaL_Reg store_methods[] = {
        {"get", l_store_get},       {"set", l_store_set},     {"delete", l_store_delete},
        {"scan", l_store_scan},     {"close", l_store_close}, {NULL, NULL},
    };
    static const luaL_Reg append_methods[] = {
        {"write", l_append_write}, {"close", l_append_close}, {NULL, NULL},
    };
    add_class(L, STORE_MT, store_methods, l_store_close);
    add_class(L, APPEND_MT, append_methods, l_append_close);
    lua_pushcfunction(L, l_sqlite_open);
    lua_setfield(L, -2, "sqlite_open");
    lua_pushcfunction(L, l_open_append);
    lua_setfield(L, -2, "open_append");
}
