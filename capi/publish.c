// Synchronous and bounded publishes (gnsq_producer_publish,
// gnsq_producer_multipublish, gnsq_producer_publish_bounded).
//
// The caller copies the publish into a struct pub and waits on the pub's
// futex word for the outcome, which the library's goroutines record.
// A thread that returns from a Go call keeps the P it used (in syscall
// state) until Go's sysmon takes it back, 40-200 us later; at GOMAXPROCS=1
// that is the only P, so the goroutine that reads nsqd's answer could not
// run while the caller waited. So with one P (and for bounded publishes,
// which must not wait for a connection on the caller's thread) the caller
// never enters Go: it queues the pub on a list that one goroutine
// (publish.go) drains when a doorbell fd says so. With more Ps a synchronous
// publish is sent on the caller's thread (another P reads the answer).
// With more than one CPU the caller first checks for the answer for a
// while, yielding the CPU, because nsqd's answer often comes sooner than
// a sleeping thread can be woken.
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exports.h"
#include "os.h"
#include "publish.h"

void libgnsq_set_detail(const char *msg, size_t n);
extern void libgnsq_submit_now(struct libgnsq_pub *pub); /* publish.go */

/* How long a waiting publish checks for its answer before it sleeps, when
   there is another CPU to answer on (libgnsq_spin_ok). */
#define SPIN_US 100

/* Set by Go (publish.go): direct_ok when GOMAXPROCS > 1 (a caller may
   then send on its own thread: another P is there to read the answer),
   spin_ok when the process may run on more than one CPU. */
int32_t libgnsq_direct_ok, libgnsq_spin_ok;

/* The source of the tokens of every handle's events, one counter for the
   process (Go adds to it atomically too, events.go): unique, and far
   below 2^53 for any realistic lifetime. */
uint64_t libgnsq_tokens;

static uint64_t next_token(void) { return __atomic_add_fetch(&libgnsq_tokens, 1, __ATOMIC_RELAXED); }

static pthread_mutex_t list_mu = PTHREAD_MUTEX_INITIALIZER;
static struct libgnsq_pub *list_head, *list_tail;
static int submit_fd = -1;

/* Called once by Go at load: the eventfd its goroutine waits on. */
int libgnsq_submit_fd(void) {
	if (submit_fd < 0) submit_fd = libgnsq_os_doorbell();
	return submit_fd;
}

struct libgnsq_pub *libgnsq_take_pubs(void) {
	struct libgnsq_pub *head;
	pthread_mutex_lock(&list_mu);
	head = list_head;
	list_head = list_tail = NULL;
	pthread_mutex_unlock(&list_mu);
	return head;
}

static void submit(struct libgnsq_pub *pub) {
	int was_empty;
	uint64_t one = 1;
	if (submit_fd < 0) { /* the doorbell could not be made at load */
		static const char detail[] = "libgnsq could not create its publish doorbell (eventfd)";
		libgnsq_finish_pub(pub, GNSQ_E_IO, detail, sizeof detail - 1);
		libgnsq_release_pub(pub);
		return;
	}
	pthread_mutex_lock(&list_mu);
	was_empty = list_head == NULL;
	if (was_empty)
		list_head = pub;
	else
		list_tail->next = pub;
	list_tail = pub;
	pthread_mutex_unlock(&list_mu);
	/* The goroutine takes the whole list after each wake-up, so only the
	   first pub of a list needs to wake it. */
	if (was_empty) (void)!write(submit_fd, &one, sizeof one);
}

