/* close.core's SCIM functions: the filter and PATCH path parsers of
 * scim_filter.c to Lua tables (the AST of close.scim.filter) and Lua tables
 * back to the canonical text. Arenas are userdata, so a Lua error (out of
 * memory) leaks nothing.
 *   scim_parse(text, null) -> ast | nil, reason, position
 *   scim_path(text, null)  -> path | nil, reason, position
 *   scim_print(ast_or_path, null) -> text | nil, reason
 * null is the value that stands for JSON null (close.scim.filter.null). */
#include <math.h>
#include <string.h>

#include "compat.h"
#include "lscim.h"
#include "scim_filter.h"

#define NULL_ARG 2

static close_scim_arena *new_arena(lua_State *L, size_t nodes, size_t text) {
    close_scim_arena *a = lua_newuserdata(L, sizeof *a + nodes * sizeof(close_scim_node) + text + 1);
    close_scim_node *n = (close_scim_node *)(a + 1);
    *a = close_scim_arena_init(n, nodes, (char *)(n + nodes), text);
    return a;
}

/* ---- C tree -> Lua tables ---- */

static void set_str(lua_State *L, const char *k, close_scim_str s) {
    if (!s.s) return;
    lua_pushlstring(L, s.s, s.len);
    lua_setfield(L, -2, k);
}

static void push_attr(lua_State *L, const close_scim_attr *a) {
    lua_createtable(L, 0, 3);
    set_str(L, "schema", a->schema);
    set_str(L, "name", a->name);
    set_str(L, "sub", a->sub);
}

static void push_value(lua_State *L, const close_scim_node *n) {
    switch (n->kind) {
    case CLOSE_SCIM_STRING: lua_pushlstring(L, n->str.s, n->str.len); break;
    case CLOSE_SCIM_TRUE: lua_pushboolean(L, 1); break;
    case CLOSE_SCIM_FALSE: lua_pushboolean(L, 0); break;
    case CLOSE_SCIM_NULL: lua_pushvalue(L, NULL_ARG); break;
    default:
#if LUA_VERSION_NUM >= 503
        /* integers as integers (5 prints as 5), but not -0 */
        if (n->num > -9007199254740992.0 && n->num < 9007199254740992.0 && n->num == (double)(long long)n->num &&
            !(n->num == 0 && signbit(n->num))) {
            lua_pushinteger(L, (lua_Integer)n->num);
            break;
        }
#endif
        lua_pushnumber(L, n->num);
    }
}

static void push_node(lua_State *L, const close_scim_node *n) {
    luaL_checkstack(L, 4, "filter nested too deeply");
    lua_createtable(L, 0, 4);
    lua_pushstring(L, close_scim_op_name(n->op));
    lua_setfield(L, -2, "op");
    switch (n->op) {
    case CLOSE_SCIM_AND:
    case CLOSE_SCIM_OR:
        push_node(L, n->left);
        lua_setfield(L, -2, "left");
        push_node(L, n->right);
        lua_setfield(L, -2, "right");
        break;
    case CLOSE_SCIM_NOT:
        push_node(L, n->left);
        lua_setfield(L, -2, "expr");
        break;
    case CLOSE_SCIM_HAS:
        push_attr(L, &n->attr);
        lua_setfield(L, -2, "attr");
        push_node(L, n->left);
        lua_setfield(L, -2, "filter");
        if (n->right) {
            push_node(L, n->right);
            lua_setfield(L, -2, "test");
        }
        break;
    default:
        push_attr(L, &n->attr);
        lua_setfield(L, -2, "attr");
        if (n->op != CLOSE_SCIM_PR) {
            push_value(L, n);
            lua_setfield(L, -2, "value");
        }
    }
}

static int parse_error(lua_State *L, const close_scim_error *err) {
    lua_pushnil(L);
    lua_pushstring(L, err->reason);
    lua_pushinteger(L, (lua_Integer)err->pos);
    return 3;
}

static close_scim_arena *arena_for(lua_State *L, size_t len) {
    size_t nodes = len / 2 + 2; /* every node takes at least two bytes */
    if (nodes > CLOSE_SCIM_MAX_NODES) nodes = CLOSE_SCIM_MAX_NODES;
    if (len > CLOSE_SCIM_MAX_INPUT) len = CLOSE_SCIM_MAX_INPUT;
    return new_arena(L, nodes, len);
}

static int l_scim_parse(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    close_scim_arena *a;
    close_scim_error err;
    close_scim_node *n;
    lua_settop(L, NULL_ARG);
    a = arena_for(L, len);
    if (!(n = close_scim_parse_filter(s, len, a, &err))) return parse_error(L, &err);
    push_node(L, n);
    return 1;
}

static int l_scim_path(lua_State *L) {
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    close_scim_arena *a;
    close_scim_error err;
    close_scim_path p;
    lua_settop(L, NULL_ARG);
    a = arena_for(L, len);
    if (!close_scim_parse_path(s, len, a, &p, &err)) return parse_error(L, &err);
    push_attr(L, &p.attr);
    if (p.filter) {
        push_node(L, p.filter);
        lua_setfield(L, -2, "filter");
    }
    return 1;
}

/* ---- Lua tables -> C tree, for the printer ---- */

typedef struct {
    lua_State *L;
    close_scim_arena *a;
    const char *why;
} conv;

