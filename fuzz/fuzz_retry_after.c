/* Retry-After (seconds or an HTTP-date against Date or now) and the whole
 * interpretation (close_interpret): a hint is finite, not negative, capped
 * at 1e9 seconds, only on a retryable status, and from a named source (the
 * body's only on a 429; Retry-After whenever it parses); the kind is the
 * status's; the rate-limit state, each header parsed once, equals reading
 * all five headers together. A parsed HTTP-date written back in IMF-fixdate
 * parses to the same time. The input: Retry-After, Date, RateLimit,
 * X-Rate-Limit-Remaining, X-Rate-Limit-Reset and a status/body selector,
 * one a line. */
#include <time.h>

#include "fuzz.h"
#include "interpret.h"
#include "retry.h"

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
    static const int statuses[] = {200, 429, 503, 500, 502, 401, 504};
    close_response_facts f;
    close_interpretation in;
    close_ratelimit rl;
    int found;
    double out = -1;
    time_t t, t2, now = 1445412480; /* Wed, 21 Oct 2015 07:28:00 GMT */
    if (close_parse_retry_after(p[0], p[1], now, &out)) CHECK(out >= 0 && out <= 1e9);
    if (close_parse_http_date(p[0], &t) && t >= 0 && t < 253402300800) { /* years 1970-9999 */
        imf(t, again, sizeof again);
        CHECK(close_parse_http_date(again, &t2) && t2 == t);
    }
    memset(&f, 0, sizeof f);
    f.status = p[5] && p[5][0] == '4' ? 429 : 503;
    if (p[5] && p[5][0] && p[5][1]) f.status = statuses[(unsigned char)p[5][1] % 7];
    f.retry_after = p[0];
    f.date = p[1];
    f.ratelimit = p[2];
    f.x_remaining = p[3];
    f.x_reset = p[4];
    f.ratelimit_policy = p[5] && p[5][0] == 'q' ? "q=7" : NULL;
    f.x_limit = p[5] && p[5][0] == 'l' ? p[3] : NULL;
    f.body_reset = !p[5] ? -1 : p[5][0] == 'b' ? 2.5 : p[5][0] == 'B' ? 1e300 : -1;
    f.now = now;
    close_interpret(&f, &in);
    CHECK(in.kind == close_status_kind(f.status));
    CHECK(in.retryable == (in.kind != NULL && close_retryable(f.status, in.kind)));
    if (in.has_hint) {
        CHECK(in.retryable && in.hint >= 0 && in.hint <= 1e9 && in.hint_source != NULL);
        CHECK(strcmp(in.hint_source, "retry-after") == 0 || strcmp(in.hint_source, "ratelimit") == 0 ||
              strcmp(in.hint_source, "x-rate-limit-reset") == 0 || strcmp(in.hint_source, "body") == 0);
        if (strcmp(in.hint_source, "body") == 0) CHECK(f.status == 429);
    } else {
        CHECK(in.hint_source == NULL);
    }
    if (in.retryable && close_parse_retry_after(p[0], p[1], now, &out))
        CHECK(in.has_hint && strcmp(in.hint_source, "retry-after") == 0 && in.hint == out);
    found = close_parse_ratelimit(f.ratelimit, f.ratelimit_policy, f.x_limit, f.x_remaining, f.x_reset, &rl);
    CHECK(found == in.has_ratelimit);
    CHECK(rl.limit == in.ratelimit.limit && rl.remaining == in.ratelimit.remaining && rl.reset == in.ratelimit.reset);
    free(buf);
    return 0;
}
