/* Local I/O that OAuth needs and plain Lua lacks: a private token file
 * written atomically (a temporary file of mode 0600, fsync, rename, fsync
 * of the directory), a check that a file is not readable by others, and a
 * one-shot HTTP listener on 127.0.0.1 for the OAuth redirect of a login.
 * Plain C interface; core.c binds it. Every function returns NULL on
 * success or a message (never a path's contents). */
#ifndef CLOSE_LOCALIO_H
#define CLOSE_LOCALIO_H

#include <stddef.h>

/* Writes data to path through path.tmp.<pid>, mode 0600, durably. */
const char *close_write_private(const char *path, const char *data, size_t len);

/* NULL when path is a regular file that only its owner may read or write;
 * "missing" when it does not exist; else the reason. */
const char *close_check_private(const char *path);

/* Creates the directory path with mode 0700 (its parent must exist); NULL
 * also when it exists already as a directory. */
const char *close_mkdir_private(const char *path);

typedef struct {
    int fd;
    int port;
} close_listener;

/* Listens on 127.0.0.1:port (0: a free port, written to l->port). */
const char *close_listen(close_listener *l, int port);

/* Waits up to timeout seconds for one request; reads its head (at most 8 KiB,
 * within the timeout), answers status/body (text/html) and closes the
 * connection. The request target goes into target (NUL-terminated, at most
 * cap - 1 bytes). */
const char *close_accept_once(close_listener *l, double timeout, int status, const char *body,
                              char *target, size_t cap);

void close_listener_close(close_listener *l);

/* SIGINT and SIGTERM set a flag instead of ending the process, so a long
 * run can finish what is in flight and say what it did; a second signal of
 * either ends it at once. close_caught_signal: 0 or the signal's number. */
void close_catch_signals(void);
int close_caught_signal(void);

/* Whether fd is a terminal. */
int close_isatty(int fd);

#endif
