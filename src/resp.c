/* RESP2 replies: see resp.h. */
#include "resp.h"

#include <stdio.h>
#include <string.h>

const close_resp_limits close_resp_default_limits = {8u << 20, 65536, 8, 65536};

#define MIN_ITEM 3 /* the shortest reply: "+\r\n" */

typedef struct {
    const char *buf;
    size_t len, pos;
    const close_resp_limits *lim;
    size_t remaining[CLOSE_RESP_MAX_DEPTH]; /* elements still to come, per open array */
    size_t depth;
    const char *why;
    size_t at;
} parser;

static close_resp_status bad(parser *p, size_t at, const char *why) {
    p->why = why;
    p->at = at;
    return CLOSE_RESP_BAD;
}

/* the least number of bytes still needed: this item's and MIN_ITEM per element to come */
static size_t needed(const parser *p, size_t item) {
    size_t d, need = item;
    for (d = 0; d < p->depth; d++) need += MIN_ITEM * (p->remaining[d] - 1);
    return need;
}

/* canonical integer: 0 | -?[1-9][0-9]* within 64 bits */
static int integer(const char *s, size_t len, long long *out) {
    size_t i = 0;
    int neg = 0;
    unsigned long long v = 0, limit;
    if (len > 0 && s[0] == '-') neg = 1, i = 1;
    if (i == len || s[i] < '0' || s[i] > '9' || (s[i] == '0' && (len > 1))) return 0;
    limit = neg ? 9223372036854775808ULL : 9223372036854775807ULL;
    for (; i < len; i++) {
        unsigned d;
        if (s[i] < '0' || s[i] > '9') return 0;
        d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10) return 0;
        v = v * 10 + d;
    }
    *out = neg ? (v == 9223372036854775808ULL ? (-9223372036854775807LL - 1) : -(long long)v) : (long long)v;
    return 1;
}

/* the line after the type byte: [*s, *s + *n) and the position after CR LF */
static close_resp_status line(parser *p, const char **s, size_t *n) {
    size_t i, start = p->pos + 1;
    for (i = start; i < p->len; i++) {
        if (p->buf[i] == '\n') return bad(p, i, "LF without CR");
        if (p->buf[i] == '\r') break;
        if (i - start >= p->lim->max_line) return bad(p, i, "line too long");
    }
    if (i >= p->len) return CLOSE_RESP_MORE;
    if (i + 1 >= p->len) return CLOSE_RESP_MORE;
    if (p->buf[i + 1] != '\n') return bad(p, i, "CR without LF");
    *s = p->buf + start;
    *n = i - start;
    p->pos = i + 2;
    return CLOSE_RESP_OK;
}

/* bytes needed to finish a line begun at p->pos */
static size_t line_need(const parser *p) {
    if (p->pos >= p->len) return MIN_ITEM;
    return p->buf[p->len - 1] == '\r' ? 1 : 2;
}

static close_resp_status item(parser *p, close_resp_item *it, size_t nitems) {
    const char *s;
    size_t n, start = p->pos;
    close_resp_status st;
    char type;
    if (p->pos >= p->len) return CLOSE_RESP_MORE;
    type = p->buf[p->pos];
    if (!strchr("+-:$*", type) || type == '\0') return bad(p, p->pos, "unknown reply type");
    if ((st = line(p, &s, &n)) != CLOSE_RESP_OK) return st;
    memset(it, 0, sizeof *it);
    it->s = s;
    it->len = n;
    if (type == '+' || type == '-') {
        it->type = type == '+' ? CLOSE_RESP_SIMPLE : CLOSE_RESP_ERROR;
        return CLOSE_RESP_OK;
    }
    if (!integer(s, n, &it->n)) return bad(p, start + 1, "bad number");
    if (type == ':') {
        it->type = CLOSE_RESP_INTEGER;
        return CLOSE_RESP_OK;
    }
    if (it->n < -1 || (it->n == -1 && n != 2)) return bad(p, start + 1, "bad length");
    if (type == '*') {
        it->type = it->n == -1 ? CLOSE_RESP_NULL_ARRAY : CLOSE_RESP_ARRAY;
        if (it->n > 0 && (unsigned long long)it->n > p->lim->max_items - nitems - 1)
            return bad(p, start + 1, "too many items");
        return CLOSE_RESP_OK;
    }
    if (it->n == -1) {
        it->type = CLOSE_RESP_NULL_BULK;
        it->s = NULL;
        it->len = 0;
        return CLOSE_RESP_OK;
    }
    if ((unsigned long long)it->n > p->lim->max_bulk) return bad(p, start + 1, "bulk string too long");
    it->type = CLOSE_RESP_BULK;
    it->s = p->buf + p->pos;
    it->len = (size_t)it->n;
    if (p->len - p->pos < it->len + 2) return CLOSE_RESP_MORE;
    if (p->buf[p->pos + it->len] != '\r' || p->buf[p->pos + it->len + 1] != '\n')
        return bad(p, p->pos + it->len, "bulk string without CR LF");
    p->pos += it->len + 2;
    return CLOSE_RESP_OK;
}

