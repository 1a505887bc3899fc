/* RESP2 replies (src/resp.c): what parses encodes back to the same bytes;
 * every proper prefix of it is incomplete and asks for no more bytes than
 * the reply still has (reading what it asks never reads past the reply);
 * limits hold; tight limits accept nothing the default ones refuse. */
#include "fuzz.h"
#include "resp.h"

static close_resp_item items[65536];
static char out[1 << 16];

static const close_resp_limits tight = {16, 8, 3, 32};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *buf = (const char *)data, *why;
    size_t count, n, count2, n2, k, step;
    close_resp_status st = close_resp_parse(buf, size, &close_resp_default_limits, items, 65536, &count, &n, &why);
    if (st == CLOSE_RESP_BAD) {
        CHECK(why != NULL && n < size);
    } else if (st == CLOSE_RESP_MORE) {
        CHECK(n >= 1 && n <= 3 * 65536 + (8u << 20) + 2);
    } else {
        CHECK(n <= size && count >= 1 && count <= close_resp_default_limits.max_items);
        CHECK(close_resp_encode(items, count, out, sizeof out) == n);
        if (n <= sizeof out) CHECK(memcmp(out, buf, n) == 0);
        step = n > 64 ? n / 64 : 1; /* some prefixes, and always the longest */
        for (k = 0; k < n; k = k + step < n || k == n - 1 ? k + step : n - 1) {
            CHECK(close_resp_parse(buf, k, &close_resp_default_limits, NULL, 0, &count2, &n2, &why) == CLOSE_RESP_MORE);
            CHECK(n2 >= 1 && n2 <= n - k);
        }
    }
    if (close_resp_parse(buf, size, &tight, NULL, 0, &count2, &n2, &why) == CLOSE_RESP_OK) {
        CHECK(st == CLOSE_RESP_OK && count2 == count && n2 == n);
    }
    return 0;
}