/* the string field k of the table at idx, or absent; why set if not a string */
static close_scim_str str_field(conv *c, int idx, const char *k, int required) {
    close_scim_str s = {NULL, 0};
    lua_getfield(c->L, idx, k);
    if (lua_type(c->L, -1) == LUA_TSTRING) s.s = lua_tolstring(c->L, -1, &s.len);
    else if (!lua_isnil(c->L, -1) || required) c->why = required ? "attribute name must be a string" : "schema and sub must be strings";
    lua_pop(c->L, 1); /* the string stays alive in the table */
    return s;
}

static void to_attr(conv *c, int idx, close_scim_attr *a) {
    if (!lua_istable(c->L, idx)) {
        c->why = "attr must be a table";
        return;
    }
    a->schema = str_field(c, idx, "schema", 0);
    a->name = str_field(c, idx, "name", 1);
    a->sub = str_field(c, idx, "sub", 0);
}

static void to_value(conv *c, close_scim_node *n) {
    lua_State *L = c->L;
    switch (lua_type(L, -1)) {
    case LUA_TSTRING:
        n->kind = CLOSE_SCIM_STRING;
        n->str.s = lua_tolstring(L, -1, &n->str.len);
        break;
    case LUA_TNUMBER:
        n->kind = CLOSE_SCIM_NUMBER;
        n->num = (double)lua_tonumber(L, -1);
        break;
    case LUA_TBOOLEAN: n->kind = lua_toboolean(L, -1) ? CLOSE_SCIM_TRUE : CLOSE_SCIM_FALSE; break;
    default:
        if (!lua_isnil(L, -1) && lua_rawequal(L, -1, NULL_ARG)) n->kind = CLOSE_SCIM_NULL;
        else c->why = "value must be a string, number, boolean or filter.null";
    }
}

static close_scim_node *to_node(conv *c, int idx);

/* the node in field k of the table at idx */
static close_scim_node *child(conv *c, int idx, const char *k) {
    close_scim_node *n;
    lua_getfield(c->L, idx, k);
    n = to_node(c, lua_gettop(c->L));
    lua_pop(c->L, 1);
    return n;
}

static close_scim_node *to_node(conv *c, int idx) {
    lua_State *L = c->L;
    close_scim_node *n;
    int op;
    size_t len;
    const char *name;
    if (c->why) return NULL;
    if (!lua_istable(L, idx)) return c->why = "a filter node must be a table", NULL;
    if (c->a->used >= c->a->cap) return c->why = "too many nodes", NULL;
    luaL_checkstack(L, 4, "filter nested too deeply");
    lua_getfield(L, idx, "op");
    name = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : "";
    for (op = CLOSE_SCIM_AND; op <= CLOSE_SCIM_HAS; op++)
        if (strcmp(name, close_scim_op_name((close_scim_op)op)) == 0) break;
    lua_pop(L, 1);
    if (op > CLOSE_SCIM_HAS) return c->why = "unknown op", NULL;
    n = &c->a->nodes[c->a->used++];
    memset(n, 0, sizeof *n);
    n->op = (close_scim_op)op;
    if (op == CLOSE_SCIM_AND || op == CLOSE_SCIM_OR) {
        n->left = child(c, idx, "left");
        n->right = child(c, idx, "right");
    } else if (op == CLOSE_SCIM_NOT) {
        n->left = child(c, idx, "expr");
    } else {
        lua_getfield(L, idx, "attr");
        to_attr(c, lua_gettop(L), &n->attr);
        lua_pop(L, 1);
        if (op == CLOSE_SCIM_HAS) {
            n->left = child(c, idx, "filter");
            lua_getfield(L, idx, "test");
            if (!lua_isnil(L, -1)) n->right = to_node(c, lua_gettop(L));
            lua_pop(L, 1);
        } else if (op != CLOSE_SCIM_PR) {
            lua_getfield(L, idx, "value");
            to_value(c, n);
            lua_pop(L, 1);
        }
    }
    return c->why ? NULL : n;
}

static int l_scim_print(lua_State *L) {
    conv c;
    close_scim_path p;
    close_scim_node *n = NULL;
    int is_path;
    size_t len;
    char *out;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, NULL_ARG);
    c.L = L;
    c.a = new_arena(L, CLOSE_SCIM_MAX_NODES, 0);
    c.why = NULL;
    lua_getfield(L, 1, "op");
    is_path = lua_isnil(L, -1);
    lua_pop(L, 1);
    memset(&p, 0, sizeof p);
    if (is_path) {
        to_attr(&c, 1, &p.attr);
        lua_getfield(L, 1, "filter");
        if (!lua_isnil(L, -1)) p.filter = to_node(&c, lua_gettop(L));
        lua_pop(L, 1);
    } else {
        n = to_node(&c, 1);
    }
    if (!c.why) {
        len = is_path ? close_scim_print_path(&p, NULL, 0, &c.why) : close_scim_print_filter(n, NULL, 0, &c.why);
        if (!c.why) {
            out = lua_newuserdata(L, len + 1);
            if (is_path) close_scim_print_path(&p, out, len + 1, &c.why);
            else close_scim_print_filter(n, out, len + 1, &c.why);
            lua_pushlstring(L, out, len);
            return 1;
        }
    }
    lua_pushnil(L);
    lua_pushstring(L, c.why);
    return 2;
}

static const luaL_Reg scim_funcs[] = {
    {"scim_parse", l_scim_parse},
    {"scim_path", l_scim_path},
    {"scim_print", l_scim_print},
    {NULL, NULL},
};

void close_open_scim(lua_State *L) {
    close_setfuncs(L, scim_funcs);
    lua_pushinteger(L, CLOSE_SCIM_MAX_INPUT);
    lua_setfield(L, -2, "scim_max_filter");
}
