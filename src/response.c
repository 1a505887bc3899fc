#include "response.h"

#include <string.h>

const char *close_status_kind(int status) {
    if (status >= 200 && status < 300) return NULL;
    switch (status) {
    case 400: return "bad_request";
    case 401: return "auth";
    case 403: return "permission";
    case 404: return "not_found";
    case 429: return "rate_limited";
    default: return (status >= 500 && status < 600) ? "server" : "api";
    }
}

static int is_space(char c) { return c == ' ' || c == '\t'; }

int close_parse_seconds(const char *s, double *out) {
    /* by hand, not strtod: strtod takes hex, exponents, inf, nan and signs,
     * and follows the host's LC_NUMERIC, which a Lua host may have changed */
    double v = 0, scale = 1; /* v / scale: one rounding, at the end */
    int digits = 0, dot = 0;
    if (s == NULL) return 0;
    while (is_space(*s)) s++;
    for (; *s && !is_space(*s); s++) {
        if (*s == '.' && !dot) dot = 1;
        else if (*s >= '0' && *s <= '9') {
            digits++;
            if (digits > 15) return 0; /* beyond a double's exact integers */
            v = v * 10 + (*s - '0');
            if (dot) scale *= 10;
        } else return 0;
    }
    while (is_space(*s)) s++;
    if (*s != '\0' || digits == 0 || v / scale > CLOSE_MAX_HINT) return 0;
    *out = v / scale;
    return 1;
}

/* Reads "key=number" for keys of the given (case-insensitive) names from a
 * list separated by ',' or ';'. */
static int find_param(const char *s, const char *key, double *out) {
    size_t klen = strlen(key);
    const char *p = s;
    while (p && *p) {
        size_t i;
        while (*p == ',' || *p == ';' || is_space(*p)) p++;
        for (i = 0; i < klen; i++) {
            char c = p[i];
            if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
            if (c != key[i]) break;
        }
        if (i == klen && p[klen] == '=') {
            char buf[64];
            const char *v = p + klen + 1, *e = v;
            size_t n;
            if (*v == '"') { v++; e = v; while (*e && *e != '"') e++; }
            else while (*e && *e != ',' && *e != ';') e++;
            n = (size_t)(e - v);
            if (n >= sizeof buf) return 0;
            memcpy(buf, v, n);
            buf[n] = '\0';
            return close_parse_seconds(buf, out);
        }
        p = strpbrk(p, ",;");
    }
    return 0;
}

int close_parse_ratelimit(const char *rl, const char *policy, const char *x_limit,
                          const char *x_remaining, const char *x_reset, close_ratelimit *out) {
    int found = 0;
    out->limit = out->remaining = out->reset = -1;
    if (rl) {
        found |= find_param(rl, "limit", &out->limit);
        found |= find_param(rl, "remaining", &out->remaining);
        found |= find_param(rl, "reset", &out->reset);
        found |= find_param(rl, "r", &out->remaining);
        found |= find_param(rl, "t", &out->reset);
        if (policy && out->limit < 0) found |= find_param(policy, "q", &out->limit);
    }
    if (x_limit && out->limit < 0) found |= close_parse_seconds(x_limit, &out->limit);
    if (x_remaining && out->remaining < 0) found |= close_parse_seconds(x_remaining, &out->remaining);
    if (x_reset && out->reset < 0) found |= close_parse_seconds(x_reset, &out->reset);
    return found;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), without timegm(). */
static long days_from_civil(long y, unsigned m, unsigned d) {
    long era;
    unsigned yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long)doe - 719468;
}

static int two_digits(const char *p, int *out) {
    if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9') return 0;
    *out = (p[0] - '0') * 10 + (p[1] - '0');
    return 1;
}

int close_parse_http_date(const char *s, time_t *out) {
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    int day, year_hi, year_lo, hh, mm, ss, mon;
    const char *m;
    if (s == NULL) return 0;
    while (is_space(*s)) s++;
    /* "Sun, 06 Nov 1994 08:49:37 GMT": 29 characters */
    if (strlen(s) < 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
        s[16] != ' ' || s[19] != ':' || s[22] != ':' || s[25] != ' ' || memcmp(s + 26, "GMT", 3) != 0)
        return 0;
    if (!two_digits(s + 5, &day) || !two_digits(s + 12, &year_hi) || !two_digits(s + 14, &year_lo) ||
        !two_digits(s + 17, &hh) || !two_digits(s + 20, &mm) || !two_digits(s + 23, &ss))
        return 0;
    m = NULL;
    for (mon = 0; mon < 12; mon++)
        if (memcmp(months + 3 * mon, s + 8, 3) == 0) { m = s + 8; break; }
    if (!m || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60) return 0;
    *out = (time_t)(days_from_civil(year_hi * 100 + year_lo, (unsigned)mon + 1, (unsigned)day) * 86400L +
                    hh * 3600L + mm * 60L + ss);
    return 1;
}

int close_parse_retry_after(const char *value, const char *date_header, time_t now, double *out) {
    time_t when, ref;
    if (value == NULL) return 0;
    if (close_parse_seconds(value, out)) return 1;
    if (!close_parse_http_date(value, &when)) return 0;
    if (!close_parse_http_date(date_header, &ref)) ref = now;
    *out = when > ref ? (double)(when - ref) : 0.0;
    if (*out > CLOSE_MAX_HINT) *out = CLOSE_MAX_HINT;
    return 1;
}
