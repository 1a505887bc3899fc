#include "retry.h"

/* Inputs come from hooks and servers: a NaN or a negative value must not
 * turn into a wait that breaks the caps. */
static double clean(double v, double lo, double hi) {
    if (!(v >= lo)) return lo; /* NaN too */
    return v > hi ? hi : v;
}

close_retry_verdict close_retry_decide(const close_retry_input *in, double *wait) {
    double w, max_wait = clean(in->max_wait, 0, 1e9), random = clean(in->random, 0, 0.999999);
    int i;
    *wait = 0;
    if (!in->retryable) return CLOSE_STOP_NOT_RETRYABLE;
    if (in->has_hint) {
        /* The server knows when its window reopens: waiting less only earns
         * another 429, so a hint beyond the cap ends the call instead. */
        w = clean(in->hint, 0, 1e12);
        *wait = w;
        if (w > max_wait) return CLOSE_STOP_WAIT_CAP;
    } else {
        /* Exponential backoff with "equal jitter": half fixed, half random,
         * so clients that failed together do not retry together. */
        w = clean(in->backoff_base, 0, max_wait);
        /* bounded: past 64 doublings any base is beyond any cap (and 0 stays 0) */
        for (i = 1; i < in->attempt && i <= 64 && w < max_wait; i++) w *= 2;
        if (w > max_wait) w = max_wait;
        w = w / 2 + (w / 2) * random;
        if (w > max_wait) w = max_wait; /* halves of a subnormal can round up past it */
        *wait = w;
    }
    if (in->attempt > in->max_retries) return CLOSE_STOP_ATTEMPTS;
    if (!(in->elapsed + w < in->deadline)) return CLOSE_STOP_DEADLINE; /* NaN stops too */
    return CLOSE_RETRY;
}

const char *close_retry_verdict_name(close_retry_verdict v) {
    switch (v) {
    case CLOSE_RETRY: return "retry";
    case CLOSE_STOP_NOT_RETRYABLE: return "not_retryable";
    case CLOSE_STOP_ATTEMPTS: return "attempts";
    case CLOSE_STOP_WAIT_CAP: return "wait_cap";
    case CLOSE_STOP_DEADLINE: return "deadline";
    }
    return "unknown";
}
