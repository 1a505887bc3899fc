/* See localio.h. */
#include "localio.h"
#include "defaults.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_PATH 4096
#define MAX_REQUEST_HEAD 8192

/* sock: send without SIGPIPE (a browser may close first) */
static int write_all(int fd, const char *p, size_t n, int sock) {
    while (n > 0) {
        ssize_t w = sock ? send(fd, p, n, MSG_NOSIGNAL) : write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

const char *close_write_private(const char *path, const char *data, size_t len) {
    char tmp[MAX_PATH + 32], dir[MAX_PATH];
    const char *slash;
    int fd, ok;
    size_t plen = strlen(path);
    if (plen == 0 || plen >= MAX_PATH) return "the path is empty or too long";
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    unlink(tmp); /* a leftover of a crashed run of this pid */
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) return "cannot create the temporary file beside it";
    ok = write_all(fd, data, len, 0) == 0 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return ok ? "cannot rename the temporary file over it" : "cannot write the temporary file";
    }
    /* the rename itself is durable once the directory is synced */
    slash = strrchr(path, '/');
    if (slash == path) strcpy(dir, "/");
    else if (slash) {
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
    } else strcpy(dir, ".");
    fd = open(dir, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    return NULL;
}

const char *close_check_private(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return errno == ENOENT ? "missing" : "cannot be read";
    if (!S_ISREG(st.st_mode)) return "is not a regular file";
    if (st.st_mode & (S_IRWXG | S_IRWXO)) return "may be read or written by others than its owner (chmod 600 it)";
    if (st.st_uid != geteuid()) return "belongs to another user";
    return NULL;
}

const char *close_mkdir_private(const char *path) {
    struct stat st;
    if (mkdir(path, 0700) == 0) return NULL;
    if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return NULL;
    return errno == EEXIST ? "exists and is not a directory" : "cannot be created";
}

const char *close_listen(close_listener *l, int port) {
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    int one = 1;
    l->fd = -1;
    l->port = 0;
    if (port < 0 || port > 65535) return "the port must be from 0 to 65535";
    l->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (l->fd < 0) return "cannot create a socket";
    setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(l->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(l->fd, 4) != 0 ||
        getsockname(l->fd, (struct sockaddr *)&a, &alen) != 0) {
        close(l->fd);
        l->fd = -1;
        return "cannot listen on 127.0.0.1 at that port (is it taken?)";
    }
    l->port = ntohs(a.sin_port);
    return NULL;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* poll for ev on fd until the absolute monotonic time end; 1 ready, 0 not */
static int wait_for(int fd, short ev, double end) {
    for (;;) {
        struct pollfd p;
        double left = end - now();
        int r;
        if (left <= 0) return 0;
        p.fd = fd;
        p.events = ev;
        p.revents = 0;
        r = poll(&p, 1, (int)(left * 1000) + 1);
        if (r > 0) return 1;
        if (r < 0 && errno != EINTR) return 0;
    }
}

const char *close_accept_once(close_listener *l, double timeout, int status, const char *body,
                              char *target, size_t cap) {
    char head[MAX_REQUEST_HEAD + 1], reply[256];
    size_t got = 0;
    double end;
    const char *why = NULL, *sp, *sp2;
    int fd;
    if (l->fd < 0) return "the listener is closed";
    if (cap == 0) return "no room for the target";
    target[0] = '\0';
    if (!(timeout > 0)) timeout = 0;
    if (timeout > CLOSE_MAX_SECONDS) timeout = CLOSE_MAX_SECONDS;
    end = now() + timeout;
    if (!wait_for(l->fd, POLLIN, end)) return "timeout";
    fd = accept(l->fd, NULL, NULL);
    if (fd < 0) return "accept failed";
    /* the head of the request, within the same deadline */
    for (;;) {
        ssize_t r;
        if (got == MAX_REQUEST_HEAD) { why = "the request head is too large"; break; }
        if (!wait_for(fd, POLLIN, end)) { why = "timeout"; break; }
        r = read(fd, head + got, MAX_REQUEST_HEAD - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) { why = "the connection closed before the request was complete"; break; }
        got += (size_t)r;
        head[got] = '\0';
        if (strstr(head, "\r\n\r\n") || strstr(head, "\n\n")) break;
    }
    if (!why) {
        /* "METHOD SP target SP HTTP/x" */
        sp = memchr(head, ' ', got);
        sp2 = sp ? memchr(sp + 1, ' ', got - (size_t)(sp + 1 - head)) : NULL;
        if (!sp || !sp2 || (size_t)(sp2 - sp - 1) >= cap) why = "the request line is malformed or too long";
        else {
            memcpy(target, sp + 1, (size_t)(sp2 - sp - 1));
            target[sp2 - sp - 1] = '\0';
        }
    }
    if (!body) body = "";
    snprintf(reply, sizeof reply,
             "HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %lu\r\n"
             "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
             why ? 400 : status, why ? "Bad Request" : (status == 200 ? "OK" : "Done"),
             why ? 0UL : (unsigned long)strlen(body));
    if (wait_for(fd, POLLOUT, end + 1) && write_all(fd, reply, strlen(reply), 1) == 0 && !why)
        write_all(fd, body, strlen(body), 1);
    close(fd);
    return why;
}

void close_listener_close(close_listener *l) {
    if (l->fd >= 0) close(l->fd);
    l->fd = -1;
}

static volatile sig_atomic_t caught;

static void on_signal(int sig) {
    if (caught) { /* the second one: as if we had never caught any */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    caught = sig;
}

void close_catch_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART; /* blocking reads carry on; the flag is polled */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int close_caught_signal(void) { return (int)caught; }

int close_isatty(int fd) { return isatty(fd); }
