#include "retry.h"

close_retry_verdict close_retry_decide(const close_retry_input *in, double *wait) {
    double w;
    int i;
    *wait = 0;
    if (!in->retryable) return CLOSE_STOP_NOT_RETRYABLE;
    if (in->has_hint) {
        /* The server knows when its window reopens: waiting less only earns
         * another 429, so a hint beyond the cap ends the call instead. */
        w = in->hint < 0 ? 0 : in->hint;
        *wait = w;
        if (w > in->max_wait) return CLOSE_STOP_WAIT_CAP;
    } else {
        /* Exponential backoff with "equal jitter": half fixed, half random,
         * so clients that failed together do not retry together. */
        w = in->backoff_base;
        for (i = 1; i < in->attempt && w < in->max_wait; i++) w *= 2;
        if (w > in->max_wait) w = in->max_wait;
        w = w / 2 + (w / 2) * in->random;
        *wait = w;
    }
    if (in->attempt > in->max_retries) return CLOSE_STOP_ATTEMPTS;
    if (in->elapsed + w >= in->deadline) return CLOSE_STOP_DEADLINE;
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
