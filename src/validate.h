/* Input validation: pure functions, no Lua and no I/O, so C unit tests and
 * fuzzers can call them directly. Each returns NULL when the value is valid,
 * else a short reason meant to follow the field name ("email: <reason>"). */
#ifndef CLOSE_VALIDATE_H
#define CLOSE_VALIDATE_H

#include <stddef.h>

#define CLOSE_EMAIL_MAX 254
#define CLOSE_EMAIL_LOCAL_MAX 64
#define CLOSE_EMAIL_DOMAIN_MAX 253
#define CLOSE_LABEL_MAX 63

const char *close_validate_email(const char *s, size_t len);

/* Close's predefined roles, whose ids are their names (core.ROLES). */
#define CLOSE_PREDEFINED_ROLES 4
extern const char *const close_predefined_roles[CLOSE_PREDEFINED_ROLES];

/* role_id: a predefined role name or "role_" + alphanumerics. A predefined
 * name in the wrong case is refused with a hint written into buf. */
const char *close_validate_role(const char *s, size_t len, char *buf, size_t bufsize);

/* An object id: prefix (e.g. "memb_") then one or more ASCII letters/digits. */
const char *close_validate_id(const char *s, size_t len, const char *prefix);

/* A credential that will go into an HTTP header: non-empty, printable ASCII,
 * no CR/LF/NUL (header injection), and for an API key no ':' (it is the Basic
 * user name). */
const char *close_validate_credential(const char *s, size_t len, int is_basic_user);

#endif
