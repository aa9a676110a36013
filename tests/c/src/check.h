/*
 * The checks of the C test programs: the first failed check prints where,
 * what, and the calling thread's last error detail, then exits with 1.
 * A program that calls libgnsq through dlopen()ed pointers defines
 * CHECK_LAST_ERROR and CHECK_STRERROR to them first; one that must keep
 * stderr empty defines CHECK_OUT to stdout.
 */
#ifndef GNSQ_TEST_CHECK_H
#define GNSQ_TEST_CHECK_H
#include <stdio.h>
#include <stdlib.h>

#ifndef CHECK_LAST_ERROR
#define CHECK_LAST_ERROR gnsq_last_error
#endif
#ifndef CHECK_STRERROR
#define CHECK_STRERROR gnsq_strerror
#endif
#ifndef CHECK_OUT
#define CHECK_OUT stderr
#endif

static char check_last[4096];

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            CHECK_LAST_ERROR(check_last, sizeof check_last);                                                           \
            fprintf(CHECK_OUT, "%s:%d: check failed: %s (last error: %s)\n", __FILE__, __LINE__, #cond, check_last);  \
            exit(1);                                                                                                   \
        }                                                                                                              \
    } while (0)

#define CHECK_RC(expr, want)                                                                                           \
    do {                                                                                                               \
        int rc_ = (expr);                                                                                              \
        if (rc_ != (want)) {                                                                                           \
            CHECK_LAST_ERROR(check_last, sizeof check_last);                                                           \
            fprintf(CHECK_OUT, "%s:%d: %s returned %d (%s), want %d (last error: %s)\n", __FILE__, __LINE__, #expr,    \
                    rc_, CHECK_STRERROR(rc_), want, check_last);                                                       \
            exit(1);                                                                                                   \
        }                                                                                                              \
    } while (0)
#endif
