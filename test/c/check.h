/* The C unit tests' one assertion: CHECK(cond) counts a pass or a failure
 * (naming the file, line and condition on stderr); main prints the counts. */
#ifndef CLOSE_TEST_CHECK_H
#define CLOSE_TEST_CHECK_H

#include <stdio.h>

static int passed, failed;

#define CHECK(cond)                                                             \
    do {                                                                        \
        if (cond) passed++;                                                     \
        else { failed++; fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); } \
    } while (0)

#endif