close_resp_status close_resp_parse(const char *buf, size_t len, const close_resp_limits *lim, close_resp_item *items,
                                   size_t cap, size_t *count, size_t *n, const char **why) {
    parser p;
    close_resp_item it;
    size_t nitems = 0;
    memset(&p, 0, sizeof p);
    p.buf = buf;
    p.len = len;
    p.lim = lim;
    *count = 0;
    *why = NULL;
    for (;;) {
        size_t begin = p.pos;
        close_resp_status st;
        if (nitems >= lim->max_items || (items && nitems >= cap)) st = bad(&p, p.pos, "too many items");
        else st = item(&p, &it, nitems);
        if (st == CLOSE_RESP_BAD) {
            *why = p.why;
            *n = p.at;
            return st;
        }
        if (st == CLOSE_RESP_MORE) {
            /* a bulk string's payload (its line read), or a line */
            *n = needed(&p, p.pos > begin ? it.len + 2 - (len - p.pos) : line_need(&p));
            return st;
        }
        if (items) items[nitems] = it;
        nitems++;
        if (it.type == CLOSE_RESP_ARRAY && it.n > 0) {
            if (p.depth >= lim->max_depth || p.depth >= CLOSE_RESP_MAX_DEPTH) {
                *why = "arrays nested too deeply";
                *n = begin;
                return CLOSE_RESP_BAD;
            }
            p.remaining[p.depth++] = (size_t)it.n;
            continue;
        }
        while (p.depth > 0 && --p.remaining[p.depth - 1] == 0) p.depth--;
        if (p.depth == 0) break;
    }
    *count = nitems;
    *n = p.pos;
    return CLOSE_RESP_OK;
}

typedef struct {
    char *out;
    size_t cap, len;
} sink;

static void put(sink *k, const char *s, size_t n) {
    if (k->len < k->cap) memcpy(k->out + k->len, s, n < k->cap - k->len ? n : k->cap - k->len);
    k->len += n;
}

static void put_line(sink *k, char type, long long n) {
    char b[32];
    int w = snprintf(b, sizeof b, "%c%lld\r\n", type, n);
    put(k, b, (size_t)w);
}

size_t close_resp_encode(const close_resp_item *items, size_t count, char *out, size_t cap) {
    sink k;
    size_t i;
    k.out = out;
    k.cap = cap;
    k.len = 0;
    for (i = 0; i < count; i++) {
        const close_resp_item *it = &items[i];
        switch (it->type) {
        case CLOSE_RESP_SIMPLE:
        case CLOSE_RESP_ERROR:
            put(&k, it->type == CLOSE_RESP_SIMPLE ? "+" : "-", 1);
            put(&k, it->s, it->len);
            put(&k, "\r\n", 2);
            break;
        case CLOSE_RESP_INTEGER: put_line(&k, ':', it->n); break;
        case CLOSE_RESP_BULK:
            put_line(&k, '$', (long long)it->len);
            put(&k, it->s, it->len);
            put(&k, "\r\n", 2);
            break;
        case CLOSE_RESP_NULL_BULK: put(&k, "$-1\r\n", 5); break;
        case CLOSE_RESP_ARRAY: put_line(&k, '*', it->n); break;
        case CLOSE_RESP_NULL_ARRAY: put(&k, "*-1\r\n", 5); break;
        }
    }
    return k.len;
}
