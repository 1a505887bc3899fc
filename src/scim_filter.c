/* SCIM filters and PATCH paths: a recursive-descent parser (or < and < not,
 * left-associative) and the canonical printer. See scim_filter.h. */
#include "scim_filter.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const OP_NAMES[] = {"and", "or", "not", "pr", "eq", "ne", "co", "sw",
                                       "ew",  "gt", "ge",  "lt", "le", "has"};

const char *close_scim_op_name(close_scim_op op) { return OP_NAMES[op]; }

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }
static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(int c) { return c >= '0' && c <= '9'; }
static int is_ws(int c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

/* s[0..len) equals the lowercase word w, in any case */
static int word_is(const char *s, size_t len, const char *w) {
    size_t i;
    if (strlen(w) != len) return 0;
    for (i = 0; i < len; i++)
        if (lower((unsigned char)s[i]) != w[i]) return 0;
    return 1;
}

int close_scim_op_from(const char *s, size_t len) {
    int op;
    for (op = CLOSE_SCIM_PR; op <= CLOSE_SCIM_LE; op++)
        if (word_is(s, len, OP_NAMES[op])) return op;
    return -1;
}

/* ATTRNAME = ALPHA *(ALPHA / DIGIT / "-" / "_"), and "$ref" (RFC 7643 2.4) */
int close_scim_valid_name(const char *s, size_t len) {
    size_t i;
    if (!s || len == 0) return 0;
    if (word_is(s, len, "$ref")) return 1;
    if (!is_alpha((unsigned char)s[0])) return 0;
    for (i = 1; i < len; i++) {
        int c = (unsigned char)s[i];
        if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '_') return 0;
    }
    return 1;
}

/* "urn:" and URN characters, not ending in ':' */
int close_scim_valid_schema(const char *s, size_t len) {
    size_t i;
    if (!s || len <= 4 || !word_is(s, 4, "urn:") || s[len - 1] == ':') return 0;
    for (i = 4; i < len; i++) {
        int c = (unsigned char)s[i];
        if (!is_alpha(c) && !is_digit(c) && !strchr("-._:~+%/@", c)) return 0;
    }
    return 1;
}

/* ---- the parser ---- */

typedef struct {
    const char *in;
    size_t len, i;
    close_scim_arena *a;
    close_scim_error *err;
    int depth;
    int in_value_path;
} parser;

static void *fail(parser *p, size_t at, const char *reason) {
    if (!p->err->reason) {
        p->err->pos = at + 1;
        p->err->reason = reason;
    }
    return NULL;
}

static close_scim_node *new_node(parser *p, close_scim_op op) {
    close_scim_node *n;
    if (p->a->used >= p->a->cap) return fail(p, p->i, "too many terms");
    n = &p->a->nodes[p->a->used++];
    memset(n, 0, sizeof *n);
    n->op = op;
    return n;
}

static void skip_ws(parser *p) {
    while (p->i < p->len && is_ws((unsigned char)p->in[p->i])) p->i++;
}

/* a word ends at whitespace, a bracket, a parenthesis or a quote */
static int word_char(int c) { return !is_ws(c) && !strchr("()[]\"", c) && c != '\0'; }

static close_scim_str read_word(parser *p) {
    close_scim_str w;
    w.s = p->in + p->i;
    while (p->i < p->len && word_char((unsigned char)p->in[p->i])) p->i++;
    w.len = (size_t)(p->in + p->i - w.s);
    return w;
}

/* the word at the cursor, without consuming it */
static close_scim_str peek_word(parser *p) {
    size_t save = p->i;
    close_scim_str w;
    skip_ws(p);
    w = read_word(p);
    p->i = save;
    return w;
}

