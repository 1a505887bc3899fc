/* A growable byte buffer with a cap, for what a transfer receives (the
 * response head and body). Pure: plain C, no curl, no Lua.
 * Invariants (asserted in buf.c): len <= max and len < cap whenever data is
 * allocated, data[len] == '\0' (the bytes are also a C string), and data is
 * NULL exactly when cap is 0. */
#ifndef CLOSE_BUF_H
#define CLOSE_BUF_H

#include <stddef.h>

typedef struct {
    char *data;
    size_t len, cap, max;
    int overflow; /* 1: more than max was offered; 2: out of memory */
} close_buf;

/* Appends n bytes. Returns n, or 0 (and sets overflow) when they would pass
 * max or memory runs out; then nothing is appended. */
size_t close_buf_append(close_buf *b, const char *p, size_t n);

/* Empties b for a new transfer with this cap; a large allocation is given
 * back, so that memory stays bounded between transfers. */
void close_buf_reset(close_buf *b, size_t max);

/* Drops what was received so far (a new response head after a 1xx). */
void close_buf_clear(close_buf *b);

void close_buf_free(close_buf *b);

/* Buffers larger than this are not kept between transfers. */
#define CLOSE_BUF_KEEP 65536

#endif
