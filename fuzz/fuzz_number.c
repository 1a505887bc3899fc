/* close_parse_seconds, the number parser of headers and bodies: accepted
 * input is digits with at most one '.', at most 15 digits, between optional
 * blanks, and the value is what strtod reads from it, within one rounding,
 * at most 1e9. */
#include "fuzz.h"
#include "response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    double v, ref;
    size_t i, digits = 0, dots = 0;
    int ok;
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = '\0';
    ok = close_parse_seconds(s, &v);
    if (ok && strlen(s) == size) {
        for (i = 0; i < size; i++) {
            char c = s[i];
            if (c >= '0' && c <= '9') digits++;
            else if (c == '.') dots++;
            else CHECK(c == ' ' || c == '\t');
        }
        CHECK(digits >= 1 && digits <= 15 && dots <= 1);
        CHECK(v >= 0 && v <= 1e9);
        ref = strtod(s, NULL);
        CHECK(v == ref || (v - ref < 1e-9 * (ref > 1 ? ref : 1) && ref - v < 1e-9 * (ref > 1 ? ref : 1)));
    }
    free(s);
    return 0;
}
