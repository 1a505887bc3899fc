/* close_auth_header: an accepted credential is printable ASCII without CR,
 * LF or NUL (and without ':' for a key); "Basic" decodes back to "key:",
 * "Bearer" carries the token as given; the size bound always holds. */
#include "fuzz.h"
#include "request.h"

static int b64(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int basic = size > 0 && (data[0] & 1);
    const char *secret = (const char *)data + (size > 0), *why;
    size_t len = size > 0 ? size - 1 : 0, cap = close_auth_header_size(len), i, n, k = 0;
    char *out = malloc(cap), *dec;
    if (!out) abort();
    why = close_auth_header(basic, secret, len, out, cap);
    if (why) {
        CHECK(*why != '\0');
        free(out);
        return 0;
    }
    n = strlen(out);
    CHECK(n < cap);
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)secret[i];
        CHECK(c >= 0x20 && c < 0x7f);
        CHECK(!basic || c != ':');
    }
    CHECK(len > 0);
    if (!basic) {
        CHECK(n == 7 + len && memcmp(out, "Bearer ", 7) == 0 && memcmp(out + 7, secret, len) == 0);
        free(out);
        return 0;
    }
    CHECK(memcmp(out, "Basic ", 6) == 0 && (n - 6) % 4 == 0);
    dec = malloc(n);
    if (!dec) abort();
    for (i = 6; i < n; i += 4) {
        int a = b64(out[i]), b = b64(out[i + 1]), c = out[i + 2] == '=' ? 0 : b64(out[i + 2]),
            d = out[i + 3] == '=' ? 0 : b64(out[i + 3]);
        CHECK(a >= 0 && b >= 0 && c >= 0 && d >= 0);
        dec[k++] = (char)((a << 2) | (b >> 4));
        if (out[i + 2] != '=') dec[k++] = (char)(((b & 15) << 4) | (c >> 2));
        if (out[i + 3] != '=') dec[k++] = (char)(((c & 3) << 6) | d);
    }
    CHECK(k == len + 1 && memcmp(dec, secret, len) == 0 && dec[len] == ':');
    free(dec);
    free(out);
    return 0;
}
