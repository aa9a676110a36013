// The blocking entry points: *_poll, *_dispatch and *_run wait for events
// here, in poll(2) on the handle's notify pipe, between non-blocking steps
// done in Go (wait.go explains why the wait is not done in Go).
// Synchronous publishes wait in publish.c.
#include <poll.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "exports.h"

enum { KIND_PRODUCER = 1, KIND_CONSUMER = 2, KIND_TCP = 3, KIND_HTTP = 4 };

/* Go exports (wait.go). */
extern int libgnsq_poll_step(int kind, void *h, gnsq_event_t *evs, int max, uint8_t *buf, size_t n, int wait,
                             uint64_t *ticket, int *fd);
extern int libgnsq_dispatch_step(int kind, void *h, int wait, uint64_t *ticket, int *fd, int *stop, uint64_t *run);

static int64_t now_ms(void) { return libgnsq_now_us() / 1000; }

/* Waits for fd to become readable, until deadline_ms (timeout_ms < 0: no
   limit). Returns 0 once the deadline has passed, else 1 (readable,
   interrupted or timed out: the next step tells). */
static int wait_readable(int fd, int timeout_ms, int64_t deadline_ms) {
	int ms = -1;
	struct pollfd p;
	if (timeout_ms > 0) {
		int64_t left = deadline_ms - now_ms();
		if (left <= 0) return 0;
		ms = left > 0x7fffffff ? 0x7fffffff : (int)left;
	}
	p.fd = fd;
	p.events = POLLIN;
	p.revents = 0;
	(void)poll(&p, 1, ms);
	return 1;
}

static int poll_events(int kind, void *h, gnsq_event_t *evs, int max, int timeout_ms, uint8_t *buf, size_t n) {
	uint64_t ticket = 0;
	int fd = -1, wait = timeout_ms != 0, rc;
	int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
	LIBGNSQ_GUARD_FORK();
	for (;;) {
		rc = libgnsq_poll_step(kind, h, evs, max, buf, n, wait, &ticket, &fd);
		if (ticket == 0) return rc;
		wait = wait_readable(fd, timeout_ms, deadline);
	}
}

/* One dispatch; for a run, stop and run are set: run registers the run
   with the dispatcher at its first step and the step that ends the run
   (an error, GNSQ_E_CLOSED or a callback's stop value) unregisters it. */
static int dispatch_events(int kind, void *h, int timeout_ms, int *stop, uint64_t *run) {
	uint64_t ticket = 0;
	int fd = -1, wait = timeout_ms != 0, rc;
	int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
	LIBGNSQ_GUARD_FORK();
	for (;;) {
		rc = libgnsq_dispatch_step(kind, h, wait, &ticket, &fd, stop, run);
		if (ticket == 0) return rc;
		wait = wait_readable(fd, timeout_ms, deadline);
	}
}

static int run_until_closed(int kind, void *h) {
	uint64_t run = 0;
	for (;;) {
		int stop = 0;
		int rc = dispatch_events(kind, h, -1, &stop, &run);
		if (rc == GNSQ_E_CLOSED) return GNSQ_OK;
		if (rc < 0) return rc;
		if (stop != 0) return stop;
	}
}

int gnsq_producer_poll(gnsq_producer_t *p, gnsq_event_t *evs, int max, int timeout_ms, uint8_t *buf, size_t buf_len) {
	return poll_events(KIND_PRODUCER, p, evs, max, timeout_ms, buf, buf_len);
}

int gnsq_consumer_poll(gnsq_consumer_t *c, gnsq_event_t *evs, int max, int timeout_ms, uint8_t *buf, size_t buf_len) {
	return poll_events(KIND_CONSUMER, c, evs, max, timeout_ms, buf, buf_len);
}

int gnsq_tcp_poll(gnsq_tcp_t *c, gnsq_event_t *evs, int max, int timeout_ms, uint8_t *buf, size_t buf_len) {
	return poll_events(KIND_TCP, c, evs, max, timeout_ms, buf, buf_len);
}

int gnsq_http_poll(gnsq_http_t *h, gnsq_event_t *evs, int max, int timeout_ms, uint8_t *buf, size_t buf_len) {
	return poll_events(KIND_HTTP, h, evs, max, timeout_ms, buf, buf_len);
}

int gnsq_producer_dispatch(gnsq_producer_t *p, int timeout_ms) {
	return dispatch_events(KIND_PRODUCER, p, timeout_ms, NULL, NULL);
}

int gnsq_consumer_dispatch(gnsq_consumer_t *c, int timeout_ms) {
	return dispatch_events(KIND_CONSUMER, c, timeout_ms, NULL, NULL);
}

int gnsq_producer_run(gnsq_producer_t *p) { return run_until_closed(KIND_PRODUCER, p); }

int gnsq_consumer_run(gnsq_consumer_t *c) { return run_until_closed(KIND_CONSUMER, c); }
