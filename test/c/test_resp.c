/* C unit tests of the RESP2 reply parser and encoder (src/resp.c), built
 * with ASan+UBSan like test_pure.c. Prints "N passed, N failed". */
#include <stdio.h>
#include <string.h>

#include "resp.h"

#include "check.h"

static close_resp_item items[64];
static size_t count, n;
static const char *why;

static close_resp_status parse(const char *s) {
    return close_resp_parse(s, strlen(s), &close_resp_default_limits, items, 64, &count, &n, &why);
}

/* parses whole, and encodes back to the same bytes */
static int whole(const char *s, size_t want_count) {
    char out[256];
    size_t len;
    if (parse(s) != CLOSE_RESP_OK || n != strlen(s) || count != want_count) return 0;
    len = close_resp_encode(items, count, out, sizeof out);
    return len == n && memcmp(out, s, n) == 0;
}

static int more(const char *s, size_t need) {
    close_resp_status st = parse(s);
    if (st != CLOSE_RESP_MORE || n != need) fprintf(stderr, "  %s: status %d n %zu\n", s, (int)st, n);
    return st == CLOSE_RESP_MORE && n == need;
}

static int refused(const char *s, size_t at, const char *reason) {
    close_resp_status st = parse(s);
    if (st != CLOSE_RESP_BAD || n != at || strcmp(why, reason) != 0)
        fprintf(stderr, "  %s: status %d at %zu: %s\n", s, (int)st, n, why ? why : "");
    return st == CLOSE_RESP_BAD && n == at && strcmp(why, reason) == 0;
}

static void test_values(void) {
    CHECK(whole("+OK\r\n", 1) && items[0].type == CLOSE_RESP_SIMPLE && items[0].len == 2);
    CHECK(whole("+\r\n", 1) && items[0].len == 0);
    CHECK(whole("-ERR unknown command 'x'\r\n", 1) && items[0].type == CLOSE_RESP_ERROR);
    CHECK(whole(":0\r\n", 1) && items[0].n == 0);
    CHECK(whole(":-42\r\n", 1) && items[0].n == -42);
    CHECK(whole(":9223372036854775807\r\n", 1) && items[0].n == 9223372036854775807LL);
    CHECK(whole(":-9223372036854775808\r\n", 1) && items[0].n == -9223372036854775807LL - 1);
    CHECK(whole("$5\r\nhello\r\n", 1) && items[0].type == CLOSE_RESP_BULK && memcmp(items[0].s, "hello", 5) == 0);
    CHECK(whole("$0\r\n\r\n", 1) && items[0].len == 0);
    CHECK(whole("$4\r\na\r\nb\r\n", 1) && items[0].len == 4); /* CR LF inside a bulk string */
    CHECK(whole("$-1\r\n", 1) && items[0].type == CLOSE_RESP_NULL_BULK);
    CHECK(whole("*-1\r\n", 1) && items[0].type == CLOSE_RESP_NULL_ARRAY);
    CHECK(whole("*0\r\n", 1) && items[0].type == CLOSE_RESP_ARRAY && items[0].n == 0);
    CHECK(whole("*2\r\n$3\r\nfoo\r\n:1\r\n", 3));
    CHECK(whole("*3\r\n*2\r\n+a\r\n-b\r\n*0\r\n$-1\r\n", 6)); /* EXEC's replies */
    /* only the first reply: a pipeline's next one stays in the buffer */
    CHECK(parse("+OK\r\n:1\r\n") == CLOSE_RESP_OK && n == 5 && count == 1);
}

static void test_incomplete(void) {
    CHECK(more("", 3));
    CHECK(more("+", 2));
    CHECK(more("+OK", 2));
    CHECK(more("+OK\r", 1));
    CHECK(more("$5\r\nhel", 4));
    CHECK(more("$5\r\n", 7));
    CHECK(more("*3\r\n", 9));
    CHECK(more("*3\r\n:1\r\n", 6));
    CHECK(more("*2\r\n*2\r\n:1\r\n", 6)); /* one in the inner array, one in the outer */
    CHECK(more("*2\r\n$10\r\nab", 13));
}

static void test_refused(void) {
    char big[70000];
    CHECK(refused("x\r\n", 0, "unknown reply type"));
    CHECK(refused("+a\nb\r\n", 2, "LF without CR"));
    CHECK(refused("+a\rb\r\n", 2, "CR without LF"));
    CHECK(refused(":01\r\n", 1, "bad number"));
    CHECK(refused(":-0\r\n", 1, "bad number"));
    CHECK(refused(":+1\r\n", 1, "bad number"));
    CHECK(refused(":\r\n", 1, "bad number"));
    CHECK(refused(":9223372036854775808\r\n", 1, "bad number"));
    CHECK(refused("$-2\r\n", 1, "bad length"));
    CHECK(refused("*-5\r\n", 1, "bad length"));
    CHECK(refused("$2\r\nabc\r\n", 6, "bulk string without CR LF"));
    CHECK(refused("$9999999999\r\n", 1, "bulk string too long"));
    CHECK(refused("*70000\r\n", 1, "too many items"));
    CHECK(refused("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", 32, "arrays nested too deeply"));
    memset(big, 'a', sizeof big - 1);
    big[0] = '+';
    big[sizeof big - 1] = '\0';
    CHECK(refused(big, 65537, "line too long"));
    /* the caller's item array is full */
    CHECK(close_resp_parse("*2\r\n:1\r\n:2\r\n", 12, &close_resp_default_limits, items, 2, &count, &n, &why) ==
          CLOSE_RESP_BAD && strcmp(why, "too many items") == 0);
    /* counting only */
    CHECK(close_resp_parse("*2\r\n:1\r\n:2\r\n", 12, &close_resp_default_limits, NULL, 0, &count, &n, &why) ==
          CLOSE_RESP_OK && count == 3 && n == 12);
}

static void test_encode(void) {
    char small[4];
    CHECK(parse("$5\r\nhello\r\n") == CLOSE_RESP_OK);
    CHECK(close_resp_encode(items, count, small, sizeof small) == 11 && memcmp(small, "$5\r\n", 4) == 0);
    CHECK(close_resp_encode(items, count, NULL, 0) == 11);
}

int main(void) {
    test_values();
    test_incomplete();
    test_refused();
    test_encode();
    printf("resp: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
