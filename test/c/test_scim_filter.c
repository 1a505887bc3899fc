/* C unit tests of the SCIM filter and PATCH path parsers and printer
 * (src/scim_filter.c), built with ASan+UBSan like test_pure.c.
 * Prints "N passed, N failed" and exits non-zero on any failure. */
#include <stdio.h>
#include <string.h>

#include "scim_filter.h"

#include "check.h"

static close_scim_node nodes[CLOSE_SCIM_MAX_NODES], nodes2[CLOSE_SCIM_MAX_NODES];
static char text[CLOSE_SCIM_MAX_INPUT], text2[CLOSE_SCIM_MAX_INPUT];
static close_scim_arena arena;
static close_scim_error err;
static char out[4 * CLOSE_SCIM_MAX_INPUT];

static void reset(close_scim_node *n, char *t) {
    arena = close_scim_arena_init(n, CLOSE_SCIM_MAX_NODES, t, CLOSE_SCIM_MAX_INPUT);
}

static close_scim_node *parse(const char *s) {
    reset(nodes, text);
    return close_scim_parse_filter(s, strlen(s), &arena, &err);
}

/* s parses and prints as want, and want parses to an equal tree */
static int canon(const char *s, const char *want) {
    close_scim_node *n = parse(s), *m;
    const char *why = NULL;
    size_t len;
    if (!n) {
        fprintf(stderr, "  %s: error at %zu: %s\n", s, err.pos, err.reason);
        return 0;
    }
    len = close_scim_print_filter(n, out, sizeof out, &why);
    if (len == (size_t)-1 || strcmp(out, want) != 0) {
        fprintf(stderr, "  %s printed %s (%s), not %s\n", s, out, why ? why : "", want);
        return 0;
    }
    reset(nodes2, text2);
    m = close_scim_parse_filter(want, strlen(want), &arena, &err);
    return m && close_scim_equal(n, m);
}

static int error_at(const char *s, size_t pos, const char *reason) {
    if (parse(s)) {
        fprintf(stderr, "  %s: parsed\n", s);
        return 0;
    }
    if (err.pos != pos || strcmp(err.reason, reason) != 0) {
        fprintf(stderr, "  %s: error at %zu: %s\n", s, err.pos, err.reason);
        return 0;
    }
    return 1;
}

/* a value path with a test after ']' differs from the bare value path */
static void test_element_test_equality(void) {
    close_scim_node *a = parse("emails[type eq \"work\"].value ew \"@acme.com\""), *b;
    reset(nodes2, text2);
    b = close_scim_parse_filter("emails[type eq \"work\"]", 22, &arena, &err);
    CHECK(a && b && a->right && !b->right && !close_scim_equal(a, b) && !close_scim_equal(b, a));
}

