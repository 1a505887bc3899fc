/* C unit tests of the pure parts (no Lua, no I/O), built with ASan+UBSan.
 * Prints "N passed, N failed" and exits non-zero on any failure. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "interpret.h"
#include "rand.h"
#include "request.h"
#include "response.h"
#include "retry.h"
#include "sha256.h"
#include "validate.h"
#include "wire.h"

#include "check.h"

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
    /* one loopback rule for base URLs and both transports */
    CHECK(close_is_loopback_host("localhost", 9) && close_is_loopback_host("LocalHost", 9));
    CHECK(close_is_loopback_host("wrong-name.localhost", 20) && !close_is_loopback_host(".localhost", 10));
    CHECK(!close_is_loopback_host("localhost.evil.com", 18) && !close_is_loopback_host("evillocalhost", 13));
    CHECK(close_is_loopback_host("127.0.0.1", 9) && !close_is_loopback_host("127.1", 5));
    u = "http://api.localhost:9/";
    CHECK(close_check_base_url(u, strlen(u), out, sizeof out) == NULL);
    /* the Authorization header */
    CHECK(close_auth_header(1, "key", 3, out, sizeof out) == NULL && streq(out, "Basic a2V5Og=="));
    CHECK(close_auth_header(1, "ke", 2, out, sizeof out) == NULL && streq(out, "Basic a2U6"));
    CHECK(close_auth_header(0, "tok", 3, out, sizeof out) == NULL && streq(out, "Bearer tok"));
    CHECK(streq(close_auth_header(1, "a:b", 3, out, sizeof out), "must not contain ':'"));
    CHECK(streq(close_auth_header(0, "a\r\nb", 4, out, sizeof out), "must not contain CR, LF or NUL"));
    CHECK(streq(close_auth_header(0, "tok", 3, out, 8), "is too long"));
}

