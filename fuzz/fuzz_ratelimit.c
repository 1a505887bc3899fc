/* close_parse_ratelimit (RateLimit in the draft-07 and the IETF form, with
 * RateLimit-Policy, and X-Rate-Limit-*): every value read is finite, not
 * negative and at most 1e9; anything absent stays -1; "found" says whether
 * anything was read. The input is the five headers, one a line. */
#include "fuzz.h"
#include "response.h"

static void check_value(double v) { CHECK(v == -1 || (v >= 0 && v <= 1e9)); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p[5];
    char *buf = split_parts(data, size, p, 5);
    close_ratelimit rl;
    int found = close_parse_ratelimit(p[0], p[1], p[2], p[3], p[4], &rl);
    check_value(rl.limit);
    check_value(rl.remaining);
    check_value(rl.reset);
    CHECK(found == (rl.limit >= 0 || rl.remaining >= 0 || rl.reset >= 0));
    /* each source alone, as servers send one form */
    found = close_parse_ratelimit(p[0], NULL, NULL, NULL, NULL, &rl);
    check_value(rl.limit);
    check_value(rl.remaining);
    check_value(rl.reset);
    found = close_parse_ratelimit(NULL, NULL, p[2], p[3], p[4], &rl);
    check_value(rl.limit);
    check_value(rl.remaining);
    check_value(rl.reset);
    (void)found;
    free(buf);
    return 0;
}