static void test_grammar(void) {
    CHECK(canon("userName eq \"x@y.com\"", "userName eq \"x@y.com\""));
    CHECK(canon("externalId eq \"00u1abcd\"", "externalId eq \"00u1abcd\""));
    CHECK(canon("userName Eq \"bjensen\"", "userName eq \"bjensen\""));
    CHECK(canon("name.familyName co \"O'Malley\"", "name.familyName co \"O'Malley\""));
    CHECK(canon("userName sw \"J\"", "userName sw \"J\""));
    CHECK(canon("urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"J\"",
                "urn:ietf:params:scim:schemas:core:2.0:User:userName sw \"J\""));
    CHECK(canon("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"m1\"",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq \"m1\""));
    CHECK(canon("title pr", "title pr"));
    CHECK(canon("title PR", "title pr"));
    CHECK(canon("meta.lastModified gt \"2011-05-13T04:42:34Z\"", "meta.lastModified gt \"2011-05-13T04:42:34Z\""));
    CHECK(canon("meta.lastModified ge 5", "meta.lastModified ge 5"));
    CHECK(canon("a lt -1.5e3", "a lt -1500"));
    CHECK(canon("a le 0.1", "a le 0.1"));
    CHECK(canon("a ne 1e21", "a ne 1e+21"));
    CHECK(canon("a eq -0", "a eq -0"));
    CHECK(canon("title pr and userType eq \"Employee\"", "title pr and userType eq \"Employee\""));
    CHECK(canon("title pr or userType eq \"Intern\"", "title pr or userType eq \"Intern\""));
    /* precedence: not > and > or; parentheses only where the tree needs them */
    CHECK(canon("a pr or b pr and c pr", "a pr or b pr and c pr"));
    CHECK(canon("(a pr or b pr) and c pr", "(a pr or b pr) and c pr"));
    CHECK(canon("a pr and (b pr or c pr)", "a pr and (b pr or c pr)"));
    CHECK(canon("a pr or (b pr or c pr)", "a pr or (b pr or c pr)"));
    CHECK(canon("(a pr or b pr) or c pr", "a pr or b pr or c pr"));
    CHECK(canon("((a pr))", "a pr"));
    CHECK(canon("userType eq \"Employee\" and (emails co \"example.com\" or emails.value co \"example.org\")",
                "userType eq \"Employee\" and (emails co \"example.com\" or emails.value co \"example.org\")"));
    CHECK(canon("userType ne \"Employee\" and not (emails co \"example.com\" or emails.value co \"example.org\")",
                "userType ne \"Employee\" and not (emails co \"example.com\" or emails.value co \"example.org\")"));
    CHECK(canon("not a pr and b pr", "not (a pr) and b pr"));
    CHECK(canon("NOT(a pr)", "not (a pr)"));
    CHECK(canon("not not (a pr)", "not (not (a pr))"));
    /* value paths */
    CHECK(canon("emails[type eq \"work\" and value co \"@example.com\"]",
                "emails[type eq \"work\" and value co \"@example.com\"]"));
    CHECK(canon("emails[type eq \"work\" and primary eq true]", "emails[type eq \"work\" and primary eq true]"));
    CHECK(canon("members[value eq \"2819c223\"]", "members[value eq \"2819c223\"]"));
    CHECK(canon("userType eq \"Employee\" and emails[type eq \"work\" and value co \"@example.com\"] or "
                "ims[type eq \"xmpp\" and value co \"@foo.com\"]",
                "userType eq \"Employee\" and emails[type eq \"work\" and value co \"@example.com\"] or "
                "ims[type eq \"xmpp\" and value co \"@foo.com\"]"));
    /* a value path, then a test of the matching element's sub-attribute */
    CHECK(canon("emails[type eq \"work\"].value ew \"@acme.com\"", "emails[type eq \"work\"].value ew \"@acme.com\""));
    CHECK(canon("emails[type eq work and primary eq true].Value EW @acme.com and active eq true",
                "emails[type eq \"work\" and primary eq true].Value ew \"@acme.com\" and active eq true"));
    CHECK(canon("not (emails[primary eq true].display pr)", "not (emails[primary eq true].display pr)"));
    test_element_test_equality();
    /* liberal: unquoted values, any-case booleans, extra whitespace */
    CHECK(canon("userName eq x@y.com", "userName eq \"x@y.com\""));
    CHECK(canon("active eq True", "active eq true"));
    CHECK(canon("active eq FALSE", "active eq false"));
    CHECK(canon("a eq Null", "a eq null"));
    CHECK(canon("a eq 5abc", "a eq \"5abc\""));
    CHECK(canon("  userName   eq\t\"x\"  ", "userName eq \"x\""));
    CHECK(canon("(a pr)and(b pr)", "a pr and b pr"));
    CHECK(canon("emails [ type eq work ]", "emails[type eq \"work\"]"));
    /* strings: escapes decoded, printed back in the canonical escapes */
    CHECK(canon("a eq \"q\\\"b\\\\s\\/\"", "a eq \"q\\\"b\\\\s/\""));
    CHECK(canon("a eq \"\\u00e9\\uD83D\\uDE00\\u0001\\n\"", "a eq \"\xc3\xa9\xf0\x9f\x98\x80\\u0001\\n\""));
    CHECK(canon("a eq \"\"", "a eq \"\""));
    /* attribute names that look like keywords, and $ref */
    CHECK(canon("not pr", "not pr"));
    CHECK(canon("and eq 1 or or pr", "and eq 1 or or pr"));
    CHECK(canon("members.$ref pr", "members.$ref pr"));
    CHECK(canon("a eq and", "a eq \"and\""));
}

