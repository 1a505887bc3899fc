#include "interpret.h"

#include "retry.h"

const char *const close_interpret_header_names[CLOSE_INTERPRET_HEADERS] = {
    "retry-after", "date", "ratelimit", "ratelimit-policy",
    "x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset",
};

/* v when set (>= 0), else fallback */
static double either(double v, double fallback) { return v >= 0 ? v : fallback; }

static int hint(const close_response_facts *f, const close_ratelimit *own, const close_ratelimit *x, double *out,
                const char **source) {
    if (close_parse_retry_after(f->retry_after, f->date, f->now, out)) {
        *source = "retry-after";
        return 1;
    }
    if (own->reset >= 0 && (f->status == 429 || own->remaining == 0)) {
        *out = own->reset;
        *source = "ratelimit";
        return 1;
    }
    if (x->reset >= 0 && (f->status == 429 || x->remaining == 0)) {
        *out = x->reset;
        *source = "x-rate-limit-reset";
        return 1;
    }
    if (f->body_reset >= 0 && f->status == 429) {
        *out = f->body_reset > CLOSE_MAX_HINT ? CLOSE_MAX_HINT : f->body_reset;
        *source = "body";
        return 1;
    }
    return 0;
}

void close_interpret(const close_response_facts *f, close_interpretation *out) {
    close_ratelimit own, x; /* RateLimit (with its policy) and X-Rate-Limit-*, each parsed once */
    int found = close_parse_ratelimit(f->ratelimit, f->ratelimit_policy, NULL, NULL, NULL, &own);
    found |= close_parse_ratelimit(NULL, NULL, f->x_limit, f->x_remaining, f->x_reset, &x);
    out->kind = close_status_kind(f->status);
    out->retryable = out->kind != NULL && close_retryable(f->status, out->kind);
    out->has_ratelimit = found;
    out->ratelimit.limit = either(own.limit, x.limit);
    out->ratelimit.remaining = either(own.remaining, x.remaining);
    out->ratelimit.reset = either(own.reset, x.reset);
    out->hint = 0;
    out->hint_source = NULL;
    /* a wait hint means something only on a response that asks to come back later */
    out->has_hint = out->retryable && hint(f, &own, &x, &out->hint, &out->hint_source);
}
