/* RESP2, the Redis reply protocol: a strict parser of one reply into a flat
 * list of items (pre-order: an array's elements follow it) and the encoder
 * that writes items back, byte for byte what was parsed. Pure: no I/O, no
 * allocation. Strict means canonical: integers and lengths without leading
 * zeros or "+", "-0" refused, CR LF after every line; what Redis sends. */
#ifndef CLOSE_RESP_H
#define CLOSE_RESP_H

#include <stddef.h>

typedef enum {
    CLOSE_RESP_SIMPLE,     /* +OK */
    CLOSE_RESP_ERROR,      /* -ERR message */
    CLOSE_RESP_INTEGER,    /* :42 */
    CLOSE_RESP_BULK,       /* $3 abc */
    CLOSE_RESP_NULL_BULK,  /* $-1 */
    CLOSE_RESP_ARRAY,      /* *2 ... (n = element count) */
    CLOSE_RESP_NULL_ARRAY  /* *-1 */
} close_resp_type;

typedef struct {
    close_resp_type type;
    const char *s; /* SIMPLE, ERROR, BULK: the bytes, inside the buffer */
    size_t len;
    long long n; /* INTEGER: the value; ARRAY: the element count */
} close_resp_item;

typedef struct {
    size_t max_bulk;  /* bytes of one bulk string */
    size_t max_items; /* items of one reply, arrays included */
    size_t max_depth; /* nesting of arrays, at most CLOSE_RESP_MAX_DEPTH */
    size_t max_line;  /* bytes of a line (simple string, error, number) */
} close_resp_limits;

#define CLOSE_RESP_MAX_DEPTH 32

/* The limits close.core uses: 8 MiB bulk, 65,536 items, depth 8, 64 KiB lines */
extern const close_resp_limits close_resp_default_limits;

typedef enum { CLOSE_RESP_OK, CLOSE_RESP_MORE, CLOSE_RESP_BAD } close_resp_status;

/* Parses the reply at the start of buf[0..len).
 *   OK:   *n = bytes of the reply; items[0..*count) filled (items may be
 *         NULL to count them only; cap is then ignored).
 *   MORE: the reply is incomplete; *n = a number of bytes it needs at least
 *         (reading exactly that many never reads past the reply).
 *   BAD:  *why says what is wrong; *n = the byte offset of the problem. */
close_resp_status close_resp_parse(const char *buf, size_t len, const close_resp_limits *lim, close_resp_item *items,
                                   size_t cap, size_t *count, size_t *n, const char **why);

/* Writes the items as RESP into out (at most cap bytes) and returns the
 * length of the whole encoding, like snprintf without the NUL. */
size_t close_resp_encode(const close_resp_item *items, size_t count, char *out, size_t cap);

#endif