static void test_errors(void) {
    static char big[2 * CLOSE_SCIM_MAX_INPUT];
    int i;
    CHECK(error_at("", 1, "empty filter"));
    CHECK(error_at("   ", 1, "empty filter"));
    CHECK(error_at("userName", 9, "expected an operator (eq ne co sw ew gt ge lt le pr)"));
    CHECK(error_at("userName is \"x\"", 10, "unknown operator (eq ne co sw ew gt ge lt le pr)"));
    CHECK(error_at("userName eq", 12, "expected a value"));
    CHECK(error_at("userName eq \"x", 13, "unterminated string"));
    CHECK(error_at("userName eq \"x\\q\"", 15, "invalid escape in a string"));
    CHECK(error_at("a eq \"\\u12\"", 7, "invalid \\u escape"));
    CHECK(error_at("a eq \"\\uDE00\"", 7, "lone surrogate in \\u escape"));
    CHECK(error_at("a eq \"\\uD83Dx\"", 7, "lone surrogate in \\u escape"));
    CHECK(error_at("a eq \"\x01\"", 7, "control character in a string"));
    CHECK(error_at("a eq 1e999", 6, "number out of range"));
    CHECK(error_at("1a eq 1", 1, "invalid attribute name"));
    CHECK(error_at("a.b.c eq 1", 4, "at most one sub-attribute"));
    CHECK(error_at("a. eq 1", 3, "invalid sub-attribute name"));
    CHECK(error_at("x:a eq 1", 1, "invalid attribute name"));
    CHECK(error_at("urn::a eq 1", 1, "invalid schema URN"));
    CHECK(error_at("a pr and", 9, "expected a filter after this"));
    CHECK(error_at("a pr or or", 11, "expected an operator (eq ne co sw ew gt ge lt le pr)"));
    CHECK(error_at("(a pr", 6, "expected ')'"));
    CHECK(error_at("a pr)", 5, "unbalanced ')'"));
    CHECK(error_at("a pr b pr", 6, "expected 'and', 'or' or the end"));
    CHECK(error_at("a eq x y", 8, "expected 'and', 'or' or the end"));
    CHECK(error_at("emails[type eq \"work\"", 22, "expected ']'"));
    CHECK(error_at("emails[type eq \"work\"]. eq \"x\"", 24, "invalid sub-attribute name after ']'"));
    CHECK(error_at("emails[type eq \"work\"].value.x eq \"x\"", 24, "invalid sub-attribute name after ']'"));
    CHECK(error_at("emails[type eq \"work\"].value", 29, "expected an operator (eq ne co sw ew gt ge lt le pr)"));
    CHECK(error_at("emails[type eq \"work\"].value and a pr", 30, "unknown operator (eq ne co sw ew gt ge lt le pr)"));
    CHECK(error_at("a[b[c pr]]", 4, "a value path inside a value path"));
    CHECK(error_at("name.x[c pr]", 1, "a value path's attribute has no sub-attribute"));
    CHECK(error_at(")", 1, "expected an attribute name, '(' or 'not'"));
    CHECK(error_at("\"a\" eq 1", 1, "expected an attribute name, '(' or 'not'"));
    CHECK(error_at("a eq \"\xc3\"", 7, "not UTF-8 text"));
    CHECK(error_at("a eq \"\xed\xa0\x80\"", 7, "not UTF-8 text"));
    /* limits: depth, length, nodes */
    for (i = 0; i < 40; i++) big[i] = '(';
    strcpy(big + 40, "a pr");
    CHECK(error_at(big, 33, "nested too deeply"));
    for (i = 0; i < 31; i++) big[i] = '(';
    strcpy(big + 31, "a pr");
    for (i = 0; i < 31; i++) strcat(big, ")");
    CHECK(parse(big) != NULL);
    /* "not x" nested as deep as the parser takes prints as "not (x)", which parses back */
    big[0] = '\0';
    for (i = 0; i < 31; i++) strcat(big, "not ");
    strcat(big, "a pr");
    CHECK(parse(big) != NULL && close_scim_print_filter(parse(big), out, sizeof out, NULL) != (size_t)-1);
    strcpy(big, out);
    CHECK(parse(big) != NULL);
    big[0] = '\0';
    for (i = 0; i < 32; i++) strcat(big, "not ");
    strcat(big, "a pr");
    CHECK(error_at(big, 129, "nested too deeply"));
    memset(big, ' ', CLOSE_SCIM_MAX_INPUT + 1);
    memcpy(big, "a pr", 4);
    big[CLOSE_SCIM_MAX_INPUT + 1] = '\0';
    CHECK(error_at(big, CLOSE_SCIM_MAX_INPUT + 1, "longer than 8192 bytes"));
    big[CLOSE_SCIM_MAX_INPUT] = '\0';
    CHECK(parse(big) != NULL);
    big[0] = '\0';
    for (i = 0; i < 600; i++) strcat(big, i ? " or a pr" : "a pr");
    CHECK(error_at(big, 4101, "too many terms"));
}

static int path(const char *s, const char *want) {
    close_scim_path p;
    const char *why = NULL;
    reset(nodes, text);
    if (!close_scim_parse_path(s, strlen(s), &arena, &p, &err)) {
        if (want == NULL) return 1;
        fprintf(stderr, "  path %s: error at %zu: %s\n", s, err.pos, err.reason);
        return 0;
    }
    if (want == NULL) return 0;
    if (close_scim_print_path(&p, out, sizeof out, &why) == (size_t)-1 || strcmp(out, want) != 0) {
        fprintf(stderr, "  path %s printed %s\n", s, out);
        return 0;
    }
    return 1;
}