static void test_wire(void) {
    close_wire_field f[CLOSE_MAX_HEADERS];
    close_wire_head h;
    unsigned long n;
    static char big[CLOSE_MAX_HEAD + 64];
    const char *r = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-A:  b \r\n  more\r\n\r\n{}";
    size_t i;
    CHECK(close_wire_parse_head(r, strlen(r), &h, f, CLOSE_MAX_HEADERS) == NULL);
    CHECK(h.status == 200 && h.version == 11 && h.nfields == 3 && h.head_len == strlen(r) - 2);
    CHECK(f[1].name_len == 3 && memcmp(f[1].name, "X-A", 3) == 0 && f[1].value_len == 1 && f[1].value[0] == 'b');
    CHECK(f[2].name == NULL && f[2].value_len == 4 && memcmp(f[2].value, "more", 4) == 0);
    r = "HTTP/2 204\n\n";
    CHECK(close_wire_parse_head(r, strlen(r), &h, f, CLOSE_MAX_HEADERS) == NULL && h.version == 20 && h.status == 204);
    r = "HTTP/1.1 200 OK\r\nA: b\r\n";
    CHECK(close_wire_parse_head(r, strlen(r), &h, f, CLOSE_MAX_HEADERS) == CLOSE_WIRE_INCOMPLETE);
    r = "HTP/1.1 200 OK\r\n\r\n";
    CHECK(streq(close_wire_parse_head(r, strlen(r), &h, f, CLOSE_MAX_HEADERS), "malformed status line") &&
          h.bad_line == 1);
    r = "HTTP/1.1 099 Low\r\n\r\n";
    CHECK(streq(close_wire_parse_head(r, strlen(r), &h, f, CLOSE_MAX_HEADERS), "malformed status line"));
    r = "HTTP/1.1 200 OK\r\n\tX: folded first\r\n\r\n";
    CHECK(streq(close_wire_parse_head(r, strlen(r), &h, f, CLOSE_MAX_HEADERS), "malformed header line") &&
          h.bad_line == 2);
    r = "HTTP/1.1 200 OK\r\nA: b\r\nno colon\r\n\r\n";
    CHECK(streq(close_wire_parse_head(r, strlen(r), &h, f, CLOSE_MAX_HEADERS), "malformed header line") &&
          h.bad_line == 3);
    r = "HTTP/1.1 200 OK\r\nA: b\x01c\r\n\r\n";
    CHECK(streq(close_wire_parse_head(r, strlen(r), &h, f, CLOSE_MAX_HEADERS), "malformed header line"));
    r = "HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n";
    CHECK(streq(close_wire_parse_head(r, strlen(r), &h, f, CLOSE_MAX_HEADERS), "malformed header line"));
    /* the caps: 64 KiB without an end, 256 fields */
    memcpy(big, "HTTP/1.1 200 OK\r\n", 17);
    for (i = 17; i < sizeof big; i++) big[i] = (i % 50 == 0) ? '\n' : 'x';
    for (i = 17; i < sizeof big; i += 50) memcpy(big + i, "X-F: ", 5);
    CHECK(streq(close_wire_parse_head(big, sizeof big, &h, f, CLOSE_MAX_HEADERS), "too many response headers"));
    memset(big + 17, 'x', sizeof big - 17);
    CHECK(streq(close_wire_parse_head(big, sizeof big, &h, f, CLOSE_MAX_HEADERS), CLOSE_MSG_HEAD_TOO_LARGE));
    CHECK(close_wire_parse_head(big, CLOSE_MAX_HEAD - 1, &h, f, CLOSE_MAX_HEADERS) == CLOSE_WIRE_INCOMPLETE);
    /* chunk sizes */
    CHECK(close_wire_chunk_size("1f", 2, &n) == NULL && n == 31);
    CHECK(close_wire_chunk_size("A ; ext=1", 9, &n) == NULL && n == 10);
    CHECK(close_wire_chunk_size("ffffffff", 8, &n) == NULL && n == 0xffffffffUL);
    CHECK(streq(close_wire_chunk_size("100000000", 9, &n), CLOSE_MSG_BODY_TOO_LARGE));
    CHECK(streq(close_wire_chunk_size("zz", 2, &n), "malformed chunked body: bad chunk size"));
    CHECK(streq(close_wire_chunk_size("", 0, &n), "malformed chunked body: bad chunk size"));
    CHECK(streq(close_wire_chunk_size("1x", 2, &n), "malformed chunked body: bad chunk size"));
    CHECK(close_wire_is_token("X-Rate-Limit", 12) && !close_wire_is_token("X Y", 3) && !close_wire_is_token("", 0));
    CHECK(close_wire_method_has_body("POST") && close_wire_method_has_body("PUT") && close_wire_method_has_body("PATCH"));
    CHECK(!close_wire_method_has_body("GET") && !close_wire_method_has_body("DELETE") && !close_wire_method_has_body("post"));
}

static void test_rand(void) {
    close_rand a, b, c;
    int i, same = 0, equal = 0;
    close_rand_seed(&a, 1);
    close_rand_seed(&b, 2); /* near seeds: unrelated sequences */
    close_rand_seed(&c, 1); /* the same seed: the same sequence (pure) */
    for (i = 0; i < 1000; i++) {
        double x = close_rand_next(&a), y = close_rand_next(&b), z = close_rand_next(&c);
        CHECK(x >= 0 && x < 1);
        same += x == y;
        equal += x == z;
    }
    CHECK(same < 5);
    CHECK(equal == 1000);
}

