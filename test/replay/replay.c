#define _POSIX_C_SOURCE 200809L
#include "replay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 32
#define MAX_REQUEST 65536

typedef struct {
    int fd;
    int hung;
    size_t len;
    char buf[MAX_REQUEST];
} conn;

typedef struct {
    const replay_record *recs;
    size_t n, next, sent;
    int cycle, listen_fd, stop_fd;
    conn *conns[MAX_CONNS];
} state;

struct replay_server {
    state st;
    int port, stop_pipe[2];
    pthread_t thread;
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int listen_loopback(int *port) {
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0; /* the kernel picks a free port */
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

static void drop(state *st, int i, int reset) {
    conn *c = st->conns[i];
    if (reset) {
        struct linger l = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    close(c->fd);
    free(c);
    st->conns[i] = NULL;
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }

/* Length of a complete request at the start of buf (head and a
 * Content-Length body), 0 when more is needed. */
static size_t request_length(const char *buf, size_t len) {
    size_t i, head = 0, body = 0;
    for (i = 3; i < len; i++)
        if (buf[i - 3] == '\r' && buf[i - 2] == '\n' && buf[i - 1] == '\r' && buf[i] == '\n') {
            head = i + 1;
            break;
        }
    if (!head) return 0;
    for (i = 0; i + 15 < head; i++) {
        static const char cl[] = "\ncontent-length:";
        size_t k;
        for (k = 0; k < 16 && lower((unsigned char)buf[i + k]) == cl[k]; k++) {}
        if (k == 16) {
            const char *p = buf + i + 16;
            while (*p == ' ') p++;
            while (*p >= '0' && *p <= '9' && body < MAX_REQUEST) body = body * 10 + (size_t)(*p++ - '0');
            break;
        }
    }
    return head + body <= len ? head + body : 0;
}

static void send_all(int fd, const unsigned char *p, size_t n) {
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return; /* the peer went away: nothing more to do */
        p += w;
        n -= (size_t)w;
    }
}

/* Answers the request at the start of c->buf; returns 0 when the connection is gone. */
static int answer(state *st, int i, size_t reqlen) {
    conn *c = st->conns[i];
    const replay_record *r;
    memmove(c->buf, c->buf + reqlen, c->len - reqlen);
    c->len -= reqlen;
    if (st->next >= st->n) {
        if (!st->cycle || st->n == 0) {
            drop(st, i, 0);
            return 0;
        }
        st->next = 0;
    }
    r = &st->recs[st->next++];
    st->sent++;
    if (r->after == REPLAY_HANG) {
        c->hung = 1;
        return 1;
    }
    send_all(c->fd, r->data, r->len);
    if (r->after == REPLAY_CLOSE || r->after == REPLAY_RESET) {
        drop(st, i, r->after == REPLAY_RESET);
        return 0;
    }
    return 1;
}

static void on_readable(state *st, int i) {
    conn *c = st->conns[i];
    ssize_t got;
    size_t reqlen;
    if (c->len == sizeof c->buf) c->len = 0; /* a request this large is junk: forget it */
    got = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
    if (got <= 0) {
        if (got < 0 && errno == EINTR) return;
        drop(st, i, 0);
        return;
    }
    if (c->hung) return; /* read and ignored until the peer gives up */
    c->len += (size_t)got;
    while ((reqlen = request_length(c->buf, c->len)) > 0)
        if (!answer(st, i, reqlen) || st->conns[i]->hung) return;
}

static void on_accept(state *st) {
    int fd = accept(st->listen_fd, NULL, NULL), i;
    struct timeval tv = {5, 0};
    if (fd < 0) return;
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); /* a peer that never reads cannot stall us */
    for (i = 0; i < MAX_CONNS; i++)
        if (!st->conns[i]) {
            st->conns[i] = calloc(1, sizeof(conn));
            if (!st->conns[i]) break;
            st->conns[i]->fd = fd;
            return;
        }
    close(fd);
}

static int open_conns(const state *st) {
    int i, n = 0;
    for (i = 0; i < MAX_CONNS; i++) n += st->conns[i] != NULL;
    return n;
}

static void loop(state *st, double deadline) {
    for (;;) {
        struct pollfd p[MAX_CONNS + 2];
        int idx[MAX_CONNS + 2], np = 0, i, left;
        double t = now();
        if (deadline > 0 && t >= deadline) break;
        if (!st->cycle && st->next >= st->n && open_conns(st) == 0 && st->stop_fd < 0) break;
        p[np].fd = st->listen_fd; p[np].events = POLLIN; idx[np++] = -1;
        if (st->stop_fd >= 0) { p[np].fd = st->stop_fd; p[np].events = POLLIN; idx[np++] = -2; }
        for (i = 0; i < MAX_CONNS; i++)
            if (st->conns[i]) { p[np].fd = st->conns[i]->fd; p[np].events = POLLIN; idx[np++] = i; }
        left = deadline > 0 ? (int)((deadline - t) * 1000) + 1 : 1000;
        if (poll(p, (nfds_t)np, left > 1000 ? 1000 : left) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (i = 0; i < np; i++) {
            if (!p[i].revents) continue;
            if (idx[i] == -2) return;
            if (idx[i] == -1) on_accept(st);
            else if (st->conns[idx[i]]) on_readable(st, idx[i]);
        }
    }
}

static void close_all(state *st) {
    int i;
    for (i = 0; i < MAX_CONNS; i++)
        if (st->conns[i]) drop(st, i, 0);
    close(st->listen_fd);
}

static void *thread_main(void *ud) {
    replay_server *s = ud;
    loop(&s->st, 0);
    return NULL;
}

replay_server *replay_start(const replay_record *recs, size_t n, int cycle) {
    replay_server *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->st.recs = recs;
    s->st.n = n;
    s->st.cycle = cycle;
    s->st.listen_fd = listen_loopback(&s->port);
    if (s->st.listen_fd < 0 || pipe(s->stop_pipe) != 0) {
        if (s->st.listen_fd >= 0) close(s->st.listen_fd);
        free(s);
        return NULL;
    }
    s->st.stop_fd = s->stop_pipe[0];
    if (pthread_create(&s->thread, NULL, thread_main, s) != 0) {
        close(s->st.listen_fd);
        close(s->stop_pipe[0]);
        close(s->stop_pipe[1]);
        free(s);
        return NULL;
    }
    return s;
}

int replay_port(const replay_server *s) { return s->port; }

size_t replay_stop(replay_server *s) {
    size_t sent;
    ssize_t w;
    do w = write(s->stop_pipe[1], "x", 1); while (w < 0 && errno == EINTR);
    pthread_join(s->thread, NULL);
    close_all(&s->st);
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
    sent = s->st.sent;
    free(s);
    return sent;
}

long replay_serve(const replay_record *recs, size_t n, int cycle, double max_seconds, void (*port_out)(int)) {
    state st;
    int port;
    memset(&st, 0, sizeof st);
    st.recs = recs;
    st.n = n;
    st.cycle = cycle;
    st.stop_fd = -1;
    st.listen_fd = listen_loopback(&port);
    if (st.listen_fd < 0) return -1;
    if (port_out) port_out(port);
    loop(&st, now() + max_seconds);
    close_all(&st);
    return (long)st.sent;
}

long replay_parse(const unsigned char *buf, size_t len, replay_record *recs, size_t max, const char **why) {
    static const char *const names[] = {"keep", "close", "reset", "hang"};
    size_t pos = 0, n = 0;
    while (pos < len) {
        size_t k, nlen, rlen = 0;
        int after = -1;
        if (n == max) { *why = "too many records"; return -1; }
        for (k = 0; k < 4; k++) {
            nlen = strlen(names[k]);
            if (len - pos > nlen && memcmp(buf + pos, names[k], nlen) == 0 && buf[pos + nlen] == ' ') {
                after = (int)k;
                pos += nlen + 1;
                break;
            }
        }
        if (after < 0) { *why = "a record must start with keep, close, reset or hang"; return -1; }
        while (pos < len && buf[pos] >= '0' && buf[pos] <= '9' && rlen < 100000000)
            rlen = rlen * 10 + (size_t)(buf[pos++] - '0');
        if (pos >= len || buf[pos] != '\n') { *why = "a record length must end with a newline"; return -1; }
        pos++;
        if (len - pos < rlen + 1 || buf[pos + rlen] != '\n') { *why = "a record is shorter than its length"; return -1; }
        recs[n].data = buf + pos;
        recs[n].len = rlen;
        recs[n].after = after;
        n++;
        pos += rlen + 1;
    }
    return (long)n;
}
