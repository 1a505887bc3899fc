/* close_check_base_url and close_is_loopback_host: an accepted URL is the
 * input without trailing slashes, http(s) with a host, no user info, query,
 * fragment, spaces or controls, and plain http only to a loopback host. */
#include "fuzz.h"
#include "request.h"

static int ci_prefix(const char *s, size_t len, const char *p) {
    size_t i, n = strlen(p);
    if (len < n) return 0;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
        if (c != p[i]) return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data, *why;
    char *out = malloc(size + 1);
    size_t i, n, hstart, hend, h;
    int https;
    if (!out) abort();
    why = close_check_base_url(s, size, out, size + 1);
    (void)close_is_loopback_host(s, size); /* any bytes: no crash, no overread */
    if (why) {
        CHECK(*why != '\0');
        free(out);
        return 0;
    }
    n = strlen(out);
    CHECK(n <= size && memcmp(out, s, n) == 0);
    for (i = n; i < size; i++) CHECK(s[i] == '/');
    CHECK(n == 0 || out[n - 1] != '/' || n == size);
    https = ci_prefix(s, size, "https://");
    CHECK(https || ci_prefix(s, size, "http://"));
    for (i = 0; i < size; i++) {
        unsigned char c = (unsigned char)s[i];
        CHECK(c > 0x20 && c < 0x7f && c != '?' && c != '#');
    }
    hstart = https ? 8 : 7;
    for (hend = hstart; hend < size && s[hend] != '/'; hend++) CHECK(s[hend] != '@');
    CHECK(hend > hstart);
    if (!https) {
        if (s[hstart] == '[') h = (size_t)((const char *)memchr(s + hstart, ']', hend - hstart) - s) + 1;
        else {
            const char *colon = memchr(s + hstart, ':', hend - hstart);
            h = colon ? (size_t)(colon - s) : hend;
        }
        CHECK(close_is_loopback_host(s + hstart, h - hstart));
    }
    free(out);
    return 0;
}
