#include "wire.h"

#include <string.h>

const char CLOSE_WIRE_INCOMPLETE[] = "incomplete";

/* RFC 9110 tchar */
static int is_tchar(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

int close_wire_is_token(const char *s, size_t len) {
    size_t i;
    if (len == 0) return 0;
    for (i = 0; i < len; i++)
        if (!is_tchar((unsigned char)s[i])) return 0;
    return 1;
}

const char *const close_body_methods[CLOSE_BODY_METHODS] = {"POST", "PUT", "PATCH"};

int close_wire_method_has_body(const char *method) {
    int i;
    for (i = 0; i < CLOSE_BODY_METHODS; i++) {
        if (strcmp(method, close_body_methods[i]) == 0) return 1;
    }
    return 0;
}

static int is_ws(char c) { return c == ' ' || c == '\t'; }

/* field-content: visible characters, obs-text, SP and HTAB; no other control */
static int value_ok(const char *s, size_t len) {
    size_t i;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) return 0;
    }
    return 1;
}

static int digit(const char *s, size_t len, size_t i) { return i < len && s[i] >= '0' && s[i] <= '9'; }

/* HTTP/<major>[.<minor>] <3 digits>[ <reason>] */
static const char *status_line(const char *s, size_t len, close_wire_head *head) {
    size_t i = 6;
    int major, minor = 0, code;
    if (len < 10 || memcmp(s, "HTTP/", 5) != 0 || !digit(s, len, 5)) return "malformed status line";
    major = s[5] - '0';
    if (s[i] == '.') {
        if (!digit(s, len, i + 1)) return "malformed status line";
        minor = s[i + 1] - '0';
        i += 2;
    }
    if (i >= len || s[i] != ' ' || !digit(s, len, i + 1) || !digit(s, len, i + 2) || !digit(s, len, i + 3) ||
        s[i + 1] == '0')
        return "malformed status line";
    code = (s[i + 1] - '0') * 100 + (s[i + 2] - '0') * 10 + (s[i + 3] - '0');
    i += 4;
    /* a reason phrase follows a space; "HTTP/2 200" has none */
    if (i < len && (s[i] != ' ' || !value_ok(s + i, len - i))) return "malformed status line";
    head->version = major * 10 + minor;
    head->status = code;
    return NULL;
}

const char *close_wire_parse_head(const char *buf, size_t len, close_wire_head *head,
                                  close_wire_field *fields, size_t max_fields) {
    size_t pos = 0, n = 0;
    int first = 1;
    memset(head, 0, sizeof *head);
    for (;;) {
        head->bad_line++; /* the line at hand, kept when it is refused */
        const char *line = buf + pos, *nl, *colon, *v, *ve;
        size_t llen, avail = len - pos;
        nl = memchr(line, '\n', avail > CLOSE_MAX_HEAD - pos ? CLOSE_MAX_HEAD - pos : avail);
        if (!nl) return len >= CLOSE_MAX_HEAD ? CLOSE_MSG_HEAD_TOO_LARGE : CLOSE_WIRE_INCOMPLETE;
        llen = (size_t)(nl - line);
        pos += llen + 1;
        if (llen > 0 && line[llen - 1] == '\r') llen--;
        if (memchr(line, '\r', llen)) return first ? "malformed status line" : "malformed header line";
        if (first) {
            const char *why = status_line(line, llen, head);
            if (why) return why;
            first = 0;
            continue;
        }
        if (llen == 0) break; /* the end of the head */
        if (n == max_fields || n == CLOSE_MAX_HEADERS) return "too many response headers";
        if (is_ws(line[0])) {
            /* obs-fold: continues the previous field's value */
            if (n == 0) return "malformed header line";
            v = line;
            ve = line + llen;
            fields[n].name = NULL;
            fields[n].name_len = 0;
        } else {
            colon = memchr(line, ':', llen);
            if (!colon || (size_t)(colon - line) > CLOSE_MAX_NAME || !close_wire_is_token(line, (size_t)(colon - line)))
                return "malformed header line";
            fields[n].name = line;
            fields[n].name_len = (size_t)(colon - line);
            v = colon + 1;
            ve = line + llen;
        }
        while (v < ve && is_ws(*v)) v++;
        while (ve > v && is_ws(ve[-1])) ve--;
        if (!value_ok(v, (size_t)(ve - v))) return "malformed header line";
        fields[n].value = v;
        fields[n].value_len = (size_t)(ve - v);
        n++;
    }
    head->head_len = pos;
    head->nfields = n;
    head->bad_line = 0;
    return NULL;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

const char *close_wire_chunk_size(const char *line, size_t len, unsigned long *size) {
    size_t i = 0;
    unsigned long v = 0;
    int d;
    if (len > CLOSE_MAX_CHUNK_LINE) return CLOSE_MSG_CHUNK_LINE_TOO_LONG;
    if (len == 0 || hex_value(line[0]) < 0) return "malformed chunked body: bad chunk size";
    for (; i < len && (d = hex_value(line[i])) >= 0; i++) {
        if (v > 0xfffffffUL) return CLOSE_MSG_BODY_TOO_LARGE; /* past 2^32 - 1 */
        v = v * 16 + (unsigned long)d;
    }
    while (i < len && is_ws(line[i])) i++;
    if (i < len && line[i] != ';') return "malformed chunked body: bad chunk size";
    if (i < len && !value_ok(line + i, len - i)) return "malformed chunked body: bad chunk size";
    *size = v;
    return NULL;
}

const char CLOSE_WIRE_BAD_NAME[] = "name", CLOSE_WIRE_BAD_VALUE[] = "value";

const char *close_wire_check_header(const char *name, size_t nlen, const char *value, size_t vlen) {
    size_t i;
    if (!close_wire_is_token(name, nlen)) return CLOSE_WIRE_BAD_NAME;
    for (i = 0; i < vlen; i++)
        if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0') return CLOSE_WIRE_BAD_VALUE;
    return NULL;
}

const char *close_wire_check_header_block(const char *block, size_t len) {
    size_t start = 0;
    if (len == 0) return NULL;
    for (;;) { /* a block ending in CRLF ends in an empty line, which is no header */
        const char *line = block + start, *colon, *end = line;
        size_t llen;
        /* the end of this line: a CRLF or the end of the block */
        while (end < block + len && !(end[0] == '\r' && end + 1 < block + len && end[1] == '\n')) end++;
        llen = (size_t)(end - line);
        if (memchr(line, '\r', llen) || memchr(line, '\n', llen) || memchr(line, '\0', llen))
            return "header lines may only be separated by CRLF";
        colon = memchr(line, ':', llen);
        if (!colon || close_wire_check_header(line, (size_t)(colon - line), colon + 1,
                                              llen - (size_t)(colon - line) - 1) != NULL)
            return "header lines must be 'Name: value' with a token name";
        if (end == block + len) return NULL;
        start += llen + 2;
    }
}

const char CLOSE_WIRE_BAD_CODING[] = "unsupported transfer-coding";

static char lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c; }