static void test_response(void) {
    close_ratelimit rl;
    double w;
    time_t t;
    CHECK(close_status_kind(200) == NULL);
    CHECK(streq(close_status_kind(402), "api"));
    CHECK(streq(close_status_kind(503), "server"));
    CHECK(close_parse_ratelimit("limit=100, remaining=50, reset=0.25", NULL, NULL, NULL, NULL, &rl) &&
          rl.limit == 100 && rl.remaining == 50 && rl.reset == 0.25);
    CHECK(close_parse_ratelimit("\"default\";r=50;t=30", "\"default\";q=100;w=10", NULL, NULL, NULL, &rl) &&
          rl.limit == 100 && rl.remaining == 50 && rl.reset == 30);
    CHECK(!close_parse_seconds("inf", &w) && !close_parse_seconds("-1", &w) && !close_parse_seconds("0x10", &w));
    CHECK(close_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", &t) && t == 784111777);
    CHECK(close_parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", "Sun, 06 Nov 1994 08:49:37 GMT", 0, &w) && w == 10);
}

static void test_interpret(void) {
    close_response_facts f;
    close_interpretation out;
    memset(&f, 0, sizeof f);
    f.body_reset = -1;
    f.status = 200;
    close_interpret(&f, &out);
    CHECK(out.kind == NULL && !out.retryable && !out.has_hint && !out.has_ratelimit);
    f.status = 429;
    close_interpret(&f, &out);
    CHECK(streq(out.kind, "rate_limited") && out.retryable && !out.has_hint);
    f.ratelimit = "limit=20, remaining=0, reset=1.5";
    f.body_reset = 3;
    close_interpret(&f, &out);
    CHECK(out.has_hint && out.hint == 1.5 && streq(out.hint_source, "ratelimit"));
    CHECK(out.has_ratelimit && out.ratelimit.limit == 20 && out.ratelimit.remaining == 0 && out.ratelimit.reset == 1.5);
    f.ratelimit = "limit=100, remaining=50, reset=5";
    f.status = 503; /* calls left: the window's reset is no reason to wait */
    f.body_reset = -1;
    close_interpret(&f, &out);
    CHECK(streq(out.kind, "server") && out.retryable && !out.has_hint);
    f.status = 500; /* not retryable: no hint at all */
    f.retry_after = "2";
    close_interpret(&f, &out);
    CHECK(!out.retryable && !out.has_hint && out.has_ratelimit);
    f.status = 429;
    close_interpret(&f, &out);
    CHECK(out.has_hint && out.hint == 2 && streq(out.hint_source, "retry-after"));
    /* X-Rate-Limit-* fill what RateLimit lacks; its reset is a hint of its own source */
    f.retry_after = NULL;
    f.ratelimit = "limit=9, remaining=0";
    f.x_reset = "3";
    f.x_limit = "50";
    close_interpret(&f, &out);
    CHECK(out.has_hint && out.hint == 3 && streq(out.hint_source, "x-rate-limit-reset"));
    CHECK(out.ratelimit.limit == 9 && out.ratelimit.remaining == 0 && out.ratelimit.reset == 3);
    /* the body's rate_reset comes last, capped */
    memset(&f, 0, sizeof f);
    f.status = 429;
    f.body_reset = 1e300;
    close_interpret(&f, &out);
    CHECK(out.has_hint && out.hint == CLOSE_MAX_HINT && streq(out.hint_source, "body"));
}

static void test_retry(void) {
    close_retry_input in;
    double w;
    memset(&in, 0, sizeof in);
    in.attempt = 1, in.max_retries = 3, in.status = 503, in.kind = "server", in.idempotent = 1;
    in.deadline = 60, in.backoff_base = 0.5, in.max_wait = 30, in.random = 0.5;
    CHECK(close_retryable(503, "server") && !close_retryable(500, "server"));
    CHECK(close_retryable(0, "timeout") && close_retryable(0, "network") && !close_retryable(0, "tls"));
    CHECK(!close_retryable(0, NULL));
    CHECK(close_retry_decide(&in, &w) == CLOSE_RETRY && fabs(w - 0.375) < 1e-9);
    in.attempt = 3;
    CHECK(close_retry_decide(&in, &w) == CLOSE_RETRY && fabs(w - 1.5) < 1e-9);
    in.attempt = 4;
    CHECK(close_retry_decide(&in, &w) == CLOSE_STOP_ATTEMPTS);
    in.reauthorized = 1; /* that attempt was free */
    CHECK(close_retry_decide(&in, &w) == CLOSE_RETRY && fabs(w - 1.5) < 1e-9);
    in.reauthorized = 0;
    in.attempt = 1; in.has_hint = 1; in.hint = 45;
    CHECK(close_retry_decide(&in, &w) == CLOSE_STOP_WAIT_CAP && w == 45);
    in.hint = 5; in.elapsed = 56;
    CHECK(close_retry_decide(&in, &w) == CLOSE_STOP_DEADLINE);
    in.status = 500;
    CHECK(close_retry_decide(&in, &w) == CLOSE_STOP_NOT_RETRYABLE && w == 0);
    /* who may repeat what: a 429 any call; a 503 an idempotent one; a malformed response none */
    in.elapsed = 0; in.has_hint = 0; in.idempotent = 0; in.status = 429; in.kind = "rate_limited";
    CHECK(close_retry_decide(&in, &w) == CLOSE_RETRY);
    in.status = 503; in.kind = "server";
    CHECK(close_retry_decide(&in, &w) == CLOSE_STOP_NOT_RETRYABLE);
    in.idempotent = 1; in.kind = "protocol";
    CHECK(close_retry_decide(&in, &w) == CLOSE_STOP_NOT_RETRYABLE);
    in.status = 0; in.kind = "timeout";
    CHECK(close_retry_decide(&in, &w) == CLOSE_RETRY);
    /* a 401: once, at once, for any method, when credentials can be renewed */
    in.status = 401; in.kind = "auth"; in.idempotent = 0; in.max_retries = 0;
    CHECK(close_retry_decide(&in, &w) == CLOSE_STOP_NOT_RETRYABLE);
    in.can_reauthorize = 1;
    CHECK(close_retry_decide(&in, &w) == CLOSE_RETRY_REAUTHORIZE && w == 0);
    CHECK(streq(close_retry_verdict_name(CLOSE_RETRY_REAUTHORIZE), "reauthorize"));
    in.reauthorized = 1;
    CHECK(close_retry_decide(&in, &w) == CLOSE_STOP_NOT_RETRYABLE);
    in.reauthorized = 0; in.can_reauthorize = 0; in.max_retries = 3;
    /* a huge attempt count must not overflow the backoff */
    in.status = 503; in.kind = "server"; in.idempotent = 1;
    in.has_hint = 0; in.elapsed = 0; in.attempt = 100000; in.max_retries = 1000000;
    CHECK(close_retry_decide(&in, &w) == CLOSE_RETRY && w <= 30);
    /* NaN and out-of-range inputs never make a wait past the caps */
    in.attempt = 1; in.random = 5; in.backoff_base = 100;
    CHECK(close_retry_decide(&in, &w) == CLOSE_RETRY && w <= 30 && w >= 15);
    in.elapsed = NAN;
    CHECK(close_retry_decide(&in, &w) == CLOSE_STOP_DEADLINE);
    in.elapsed = 0; in.max_wait = NAN;
    CHECK(close_retry_decide(&in, &w) == CLOSE_RETRY && w == 0);
    in.max_wait = 30; in.has_hint = 1; in.hint = INFINITY;
    CHECK(close_retry_decide(&in, &w) == CLOSE_STOP_WAIT_CAP && w == 1e12);
    /* a backoff base of 0 and a huge attempt count end at once */
    in.has_hint = 0; in.backoff_base = 0; in.attempt = 2000000000; in.max_retries = 2000000000;
    CHECK(close_retry_decide(&in, &w) == CLOSE_RETRY && w == 0);
}

static void test_buf(void) {
    close_buf b;
    memset(&b, 0, sizeof b);
    close_buf_reset(&b, 5000);
    CHECK(close_buf_append(&b, "abc", 3) == 3 && b.len == 3 && strcmp(b.data, "abc") == 0);
    CHECK(close_buf_append(&b, "", 0) == 0 && !b.overflow);
    close_buf_clear(&b);
    CHECK(b.len == 0 && b.data[0] == '\0');
    {
        char big[4000];
        memset(big, 'x', sizeof big);
        CHECK(close_buf_append(&b, big, sizeof big) == sizeof big && b.len == 4000 && b.cap > 4000);
        CHECK(close_buf_append(&b, big, 1001) == 0 && b.overflow == 1 && b.len == 4000); /* past max: nothing */
        CHECK(close_buf_append(&b, big, 1000) == 1000 && b.len == 5000); /* up to max exactly is fine */
    }
    close_buf_reset(&b, 10);
    CHECK(b.len == 0 && !b.overflow && b.max == 10);
    CHECK(close_buf_append(&b, "0123456789", 10) == 10 && close_buf_append(&b, "x", 1) == 0);
    CHECK(close_buf_append(&b, "x", (size_t)-1) == 0); /* no wrap-around in the cap check */
    close_buf_free(&b);
    CHECK(b.data == NULL && b.cap == 0 && b.len == 0);
}

static void test_framing(void) {
    close_wire_body body;
    CHECK(close_wire_body_framing("GET", 200, 11, NULL, NULL, "12", 100, &body) == NULL &&
          body.kind == CLOSE_BODY_LENGTH && body.length == 12 && body.keep_alive);
    CHECK(close_wire_body_framing("GET", 200, 11, "Close", NULL, "12, 12", 100, &body) == NULL &&
          body.length == 12 && !body.keep_alive);
    CHECK(streq(close_wire_body_framing("GET", 200, 11, NULL, NULL, "12, 13", 100, &body), "invalid Content-Length"));
    CHECK(streq(close_wire_body_framing("GET", 200, 11, NULL, NULL, " , 12", 100, &body), "invalid Content-Length"));
    CHECK(close_wire_body_framing("GET", 200, 11, NULL, NULL, ",12,", 100, &body) == NULL && body.length == 12);
    CHECK(streq(close_wire_body_framing("GET", 200, 11, NULL, NULL, "", 100, &body), "invalid Content-Length"));
    CHECK(streq(close_wire_body_framing("GET", 200, 11, NULL, NULL, "-1", 100, &body), "invalid Content-Length"));
    CHECK(streq(close_wire_body_framing("GET", 200, 11, NULL, NULL, "101", 100, &body), CLOSE_MSG_BODY_TOO_LARGE));
    CHECK(streq(close_wire_body_framing("GET", 200, 11, NULL, NULL, "99999999999999999999999", 100, &body),
                CLOSE_MSG_BODY_TOO_LARGE));
    CHECK(close_wire_body_framing("GET", 200, 11, NULL, " Chunked ", "5", 100, &body) == NULL &&
          body.kind == CLOSE_BODY_CHUNKED && body.keep_alive);
    CHECK(close_wire_body_framing("GET", 200, 11, NULL, "gzip, chunked", NULL, 100, &body) == CLOSE_WIRE_BAD_CODING);
    CHECK(close_wire_body_framing("HEAD", 200, 11, NULL, "gzip", "5", 100, &body) == NULL &&
          body.kind == CLOSE_BODY_NONE);
    CHECK(close_wire_body_framing("GET", 204, 11, NULL, NULL, NULL, 100, &body) == NULL && body.kind == CLOSE_BODY_NONE);
    CHECK(close_wire_body_framing("GET", 304, 11, NULL, NULL, "7", 100, &body) == NULL && body.kind == CLOSE_BODY_NONE);
    CHECK(close_wire_body_framing("GET", 200, 11, "keep-alive", NULL, NULL, 100, &body) == NULL &&
          body.kind == CLOSE_BODY_UNTIL_CLOSE && !body.keep_alive);
    CHECK(close_wire_body_framing("GET", 200, 10, NULL, NULL, "1", 100, &body) == NULL && !body.keep_alive);
    CHECK(close_wire_body_framing("GET", 200, 10, "foo, Keep-Alive", NULL, "1", 100, &body) == NULL &&
          body.keep_alive);
    CHECK(close_wire_body_framing("GET", 200, 11, "upgrade,close", NULL, "1", 100, &body) == NULL &&
          !body.keep_alive);
    CHECK(close_wire_body_framing("GET", 200, 11, "closed", NULL, "1", 100, &body) == NULL && body.keep_alive);
    /* request headers */
    CHECK(close_wire_check_header("Accept", 6, "a/b", 3) == NULL);
    CHECK(close_wire_check_header("Acc ept", 7, "a", 1) == CLOSE_WIRE_BAD_NAME);
    CHECK(close_wire_check_header("", 0, "a", 1) == CLOSE_WIRE_BAD_NAME);
    CHECK(close_wire_check_header("A", 1, "a\r\nb", 4) == CLOSE_WIRE_BAD_VALUE);
    CHECK(close_wire_check_header("A", 1, "a\0b", 3) == CLOSE_WIRE_BAD_VALUE);
    CHECK(close_wire_check_header_block("A: b\r\nC: d", 10) == NULL);
    CHECK(close_wire_check_header_block("", 0) == NULL);
    CHECK(streq(close_wire_check_header_block("A: b\r\n", 6), "header lines must be 'Name: value' with a token name"));
    CHECK(streq(close_wire_check_header_block("A: b\nC: d", 9), "header lines may only be separated by CRLF"));
    CHECK(streq(close_wire_check_header_block("A b: c", 6), "header lines must be 'Name: value' with a token name"));
}

static int sha256_is(const char *data, size_t len, const char *hex) {
    unsigned char d[CLOSE_SHA256_LEN];
    char got[2 * CLOSE_SHA256_LEN + 1];
    int i;
    close_sha256((const unsigned char *)data, len, d);
    for (i = 0; i < CLOSE_SHA256_LEN; i++) snprintf(got + 2 * i, 3, "%02x", d[i]);
    if (strcmp(got, hex) != 0) fprintf(stderr, "sha256 of %zu bytes: %s\n", len, got);
    return strcmp(got, hex) == 0;
}

static int b64_is(const char *data, size_t len, const char *want) {
    char out[64];
    size_t n = close_base64url((const unsigned char *)data, len, out);
    return n == strlen(want) && n == close_base64url_len(len) && strcmp(out, want) == 0;
}

static void test_sha256(void) {
    static char a[1000000];
    /* FIPS 180-2 appendix B vectors */
    CHECK(sha256_is("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    CHECK(sha256_is("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    CHECK(sha256_is("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
                    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    memset(a, 'a', sizeof a);
    CHECK(sha256_is(a, sizeof a, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
    /* the padding's edges: one tail block or two (sha256sum of n 'a's) */
    CHECK(sha256_is(a, 55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"));
    CHECK(sha256_is(a, 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"));
    CHECK(sha256_is(a, 63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"));
    CHECK(sha256_is(a, 64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"));
    CHECK(sha256_is(a, 65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"));
    CHECK(sha256_is(a, 119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"));
    CHECK(sha256_is(a, 120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"));
    /* RFC 4648 section 10, in the URL alphabet without padding */
    CHECK(b64_is("", 0, ""));
    CHECK(b64_is("f", 1, "Zg"));
    CHECK(b64_is("fo", 2, "Zm8"));
    CHECK(b64_is("foo", 3, "Zm9v"));
    CHECK(b64_is("foob", 4, "Zm9vYg"));
    CHECK(b64_is("fooba", 5, "Zm9vYmE"));
    CHECK(b64_is("foobar", 6, "Zm9vYmFy"));
    CHECK(b64_is("\xfb\xff\xbf", 3, "-_-_"));
    CHECK(b64_is("\xfb\xff", 2, "-_8"));
    /* RFC 7636 appendix B: the S256 challenge of its example verifier */
    {
        const char *v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        unsigned char d[CLOSE_SHA256_LEN];
        char out[64];
        close_sha256((const unsigned char *)v, strlen(v), d);
        CHECK(close_base64url(d, sizeof d, out) == 43);
        CHECK(streq(out, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
    }
}

int main(void) {
    test_email();
    test_role();
    test_request();
    test_response();
    test_interpret();
    test_retry();
    test_buf();
    test_wire();
    test_framing();
    test_rand();
    test_sha256();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
