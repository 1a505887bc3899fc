/* C unit tests of the pure parts (no Lua, no I/O), built with ASan+UBSan.
 * Prints "N passed, N failed" and exits non-zero on any failure. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "request.h"
#include "response.h"
#include "retry.h"
#include "validate.h"

static int passed, failed;

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (cond) passed++;                                                     \
        else { failed++; fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); } \
    } while (0)

static int streq(const char *a, const char *b) {
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static const char *email(const char *s) { return close_validate_email(s, strlen(s)); }

static void test_email(void) {
    char buf[400];
    CHECK(email("jane@acme.com") == NULL);
    CHECK(email("a.b+c@sub.example.co") == NULL);
    CHECK(streq(email(""), "must not be empty"));
    CHECK(streq(email("jane"), "must contain '@'"));
    CHECK(streq(email("a@b@c.com"), "must contain exactly one '@'"));
    CHECK(streq(email(".a@b.com"), "local part must not start or end with '.'"));
    CHECK(streq(email("a..b@b.com"), "local part must not contain '..'"));
    CHECK(streq(email("a@localhost"), "domain must have at least two labels"));
    CHECK(streq(email("a@-x.com"), "domain label must not start or end with '-'"));
    CHECK(streq(email("a b@x.com"), "must not contain whitespace or control characters"));
    CHECK(streq(email("\xc3\xa9@x.com"), "must be ASCII"));
    /* embedded NUL: the length, not strlen, decides */
    CHECK(streq(close_validate_email("a\0b@x.com", 9), "must not contain whitespace or control characters"));
    /* limits: local 64, label 63, domain 253, whole 254 */
    memset(buf, 'a', 64); strcpy(buf + 64, "@x.com");
    CHECK(email(buf) == NULL);
    memset(buf, 'a', 65); strcpy(buf + 65, "@x.com");
    CHECK(streq(email(buf), "local part must be at most 64 characters"));
    strcpy(buf, "a@"); memset(buf + 2, 'b', 63); strcpy(buf + 65, ".com");
    CHECK(email(buf) == NULL);
    strcpy(buf, "a@"); memset(buf + 2, 'b', 64); strcpy(buf + 66, ".com");
    CHECK(streq(email(buf), "domain label must be at most 63 characters"));
}

static void test_role(void) {
    char buf[96];
    CHECK(close_validate_role("user", 4, buf, sizeof buf) == NULL);
    CHECK(close_validate_role("role_abc123", 11, buf, sizeof buf) == NULL);
    CHECK(streq(close_validate_role("Admin", 5, buf, sizeof buf), "unknown role (did you mean 'admin'?)"));
    CHECK(streq(close_validate_role("role_a-b", 8, buf, sizeof buf),
                "custom role id must be 'role_' followed by letters and digits"));
    CHECK(close_validate_role("role_", 5, buf, sizeof buf) != NULL);
    CHECK(close_validate_id("memb_A1", 7, "memb_") == NULL);
    CHECK(close_validate_id("memb_", 5, "memb_") != NULL);
    CHECK(close_validate_credential("ab\r\nX: y", 8, 0) != NULL);
    CHECK(close_validate_credential("a:b", 3, 1) != NULL);
    CHECK(close_validate_credential("a:b", 3, 0) == NULL);
}

static void test_request(void) {
    char out[128];
    const char *u = "https://api.close.com/api/v1//";
    CHECK(close_check_base_url(u, strlen(u), out, sizeof out) == NULL && streq(out, "https://api.close.com/api/v1"));
    u = "http://api.close.com/api/v1";
    CHECK(close_check_base_url(u, strlen(u), out, sizeof out) != NULL);
    u = "http://127.0.0.1:8080/api/v1";
    CHECK(close_check_base_url(u, strlen(u), out, sizeof out) == NULL);
    u = "http://[::1]:8080/";
    CHECK(close_check_base_url(u, strlen(u), out, sizeof out) == NULL && streq(out, "http://[::1]:8080"));
    u = "http://127.0.0.1.evil.com/";
    CHECK(close_check_base_url(u, strlen(u), out, sizeof out) != NULL);
    u = "http://localhost.evil.com/";
    CHECK(close_check_base_url(u, strlen(u), out, sizeof out) != NULL);
    u = "https://user:pw@api.close.com/";
    CHECK(close_check_base_url(u, strlen(u), out, sizeof out) != NULL);
    CHECK(close_base64((const unsigned char *)"key:", 4, out) == 8 && streq(out, "a2V5Og=="));
    CHECK(close_base64((const unsigned char *)"ke:", 3, out) == 4 && streq(out, "a2U6"));
    CHECK(close_urlencode("a b/é", 6, out) == 14 && streq(out, "a%20b%2F%C3%A9"));
}

