#include "retry.h"

#include <string.h>

int close_retryable(int status, const char *kind) {
    if (status == 429 || status == 502 || status == 503 || status == 504) return 1;
    return kind != NULL && (strcmp(kind, "timeout") == 0 || strcmp(kind, "network") == 0);
}

/* Inputs come from hooks and servers: a NaN or a negative value must not
 * turn into a wait that breaks the caps. */
static double clean(double v, double lo, double hi) {
    if (!(v >= lo)) return lo; /* NaN too */
    return v > hi ? hi : v;
}

/* A failure this call may repeat: one that asks to come back later, for a
 * call that may take effect twice; a 429 was refused before any effect, so
 * any call may repeat it. A malformed response is never retried. */
static int may_repeat(const close_retry_input *in) {
    if (in->kind != NULL && strcmp(in->kind, "protocol") == 0) return 0;
    return (in->idempotent || in->status == 429) && close_retryable(in->status, in->kind);
}

/* Exponential backoff with "equal jitter": half fixed, half random, so
 * clients that failed together do not retry together. */
static double backoff(const close_retry_input *in, int attempt, double max_wait) {
    double w = clean(in->backoff_base, 0, max_wait), random = clean(in->random, 0, 0.999999);
    int i;
    /* bounded: past 64 doublings any base is beyond any cap (and 0 stays 0) */
    for (i = 1; i < attempt && i <= 64 && w < max_wait; i++) w *= 2;
    if (w > max_wait) w = max_wait;
    w = w / 2 + (w / 2) * random;
    return w > max_wait ? max_wait : w; /* halves of a subnormal can round up past it */
}

close_retry_verdict close_retry_decide(const close_retry_input *in, double *wait) {
    double w, max_wait = clean(in->max_wait, 0, 1e9);
    /* a re-authorization's attempt is not one of the retries */
    int attempt = in->reauthorized && in->attempt > 0 ? in->attempt - 1 : in->attempt;
    *wait = 0;
    /* a 401 for a token held valid (revoked, clocks apart) had no effect:
     * any method goes again at once, with renewed credentials, once */
    if (in->status == 401 && in->can_reauthorize && !in->reauthorized) return CLOSE_RETRY_REAUTHORIZE;
    if (!may_repeat(in)) return CLOSE_STOP_NOT_RETRYABLE;
    if (in->has_hint) {
        /* The server knows when its window reopens: waiting less only earns
         * another 429, so a hint beyond the cap ends the call instead. */
        w = clean(in->hint, 0, 1e12);
        *wait = w;
        if (w > max_wait) return CLOSE_STOP_WAIT_CAP;
    } else {
        w = backoff(in, attempt, max_wait);
        *wait = w;
    }
    if (attempt > in->max_retries) return CLOSE_STOP_ATTEMPTS;
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
    case CLOSE_RETRY_REAUTHORIZE: return "reauthorize";
    }
    return "unknown";
}
