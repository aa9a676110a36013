// The C side of every exported gnsq_* function. The Go exports are named
// gnsqgo_* and are not exported from the library (libgnsq.map); each
// gnsq_* is a C function that first checks that the process can still
// enter the Go runtime (exports_gen.c, generated from include/gnsq.h, so
// the compiler checks every definition against the header).
//
// Fork: the Go runtime's threads do not exist in a child forked after the
// library was loaded, so entering Go there hangs or crashes. A
// pthread_atfork child handler marks the child, and every gnsq_* call in
// it fails at once with GNSQ_E_FORKED, without entering Go.
#undef GNSQ_NO_PROTOTYPES
#include <pthread.h>
#include <string.h>

#include "exports.h"

void libgnsq_set_detail(const char *msg, size_t n);

static volatile int forked_child;

static void mark_forked_child(void) { forked_child = 1; }

__attribute__((constructor)) static void register_fork_handler(void) {
	(void)pthread_atfork(NULL, NULL, mark_forked_child);
}

int libgnsq_forked(void) { return forked_child; }

int libgnsq_refuse_forked(void) {
	static const char detail[] =
	    "libgnsq was loaded before this process forked, and its runtime does not survive fork(): "
	    "load the library in the child, after forking (gunicorn without --preload, multiprocessing "
	    "'spawn' or 'forkserver')";
	libgnsq_set_detail(detail, sizeof detail - 1);
	return GNSQ_E_FORKED;
}

/* ---- Functions that never need Go --------------------------------------- */

int gnsq_version(void) { return GNSQ_VERSION; }

const char *gnsq_version_str(void) { return GNSQ_VERSION_STR; }

const char *gnsq_strerror(int code) {
	switch (code) {
	case GNSQ_OK: return "success";
	case GNSQ_E_INVALID_ARG: return "invalid argument";
	case GNSQ_E_INVALID_HANDLE: return "invalid handle";
	case GNSQ_E_CLOSED: return "closed";
	case GNSQ_E_TIMEOUT: return "timed out";
	case GNSQ_E_NO_CONNECTIONS: return "no connections";
	case GNSQ_E_CONNECTION: return "connection failed or lost";
	case GNSQ_E_NSQ: return "nsqd error (connection closed)";
	case GNSQ_E_NSQ_NONFATAL: return "nsqd error (connection kept)";
	case GNSQ_E_PROTOCOL: return "protocol error";
	case GNSQ_E_TLS: return "TLS error";
	case GNSQ_E_AUTH: return "authentication failed";
	case GNSQ_E_HTTP: return "HTTP error";
	case GNSQ_E_NOT_RUNNING: return "not running";
	case GNSQ_E_ALREADY_RESPONDED: return "message already responded";
	case GNSQ_E_UNKNOWN_TOKEN: return "unknown token";
	case GNSQ_E_IO: return "I/O error";
	case GNSQ_E_INTERNAL: return "internal error";
	case GNSQ_E_IN_CALLBACK: return "not allowed inside a callback";
	case GNSQ_E_FORKED: return "unusable in a process forked after libgnsq was loaded";
	case GNSQ_E_PENDING: return "not done yet: completes as an event";
	}
	return "unknown error code";
}

int gnsq_error_is_fatal(int code) {
	switch (code) {
	case GNSQ_E_NSQ:
	case GNSQ_E_PROTOCOL:
	case GNSQ_E_TLS:
	case GNSQ_E_AUTH:
	case GNSQ_E_CLOSED:
	case GNSQ_E_INVALID_HANDLE:
	case GNSQ_E_INTERNAL:
	case GNSQ_E_FORKED:
		return 1;
	}
	return 0;
}

int gnsq_error_is_retriable(int code) {
	switch (code) {
	case GNSQ_E_TIMEOUT:
	case GNSQ_E_NO_CONNECTIONS:
	case GNSQ_E_CONNECTION:
	case GNSQ_E_IO:
		return 1;
	}
	return 0;
}
