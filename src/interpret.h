/* What a response means, in one call: its error kind, whether it asks to
 * come back later, the wait the server asks for and where that came from,
 * and the rate-limit state. Each header is parsed once. Pure: the wall
 * clock comes from the caller. */
#ifndef CLOSE_INTERPRET_H
#define CLOSE_INTERPRET_H

#include <time.h>

#include "response.h"

/* The headers interpret reads (NULL when absent; names lower-case in the
 * Lua tables) and the facts of the body, which Lua decodes. */
typedef struct {
    int status;
    const char *retry_after, *date, *ratelimit, *ratelimit_policy, *x_limit, *x_remaining, *x_reset;
    double body_reset; /* the body's rate_reset, < 0 when absent */
    time_t now;        /* wall clock: an HTTP-date Retry-After without a Date header */
} close_response_facts;

#define CLOSE_INTERPRET_HEADERS 7
/* the header names of close_response_facts, in its order */
extern const char *const close_interpret_header_names[CLOSE_INTERPRET_HEADERS];

typedef struct {
    const char *kind;        /* NULL for 2xx, else close_status_kind() */
    int retryable;           /* close_retryable(status, kind) */
    int has_hint;            /* only on a retryable status */
    double hint;             /* seconds, within [0, CLOSE_MAX_HINT] */
    const char *hint_source; /* "retry-after", "ratelimit", "x-rate-limit-reset" or "body" */
    int has_ratelimit;
    close_ratelimit ratelimit; /* RateLimit's values, X-Rate-Limit-*'s where it has none */
} close_interpretation;

/* The wait hint comes from, in order: Retry-After, RateLimit's reset,
 * X-Rate-Limit-Reset, the body's rate_reset. A rate-limit reset is a wait
 * only on a 429 or when its window is spent (remaining 0): a 503 from a key
 * with calls left is no reason to sit out the whole window. */
void close_interpret(const close_response_facts *f, close_interpretation *out);

#endif
