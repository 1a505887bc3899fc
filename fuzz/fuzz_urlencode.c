/* close_urlencode: only unreserved characters and %XX in the output, at most
 * three bytes per input byte, and decoding gives the input back. */
#include "fuzz.h"
#include "request.h"

static int hex(char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *out = malloc(3 * size + 1), *back = malloc(size + 1);
    size_t n, i, k = 0;
    if (!out || !back) abort();
    n = close_urlencode((const char *)data, size, out);
    CHECK(n <= 3 * size && out[n] == '\0' && strlen(out) == n);
    for (i = 0; i < n; i++) {
        char c = out[i];
        if (c == '%') {
            CHECK(i + 2 < n);
            CHECK(hex(out[i + 1]) >= 0 && hex(out[i + 2]) >= 0);
            back[k++] = (char)(hex(out[i + 1]) * 16 + hex(out[i + 2]));
            i += 2;
        } else {
            CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~", c));
            back[k++] = c;
        }
    }
    CHECK(k == size && memcmp(back, data, size) == 0);
    free(out);
    free(back);
    return 0;
}
