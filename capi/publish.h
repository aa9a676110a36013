// A synchronous or bounded publish handed from a C thread to the library
// (publish.c, publish.go).
#ifndef LIBGNSQ_PUBLISH_H
#define LIBGNSQ_PUBLISH_H
#include <stddef.h>
#include <stdint.h>

#include "gnsq.h"

/* Flags of libgnsq_pub.state, the caller's futex word. */
enum {
	PUB_SENT = 1,      /* the library took it: an outcome will follow */
	PUB_DONE = 2,      /* rc and detail are set */
	PUB_SLEEPING = 4,  /* the caller sleeps on state: wake it on a change */
	PUB_DETACHED = 8,  /* the caller left: the outcome becomes a GNSQ_EV_PUBLISHED event */
	PUB_ABANDONED = 16 /* the caller left at its timeout: the outcome is dropped, or it is never sent */
};

struct libgnsq_pub {
	struct libgnsq_pub *next;
	gnsq_producer_t *p;
	uint64_t token; /* of the GNSQ_EV_PUBLISHED event, if detached */
	int64_t defer_ms;
	int64_t deadline_us; /* CLOCK_MONOTONIC; -1: no limit */
	int32_t multi;
	int32_t flush_later; /* nobody waits for the answer: the write may share a flush with others */
	int32_t finished; /* set once, by the first outcome */
	size_t n;
	size_t *lens;
	char *topic;
	uint8_t *data; /* the n bodies back to back */
	int32_t state;
	int32_t awaited; /* the flags the sleeping caller waits for: only they wake it */
	int32_t refs; /* the caller and the library; freed by the last */
	int32_t rc;
	char *detail;
	size_t detail_len;
};

int libgnsq_submit_fd(void);
struct libgnsq_pub *libgnsq_take_pubs(void);
/* 0 when the caller abandoned it: do not send. Else marks it sent. */
int libgnsq_claim_pub(struct libgnsq_pub *pub);
/* Records the outcome and wakes the caller; returns the flags before, or
   -1 if pub had an outcome already (then nothing changed). */
int32_t libgnsq_finish_pub(struct libgnsq_pub *pub, int32_t rc, const char *detail, size_t len);
/* How long the library may wait for a connection for pub, in ms: a
   little less than what is left of the caller's timeout (-1: no limit). */
int libgnsq_pub_connect_ms(const struct libgnsq_pub *pub);
void libgnsq_release_pub(struct libgnsq_pub *pub);
extern uint64_t libgnsq_tokens;
extern int32_t libgnsq_direct_ok, libgnsq_spin_ok;
#endif
