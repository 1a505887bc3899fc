#include "buf.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static void check(const close_buf *b) {
    assert((b->data == NULL) == (b->cap == 0));
    assert(b->len <= b->max || b->cap == 0);
    assert(b->cap == 0 || (b->len < b->cap && b->data[b->len] == '\0'));
    (void)b; /* without assertions (NDEBUG) */
}

size_t close_buf_append(close_buf *b, const char *p, size_t n) {
    check(b);
    if (n > b->max || b->len > b->max - n) {
        b->overflow = 1;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        char *d;
        while (cap < b->len + n + 1) cap *= 2;
        d = realloc(b->data, cap);
        if (!d) {
            b->overflow = 2;
            return 0;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    check(b);
    return n;
}

void close_buf_reset(close_buf *b, size_t max) {
    if (b->cap > CLOSE_BUF_KEEP) {
        free(b->data);
        b->data = NULL;
        b->cap = 0;
    }
    b->max = max;
    b->overflow = 0;
    close_buf_clear(b);
}

void close_buf_clear(close_buf *b) {
    b->len = 0;
    if (b->data) b->data[0] = '\0';
    check(b);
}

void close_buf_free(close_buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}
