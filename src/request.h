/* Request building: pure functions for the base URL, authentication header
 * and query encoding. No Lua, no I/O. */
#ifndef CLOSE_REQUEST_H
#define CLOSE_REQUEST_H

#include <stddef.h>

/* Checks a base URL: http or https, a host, no user info (credentials never
 * travel in URLs), no query or fragment; plain http only to a loopback host.
 * Writes the URL without trailing slashes into out (outsize >= len + 1).
 * Returns NULL or a reason. */
const char *close_check_base_url(const char *url, size_t len, char *out, size_t outsize);

/* Whether host (as written in a URL, brackets included for IPv6) is
 * loopback: localhost, *.localhost, 127.0.0.0/8 as a dotted quad, [::1].
 * The one rule of both transports and of base URL checks. */
int close_is_loopback_host(const char *host, size_t len);

/* Standard base64 of in[0..len) into out; returns the length written.
 * out must hold 4 * ((len + 2) / 3) + 1 bytes. */
size_t close_base64(const unsigned char *in, size_t len, char *out);

/* Percent-encodes everything but RFC 3986 unreserved characters.
 * out must hold 3 * len + 1 bytes; returns the length written. */
size_t close_urlencode(const char *in, size_t len, char *out);

/* The Authorization header value for an API key (basic: "Basic " +
 * base64(key ":")) or an OAuth token ("Bearer " + token), NUL-terminated in
 * out. Returns NULL, or a reason when the credential cannot go into a
 * header (close_validate_credential) or outsize is below
 * close_auth_header_size(len). */
const char *close_auth_header(int basic, const char *secret, size_t len, char *out, size_t outsize);
size_t close_auth_header_size(size_t secret_len);

#endif