void libgnsq_release_pub(struct libgnsq_pub *pub) {
	if (__atomic_sub_fetch(&pub->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		free(pub->detail);
		free(pub);
	}
}

/* Sets flag unless one of stop is set; returns the state it saw. */
static int32_t set_flag_unless(struct libgnsq_pub *pub, int32_t flag, int32_t stop) {
	int32_t s = __atomic_load_n(&pub->state, __ATOMIC_ACQUIRE);
	while (!(s & stop) && !__atomic_compare_exchange_n(&pub->state, &s, s | flag, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
	}
	return s;
}

/* Wakes the caller if it sleeps waiting for flag (old: the state before
   flag was set). */
static void wake_sleeper(struct libgnsq_pub *pub, int32_t old, int32_t flag) {
	if ((old & PUB_SLEEPING) && (__atomic_load_n(&pub->awaited, __ATOMIC_ACQUIRE) & flag))
		libgnsq_os_wake(&pub->state);
}

int libgnsq_claim_pub(struct libgnsq_pub *pub) {
	int32_t old = set_flag_unless(pub, PUB_SENT, PUB_ABANDONED);
	if (old & PUB_ABANDONED) return 0;
	wake_sleeper(pub, old, PUB_SENT); /* a bounded wait may detach now */
	return 1;
}

int32_t libgnsq_finish_pub(struct libgnsq_pub *pub, int32_t rc, const char *detail, size_t len) {
	int32_t old, unfinished = 0;
	if (!__atomic_compare_exchange_n(&pub->finished, &unfinished, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return -1;
	pub->rc = rc;
	if (len > 0 && (pub->detail = malloc(len)) != NULL) {
		memcpy(pub->detail, detail, len);
		pub->detail_len = len;
	}
	old = __atomic_fetch_or(&pub->state, PUB_DONE, __ATOMIC_ACQ_REL);
	wake_sleeper(pub, old, PUB_DONE);
	return old;
}

/* The library's wait for a connection ends this long before the caller's
   deadline, so that its outcome reaches the caller in time. */
#define CONNECT_MARGIN_US 5000

int libgnsq_pub_connect_ms(const struct libgnsq_pub *pub) {
	int64_t left;
	if (pub->deadline_us < 0) return -1;
	left = pub->deadline_us - libgnsq_now_us() - CONNECT_MARGIN_US;
	return left <= 0 ? 0 : left / 1000 > 0x7fffffff ? 0x7fffffff : (int)(left / 1000);
}

/* Copies a publish into one allocation: the struct, the topic, the
   lengths and the bodies back to back. NULL when out of memory. */
static struct libgnsq_pub *new_pub(gnsq_producer_t *p, const char *topic, const void *const *bodies,
                                   const size_t *lens, size_t n, int multi, int64_t defer_ms, int64_t deadline_us) {
	size_t topic_len = strlen(topic) + 1, total = 0, i;
	struct libgnsq_pub *pub;
	uint8_t *data;
	for (i = 0; i < n; i++) total += lens[i];
	pub = calloc(1, sizeof *pub + topic_len + n * sizeof(size_t) + total);
	if (pub == NULL) return NULL;
	pub->p = p;
	pub->multi = multi;
	pub->defer_ms = defer_ms;
	pub->deadline_us = deadline_us;
	pub->n = n;
	pub->refs = 2; /* the caller and the library */
	pub->lens = (size_t *)(pub + 1);
	pub->topic = (char *)(pub->lens + n);
	memcpy(pub->topic, topic, topic_len);
	data = pub->data = (uint8_t *)pub->topic + topic_len;
	for (i = 0; i < n; i++) {
		pub->lens[i] = lens[i];
		if (lens[i] > 0) memcpy(data, bodies[i], lens[i]);
		data += lens[i];
	}
	return pub;
}

/* Waits until pub has one of the flags in want or deadline_us passes
   (deadline_us < 0: no limit). Returns the state last seen. */
static int32_t wait_pub(struct libgnsq_pub *pub, int32_t want, int64_t deadline_us) {
	int32_t s;
	int64_t spin_until = libgnsq_now_us() + SPIN_US;
	if (deadline_us >= 0 && spin_until > deadline_us) spin_until = deadline_us;
	__atomic_store_n(&pub->awaited, want, __ATOMIC_RELEASE); /* before PUB_SLEEPING is set */
	if (__atomic_load_n(&libgnsq_spin_ok, __ATOMIC_RELAXED)) {
		while (!((s = __atomic_load_n(&pub->state, __ATOMIC_ACQUIRE)) & want) && libgnsq_now_us() < spin_until) sched_yield();
	}
	for (;;) {
		struct timespec ts, *tsp = NULL;
		s = set_flag_unless(pub, PUB_SLEEPING, want);
		if (s & want) break;
		if (deadline_us >= 0) {
			int64_t left = deadline_us - libgnsq_now_us();
			if (left <= 0) break;
			ts.tv_sec = left / 1000000;
			ts.tv_nsec = (left % 1000000) * 1000;
			tsp = &ts;
		}
		libgnsq_os_wait(&pub->state, s | PUB_SLEEPING, tsp);
	}
	return __atomic_and_fetch(&pub->state, ~PUB_SLEEPING, __ATOMIC_ACQ_REL);
}

/* The outcome of a finished pub, with its detail stored for this thread. */
static int outcome(struct libgnsq_pub *pub) {
	int rc = pub->rc;
	if (rc < 0) libgnsq_set_detail(pub->detail, pub->detail_len);
	libgnsq_release_pub(pub);
	return rc;
}

static int publish(uint64_t *token, gnsq_producer_t *p, const char *topic, const void *const *bodies,
                   const size_t *lens, size_t n, int multi, int64_t defer_ms, int timeout_ms, int64_t bound_us) {
	struct libgnsq_pub *pub;
	int32_t s;
	int64_t deadline = timeout_ms >= 0 ? libgnsq_now_us() + (int64_t)timeout_ms * 1000 : -1;
	LIBGNSQ_GUARD_FORK();
	if (topic == NULL || (n > 0 && (bodies == NULL || lens == NULL)) || (bound_us >= 0 && token == NULL)) {
		static const char detail[] = "topic, bodies, lens or token is NULL";
		libgnsq_set_detail(detail, sizeof detail - 1);
		return GNSQ_E_INVALID_ARG;
	}
	for (size_t i = 0, total = 0; i < n; i++) {
		if (bodies[i] == NULL && lens[i] > 0) {
			static const char detail[] = "a body is NULL";
			libgnsq_set_detail(detail, sizeof detail - 1);
			return GNSQ_E_INVALID_ARG;
		}
		/* A frame's size is 32 bits: nothing near 2 GiB can be sent. */
		if (lens[i] > INT32_MAX || (total += lens[i]) > INT32_MAX || n > INT32_MAX / sizeof(size_t)) {
			static const char detail[] = "bodies larger than 2 GiB in all cannot be published";
			libgnsq_set_detail(detail, sizeof detail - 1);
			return GNSQ_E_INVALID_ARG;
		}
	}
	if ((pub = new_pub(p, topic, bodies, lens, n, multi, defer_ms, deadline)) == NULL) {
		static const char detail[] = "out of memory";
		libgnsq_set_detail(detail, sizeof detail - 1);
		return GNSQ_E_INTERNAL;
	}
	if (bound_us >= 0) {
		pub->token = next_token();
		/* Its caller does not wait for the answer (wait_us 0): it is written
		   without a flush of its own, and the connection's flusher writes a
		   burst of such publishes at once. */
		pub->flush_later = bound_us == 0;
		/* With timeout_ms 0 nothing waits for a connection, so with more
		   than one P the caller may send on its own thread, as a
		   synchronous publish does (one goroutine hand-off less). */
		if (timeout_ms == 0 && __atomic_load_n(&libgnsq_direct_ok, __ATOMIC_RELAXED))
			libgnsq_submit_now(pub);
		else
			submit(pub);
		s = wait_pub(pub, PUB_DONE, libgnsq_now_us() + bound_us);
		/* Not answered in time: once the library has taken it (at once,
		   unless it answers a bad argument or a closed handle instead),
		   the outcome comes as an event. timeout_ms bounds only the
		   library's wait for a connection (libgnsq_pub_connect_ms). */
		if (!(s & PUB_DONE)) s = wait_pub(pub, PUB_SENT | PUB_DONE, -1);
		if ((s & PUB_SENT) && !(s & PUB_DONE)) {
			s = set_flag_unless(pub, PUB_DETACHED, PUB_DONE);
			if (!(s & PUB_DONE)) {
				*token = pub->token;
				libgnsq_release_pub(pub);
				return GNSQ_E_PENDING;
			}
		}
	} else {
		if (__atomic_load_n(&libgnsq_direct_ok, __ATOMIC_RELAXED))
			libgnsq_submit_now(pub);
		else
			submit(pub);
		s = wait_pub(pub, PUB_DONE, deadline);
	}
	if (!(s & PUB_DONE)) s = set_flag_unless(pub, PUB_ABANDONED, PUB_DONE);
	if (s & PUB_DONE) return outcome(pub);
	{
		static const char sent[] = "publish outcome unknown: no answer from nsqd within the timeout";
		static const char unsent[] = "publish not sent: the library did not take it within the timeout";
		if (s & PUB_SENT)
			libgnsq_set_detail(sent, sizeof sent - 1);
		else
			libgnsq_set_detail(unsent, sizeof unsent - 1);
	}
	libgnsq_release_pub(pub);
	return GNSQ_E_TIMEOUT;
}

int gnsq_producer_publish(gnsq_producer_t *p, const char *topic, const void *body, size_t len, int64_t defer_ms,
                          int timeout_ms) {
	return publish(NULL, p, topic, &body, &len, 1, 0, defer_ms, timeout_ms, -1);
}

int gnsq_producer_multipublish(gnsq_producer_t *p, const char *topic, const void *const *bodies, const size_t *lens,
                               size_t n, int timeout_ms) {
	return publish(NULL, p, topic, bodies, lens, n, 1, 0, timeout_ms, -1);
}

int gnsq_producer_publish_bounded(uint64_t *token, gnsq_producer_t *p, const char *topic, const void *body,
                                  size_t len, int64_t defer_ms, int wait_us, int timeout_ms) {
	return publish(token, p, topic, &body, &len, 1, 0, defer_ms, timeout_ms, wait_us < 0 ? 0 : wait_us);
}

int gnsq_producer_multipublish_bounded(uint64_t *token, gnsq_producer_t *p, const char *topic, const void *const *bodies,
                                       const size_t *lens, size_t n, int wait_us, int timeout_ms) {
	return publish(token, p, topic, bodies, lens, n, 1, 0, timeout_ms, wait_us < 0 ? 0 : wait_us);
}
