/* SCIM PATCH paths (src/scim_filter.c): what parses prints to a text that
 * parses to an equal path (attribute, sub-attribute and filter tree), and
 * printing is idempotent. What fails has a reason and a position. */
#include "fuzz.h"
#include "scim_filter.h"

static close_scim_node nodes[2][CLOSE_SCIM_MAX_NODES];
static char text[2][4 * CLOSE_SCIM_MAX_INPUT];
static char out[2][4 * CLOSE_SCIM_MAX_INPUT];

static close_scim_arena arena(int k) {
    return close_scim_arena_init(nodes[k], CLOSE_SCIM_MAX_NODES, text[k], sizeof text[k]);
}

static int str_eq(close_scim_str x, close_scim_str y) {
    if (!x.s || !y.s) return !x.s && !y.s;
    return x.len == y.len && memcmp(x.s, y.s, x.len) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    close_scim_arena a = arena(0), b = arena(1);
    close_scim_error err;
    close_scim_path p, q;
    const char *why = NULL;
    size_t len, len2;
    if (!close_scim_parse_path((const char *)data, size, &a, &p, &err)) {
        CHECK(err.reason != NULL && err.pos >= 1 && err.pos <= size + 1);
        return 0;
    }
    len = close_scim_print_path(&p, out[0], sizeof out[0], &why);
    CHECK(len != (size_t)-1 && why == NULL && len < sizeof out[0] && strlen(out[0]) == len);
    if (len > CLOSE_SCIM_MAX_INPUT) return 0;
    CHECK(close_scim_parse_path(out[0], len, &b, &q, &err));
    CHECK(str_eq(p.attr.schema, q.attr.schema) && str_eq(p.attr.name, q.attr.name) && str_eq(p.attr.sub, q.attr.sub));
    CHECK(close_scim_equal(p.filter, q.filter));
    len2 = close_scim_print_path(&q, out[1], sizeof out[1], &why);
    CHECK(len2 == len && memcmp(out[0], out[1], len) == 0);
    return 0;
}
