/* close_validate_email: an accepted address meets every documented limit,
 * checked here by an independent reading of the rule. */
#include "fuzz.h"
#include "validate.h"

static int atext(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+/=?^_`{|}~-", c));
}
static int ldh(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data, *why = close_validate_email(s, size);
    size_t i, at = 0, ats = 0, label = 0, labels = 1;
    if (why) {
        CHECK(*why != '\0');
        return 0;
    }
    CHECK(size >= 3 && size <= 254);
    for (i = 0; i < size; i++)
        if (s[i] == '@') { at = i; ats++; }
    CHECK(ats == 1);
    CHECK(at >= 1 && at <= 64);
    CHECK(size - at - 1 <= 253);
    CHECK(s[0] != '.' && s[at - 1] != '.');
    for (i = 0; i < at; i++) {
        CHECK(atext((unsigned char)s[i]) || s[i] == '.');
        CHECK(!(s[i] == '.' && s[i + 1] == '.'));
    }
    for (i = at + 1; i <= size; i++) {
        if (i == size || s[i] == '.') {
            CHECK(label >= 1 && label <= 63);
            CHECK(s[i - 1] != '-' && s[i - label] != '-');
            if (i < size) labels++;
            label = 0;
        } else {
            CHECK(ldh((unsigned char)s[i]));
            label++;
        }
    }
    CHECK(labels >= 2);
    return 0;
}
