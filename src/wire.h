/* The HTTP/1.1 wire parser both transports share: the status line, the
 * header block and chunk sizes, with the limits and messages of both in one
 * place. Pure: no Lua, no I/O, no allocation. The libcurl transport feeds it
 * the header block curl received; the cosocket transport (close.core is
 * loaded inside nginx too) the bytes it read from the socket. */
#ifndef CLOSE_WIRE_H
#define CLOSE_WIRE_H

#include <stddef.h>

#define CLOSE_MAX_HEAD 65536     /* status line + header block (+ chunked trailers), as curl's cap */
#define CLOSE_MAX_HEADERS 256    /* header fields in one response */
#define CLOSE_MAX_NAME 256       /* bytes of one field name */
#define CLOSE_MAX_CHUNK_LINE 4096 /* one chunk-size line, extensions included */
#define CLOSE_MAX_INTERIM 8      /* 1xx responses skipped before the final one */

/* The messages of the wire rules (kind "protocol" for all of them). */
#define CLOSE_MSG_HEAD_TOO_LARGE "response headers are too large"
#define CLOSE_MSG_BODY_TOO_LARGE "response body is larger than max_body"
#define CLOSE_MSG_CHUNK_LINE_TOO_LONG "malformed chunked body: chunk size line too long"

typedef struct {
    const char *name;  /* NULL: a continuation (obs-fold) of the previous field's value */
    size_t name_len;
    const char *value; /* without surrounding whitespace */
    size_t value_len;
} close_wire_field;

typedef struct {
    int version;       /* 10, 11, 20, ... (major * 10 + minor) */
    int status;        /* 100-999 */
    size_t head_len;   /* bytes of the head, its final empty line included */
    size_t nfields;
    int bad_line;      /* on a malformed head: its line (1: the status line) */
} close_wire_head;

/* Parses one response head at the start of buf: a status line, header lines,
 * an empty line; lines end in CRLF or LF. Returns NULL and fills *head and
 * fields[0..nfields) (spans into buf), or:
 *   - CLOSE_WIRE_INCOMPLETE when buf holds no complete head yet (and is
 *     under the size cap: read more and call again),
 *   - a reason (a static string) for a malformed or too large head.
 * max_fields must be at least CLOSE_MAX_HEADERS. */
extern const char CLOSE_WIRE_INCOMPLETE[];
const char *close_wire_parse_head(const char *buf, size_t len, close_wire_head *head,
                                  close_wire_field *fields, size_t max_fields);

/* Parses a chunk-size line (without its line end): hex digits, optional
 * whitespace and ";extensions". Sets *size. Returns NULL or a reason; a size
 * of more than 2^32 - 1 bytes is refused as too large. */
const char *close_wire_chunk_size(const char *line, size_t len, unsigned long *size);

/* Whether s[0..len) is an HTTP token (a field name, a method). */
int close_wire_is_token(const char *s, size_t len);

/* The methods whose requests carry a body and say its length, even when it
 * is empty: POST, PUT, PATCH (close.core.BODY_METHODS, for the cosocket
 * transport and the SCIM handler). */
#define CLOSE_BODY_METHODS 3
extern const char *const close_body_methods[CLOSE_BODY_METHODS];
int close_wire_method_has_body(const char *method);

/* A request header we send: NULL when the name is a token and the value has
 * no CR, LF or NUL; else CLOSE_WIRE_BAD_NAME or CLOSE_WIRE_BAD_VALUE (the
 * callers name the header in their messages, never echo its value). */
extern const char CLOSE_WIRE_BAD_NAME[], CLOSE_WIRE_BAD_VALUE[];
const char *close_wire_check_header(const char *name, size_t nlen, const char *value, size_t vlen);

/* A block of request header lines, "Name: value" joined by CRLF, each
 * checked as above. NULL, or a reason naming the rule broken. */
const char *close_wire_check_header_block(const char *block, size_t len);

/* How a response's body is framed (RFC 9112 section 6.3), for a reader of
 * the socket: none, Content-Length bytes, chunked, or until the server
 * closes; and whether the connection may carry another request after it. */
typedef enum { CLOSE_BODY_NONE, CLOSE_BODY_LENGTH, CLOSE_BODY_CHUNKED, CLOSE_BODY_UNTIL_CLOSE } close_body_kind;
typedef struct {
    close_body_kind kind;
    unsigned long long length; /* CLOSE_BODY_LENGTH: bytes, at most max_body */
    int keep_alive;
} close_wire_body;

/* From the request's method and the final response's status, version and
 * Connection, Transfer-Encoding and Content-Length values (NULL when absent;
 * repeated fields joined with ", "). Returns NULL, or a reason:
 * CLOSE_WIRE_BAD_CODING (any transfer-coding but chunked: we never ask for
 * one), "invalid Content-Length", or CLOSE_MSG_BODY_TOO_LARGE. */
extern const char CLOSE_WIRE_BAD_CODING[];
const char *close_wire_body_framing(const char *method, int status, int version, const char *connection,
                                    const char *transfer_encoding, const char *content_length,
                                    unsigned long long max_body, close_wire_body *out);

#endif
