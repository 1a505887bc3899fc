#include "rand.h"

/* splitmix64: spreads a seed's bits so that near seeds give unrelated states */
unsigned long long close_rand_mix(unsigned long long z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void close_rand_seed(close_rand *r, unsigned long long seed) {
    r->state = close_rand_mix(seed);
    if (r->state == 0) r->state = 0x9e3779b97f4a7c15ULL;
}

double close_rand_next(close_rand *r) {
    r->state ^= r->state >> 12;
    r->state ^= r->state << 25;
    r->state ^= r->state >> 27;
    return (double)((r->state * 0x2545f4914f6cdd1dULL) >> 11) / 9007199254740992.0;
}
