/* Retry policy: whether to try again after a failed attempt and how long to
 * wait first. Pure: the clock and the random number come from the caller, so
 * the decision is deterministic under test. */
#ifndef CLOSE_RETRY_H
#define CLOSE_RETRY_H

typedef struct {
    int attempt;        /* attempts made so far, >= 1 */
    int max_retries;    /* retries allowed after the first attempt */
    int retryable;      /* close_is_retryable() of the failed attempt */
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
    CLOSE_STOP_DEADLINE    /* the wait would pass the deadline */
} close_retry_verdict;

/* Sets *wait (seconds) when the verdict is CLOSE_RETRY; otherwise *wait is
 * the wait the retry would have needed (0 when not retryable). */
close_retry_verdict close_retry_decide(const close_retry_input *in, double *wait);

const char *close_retry_verdict_name(close_retry_verdict v);

#endif
