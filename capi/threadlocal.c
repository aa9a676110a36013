// Per-thread state of the C ABI: exported functions run on the caller's
// thread, so the detail of a failure, and whether a host callback is
// running, are stored for exactly that thread.
//
// The state lives on the heap behind a pthread key, not in __thread
// variables: Go's runtime makes this module's whole TLS block static
// (initial-exec), and glibc keeps only ~1.6 KiB of static TLS for
// libraries dlopen()ed after start-up (ctypes, Node, koffi). A 2 KiB
// __thread buffer made every such load fail.
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gnsq.h"

#define GNSQ_DETAIL_MAX 2048

struct thread_state {
	size_t detail_len;  /* full length, may exceed the stored part */
	int callback_depth; /* host callbacks running on this thread */
	char detail[GNSQ_DETAIL_MAX];
};

static pthread_key_t state_key;
static pthread_once_t state_once = PTHREAD_ONCE_INIT;

static void make_key(void) { (void)pthread_key_create(&state_key, free); }

/* The calling thread's state, created on first use; NULL when out of
   memory (then details are lost, nothing else). */
static struct thread_state *thread_state(int create) {
	struct thread_state *s;
	(void)pthread_once(&state_once, make_key);
	s = pthread_getspecific(state_key);
	if (s == NULL && create) {
		s = calloc(1, sizeof *s);
		if (s != NULL && pthread_setspecific(state_key, s) != 0) {
			free(s);
			s = NULL;
		}
	}
	return s;
}

__attribute__((visibility("hidden"))) void libgnsq_set_detail(const char *msg, size_t n) {
	struct thread_state *s = thread_state(1);
	size_t stored = n < GNSQ_DETAIL_MAX - 1 ? n : GNSQ_DETAIL_MAX - 1;
	if (s == NULL) return;
	if (stored > 0) memcpy(s->detail, msg, stored);
	s->detail[stored] = '\0';
	s->detail_len = n;
}

int gnsq_last_error(char *buf, size_t n) {
	struct thread_state *s = thread_state(0);
	const char *detail = s != NULL ? s->detail : "";
	if (buf != NULL && n > 0) {
		size_t stored = strlen(detail);
		size_t copy = stored < n - 1 ? stored : n - 1;
		memcpy(buf, detail, copy);
		buf[copy] = '\0';
	}
	return s != NULL ? (int)s->detail_len : 0;
}

/* ---- Callbacks --------------------------------------------------------- */

/* close and free refuse to run inside a callback (they would wait for the
   callback itself). */
__attribute__((visibility("hidden"))) int libgnsq_in_callback(void) {
	struct thread_state *s = thread_state(0);
	return s != NULL ? s->callback_depth : 0;
}

__attribute__((visibility("hidden"))) int libgnsq_invoke(gnsq_callback_t cb, const gnsq_event_t *ev,
                                                         const uint8_t *data, uintptr_t closure) {
	struct thread_state *s = thread_state(1);
	int rc;
	if (s != NULL) s->callback_depth++;
	rc = cb(ev, data, (void *)closure);
	if (s != NULL) s->callback_depth--;
	return rc;
}
