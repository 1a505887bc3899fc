/* A scripted HTTP server on loopback that answers each request with the next
 * of a list of raw responses, broken ones included (in the spirit of
 * curl-fuzzer's TLV-scripted responses). Used by the replay specs (through
 * replay_server, the command), by test/c/test_replay.c and by the transport's
 * fuzzer (in a thread of the fuzzing process). */
#ifndef CLOSE_REPLAY_H
#define CLOSE_REPLAY_H

#include <stddef.h>

/* What the server does after writing a record's bytes. */
enum {
    REPLAY_KEEP = 0,  /* keep the connection and wait for the next request */
    REPLAY_CLOSE = 1, /* close the connection */
    REPLAY_RESET = 2, /* close with a TCP reset (SO_LINGER 0) */
    REPLAY_HANG = 3   /* send nothing; hold the connection until the peer closes it */
};

typedef struct {
    const unsigned char *data;
    size_t len;
    int after; /* REPLAY_KEEP, ... */
} replay_record;

typedef struct replay_server replay_server;

/* Binds 127.0.0.1 on a free port and serves recs (not copied: they must stay
 * valid) in a thread of its own. With cycle, the list starts over when used
 * up; without it, every request after the last record gets a connection
 * closed without an answer. NULL on failure. */
replay_server *replay_start(const replay_record *recs, size_t n, int cycle);
int replay_port(const replay_server *s);
/* Stops the thread, closes everything; returns how many records were sent. */
size_t replay_stop(replay_server *s);

/* Runs the loop in the calling thread until max_seconds pass, or (when
 * cycle is off) until every record was used and no connection is left open.
 * port_out (may be NULL) is called once with the port, before serving.
 * Returns the number of records sent, or -1 when the socket could not be set up. */
long replay_serve(const replay_record *recs, size_t n, int cycle, double max_seconds,
                  void (*port_out)(int port));

/* Parses the script format of the replay_server command: records of
 * "<after> <length>\n<length bytes>\n" where <after> is one of
 * keep, close, reset, hang. Returns the count, or -1 with *why set. The
 * records point into buf. */
long replay_parse(const unsigned char *buf, size_t len, replay_record *recs, size_t max, const char **why);

#endif
