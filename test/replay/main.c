/* replay_server [--cycle] [--max-seconds N] SCRIPT: serves SCRIPT's records
 * (see replay_parse in replay.h) on a free loopback port. Prints "port N"
 * once it listens and "sent N" when it ends: when every record was used and
 * no connection is left (without --cycle), or after N seconds (default 30). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay.h"

#define MAX_RECORDS 4096

static void print_port(int port) {
    printf("port %d\n", port);
    fflush(stdout);
}

int main(int argc, char **argv) {
    static replay_record recs[MAX_RECORDS];
    int i, cycle = 0;
    double max_seconds = 30;
    const char *path = NULL, *why = NULL;
    unsigned char *buf;
    size_t len = 0, cap = 65536;
    long n, sent;
    FILE *f;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--cycle") == 0) cycle = 1;
        else if (strcmp(argv[i], "--max-seconds") == 0 && i + 1 < argc) max_seconds = atof(argv[++i]);
        else path = argv[i];
    }
    if (!path || !(max_seconds > 0) || max_seconds > 3600) {
        fprintf(stderr, "usage: replay_server [--cycle] [--max-seconds N (1-3600)] SCRIPT\n");
        return 2;
    }
    f = fopen(path, "rb");
    if (!f) { perror(path); return 2; }
    buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (len < cap) break;
        cap *= 2;
        buf = realloc(buf, cap);
    }
    fclose(f);
    if (!buf) { fprintf(stderr, "replay_server: out of memory\n"); return 2; }
    n = replay_parse(buf, len, recs, MAX_RECORDS, &why);
    if (n < 0) { fprintf(stderr, "replay_server: %s: %s\n", path, why); return 2; }
    sent = replay_serve(recs, (size_t)n, cycle, max_seconds, print_port);
    if (sent < 0) { fprintf(stderr, "replay_server: cannot listen on 127.0.0.1\n"); return 1; }
    printf("sent %ld\n", sent);
    free(buf);
    return 0;
}
