/* The readers of a response's parts: the status's error kind, RateLimit in
 * its formats, seconds, HTTP-dates and Retry-After. Pure; interpret.c puts
 * them together. */
#ifndef CLOSE_RESPONSE_H
#define CLOSE_RESPONSE_H

#include <stddef.h>
#include <time.h>

/* NULL for 2xx, else the error kind of the status ("bad_request", "auth",
 * "permission", "not_found", "rate_limited", "server" or "api"). */
const char *close_status_kind(int status);

/* No number read from a response, and no wait hint, is larger (seconds). */
#define CLOSE_MAX_HINT 1e9

typedef struct {
    double limit, remaining, reset; /* < 0 when absent */
} close_ratelimit;

/* Reads the rate-limit state from any of the formats Close has used:
 * "RateLimit: limit=100, remaining=50, reset=5" (reset fractional), the IETF
 * draft "RateLimit: "default";r=50;t=30" with "RateLimit-Policy: ...;q=100",
 * and X-Rate-Limit-Limit/-Remaining/-Reset. Any argument may be NULL.
 * Returns 1 when anything was found. */
int close_parse_ratelimit(const char *ratelimit, const char *policy, const char *x_limit,
                          const char *x_remaining, const char *x_reset, close_ratelimit *out);

/* Parses a non-negative decimal number ("5", "0.595956"); whole string only.
 * Returns 1 and sets *out on success. */
int close_parse_seconds(const char *s, double *out);

/* Parses an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"). Returns 1 on success. */
int close_parse_http_date(const char *s, time_t *out);

/* Retry-After: delta-seconds, or an HTTP-date measured against the
 * response's Date header when there is one (server clock, immune to local
 * clock skew), else against now. Never negative. Returns 1 when parsed. */
int close_parse_retry_after(const char *value, const char *date_header, time_t now, double *out);

#endif