/* [URN ":"] ATTRNAME ["." ATTRNAME] from one word starting at offset at */
static int split_attr(parser *p, close_scim_str w, size_t at, close_scim_attr *out) {
    const char *rest = w.s, *end = w.s + w.len, *dot, *c;
    memset(out, 0, sizeof *out);
    if (w.len == 0) return !!fail(p, at, "expected an attribute name");
    if (w.len > 4 && word_is(w.s, 4, "urn:")) {
        for (c = end; c > w.s && c[-1] != ':'; c--) {}
        out->schema.s = w.s;
        out->schema.len = (size_t)(c - 1 - w.s);
        if (!close_scim_valid_schema(out->schema.s, out->schema.len)) return !!fail(p, at, "invalid schema URN");
        rest = c;
    }
    dot = memchr(rest, '.', (size_t)(end - rest));
    out->name.s = rest;
    out->name.len = (size_t)((dot ? dot : end) - rest);
    if (!close_scim_valid_name(out->name.s, out->name.len))
        return !!fail(p, at + (size_t)(rest - w.s), "invalid attribute name");
    if (dot) {
        out->sub.s = dot + 1;
        out->sub.len = (size_t)(end - dot - 1);
        if ((c = memchr(out->sub.s, '.', out->sub.len)))
            return !!fail(p, at + (size_t)(c - w.s), "at most one sub-attribute");
        if (!close_scim_valid_name(out->sub.s, out->sub.len))
            return !!fail(p, at + (size_t)(dot + 1 - w.s), "invalid sub-attribute name");
    }
    return 1;
}

static int hex4(const char *s, unsigned *out) {
    int k;
    *out = 0;
    for (k = 0; k < 4; k++) {
        int c = lower((unsigned char)s[k]);
        *out <<= 4;
        if (is_digit(c)) *out |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') *out |= (unsigned)(c - 'a' + 10);
        else return 0;
    }
    return 1;
}

