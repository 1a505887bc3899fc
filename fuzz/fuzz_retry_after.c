/* Retry-After (seconds or an HTTP-date against Date or now) and the whole
 * wait hint: a hint is finite, not negative and capped at 1e9 seconds; a
 * parsed HTTP-date written back in IMF-fixdate parses to the same time.
 * The input: Retry-After, Date, RateLimit, X-Rate-Limit-Remaining,
 * X-Rate-Limit-Reset and a status digit, one a line. */
#include <time.h>

#include "fuzz.h"
#include "response.h"

static void imf(time_t t, char *out, size_t n) {
    static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, n, "%s, %02d %s %04d %02d:%02d:%02d GMT", wd[tm.tm_wday], tm.tm_mday, mo[tm.tm_mon],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *p[6];
    char *buf = split_parts(data, size, p, 6), again[64];
    close_hint_headers h;
    double out = -1;
    const char *source = NULL;
    time_t t, t2, now = 1445412480; /* Wed, 21 Oct 2015 07:28:00 GMT */
    if (close_parse_retry_after(p[0], p[1], now, &out)) CHECK(out >= 0 && out <= 1e9);
    if (close_parse_http_date(p[0], &t) && t >= 0 && t < 253402300800) { /* years 1970-9999 */
        imf(t, again, sizeof again);
        CHECK(close_parse_http_date(again, &t2) && t2 == t);
    }
    memset(&h, 0, sizeof h);
    h.status = p[5] && p[5][0] == '4' ? 429 : 503;
    h.retry_after = p[0];
    h.date = p[1];
    h.ratelimit = p[2];
    h.x_remaining = p[3];
    h.x_reset = p[4];
    out = -1;
    if (close_wait_hint(&h, !p[5] ? -1 : p[5][0] == 'b' ? 2.5 : p[5][0] == 'B' ? 1e300 : -1, now, &out, &source)) {
        CHECK(out >= 0 && out <= 1e9);
        CHECK(source != NULL);
    }
    free(buf);
    return 0;
}
