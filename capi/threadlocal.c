// Per-thread state of the C ABI: exported functions run on the caller's
// thread, so the detail of a failure, and whether a host callback is
// running, are stored for exactly that thread.
#include <stddef.h>
#include <string.h>

#define GNSQ_DETAIL_MAX 2048

static __thread char detail[GNSQ_DETAIL_MAX];
static __thread size_t detail_len; /* full length, may exceed the stored part */

__attribute__((visibility("hidden"))) void libgnsq_set_detail(const char *msg, size_t n) {
	size_t stored = n < GNSQ_DETAIL_MAX - 1 ? n : GNSQ_DETAIL_MAX - 1;
	memcpy(detail, msg, stored);
	detail[stored] = '\0';
	detail_len = n;
}

int gnsq_last_error(char *buf, size_t n) {
	if (buf != NULL && n > 0) {
		size_t stored = strlen(detail);
		size_t copy = stored < n - 1 ? stored : n - 1;
		memcpy(buf, detail, copy);
		buf[copy] = '\0';
	}
	return (int)detail_len;
}

/* ---- Callbacks --------------------------------------------------------- */

#include <stdint.h>
#include "gnsq.h"

/* How many host callbacks are running on this thread: close and free
   refuse to run inside one (they would wait for the callback itself). */
static __thread int callback_depth;

__attribute__((visibility("hidden"))) int libgnsq_in_callback(void) { return callback_depth; }

__attribute__((visibility("hidden"))) int libgnsq_invoke(gnsq_callback_t cb, const gnsq_event_t *ev,
                                                         const uint8_t *data, uintptr_t closure) {
	int rc;
	callback_depth++;
	rc = cb(ev, data, (void *)closure);
	callback_depth--;
	return rc;
}
