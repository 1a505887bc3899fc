/* close_retry_decide: whatever the numbers (NaN, infinities, negatives), a
 * retry waits a finite, non-negative time within max_wait, never passes the
 * deadline and never exceeds max_retries; every verdict reports a finite,
 * non-negative wait. */
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
    in.attempt = a;
    in.max_retries = m;
    in.retryable = flags & 1;
    in.has_hint = (flags >> 1) & 1;
    in.hint = take(&p, end);
    in.elapsed = take(&p, end);
    in.deadline = take(&p, end);
    in.backoff_base = take(&p, end);
    in.max_wait = take(&p, end);
    in.random = take(&p, end);
    v = close_retry_decide(&in, &wait);
    CHECK(isfinite(wait) && wait >= 0);
    CHECK(strcmp(close_retry_verdict_name(v), "unknown") != 0);
    if (v == CLOSE_RETRY) {
        max_wait = in.max_wait >= 0 ? in.max_wait : 0;
        CHECK(in.retryable);
        CHECK(wait <= max_wait);
        CHECK(in.elapsed + wait < in.deadline);
        CHECK(in.attempt <= in.max_retries);
    }
    if (!in.retryable) CHECK(v == CLOSE_STOP_NOT_RETRYABLE && wait == 0);
    return 0;
}
