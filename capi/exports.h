// Shared by the C files of capi: the header with its prototypes, and the
// fork guard every gnsq_* entry point runs first (exports.c).
#ifndef LIBGNSQ_EXPORTS_H
#define LIBGNSQ_EXPORTS_H
#undef GNSQ_NO_PROTOTYPES
#include <stdint.h>
#include <time.h>

#include "gnsq.h"

/* CLOCK_MONOTONIC in microseconds (deadlines of waits). */
static inline int64_t libgnsq_now_us(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* 1 in a child forked after the library was loaded. */
int libgnsq_forked(void);
/* Records the detail for GNSQ_E_FORKED and returns it. */
int libgnsq_refuse_forked(void);

#define LIBGNSQ_GUARD_FORK()                                                                                           \
	do {                                                                                                               \
		if (libgnsq_forked()) return libgnsq_refuse_forked();                                                          \
	} while (0)
#endif
