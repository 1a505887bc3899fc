/* SHA-256 (FIPS 180-4) and base64url without padding (RFC 4648 section 5):
 * what a PKCE code challenge (RFC 7636, S256) is made of. Pure: no I/O, no
 * state beyond the caller's buffers. */
#ifndef CLOSE_SHA256_H
#define CLOSE_SHA256_H

#include <stddef.h>

#define CLOSE_SHA256_LEN 32

/* the digest of len bytes at data into out */
void close_sha256(const unsigned char *data, size_t len, unsigned char out[CLOSE_SHA256_LEN]);

/* the base64url text (no '=' padding) of len bytes into out, which must hold
 * close_base64url_len(len) + 1 bytes (a NUL ends it); returns its length */
size_t close_base64url(const unsigned char *in, size_t len, char *out);
size_t close_base64url_len(size_t len);

#endif