static void put_utf8(char *o, size_t *n, unsigned cp) {
    if (cp < 0x80) {
        o[(*n)++] = (char)cp;
    } else if (cp < 0x800) {
        o[(*n)++] = (char)(0xC0 | (cp >> 6));
        o[(*n)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        o[(*n)++] = (char)(0xE0 | (cp >> 12));
        o[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[(*n)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        o[(*n)++] = (char)(0xF0 | (cp >> 18));
        o[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[(*n)++] = (char)(0x80 | (cp & 0x3F));
    }
}

/* \uXXXX at in[*i] (after the backslash-u), with a surrogate pair's second half */
static int unicode_escape(parser *p, size_t *i, unsigned *cp) {
    unsigned lo;
    if (*i + 4 > p->len || !hex4(p->in + *i, cp)) return !!fail(p, *i - 2, "invalid \\u escape");
    *i += 4;
    if (*cp >= 0xDC00 && *cp <= 0xDFFF) return !!fail(p, *i - 6, "lone surrogate in \\u escape");
    if (*cp >= 0xD800 && *cp <= 0xDBFF) {
        if (*i + 6 > p->len || p->in[*i] != '\\' || p->in[*i + 1] != 'u' || !hex4(p->in + *i + 2, &lo) ||
            lo < 0xDC00 || lo > 0xDFFF)
            return !!fail(p, *i - 6, "lone surrogate in \\u escape");
        *cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
        *i += 6;
    }
    return 1;
}

/* a JSON string at the cursor (on the quote), decoded into the arena */
static int read_string(parser *p, close_scim_str *out) {
    char *o = p->a->text + p->a->text_used;
    size_t n = 0, i = p->i + 1, room = p->a->text_cap - p->a->text_used;
    while (i < p->len && p->in[i] != '"') {
        unsigned char c = (unsigned char)p->in[i];
        unsigned cp;
        if (n + 4 > room) return !!fail(p, i, "too much text");
        if (c < 0x20) return !!fail(p, i, "control character in a string");
        if (c != '\\') {
            o[n++] = (char)c;
            i++;
            continue;
        }
        if (++i >= p->len) break;
        c = (unsigned char)p->in[i++];
        switch (c) {
        case '"': case '\\': case '/': o[n++] = (char)c; break;
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'n': o[n++] = '\n'; break;
        case 'r': o[n++] = '\r'; break;
        case 't': o[n++] = '\t'; break;
        case 'u':
            if (!unicode_escape(p, &i, &cp)) return 0;
            put_utf8(o, &n, cp);
            break;
        default: return !!fail(p, i - 2, "invalid escape in a string");
        }
    }
    if (i >= p->len) return !!fail(p, p->i, "unterminated string");
    out->s = o;
    out->len = n;
    p->a->text_used += n;
    p->i = i + 1;
    return 1;
}

/* JSON number syntax: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static int json_number(const char *s, size_t len) {
    size_t i = 0, d;
    if (i < len && s[i] == '-') i++;
    if (i < len && s[i] == '0') i++;
    else if (i < len && s[i] >= '1' && s[i] <= '9') while (i < len && is_digit((unsigned char)s[i])) i++;
    else return 0;
    if (i < len && s[i] == '.') {
        for (d = ++i; i < len && is_digit((unsigned char)s[i]); i++) {}
        if (i == d) return 0;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) i++;
        for (d = i; i < len && is_digit((unsigned char)s[i]); i++) {}
        if (i == d) return 0;
    }
    return i == len;
}

/* compValue: a JSON string, number, true/false/null (any case) or a bareword */
static int read_value(parser *p, close_scim_node *n) {
    size_t at;
    close_scim_str w;
    char buf[400];
    skip_ws(p);
    at = p->i;
    if (p->i < p->len && p->in[p->i] == '"') {
        n->kind = CLOSE_SCIM_STRING;
        return read_string(p, &n->str);
    }
    w = read_word(p);
    if (w.len == 0) return !!fail(p, at, "expected a value");
    if (word_is(w.s, w.len, "true")) n->kind = CLOSE_SCIM_TRUE;
    else if (word_is(w.s, w.len, "false")) n->kind = CLOSE_SCIM_FALSE;
    else if (word_is(w.s, w.len, "null")) n->kind = CLOSE_SCIM_NULL;
    else if (json_number(w.s, w.len)) {
        if (w.len >= sizeof buf) return !!fail(p, at, "number too long");
        memcpy(buf, w.s, w.len);
        buf[w.len] = '\0';
        n->kind = CLOSE_SCIM_NUMBER;
        n->num = strtod(buf, NULL);
        if (!isfinite(n->num)) return !!fail(p, at, "number out of range");
    } else {
        n->kind = CLOSE_SCIM_STRING; /* liberal: an unquoted value */
        n->str = w;
    }
    return 1;
}

static close_scim_node *parse_or(parser *p);

/* attr[valFilter] with the cursor on '[' */
static close_scim_node *value_path(parser *p, const close_scim_attr *attr, size_t at) {
    close_scim_node *n, *f;
    if (p->in_value_path) return fail(p, p->i, "a value path inside a value path");
    if (attr->sub.s) return fail(p, at, "a value path's attribute has no sub-attribute");
    p->i++;
    p->in_value_path = 1;
    f = parse_or(p);
    if (!f) return NULL;
    skip_ws(p);
    if (p->i >= p->len || p->in[p->i] != ']') return fail(p, p->i, "expected ']'");
    p->i++;
    p->in_value_path = 0;
    if (!(n = new_node(p, CLOSE_SCIM_HAS))) return NULL;
    n->attr = *attr;
    n->left = f;
    return n;
}

/* after attr: "pr" / compareOp compValue */
static close_scim_node *comparison(parser *p, const close_scim_attr *attr) {
    close_scim_node *n;
    close_scim_str w;
    size_t at;
    int op;
    skip_ws(p);
    at = p->i;
    w = read_word(p);
    if ((op = close_scim_op_from(w.s, w.len)) < 0)
        return fail(p, at, w.len ? "unknown operator (eq ne co sw ew gt ge lt le pr)"
                                 : "expected an operator (eq ne co sw ew gt ge lt le pr)");
    if (!(n = new_node(p, (close_scim_op)op))) return NULL;
    n->attr = *attr;
    if (op != CLOSE_SCIM_PR && !read_value(p, n)) return NULL;
    return n;
}

/* attrPath "pr" / attrPath compareOp compValue / valuePath ["." subAttr ("pr" / compareOp compValue)] */
static close_scim_node *attr_exp(parser *p) {
    close_scim_attr attr;
    close_scim_node *n;
    size_t at = p->i;
    if (!split_attr(p, read_word(p), at, &attr)) return NULL;
    skip_ws(p);
    if (p->i < p->len && p->in[p->i] == '[') {
        if (!(n = value_path(p, &attr, at))) return NULL;
        if (p->i < p->len && p->in[p->i] == '.') {
            memset(&attr, 0, sizeof attr);
            at = ++p->i;
            attr.name = read_word(p);
            if (!close_scim_valid_name(attr.name.s, attr.name.len))
                return fail(p, at, "invalid sub-attribute name after ']'");
            if (!(n->right = comparison(p, &attr))) return NULL;
        }
        return n;
    }
    return comparison(p, &attr);
}

/* "(" filter ")" / "not" ["("] filter [")"] / attrExp / valuePath */
static close_scim_node *parse_unary(parser *p) {
    close_scim_node *n = NULL, *e;
    close_scim_str w;
    size_t at;
    if (++p->depth > CLOSE_SCIM_MAX_DEPTH) return fail(p, p->i, "nested too deeply");
    skip_ws(p);
    at = p->i;
    if (p->i >= p->len) {
        n = fail(p, at, "expected a filter after this");
    } else if (p->in[p->i] == '(') {
        p->i++;
        if ((n = parse_or(p))) {
            skip_ws(p);
            if (p->i < p->len && p->in[p->i] == ')') p->i++;
            else n = fail(p, p->i, "expected ')'");
        }
    } else if (p->in[p->i] == ')' || p->in[p->i] == ']' || p->in[p->i] == '[' || p->in[p->i] == '"') {
        n = fail(p, at, "expected an attribute name, '(' or 'not'");
    } else {
        w = read_word(p);
        /* "not" is an attribute name only when an operator follows it */
        if (word_is(w.s, w.len, "not") && close_scim_op_from(peek_word(p).s, peek_word(p).len) < 0) {
            /* "not (" is one level, as deep as "not x": the printer writes "not (x)" */
            int shared;
            skip_ws(p);
            shared = p->i < p->len && p->in[p->i] == '(';
            p->depth -= shared;
            if ((e = parse_unary(p)) && (n = new_node(p, CLOSE_SCIM_NOT))) n->left = e;
            p->depth += shared;
        } else {
            p->i = at;
            n = attr_exp(p);
        }
    }
    p->depth--;
    return n;
}

/* left-associative chains: and binds tighter than or */
static close_scim_node *chain(parser *p, int op) {
    close_scim_node *left = op == CLOSE_SCIM_OR ? chain(p, CLOSE_SCIM_AND) : parse_unary(p), *right, *n;
    while (left) {
        size_t save = p->i;
        close_scim_str w;
        skip_ws(p);
        w = read_word(p);
        if (!word_is(w.s, w.len, OP_NAMES[op])) {
            p->i = save;
            break;
        }
        if (!(right = op == CLOSE_SCIM_OR ? chain(p, CLOSE_SCIM_AND) : parse_unary(p))) return NULL;
        if (!(n = new_node(p, (close_scim_op)op))) return NULL;
        n->left = left;
        n->right = right;
        left = n;
    }
    return left;
}

static close_scim_node *parse_or(parser *p) { return chain(p, CLOSE_SCIM_OR); }

/* UTF-8 without overlongs, surrogates or code points past U+10FFFF; no NUL */
static size_t bad_utf8(const char *s, size_t len) {
    size_t i = 0, k, n;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        unsigned cp;
        if (c == 0) return i + 1;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) { n = 1; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { n = 2; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { n = 3; cp = c & 0x07; }
        else return i + 1;
        for (k = 1; k <= n; k++) {
            if (i + k >= len || ((unsigned char)s[i + k] & 0xC0) != 0x80) return i + 1;
            cp = (cp << 6) | ((unsigned char)s[i + k] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
            return i + 1;
        i += n + 1;
    }
    return 0;
}

static int start(parser *p, const char *in, size_t len, close_scim_arena *a, close_scim_error *err) {
    size_t bad;
    memset(p, 0, sizeof *p);
    p->in = in;
    p->len = len;
    p->a = a;
    p->err = err;
    err->pos = 0;
    err->reason = NULL;
    if (len > CLOSE_SCIM_MAX_INPUT) return !!fail(p, CLOSE_SCIM_MAX_INPUT, "longer than 8192 bytes");
    if ((bad = bad_utf8(in, len))) return !!fail(p, bad - 1, "not UTF-8 text");
    if (a->text_cap < len) return !!fail(p, 0, "arena too small");
    return 1;
}

close_scim_arena close_scim_arena_init(close_scim_node *nodes, size_t cap, char *text, size_t text_cap) {
    close_scim_arena a;
    a.nodes = nodes;
    a.cap = cap;
    a.used = 0;
    a.text = text;
    a.text_cap = text_cap;
    a.text_used = 0;
    return a;
}

close_scim_node *close_scim_parse_filter(const char *in, size_t len, close_scim_arena *a, close_scim_error *err) {
    parser p;
    close_scim_node *n;
    if (!start(&p, in, len, a, err)) return NULL;
    skip_ws(&p);
    if (p.i == p.len) return fail(&p, 0, "empty filter");
    if (!(n = parse_or(&p))) return NULL;
    skip_ws(&p);
    if (p.i < p.len) return fail(&p, p.i, p.in[p.i] == ')' ? "unbalanced ')'" : "expected 'and', 'or' or the end");
    return n;
}

int close_scim_parse_path(const char *in, size_t len, close_scim_arena *a, close_scim_path *out,
                          close_scim_error *err) {
    parser p;
    close_scim_node *n;
    close_scim_str w;
    size_t at;
    memset(out, 0, sizeof *out);
    if (!start(&p, in, len, a, err)) return 0;
    skip_ws(&p);
    at = p.i;
    if (p.i >= p.len) return !!fail(&p, at, "empty path");
    if (!split_attr(&p, read_word(&p), at, &out->attr)) return 0;
    if (p.i < p.len && p.in[p.i] == '[') {
        if (!(n = value_path(&p, &out->attr, at))) return 0;
        out->filter = n->left;
        if (p.i < p.len && p.in[p.i] == '.') {
            at = ++p.i;
            w = read_word(&p);
            if (!close_scim_valid_name(w.s, w.len)) return !!fail(&p, at, "invalid sub-attribute name");
            out->attr.sub = w;
        }
    }
    skip_ws(&p);
    if (p.i < p.len) return !!fail(&p, p.i, "unexpected text after the path");
    return 1;
}

/* ---- the printer ---- */

typedef struct {
    char *out;
    size_t cap, len;
    const char *why;
} sink;

static void put(sink *k, const char *s, size_t n) {
    size_t i;
    for (i = 0; i < n; i++, k->len++)
        if (k->len + 1 < k->cap) k->out[k->len] = s[i];
}

static void puts_(sink *k, const char *s) { put(k, s, strlen(s)); }

static void put_string(sink *k, close_scim_str s) {
    size_t i;
    char esc[8];
    puts_(k, "\"");
    for (i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.s[i];
        const char *e = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '\r' ? "\\r"
                      : c == '\t' ? "\\t" : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
        if (e) puts_(k, e);
        else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            puts_(k, esc);
        } else put(k, (const char *)&c, 1);
    }
    puts_(k, "\"");
}

/* the shortest %g form that reads back as the same double */
static void put_number(sink *k, double v) {
    char b[40];
    int prec;
    if (!isfinite(v)) {
        k->why = "number is not finite";
        return;
    }
    for (prec = 15; prec <= 17; prec++) {
        snprintf(b, sizeof b, "%.*g", prec, v);
        if (strtod(b, NULL) == v) break;
    }
    puts_(k, b);
}

static void put_attr(sink *k, const close_scim_attr *a) {
    if (a->schema.s) {
        if (!close_scim_valid_schema(a->schema.s, a->schema.len)) k->why = "invalid schema URN";
        put(k, a->schema.s, a->schema.len);
        puts_(k, ":");
    }
    if (!close_scim_valid_name(a->name.s, a->name.len)) k->why = "invalid attribute name";
    put(k, a->name.s, a->name.len);
    if (a->sub.s) {
        if (!close_scim_valid_name(a->sub.s, a->sub.len)) k->why = "invalid sub-attribute name";
        puts_(k, ".");
        put(k, a->sub.s, a->sub.len);
    }
}

static int prec(const close_scim_node *n) { return n->op == CLOSE_SCIM_OR ? 1 : n->op == CLOSE_SCIM_AND ? 2 : 3; }

static void print_node(sink *k, const close_scim_node *n, int depth, int in_vp);

/* attr "pr" / attr op value */
static void print_test(sink *k, const close_scim_node *n) {
    if ((int)n->op < CLOSE_SCIM_PR || n->op > CLOSE_SCIM_LE) {
        k->why = "unknown operator";
        return;
    }
    put_attr(k, &n->attr);
    puts_(k, " ");
    puts_(k, OP_NAMES[n->op]);
    if (n->op == CLOSE_SCIM_PR) return;
    puts_(k, " ");
    switch (n->kind) {
    case CLOSE_SCIM_STRING: put_string(k, n->str); break;
    case CLOSE_SCIM_NUMBER: put_number(k, n->num); break;
    case CLOSE_SCIM_TRUE: puts_(k, "true"); break;
    case CLOSE_SCIM_FALSE: puts_(k, "false"); break;
    default: puts_(k, "null"); break;
    }
}

/* ".sub op value" after a value path's ']' */
static void print_element_test(sink *k, const close_scim_node *t) {
    if (t->attr.schema.s || t->attr.sub.s) k->why = "the test after a value path names one sub-attribute";
    puts_(k, ".");
    print_test(k, t);
}

static void print_child(sink *k, const close_scim_node *c, int paren, int depth, int in_vp) {
    if (paren) puts_(k, "(");
    print_node(k, c, depth + 1, in_vp);
    if (paren) puts_(k, ")");
}

static void print_node(sink *k, const close_scim_node *n, int depth, int in_vp) {
    if (k->why) return;
    if (!n || depth > CLOSE_SCIM_MAX_NODES) {
        k->why = n ? "nested too deeply" : "missing operand";
        return;
    }
    switch (n->op) {
    case CLOSE_SCIM_AND:
    case CLOSE_SCIM_OR:
        if (!n->left || !n->right) {
            k->why = "missing operand";
            return;
        }
        print_child(k, n->left, prec(n->left) < prec(n), depth, in_vp);
        puts_(k, n->op == CLOSE_SCIM_AND ? " and " : " or ");
        print_child(k, n->right, prec(n->right) <= prec(n), depth, in_vp);
        break;
    case CLOSE_SCIM_NOT:
        puts_(k, "not ");
        print_child(k, n->left, 1, depth, in_vp);
        break;
    case CLOSE_SCIM_HAS:
        put_attr(k, &n->attr);
        if (n->attr.sub.s) k->why = "a value path's attribute has no sub-attribute";
        if (in_vp) k->why = "a value path inside a value path";
        puts_(k, "[");
        print_node(k, n->left, depth + 1, 1);
        puts_(k, "]");
        if (n->right) print_element_test(k, n->right);
        break;
    default: print_test(k, n);
    }
}

static size_t finish(sink *k, const char **why) {
    if (k->cap > 0) k->out[k->len < k->cap ? k->len : k->cap - 1] = '\0';
    if (why) *why = k->why;
    return k->why ? (size_t)-1 : k->len;
}

size_t close_scim_print_filter(const close_scim_node *n, char *out, size_t cap, const char **why) {
    sink k;
    k.out = out;
    k.cap = cap;
    k.len = 0;
    k.why = NULL;
    print_node(&k, n, 0, 0);
    return finish(&k, why);
}

size_t close_scim_print_path(const close_scim_path *p, char *out, size_t cap, const char **why) {
    sink k;
    close_scim_attr a = p->attr;
    k.out = out;
    k.cap = cap;
    k.len = 0;
    k.why = NULL;
    a.sub.s = NULL;
    put_attr(&k, p->filter ? &a : &p->attr);
    if (p->filter) {
        puts_(&k, "[");
        print_node(&k, p->filter, 1, 1);
        puts_(&k, "]");
        if (p->attr.sub.s) {
            if (!close_scim_valid_name(p->attr.sub.s, p->attr.sub.len)) k.why = "invalid sub-attribute name";
            puts_(&k, ".");
            put(&k, p->attr.sub.s, p->attr.sub.len);
        }
    }
    return finish(&k, why);
}

/* ---- equality ---- */

static int str_eq(close_scim_str a, close_scim_str b) {
    if (!a.s || !b.s) return !a.s && !b.s;
    return a.len == b.len && memcmp(a.s, b.s, a.len) == 0;
}

static int attr_eq(const close_scim_attr *a, const close_scim_attr *b) {
    return str_eq(a->schema, b->schema) && str_eq(a->name, b->name) && str_eq(a->sub, b->sub);
}

int close_scim_equal(const close_scim_node *a, const close_scim_node *b) {
    if (!a || !b) return a == b;
    if (a->op != b->op) return 0;
    switch (a->op) {
    case CLOSE_SCIM_AND:
    case CLOSE_SCIM_OR: return close_scim_equal(a->left, b->left) && close_scim_equal(a->right, b->right);
    case CLOSE_SCIM_NOT: return close_scim_equal(a->left, b->left);
    case CLOSE_SCIM_HAS:
        return attr_eq(&a->attr, &b->attr) && close_scim_equal(a->left, b->left) &&
               close_scim_equal(a->right, b->right);
    case CLOSE_SCIM_PR: return attr_eq(&a->attr, &b->attr);
    default:
        if (!attr_eq(&a->attr, &b->attr) || a->kind != b->kind) return 0;
        if (a->kind == CLOSE_SCIM_STRING) return str_eq(a->str, b->str);
        return a->kind != CLOSE_SCIM_NUMBER || a->num == b->num;
    }
}
