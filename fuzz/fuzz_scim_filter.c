/* SCIM filters (src/scim_filter.c): what parses prints to a text that parses
 * to an equal tree, and printing that tree gives the same text (printing is
 * idempotent). What fails has a reason and a position within the input. */
#include "fuzz.h"
#include "scim_filter.h"

static close_scim_node nodes[2][CLOSE_SCIM_MAX_NODES];
static char text[2][4 * CLOSE_SCIM_MAX_INPUT];
static char out[2][4 * CLOSE_SCIM_MAX_INPUT];

static close_scim_arena arena(int k) {
    return close_scim_arena_init(nodes[k], CLOSE_SCIM_MAX_NODES, text[k], sizeof text[k]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    close_scim_arena a = arena(0), b = arena(1);
    close_scim_error err;
    const char *why = NULL;
    close_scim_node *n = close_scim_parse_filter((const char *)data, size, &a, &err), *m;
    size_t len, len2;
    if (!n) {
        CHECK(err.reason != NULL && err.pos >= 1 && err.pos <= size + 1);
        return 0;
    }
    CHECK(a.used <= CLOSE_SCIM_MAX_NODES && a.text_used <= size);
    len = close_scim_print_filter(n, out[0], sizeof out[0], &why);
    CHECK(len != (size_t)-1 && why == NULL && len < sizeof out[0] && strlen(out[0]) == len);
    if (len > CLOSE_SCIM_MAX_INPUT) return 0; /* 1e5 prints as 100000: past the limit */
    m = close_scim_parse_filter(out[0], len, &b, &err);
    if (!m) fprintf(stderr, "printed %s: error at %zu: %s\n", out[0], err.pos, err.reason);
    CHECK(m != NULL);
    CHECK(close_scim_equal(n, m));
    CHECK(b.used == a.used);
    len2 = close_scim_print_filter(m, out[1], sizeof out[1], &why);
    CHECK(len2 == len && memcmp(out[0], out[1], len) == 0);
    return 0;
}
