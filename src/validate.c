#include "validate.h"

#include <stdio.h>
#include <string.h>

static int is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_alnum(unsigned char c) { return is_alpha(c) || is_digit(c); }

/* RFC 5322 atext: the characters of a dot-atom other than '.'. */
static int is_atext(unsigned char c) {
    return is_alnum(c) || (c != 0 && strchr("!#$%&'*+/=?^_`{|}~-", c) != NULL);
}

static const char *check_domain(const char *d, size_t len) {
    size_t i, start = 0, labels = 0;
    if (len == 0) return "domain is empty";
    if (len > CLOSE_EMAIL_DOMAIN_MAX) return "domain must be at most 253 characters";
    for (i = 0; i <= len; i++) {
        if (i == len || d[i] == '.') {
            size_t n = i - start;
            if (n == 0) return "domain has an empty label";
            if (n > CLOSE_LABEL_MAX) return "domain label must be at most 63 characters";
            if (d[start] == '-' || d[i - 1] == '-') return "domain label must not start or end with '-'";
            labels++;
            start = i + 1;
        } else if (!is_alnum((unsigned char)d[i]) && d[i] != '-') {
            return "domain may only contain letters, digits, '-' and '.'";
        }
    }
    if (labels < 2) return "domain must have at least two labels";
    return NULL;
}

const char *close_validate_email(const char *s, size_t len) {
    size_t i, at = len;
    if (len == 0) return "must not be empty";
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) return "must be ASCII";
        if (c <= 0x20 || c == 0x7f) return "must not contain whitespace or control characters";
        if (c == '@') at = i;
    }
    if (at == len) return "must contain '@'";
    if (len > CLOSE_EMAIL_MAX) return "must be at most 254 characters";
    if (at == 0) return "local part is empty";
    if (at > CLOSE_EMAIL_LOCAL_MAX) return "local part must be at most 64 characters";
    for (i = 0; i < at; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (i == 0 || i == at - 1) return "local part must not start or end with '.'";
            if (s[i + 1] == '.') return "local part must not contain '..'";
        } else if (!is_atext(c)) {
            return c == '@' ? "must contain exactly one '@'" : "local part has a character that is not allowed";
        }
    }
    return check_domain(s + at + 1, len - at - 1);
}

const char *const close_predefined_roles[CLOSE_PREDEFINED_ROLES] = {"admin", "superuser", "user", "restricteduser"};

static int equal_nocase(const char *a, size_t alen, const char *b) {
    size_t i, blen = strlen(b);
    if (alen != blen) return 0;
    for (i = 0; i < alen; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z') x = (unsigned char)(x - 'A' + 'a');
        if (x != y) return 0;
    }
    return 1;
}

const char *close_validate_role(const char *s, size_t len, char *buf, size_t bufsize) {
    size_t i;
    if (len == 0) return "must not be empty";
    for (i = 0; i < (size_t)CLOSE_PREDEFINED_ROLES; i++) {
        const char *r = close_predefined_roles[i];
        if (len == strlen(r) && memcmp(s, r, len) == 0) return NULL;
        if (equal_nocase(s, len, r)) {
            snprintf(buf, bufsize, "unknown role (did you mean '%s'?)", r);
            return buf;
        }
    }
    if (len > 5 && equal_nocase(s, 5, "role_")) {
        if (memcmp(s, "role_", 5) != 0) return "unknown role (custom role ids start with lower-case 'role_')";
        if (close_validate_id(s, len, "role_") == NULL) return NULL;
        return "custom role id must be 'role_' followed by letters and digits";
    }
    return "must be 'admin', 'superuser', 'user', 'restricteduser' or a role id 'role_...'";
}

const char *close_validate_id(const char *s, size_t len, const char *prefix) {
    size_t i, plen = strlen(prefix);
    if (len <= plen || memcmp(s, prefix, plen) != 0) return "must start with the id prefix followed by letters and digits";
    for (i = plen; i < len; i++)
        if (!is_alnum((unsigned char)s[i])) return "may only contain letters and digits after the prefix";
    return NULL;
}

const char *close_validate_credential(const char *s, size_t len, int is_basic_user) {
    size_t i;
    if (len == 0) return "must not be empty";
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r' || c == '\n' || c == 0) return "must not contain CR, LF or NUL";
        if (c < 0x20 || c >= 0x7f) return "must be printable ASCII";
        if (is_basic_user && c == ':') return "must not contain ':'";
    }
    return NULL;
}