/* Whether a comma-separated list of tokens holds this (lower-case) one. */
static int has_token(const char *list, const char *token) {
    size_t n = strlen(token);
    while (list && *list) {
        size_t i = 0;
        while (*list == ',' || is_ws(*list)) list++;
        while (list[i] && list[i] != ',' && !is_ws(list[i])) i++;
        if (i == n) {
            size_t k = 0;
            while (k < n && lower(list[k]) == token[k]) k++;
            if (k == n) return 1;
        }
        list += i;
    }
    return 0;
}

/* "chunked" alone, any case, surrounding whitespace allowed */
static int only_chunked(const char *te) {
    static const char chunked[] = "chunked";
    size_t k;
    while (is_ws(*te)) te++;
    for (k = 0; k < sizeof chunked - 1; k++)
        if (lower(te[k]) != chunked[k]) return 0;
    te += k;
    while (is_ws(*te)) te++;
    return *te == '\0';
}

/* Content-Length: a number, or a list of the same number repeated.
 * Saturates past 2^63: any such length is beyond any max_body. */
static int content_length(const char *s, unsigned long long *out) {
    int have = 0;
    while (*s) {
        unsigned long long v = 0;
        int digits = 0;
        if (*s == ',') { /* an empty element: skipped */
            s++;
            continue;
        }
        while (is_ws(*s)) s++;
        for (; *s >= '0' && *s <= '9'; s++, digits++)
            v = v > 922337203685477580ULL ? 9223372036854775807ULL : v * 10 + (unsigned)(*s - '0');
        while (is_ws(*s)) s++;
        if (!digits || (*s != ',' && *s != '\0') || (have && v != *out)) return 0;
        *out = v;
        have = 1;
    }
    return have;
}

const char *close_wire_body_framing(const char *method, int status, int version, const char *connection,
                                    const char *transfer_encoding, const char *cl, unsigned long long max_body,
                                    close_wire_body *out) {
    out->length = 0;
    out->keep_alive = (version >= 11 && !has_token(connection, "close")) ||
                      (version == 10 && has_token(connection, "keep-alive"));
    if (strcmp(method, "HEAD") == 0 || status == 204 || status == 304 || (status >= 100 && status < 200)) {
        out->kind = CLOSE_BODY_NONE;
        return NULL;
    }
    if (transfer_encoding) {
        out->kind = CLOSE_BODY_CHUNKED;
        return only_chunked(transfer_encoding) ? NULL : CLOSE_WIRE_BAD_CODING;
    }
    if (cl) {
        out->kind = CLOSE_BODY_LENGTH;
        if (!content_length(cl, &out->length)) return "invalid Content-Length";
        return out->length > max_body ? CLOSE_MSG_BODY_TOO_LARGE : NULL;
    }
    out->kind = CLOSE_BODY_UNTIL_CLOSE;
    out->keep_alive = 0;
    return NULL;
}
