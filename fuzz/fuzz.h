/* Shared by the libFuzzer targets: a property check that aborts (so the
 * fuzzer records the input), and splitting an input into NUL-terminated parts. */
#ifndef CLOSE_FUZZ_H
#define CLOSE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                   \
    do {                                                                           \
        if (!(c)) {                                                                \
            fprintf(stderr, "%s:%d: property failed: %s\n", __FILE__, __LINE__, #c); \
            abort();                                                               \
        }                                                                          \
    } while (0)

/* Splits data at '\n' bytes into at most n NUL-terminated strings in buf
 * (size >= size + n); missing parts are NULL. Returns buf for free(). */
static inline char *split_parts(const uint8_t *data, size_t size, const char **parts, int n) {
    char *buf = malloc(size + (size_t)n + 1), *p;
    int i = 0;
    size_t k;
    if (!buf) abort();
    p = buf;
    for (i = 0; i < n; i++) parts[i] = NULL;
    i = 0;
    parts[0] = p;
    for (k = 0; k < size; k++) {
        if (data[k] == '\n' && i + 1 < n) {
            *p++ = '\0';
            parts[++i] = p;
        } else {
            *p++ = data[k] ? (char)data[k] : ' '; /* C strings: no NUL inside */
        }
    }
    *p = '\0';
    return buf;
}

#endif
