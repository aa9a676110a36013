// Blocking waits done in C: a goroutine running inside an exported call is
// locked to the caller's thread, and waking it through a Go channel costs a
// thread handoff; a thread blocked in poll(2) inside a cgo call wakes
// directly and takes an idle P back.
#include <errno.h>
#include <poll.h>

/* Waits until fd is readable or timeout_ms passes (< 0: no limit).
   Returns poll(2)'s result; an interrupted wait returns 0 (the caller
   re-checks its condition and deadline). */
__attribute__((visibility("hidden"))) int libgnsq_wait_readable(int fd, int timeout_ms) {
	struct pollfd p = {fd, POLLIN, 0};
	int r = poll(&p, 1, timeout_ms);
	return r < 0 && errno == EINTR ? 0 : r;
}