static void test_path(void) {
    close_scim_path p;
    CHECK(path("active", "active"));
    CHECK(path("name.givenName", "name.givenName"));
    CHECK(path("emails[type eq \"work\"].value", "emails[type eq \"work\"].value"));
    CHECK(path("emails[type eq work and primary eq True]", "emails[type eq \"work\" and primary eq true]"));
    CHECK(path("members[value eq \"2819c223-7f76-453a-919d-413861904646\"]",
               "members[value eq \"2819c223-7f76-453a-919d-413861904646\"]"));
    CHECK(path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
               "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"));
    CHECK(path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
               "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"));
    CHECK(path(" active ", "active"));
    CHECK(path("", NULL));
    CHECK(err.pos == 1 && strcmp(err.reason, "empty path") == 0);
    CHECK(path("emails[type eq \"work\"].", NULL));
    CHECK(err.pos == 24 && strcmp(err.reason, "invalid sub-attribute name") == 0);
    CHECK(path("emails[type eq \"work\"]x", NULL));
    CHECK(err.pos == 23 && strcmp(err.reason, "unexpected text after the path") == 0);
    CHECK(path("emails[a[b pr]]", NULL));
    CHECK(path("a b", NULL));
    CHECK(path("emails[]", NULL));
    /* the fields */
    reset(nodes, text);
    CHECK(close_scim_parse_path("emails[type eq \"work\"].value", 28, &arena, &p, &err));
    CHECK(p.attr.name.len == 6 && memcmp(p.attr.name.s, "emails", 6) == 0);
    CHECK(p.attr.sub.len == 5 && memcmp(p.attr.sub.s, "value", 5) == 0 && p.attr.schema.s == NULL);
    CHECK(p.filter && p.filter->op == CLOSE_SCIM_EQ && p.filter->kind == CLOSE_SCIM_STRING);
}

static void test_printer(void) {
    close_scim_node n[3];
    const char *why = NULL;
    char small[8];
    memset(n, 0, sizeof n);
    n[0].op = CLOSE_SCIM_EQ;
    n[0].attr.name.s = "a b";
    n[0].attr.name.len = 3;
    CHECK(close_scim_print_filter(&n[0], out, sizeof out, &why) == (size_t)-1 &&
          strcmp(why, "invalid attribute name") == 0);
    n[0].attr.name.len = 1;
    n[0].kind = CLOSE_SCIM_NUMBER;
    n[0].num = 1.0 / 0.0;
    CHECK(close_scim_print_filter(&n[0], out, sizeof out, &why) == (size_t)-1 &&
          strcmp(why, "number is not finite") == 0);
    n[0].num = 12345.5;
    /* snprintf-like: the whole length, the text cut to fit */
    CHECK(close_scim_print_filter(&n[0], small, sizeof small, &why) == 12 && strcmp(small, "a eq 12") == 0);
    n[1].op = CLOSE_SCIM_AND;
    n[1].left = &n[0];
    CHECK(close_scim_print_filter(&n[1], out, sizeof out, &why) == (size_t)-1 && strcmp(why, "missing operand") == 0);
    n[2].op = CLOSE_SCIM_HAS;
    n[2].attr.name = n[0].attr.name;
    n[2].left = &n[2];
    CHECK(close_scim_print_filter(&n[2], out, sizeof out, &why) == (size_t)-1 &&
          strcmp(why, "a value path inside a value path") == 0);
    n[2].left = &n[0];
    n[2].right = &n[1];
    CHECK(close_scim_print_filter(&n[2], out, sizeof out, &why) == (size_t)-1 && strcmp(why, "unknown operator") == 0);
    n[2].right = &n[0];
    n[0].attr.sub = n[0].attr.name;
    CHECK(close_scim_print_filter(&n[2], out, sizeof out, &why) == (size_t)-1 &&
          strcmp(why, "the test after a value path names one sub-attribute") == 0);
    n[0].attr.sub.s = NULL;
    CHECK(close_scim_print_filter(&n[2], out, sizeof out, &why) == 28 &&
          strcmp(out, "a[a eq 12345.5].a eq 12345.5") == 0);
    CHECK(close_scim_op_from("GE", 2) == CLOSE_SCIM_GE && close_scim_op_from("and", 3) == -1);
    CHECK(strcmp(close_scim_op_name(CLOSE_SCIM_HAS), "has") == 0);
    CHECK(close_scim_valid_name("$ref", 4) && !close_scim_valid_name("_a", 2) && close_scim_valid_name("a-b_1", 5));
    CHECK(close_scim_valid_schema("urn:a:b", 7) && !close_scim_valid_schema("urn:", 4) &&
          !close_scim_valid_schema("urn:a b", 7) && !close_scim_valid_schema("http:x", 6));
}

int main(void) {
    test_grammar();
    test_errors();
    test_path();
    test_printer();
    printf("scim_filter: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
