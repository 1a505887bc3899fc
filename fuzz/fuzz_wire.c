/* The wire parser both transports share: a parsed head round-trips (written
 * back and parsed again it gives the same status, version and fields), its
 * fields lie inside the input, names are tokens, values hold no CR, LF or
 * other control; the limits hold; every field would pass the rule for the
 * headers we send. Body framing of a parsed head: a length is at most
 * max_body and is the number Content-Length says; a body read until close
 * never keeps the connection; HEAD, 204 and 304 have none; a
 * Transfer-Encoding is chunked or refused; HTTP/1.1 keeps the connection
 * unless Connection names close. Chunk sizes: what is accepted is the hex
 * number at the start of the line, below 2^32. */
#include "fuzz.h"
#include "wire.h"

static close_wire_field f1[CLOSE_MAX_HEADERS], f2[CLOSE_MAX_HEADERS];

/* the value of the first field of this (lower-case) name, as a C string */
static char *field(const close_wire_head *h, const char *name, char *out, size_t cap) {
    size_t i, k, n = strlen(name);
    for (i = 0; i < h->nfields; i++) {
        const close_wire_field *f = &f1[i];
        if (!f->name || f->name_len != n) continue;
        for (k = 0; k < n && (f->name[k] | 0x20) == name[k]; k++) {}
        if (k < n) continue;
        n = f->value_len < cap - 1 ? f->value_len : cap - 1;
        memcpy(out, f->value, n);
        out[n] = '\0';
        return out;
    }
    return NULL;
}

static int has_close(const char *connection) {
    const char *p;
    for (p = connection; p && *p; p++)
        if ((p[0] | 0x20) == 'c' && (p[1] | 0x20) == 'l' && (p[2] | 0x20) == 'o' && (p[3] | 0x20) == 's' &&
            (p[4] | 0x20) == 'e')
            return 1;
    return 0;
}

static void check_framing(const close_wire_head *h, const uint8_t *data, size_t size) {
    static const char *const methods[] = {"GET", "HEAD", "POST", "PUT"};
    char c_buf[512], t_buf[512], l_buf[512];
    const char *method = methods[size ? data[size - 1] % 4 : 0];
    const char *conn = field(h, "connection", c_buf, sizeof c_buf);
    const char *te = field(h, "transfer-encoding", t_buf, sizeof t_buf);
    const char *cl = field(h, "content-length", l_buf, sizeof l_buf);
    unsigned long long max_body = size ? (unsigned long long)data[0] * 1000 : 0;
    close_wire_body b;
    const char *why = close_wire_body_framing(method, h->status, h->version, conn, te, cl, max_body, &b);
    size_t i;
    for (i = 0; i < h->nfields; i++)
        if (f1[i].name) CHECK(close_wire_check_header(f1[i].name, f1[i].name_len, f1[i].value, f1[i].value_len) == NULL);
    if (b.keep_alive) CHECK(h->version >= 10);
    if (strcmp(method, "HEAD") == 0 || h->status == 204 || h->status == 304) {
        CHECK(!why && b.kind == CLOSE_BODY_NONE);
        return;
    }
    if (h->status < 200) return;
    if (te) CHECK(b.kind == CLOSE_BODY_CHUNKED && (why == NULL || why == CLOSE_WIRE_BAD_CODING));
    if (!why && b.kind == CLOSE_BODY_LENGTH) {
        char *end;
        CHECK(cl && !te && b.length <= max_body && strtoull(cl + strspn(cl, " \t,"), &end, 10) == b.length);
    }
    if (!why && b.kind == CLOSE_BODY_UNTIL_CLOSE) CHECK(!te && !cl && !b.keep_alive);
    if (!why && b.kind != CLOSE_BODY_UNTIL_CLOSE && h->version == 11 && !has_close(conn)) CHECK(b.keep_alive);
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *buf = (const char *)data, *why;
    close_wire_head h1, h2;
    size_t i, k, n = 0, cap;
    char *out;
    unsigned long chunk;

    why = close_wire_chunk_size(buf, size, &chunk);
    if (!why) {
        unsigned long ref = 0;
        int d;
        CHECK(chunk <= 0xffffffffUL && size > 0 && size <= CLOSE_MAX_CHUNK_LINE);
        for (i = 0; i < size && (d = hexval(buf[i])) >= 0; i++) ref = ref * 16 + (unsigned long)d;
        CHECK(i > 0 && ref == chunk);
        CHECK(i == size || buf[i] == ';' || buf[i] == ' ' || buf[i] == '\t');
    }

    why = close_wire_parse_head(buf, size, &h1, f1, CLOSE_MAX_HEADERS);
    if (why) {
        CHECK(why == CLOSE_WIRE_INCOMPLETE ? size < CLOSE_MAX_HEAD : h1.bad_line >= 0);
        return 0;
    }
    CHECK(h1.head_len <= size && h1.head_len <= CLOSE_MAX_HEAD);
    check_framing(&h1, data, size);
    CHECK(h1.status >= 100 && h1.status <= 999 && h1.nfields <= CLOSE_MAX_HEADERS);
    cap = 32 + h1.head_len * 2;
    out = malloc(cap);
    if (!out) abort();
    n = (size_t)snprintf(out, cap, "HTTP/%d.%d %d\r\n", h1.version / 10, h1.version % 10, h1.status);
    for (i = 0; i < h1.nfields; i++) {
        const close_wire_field *f = &f1[i];
        CHECK(f->value >= buf && f->value + f->value_len <= buf + h1.head_len);
        for (k = 0; k < f->value_len; k++) {
            unsigned char c = (unsigned char)f->value[k];
            CHECK(c >= 0x20 || c == '\t');
            CHECK(c != 0x7f);
        }
        CHECK(f->value_len == 0 || (f->value[0] != ' ' && f->value[0] != '\t'));
        if (f->name) {
            CHECK(f->name >= buf && f->name + f->name_len <= buf + h1.head_len);
            CHECK(close_wire_is_token(f->name, f->name_len) && f->name_len <= CLOSE_MAX_NAME);
            memcpy(out + n, f->name, f->name_len);
            n += f->name_len;
            out[n++] = ':';
        } else {
            CHECK(i > 0);
        }
        out[n++] = ' ';
        memcpy(out + n, f->value, f->value_len);
        n += f->value_len;
        out[n++] = '\r';
        out[n++] = '\n';
    }
    out[n++] = '\r';
    out[n++] = '\n';
    CHECK(n <= cap);
    if (n <= CLOSE_MAX_HEAD) {
        why = close_wire_parse_head(out, n, &h2, f2, CLOSE_MAX_HEADERS);
        CHECK(why == NULL);
        CHECK(h2.status == h1.status && h2.version == (h1.version / 10) * 10 + h1.version % 10);
        CHECK(h2.nfields == h1.nfields && h2.head_len == n);
        for (i = 0; i < h1.nfields; i++) {
            CHECK((f1[i].name == NULL) == (f2[i].name == NULL));
            CHECK(f1[i].name_len == f2[i].name_len && memcmp(f1[i].name ? f1[i].name : "", f2[i].name ? f2[i].name : "",
                                                             f1[i].name_len) == 0);
            CHECK(f1[i].value_len == f2[i].value_len && memcmp(f1[i].value, f2[i].value, f1[i].value_len) == 0);
        }
    }
    free(out);
    return 0;
}
