/* close_validate_role and close_validate_id: what is accepted is exactly a
 * predefined role or a prefix plus letters and digits; a hint for a wrong
 * case names the role it means. */
#include "fuzz.h"
#include "validate.h"

static int alnum_from(const char *s, size_t from, size_t len) {
    size_t i;
    if (len <= from) return 0;
    for (i = from; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return 0;
    }
    return 1;
}

static int is(const char *s, size_t len, const char *w) { return len == strlen(w) && memcmp(s, w, len) == 0; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    char buf[96];
    const char *why;
    int predefined = is(s, size, "admin") || is(s, size, "superuser") || is(s, size, "user") ||
                     is(s, size, "restricteduser");
    int custom = size > 5 && memcmp(s, "role_", 5) == 0 && alnum_from(s, 5, size);
    memset(buf, 'z', sizeof buf);
    why = close_validate_role(s, size, buf, sizeof buf);
    CHECK((why == NULL) == (predefined || custom));
    if (why == buf) {
        CHECK(memchr(buf, '\0', sizeof buf) != NULL);
        CHECK(strncmp(buf, "unknown role (did you mean '", 28) == 0);
    }
    why = close_validate_id(s, size, "memb_");
    CHECK((why == NULL) == (size > 5 && memcmp(s, "memb_", 5) == 0 && alnum_from(s, 5, size)));
    return 0;
}