static void test_response(void) {
    close_ratelimit rl;
    double w;
    time_t t;
    const char *src;
    close_hint_headers h;
    CHECK(close_status_kind(200) == NULL);
    CHECK(streq(close_status_kind(402), "api"));
    CHECK(streq(close_status_kind(503), "server"));
    CHECK(close_is_retryable(503, "server") && !close_is_retryable(500, "server"));
    CHECK(close_is_retryable(0, "timeout") && !close_is_retryable(0, "tls"));
    CHECK(close_parse_ratelimit("limit=100, remaining=50, reset=0.25", NULL, NULL, NULL, NULL, &rl) &&
          rl.limit == 100 && rl.remaining == 50 && rl.reset == 0.25);
    CHECK(close_parse_ratelimit("\"default\";r=50;t=30", "\"default\";q=100;w=10", NULL, NULL, NULL, &rl) &&
          rl.limit == 100 && rl.remaining == 50 && rl.reset == 30);
    CHECK(!close_parse_seconds("inf", &w) && !close_parse_seconds("-1", &w) && !close_parse_seconds("0x10", &w));
    CHECK(close_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", &t) && t == 784111777);
    CHECK(close_parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", "Sun, 06 Nov 1994 08:49:37 GMT", 0, &w) && w == 10);
    memset(&h, 0, sizeof h);
    CHECK(!close_wait_hint(&h, -1, 0, &w, &src));
    h.ratelimit = "limit=20, remaining=0, reset=1.5";
    CHECK(close_wait_hint(&h, 3, 0, &w, &src) && w == 1.5 && streq(src, "ratelimit"));
    h.ratelimit = "limit=100, remaining=50, reset=5";
    h.status = 503; /* calls left: the window's reset is no reason to wait */
    CHECK(!close_wait_hint(&h, -1, 0, &w, &src));
    h.status = 429;
    CHECK(close_wait_hint(&h, -1, 0, &w, &src) && w == 5 && streq(src, "ratelimit"));
    h.retry_after = "2";
    CHECK(close_wait_hint(&h, 3, 0, &w, &src) && w == 2 && streq(src, "retry-after"));
}

static void test_retry(void) {
    close_retry_input in = {1, 3, 1, 0, 0, 0, 60, 0.5, 30, 0.5};
    double w;
    CHECK(close_retry_decide(&in, &w) == CLOSE_RETRY && fabs(w - 0.375) < 1e-9);
    in.attempt = 3;
    CHECK(close_retry_decide(&in, &w) == CLOSE_RETRY && fabs(w - 1.5) < 1e-9);
    in.attempt = 4;
    CHECK(close_retry_decide(&in, &w) == CLOSE_STOP_ATTEMPTS);
    in.attempt = 1; in.has_hint = 1; in.hint = 45;
    CHECK(close_retry_decide(&in, &w) == CLOSE_STOP_WAIT_CAP && w == 45);
    in.hint = 5; in.elapsed = 56;
    CHECK(close_retry_decide(&in, &w) == CLOSE_STOP_DEADLINE);
    in.retryable = 0;
    CHECK(close_retry_decide(&in, &w) == CLOSE_STOP_NOT_RETRYABLE);
    /* a huge attempt count must not overflow the backoff */
    in.retryable = 1; in.has_hint = 0; in.elapsed = 0; in.attempt = 100000; in.max_retries = 1000000;
    CHECK(close_retry_decide(&in, &w) == CLOSE_RETRY && w <= 30);
}

int main(void) {
    test_email();
    test_role();
    test_request();
    test_response();
    test_retry();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
