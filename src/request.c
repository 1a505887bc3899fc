#include "request.h"

#include <string.h>

#include "validate.h"

static int lower(int c) { return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c; }

static int prefix_nocase(const char *s, size_t len, const char *p) {
    size_t i, n = strlen(p);
    if (len < n) return 0;
    for (i = 0; i < n; i++)
        if (lower((unsigned char)s[i]) != p[i]) return 0;
    return 1;
}

int close_is_loopback_host(const char *h, size_t len) {
    size_t i, dots = 0;
    /* localhost and *.localhost are loopback names (RFC 6761), as curl resolves them */
    if (len == 9 && prefix_nocase(h, len, "localhost")) return 1;
    if (len > 10 && prefix_nocase(h + len - 10, 10, ".localhost")) return 1;
    if (len == 5 && memcmp(h, "[::1]", 5) == 0) return 1;
    /* 127.0.0.0/8, written as a dotted quad */
    if (len < 7 || memcmp(h, "127.", 4) != 0) return 0;
    for (i = 4; i < len; i++) {
        if (h[i] == '.') dots++;
        else if (h[i] < '0' || h[i] > '9') return 0;
    }
    return dots == 2;
}

const char *close_check_base_url(const char *url, size_t len, char *out, size_t outsize) {
    size_t i, hstart, hend, end = len;
    int https;
    if (prefix_nocase(url, len, "https://")) { https = 1; hstart = 8; }
    else if (prefix_nocase(url, len, "http://")) { https = 0; hstart = 7; }
    else return "must start with https:// (or http:// for a loopback host)";
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7f) return "must not contain spaces, control or non-ASCII characters";
        if (c == '?' || c == '#') return "must not contain a query or fragment";
    }
    for (hend = hstart; hend < len && url[hend] != '/'; hend++)
        if (url[hend] == '@') return "must not contain user info (pass credentials as options)";
    if (hend == hstart) return "has no host";
    {
        /* the host without its port */
        size_t h = hend;
        if (url[hstart] == '[') {
            const char *rb = memchr(url + hstart, ']', hend - hstart);
            if (!rb) return "has a malformed IPv6 host";
            h = (size_t)(rb - url) + 1;
        } else {
            const char *colon = memchr(url + hstart, ':', hend - hstart);
            if (colon) h = (size_t)(colon - url);
        }
        if (h == hstart) return "has no host";
        if (!https && !close_is_loopback_host(url + hstart, h - hstart))
            return "must use https (plain http is allowed only for loopback hosts)";
    }
    while (end > hend && url[end - 1] == '/') end--;
    if (end + 1 > outsize) return "is too long";
    memcpy(out, url, end);
    out[end] = '\0';
    return NULL;
}

size_t close_base64(const unsigned char *in, size_t len, char *out) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t i, o = 0;
    for (i = 0; i + 2 < len; i += 3) {
        unsigned long v = ((unsigned long)in[i] << 16) | ((unsigned long)in[i + 1] << 8) | in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = tab[(v >> 6) & 63];
        out[o++] = tab[v & 63];
    }
    if (i < len) {
        unsigned long v = (unsigned long)in[i] << 16;
        if (i + 1 < len) v |= (unsigned long)in[i + 1] << 8;
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = (i + 1 < len) ? tab[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

size_t close_urlencode(const char *in, size_t len, char *out) {
    static const char hex[] = "0123456789ABCDEF";
    size_t i, o = 0;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = '\0';
    return o;
}

size_t close_auth_header_size(size_t secret_len) {
    /* "Basic " + base64(secret ":") or "Bearer " + secret, and a NUL */
    return 8 + 4 * ((secret_len + 3) / 3) + secret_len;
}

const char *close_auth_header(int basic, const char *secret, size_t len, char *out, size_t outsize) {
    const char *reason = close_validate_credential(secret, len, basic);
    size_t i, o;
    if (reason) return reason;
    if (outsize < close_auth_header_size(len)) return "is too long";
    if (!basic) {
        memcpy(out, "Bearer ", 7);
        memcpy(out + 7, secret, len);
        out[7 + len] = '\0';
        return NULL;
    }
    /* base64 of "key:" (the API key is the user name; the password is
     * empty), three bytes at a time, reading the ':' past the key's end */
    memcpy(out, "Basic ", 6);
    o = 6;
    for (i = 0; i < len + 1; i += 3) {
        unsigned char b[3];
        size_t k, n = len + 1 - i < 3 ? len + 1 - i : 3;
        for (k = 0; k < 3; k++) b[k] = k < n ? (unsigned char)(i + k < len ? secret[i + k] : ':') : 0;
        o += close_base64(b, n, out + o);
    }
    out[o] = '\0';
    return NULL;
}
