/* Retry policy: whether to try again after a failed attempt and how long to
 * wait first. The one place of the rule: which failures may be retried, for
 * which calls, a re-authorization after a 401, backoff, caps and deadline.
 * Pure: the clock and the random number come from the caller, so the
 * decision is deterministic under test. */
#ifndef CLOSE_RETRY_H
#define CLOSE_RETRY_H

/* Whether a failure asks to come back later: statuses 429, 502, 503, 504
 * and the transport kinds "timeout" and "network" (status 0: no response). */
int close_retryable(int status, const char *kind);

typedef struct {
    int attempt;        /* attempts made so far, >= 1 */
    int max_retries;    /* retries allowed after the first attempt */
    int status;         /* the attempt's HTTP status, 0 when none came back */
    const char *kind;   /* the attempt's error kind ("server", "timeout", ...) */
    int idempotent;     /* the call may take effect twice without harm */
    int can_reauthorize;/* its credentials come from a provider that may renew them */
    int reauthorized;   /* an earlier attempt of this call was a re-authorization */
    int has_hint;       /* the server said how long to wait */
    double hint;        /* ... that many seconds */
    double elapsed;     /* seconds since the call started */
    double deadline;    /* seconds the whole call may take */
    double backoff_base;/* first backoff, doubled per attempt */
    double max_wait;    /* no single wait is longer */
    double random;      /* uniform in [0, 1): the jitter */
} close_retry_input;

typedef enum {
    CLOSE_RETRY = 0,
    CLOSE_STOP_NOT_RETRYABLE,
    CLOSE_STOP_ATTEMPTS,   /* max_retries used up */
    CLOSE_STOP_WAIT_CAP,   /* the server asks for a wait longer than max_wait */
    CLOSE_STOP_DEADLINE,   /* the wait would pass the deadline */
    CLOSE_RETRY_REAUTHORIZE /* a 401: at once, with renewed credentials, once
                             * (when the provider agrees that the token it
                             * gave was held valid; else the 401 is final) */
} close_retry_verdict;

/* Sets *wait (seconds) when the verdict is CLOSE_RETRY (0 for
 * CLOSE_RETRY_REAUTHORIZE); otherwise *wait is the wait the retry would
 * have needed (0 when not retryable). */
close_retry_verdict close_retry_decide(const close_retry_input *in, double *wait);

const char *close_retry_verdict_name(close_retry_verdict v);

#endif
