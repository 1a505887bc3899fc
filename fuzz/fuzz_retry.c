/* close_retry_decide: whatever the numbers (NaN, infinities, negatives), a
 * retry waits a finite, non-negative time within max_wait, never passes the
 * deadline and never exceeds max_retries (a re-authorization's attempt not
 * counted); every verdict reports a finite, non-negative wait. Only what
 * asks to come back later is retried, never a malformed response, and a
 * call that is not idempotent only after a 429; a re-authorization follows
 * a 401 only, at once, once, when the credentials can be renewed. */
#include <math.h>

#include "fuzz.h"
#include "retry.h"

static double take(const uint8_t **p, const uint8_t *end) {
    double v = 0;
    if (end - *p >= (long)sizeof v) {
        memcpy(&v, *p, sizeof v);
        *p += sizeof v;
    }
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *p = data, *end = data + size;
    close_retry_input in;
    close_retry_verdict v;
    double wait = -1, max_wait;
    unsigned char flags = size ? *p++ : 0;
    int32_t a = 0, m = 0;
    if (end - p >= 8) {
        memcpy(&a, p, 4);
        memcpy(&m, p + 4, 4);
        p += 8;
    }
    memset(&in, 0, sizeof in);
    static const int statuses[] = {0, 200, 401, 429, 500, 502, 503, 504};
    static const char *const kinds[] = {NULL, "server", "timeout", "network", "protocol", "tls", "auth", "rate_limited"};
    int may;
    in.attempt = a;
    in.max_retries = m;
    in.idempotent = flags & 1;
    in.has_hint = (flags >> 1) & 1;
    in.status = statuses[(flags >> 2) & 7];
    in.kind = kinds[(flags >> 5) & 7];
    in.can_reauthorize = (size > 1 && (data[size - 1] & 1));
    in.reauthorized = (size > 1 && (data[size - 1] & 2));
    in.hint = take(&p, end);
    in.elapsed = take(&p, end);
    in.deadline = take(&p, end);
    in.backoff_base = take(&p, end);
    in.max_wait = take(&p, end);
    in.random = take(&p, end);
    v = close_retry_decide(&in, &wait);
    CHECK(isfinite(wait) && wait >= 0);
    CHECK(strcmp(close_retry_verdict_name(v), "unknown") != 0);
    may = close_retryable(in.status, in.kind) && (in.idempotent || in.status == 429) &&
          !(in.kind && strcmp(in.kind, "protocol") == 0);
    if (v == CLOSE_RETRY) {
        max_wait = in.max_wait >= 0 ? in.max_wait : 0;
        CHECK(may);
        CHECK(wait <= max_wait);
        CHECK(in.elapsed + wait < in.deadline);
        CHECK((in.reauthorized && in.attempt > 0 ? in.attempt - 1 : in.attempt) <= in.max_retries);
    }
    if (v == CLOSE_RETRY_REAUTHORIZE) CHECK(in.status == 401 && in.can_reauthorize && !in.reauthorized && wait == 0);
    else if (in.status == 401 && in.can_reauthorize && !in.reauthorized) CHECK(0);
    if (!may && v != CLOSE_RETRY_REAUTHORIZE) CHECK(v == CLOSE_STOP_NOT_RETRYABLE && wait == 0);
    return 0;
}
