/*
 * gnsq.h - the C API of libgnsq, an NSQ client (gnsq semantics, Go core).
 *
 * Platforms: Linux on x86-64 and arm64, with glibc. The library is
 * libgnsq.so.0 (link with -lgnsq, or pkg-config gnsq); it exports only
 * the gnsq_* functions below and can be loaded at run time with dlopen()
 * (ctypes, Node, koffi): it uses 8 bytes of static TLS.
 *
 * Conventions (every function follows them):
 *
 *  - Every function returns int: >= 0 on success (0, or a count where
 *    documented), < 0 a GNSQ_E_* code. On failure a detail text (for a
 *    server error it starts with nsqd's E_* name) is stored for the calling
 *    thread; copy it out with gnsq_last_error(). Success does not clear it.
 *  - Out-parameters come first. Handles are typed opaque pointers whose
 *    values are generation-checked ids, never memory: a NULL, stale (freed),
 *    closed or garbage handle gives GNSQ_E_INVALID_HANDLE or GNSQ_E_CLOSED,
 *    never a crash. The library never keeps a pointer the caller passed in:
 *    strings and bodies are copied during the call.
 *  - Buffers: a function that fills a caller's buffer (buf, n) returns the
 *    full size of its result (bytes, or items for arrays). A result that
 *    does not fit is cut to n (texts stay NUL-terminated) and the return
 *    value, larger than n, says how much to allocate for the next call;
 *    results that cannot be asked for again (an HTTP answer, nsqd's
 *    IDENTIFY answer, a message body) are never cut: they are held
 *    whole under a token (*held) for *_read_body(). No function reports a
 *    failure after its side effect happened.
 *  - Ids: every token (uint64_t: messages, publishes, requests, closes) is
 *    below 2^53 and every connection id is a uint32_t, so a JavaScript
 *    number holds them exactly. A freed handle's slot must be reused 2^28
 *    times before the stale value could name a live object again.
 *  - Threads: every function may be called from any thread. No host code
 *    ever runs on a library thread: results, messages and signals are
 *    queued as events on their handle and handed out by the *_poll()
 *    functions on the caller's thread. Do not cancel (pthread_cancel) or
 *    longjmp out of a thread inside a libgnsq call: a blocked poll or
 *    dispatch that never returns would make close wait for it forever.
 *  - Lifetime: *_close() is idempotent. Everything the close itself ends
 *    (pending publishes, the connections) is queued as events before it
 *    returns, followed by GNSQ_EV_CLOSED; after that nothing more is ever
 *    queued. *_close_async() starts the same close and returns at once:
 *    the handle counts as closed immediately, and GNSQ_EV_CLOSED (with the
 *    close's token) says when the close is done. *_poll() still hands out what is queued, then returns
 *    GNSQ_E_CLOSED, like every other function on the handle but *_free().
 *    *_free() releases the handle (closing it first if needed); the handle
 *    value is then stale. free(NULL) is a no-op.
 *  - Signals: the Go runtime inside runs threads of its own; a host signal
 *    handler must be installed with SA_ONSTACK. The library installs none
 *    but Go's own.
 *  - Go runtime: it runs with at least two Ps (GOMAXPROCS >= 2) unless the
 *    environment sets GOMAXPROCS: a thread returning from a call keeps its
 *    P for a while, and the library's goroutines must not wait for it.
 *    With GOMAXPROCS=1 set, synchronous publishes never enter Go on the
 *    calling thread (see gnsq_producer_publish()).
 *  - Fork: the Go runtime's threads do not survive fork(). In a child
 *    forked after the library was loaded, every function fails at once
 *    with GNSQ_E_FORKED (gnsq_version*, gnsq_strerror and the error
 *    predicates still work); the parent is unaffected. Load the library in
 *    the process that uses it, after forking: gunicorn without --preload
 *    (or load it in post_fork), multiprocessing with 'spawn' or
 *    'forkserver', or import the binding lazily in the worker.
 *  - Waking up: each handle owns a pipe; the library writes to it when the
 *    handle's event queue goes from empty to non-empty. Wait for the fd to
 *    be readable (poll(2), epoll, libuv, asyncio add_reader, gevent
 *    wait_read), read the pipe empty, then call *_poll() with timeout 0
 *    until it returns 0. This is race-free. A *_poll() (or *_dispatch())
 *    with a non-zero timeout that finds the queue empty waits on the same
 *    pipe and empties it: use one way of waiting per handle, not both.
 */
#ifndef GNSQ_H
#define GNSQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version --------------------------------------------------------- */

#define GNSQ_VERSION_MAJOR 0
#define GNSQ_VERSION_MINOR 1
#define GNSQ_VERSION_PATCH 0
/** Compile-time version, 0xMMmmpp. Compare with gnsq_version() at run time. */
#define GNSQ_VERSION ((GNSQ_VERSION_MAJOR << 16) | (GNSQ_VERSION_MINOR << 8) | GNSQ_VERSION_PATCH)
#define GNSQ_VERSION_STR "0.1.0"

/* ---- Types and constants --------------------------------------------- */

/** Error codes: every function returns one of these when it fails. */
enum {
    GNSQ_OK = 0,
    GNSQ_E_INVALID_ARG = -1,       /* bad argument: NULL pointer, invalid topic/channel name, unknown config key, bad value */
    GNSQ_E_INVALID_HANDLE = -2,    /* NULL, freed or garbage handle */
    GNSQ_E_CLOSED = -3,            /* the handle was closed (also the outcome of work still pending at close) */
    GNSQ_E_TIMEOUT = -4,           /* the wait ended; the operation's outcome is unknown */
    GNSQ_E_NO_CONNECTIONS = -5,    /* no nsqd connection was available in time */
    GNSQ_E_CONNECTION = -6,        /* the connection failed or died under the operation */
    GNSQ_E_NSQ = -7,               /* nsqd sent an error frame that closes the connection (detail: "E_... text") */
    GNSQ_E_NSQ_NONFATAL = -8,      /* E_FIN_FAILED, E_REQ_FAILED, E_TOUCH_FAILED: the connection stays up */
    GNSQ_E_PROTOCOL = -9,          /* nsqd (or nsqlookupd) broke the protocol */
    GNSQ_E_TLS = -10,              /* TLS setup or certificate verification failed (never a plaintext fallback) */
    GNSQ_E_AUTH = -11,             /* AUTH required, refused or failed */
    GNSQ_E_HTTP = -12,             /* non-2xx HTTP answer (detail: status and nsqd's message) */
    GNSQ_E_NOT_RUNNING = -13,      /* the object was not started */
    GNSQ_E_ALREADY_RESPONDED = -14,/* the message was already finished or requeued */
    GNSQ_E_UNKNOWN_TOKEN = -15,    /* no message or held body has this token (answered, released or never issued) */
    /* -16 is not used (see "Buffers" above: results that do not fit are reported by their size) */
    GNSQ_E_IO = -17,               /* an operating-system error (socket, pipe) */
    GNSQ_E_INTERNAL = -18,         /* a bug in libgnsq (it was contained; please report the detail) */
    GNSQ_E_IN_CALLBACK = -19,      /* close/free/dispatch called from inside a callback of this library */
    GNSQ_E_FORKED = -20,           /* this process forked after loading libgnsq: load it after forking (see "Fork" above) */
    GNSQ_E_PENDING = -21,          /* not answered within the wait: the outcome comes later as an event (*token) */
    GNSQ_E_INTERRUPTED = -22       /* *_run() ended by *_wakeup() */
};

/**
 * Options by gnsq's keyword names and units ("max_in_flight", "timeout",
 * "tls_v1", ...; docs/config.md lists them all). A config is only read by
 * the constructors, which copy it: it can be reused and must be freed by
 * the caller.
 */
typedef struct gnsq_config gnsq_config_t;

enum {
    GNSQ_EV_MESSAGE = 1,      /* a message to handle; answer it with gnsq_consumer_respond() */
    GNSQ_EV_GIVING_UP = 2,    /* gnsq's on_giving_up: attempts > max_tries; already finished */
    GNSQ_EV_FINISHED = 3,     /* gnsq's on_finish: id */
    GNSQ_EV_REQUEUED = 4,     /* gnsq's on_requeue: id, value = delay in ms */
    GNSQ_EV_RESPONSE = 5,     /* gnsq's on_response: data = the response ("OK", "_heartbeat_", ...) */
    GNSQ_EV_ERROR = 6,        /* gnsq's on_error: code, data = detail text */
    GNSQ_EV_AUTH = 7,         /* gnsq's on_auth: data = nsqd's AUTH answer (JSON) */
    GNSQ_EV_CLOSED = 8,       /* gnsq's on_close: the object was closed; always the last event; token = the close's, code = 0 or GNSQ_E_TIMEOUT */
    GNSQ_EV_CONNECTED = 9,    /* a connection to nsqd is up: data = "host:port" */
    GNSQ_EV_DISCONNECTED = 10,/* a connection to nsqd went down: data = "host:port", code = why */
    GNSQ_EV_EXCEPTION = 11,   /* gnsq's on_exception: id, data = the handler's error text */
    GNSQ_EV_PUBLISHED = 12,   /* an async publish completed: token, code (0 = nsqd answered OK) */
    GNSQ_EV_HTTP_DONE = 13,   /* an async HTTP request completed: token, code, value = HTTP status, data = the answer or error text */
    GNSQ_EV_CONNECT_DONE = 14,/* gnsq_tcp_connect_async() completed: token, code (0 = connected), data = nsqd's IDENTIFY answer (JSON, empty for a plain OK) or the error text */
    GNSQ_EV_LOG = 15,         /* a log record at the config's log_level or above: value = GNSQ_LOG_*, data = "<component> <text>" where the component ("gnsq.consumer.topic.channel") has no spaces and attempts = its length */
    GNSQ_EV_STEP_DONE = 16,   /* a gnsq_tcp_*_async() step completed: token, code (0 = done), value = read_response's frame type, data = the step's answer or the error text */
    GNSQ_EV_LAST = GNSQ_EV_STEP_DONE /* the highest event type (types are 1..GNSQ_EV_LAST) */
};

/**
 * Log levels of GNSQ_EV_LOG (event.value), the numbers of Python's logging
 * module. The config key "log_level" (debug, info, warn, error, off;
 * default warn) chooses the least severe level queued. The library never
 * writes to stderr: log records exist only as these events. At most 1024
 * LOG events wait in a handle's queue; further ones are dropped and the
 * next one queued says how many were.
 */
enum { GNSQ_LOG_DEBUG = 10, GNSQ_LOG_INFO = 20, GNSQ_LOG_WARNING = 30, GNSQ_LOG_ERROR = 40 };

enum {
    GNSQ_EVF_HELD = 1,        /* a message body or HTTP answer larger than the poll buffer: read it with *_read_body(token) */
    GNSQ_EVF_TRUNCATED = 2    /* a text (error detail, address, ...) cut to the poll buffer's size */
};

/**
 * One event, 64 bytes, fixed layout (decodable from a byte array: all
 * fields little/native-endian at the offsets shown).
 */
typedef struct gnsq_event {
    int32_t  type;        /*  0: GNSQ_EV_* */
    int32_t  code;        /*  4: 0, or a GNSQ_E_* code (ERROR, DISCONNECTED, PUBLISHED) */
    uint64_t token;       /*  8: MESSAGE/GIVING_UP: the message's token; PUBLISHED: the publish's token */
    int64_t  timestamp;   /* 16: MESSAGE/GIVING_UP: nsqd's timestamp, ns since the epoch */
    int64_t  value;       /* 24: REQUEUED: delay in ms */
    uint32_t data_len;    /* 32: length of data (message body or text) */
    uint32_t data_offset; /* 36: offset of data in the poll buffer (unless GNSQ_EVF_HELD) */
    uint16_t attempts;    /* 40: MESSAGE/GIVING_UP: delivery attempts */
    uint16_t flags;       /* 42: GNSQ_EVF_* */
    uint32_t conn;        /* 44: the nsqd connection it came from (0: none); see gnsq_consumer_connections() */
    uint8_t  id[16];      /* 48: MESSAGE/GIVING_UP/FINISHED/REQUEUED/EXCEPTION: nsqd's message id */
} gnsq_event_t;

/** gnsq's Producer: publishes to one or more nsqd over TCP. */
typedef struct gnsq_producer gnsq_producer_t;

/** One publish of gnsq_producer_publish_batch(), 32 bytes, fixed layout. */
typedef struct gnsq_publish {
    const char *topic;  /*  0 */
    const void *body;   /*  8: len bytes, copied */
    size_t len;         /* 16 */
    int64_t defer_ms;   /* 24: > 0 sends a DPUB */
} gnsq_publish_t;

/** gnsq's Consumer: reads topic/channel from nsqd found directly and/or through nsqlookupd. */
typedef struct gnsq_consumer gnsq_consumer_t;

enum {
    GNSQ_RESP_FINISH = 1,          /* FIN */
    GNSQ_RESP_REQUEUE = 2,         /* REQ after delay_ms; backoff != 0 backs off */
    GNSQ_RESP_TOUCH = 3,           /* TOUCH: more time; the message stays open */
    GNSQ_RESP_HANDLER_OK = 4,      /* the handler returned: finish unless already answered */
    GNSQ_RESP_HANDLER_FAILED = 5,  /* the handler raised: requeue (requeue_delay) with backoff, GNSQ_EV_EXCEPTION */
    GNSQ_RESP_HANDLER_REQUEUE = 6  /* gnsq's NSQRequeueMessage: backoff -1 = backoff_on_requeue, 0 = no, 1 = yes */
};

/** One answer to a GNSQ_EV_MESSAGE, 32 bytes, fixed layout. */
typedef struct gnsq_response {
    uint64_t token;         /*  0: the MESSAGE event's token */
    int32_t  action;        /*  8: GNSQ_RESP_* */
    int32_t  backoff;       /* 12: REQUEUE: 0/1; HANDLER_REQUEUE: -1/0/1 */
    int64_t  delay_ms;      /* 16: REQUEUE */
    uint32_t detail_offset; /* 24: HANDLER_FAILED: the handler's error text is texts[detail_offset..+detail_len) */
    uint32_t detail_len;    /* 28: 0: no text ("message handler failed") */
} gnsq_response_t;

/**
 * A C callback for events (see gnsq_consumer_set_callback()). ev and data
 * (the event's data, NULL when GNSQ_EVF_HELD) are valid only during the
 * call. Return 0 to go on; a non-zero value makes *_run() return it after
 * the current batch of events.
 */
typedef int (*gnsq_callback_t)(const gnsq_event_t *ev, const uint8_t *data, void *closure);

/** gnsq's NsqdHTTPClient or LookupdClient: nsqd's or nsqlookupd's HTTP API. */
typedef struct gnsq_http gnsq_http_t;

enum { GNSQ_HTTP_NSQD = 1, GNSQ_HTTP_LOOKUPD = 2 };

/** HTTP operations (gnsq's method names); which fields of gnsq_http_request_t each uses. */
enum {
    GNSQ_HTTP_PING = 1,             /* both: answer "OK" */
    GNSQ_HTTP_INFO = 2,             /* both: JSON */
    GNSQ_HTTP_STATS = 3,            /* nsqd: JSON; topic, channel optional filters */
    GNSQ_HTTP_STATS_TEXT = 4,       /* nsqd: text; topic, channel optional */
    GNSQ_HTTP_PUBLISH = 5,          /* nsqd: topic, bodies[0]/lens[0] (n = 1), defer_ms */
    GNSQ_HTTP_MULTIPUBLISH = 6,     /* nsqd: topic, n bodies joined by newlines (a body with '\n' is refused) */
    GNSQ_HTTP_MULTIPUBLISH_BINARY = 7, /* nsqd: topic, n bodies in the binary MPUB format */
    GNSQ_HTTP_CREATE_TOPIC = 8,     /* both: topic */
    GNSQ_HTTP_DELETE_TOPIC = 9,     /* both: topic */
    GNSQ_HTTP_EMPTY_TOPIC = 10,     /* nsqd: topic */
    GNSQ_HTTP_PAUSE_TOPIC = 11,     /* nsqd: topic */
    GNSQ_HTTP_UNPAUSE_TOPIC = 12,   /* nsqd: topic */
    GNSQ_HTTP_CREATE_CHANNEL = 13,  /* both: topic, channel */
    GNSQ_HTTP_DELETE_CHANNEL = 14,  /* both: topic, channel */
    GNSQ_HTTP_EMPTY_CHANNEL = 15,   /* nsqd: topic, channel */
    GNSQ_HTTP_PAUSE_CHANNEL = 16,   /* nsqd: topic, channel */
    GNSQ_HTTP_UNPAUSE_CHANNEL = 17, /* nsqd: topic, channel */
    GNSQ_HTTP_LOOKUP = 18,          /* lookupd: topic; JSON */
    GNSQ_HTTP_TOPICS = 19,          /* lookupd: JSON */
    GNSQ_HTTP_CHANNELS = 20,        /* lookupd: topic; JSON */
    GNSQ_HTTP_NODES = 21,           /* lookupd: JSON */
    GNSQ_HTTP_TOMBSTONE_TOPIC = 22  /* lookupd: topic, node ("host:http_port") */
};

/** One HTTP request. Unused fields may be left 0/NULL; everything is copied. */
typedef struct gnsq_http_request {
    int32_t op;                   /* GNSQ_HTTP_* operation */
    int32_t reserved;             /* 0 */
    const char *topic;
    const char *channel;
    const char *node;
    const void *const *bodies;    /* PUBLISH (1), MULTIPUBLISH* (n) */
    const size_t *lens;
    size_t n;
    int64_t defer_ms;             /* PUBLISH: > 0 defers */
} gnsq_http_request_t;

/** gnsq's NsqdTCPClient: one low-level TCP connection to nsqd. */
typedef struct gnsq_tcp gnsq_tcp_t;

/**
 * One nsqd connection's state (gnsq's NsqdTCPClient attributes), 288
 * bytes, fixed layout. id is what events carry in gnsq_event_t.conn.
 */
typedef struct gnsq_conn_info {
    uint32_t id;              /*  0: unique in the process, never 0 */
    int32_t  connected;       /*  4: gnsq's is_connected (1/0) */
    int32_t  ready_count;     /*  8: the last RDY sent (gnsq's ready_count) */
    int32_t  last_ready;      /* 12: gnsq's last_ready (equal to ready_count) */
    int32_t  in_flight;       /* 16: messages received and not yet answered */
    int32_t  max_ready_count; /* 20: nsqd's max_rdy_count */
    int32_t  starved;         /* 24: gnsq's is_starved (1/0) */
    int32_t  reserved;        /* 28: 0 */
    char     address[256];    /* 32: "host:port", NUL-terminated */
} gnsq_conn_info_t;

/** A consumer's totals (gnsq's Consumer attributes), 24 bytes. */
typedef struct gnsq_consumer_status {
    int32_t running;           /* 0: started and not closed */
    int32_t starved;           /* 4: gnsq's is_starved: some connection is starved */
    int32_t total_ready_count; /* 8: the sum of the RDY counts */
    int32_t total_in_flight;   /* 12: messages received and not yet answered */
    int32_t max_in_flight;     /* 16 */
    int32_t connections;       /* 20: how many connections (see gnsq_consumer_connections()) */
} gnsq_consumer_status_t;

/* ---- Functions --------------------------------------------------------- */

/* libgnsq's own build defines GNSQ_NO_PROTOTYPES to take only the types and
   constants above (its generated prototypes lack the consts); never define
   it in an application. */
#ifndef GNSQ_NO_PROTOTYPES

/** The library's version as 0xMMmmpp. Never fails. */
int gnsq_version(void);

/** The library's version as a static string ("0.1.0"); never free it. */
const char *gnsq_version_str(void);

/* ---- Errors ---------------------------------------------------------- */

/** A static description of code; never NULL, never free it. */
const char *gnsq_strerror(int code);

/**
 * 1 when an error with this code leaves the object or connection unable to
 * carry on by retrying the same request (nsqd closed the connection after a
 * fatal E_*, TLS/AUTH/protocol failures, closed or invalid handles), else 0.
 */
int gnsq_error_is_fatal(int code);

/**
 * 1 when retrying the same request later can succeed (timeouts, no
 * connections yet, a dropped connection the library is re-establishing),
 * else 0.
 */
int gnsq_error_is_retriable(int code);

/**
 * Copies the calling thread's last error detail, NUL-terminated and
 * truncated to n - 1 bytes, into buf. Returns the detail's full length (so
 * a return >= n means truncation), 0 when there is none. buf may be NULL
 * when n is 0.
 */
int gnsq_last_error(char *buf, size_t n);

/* ---- Configuration --------------------------------------------------- */

/** Creates a config holding every default. Free it with gnsq_config_free(). */
int gnsq_config_new(gnsq_config_t **out);

/**
 * Sets key to value (its string form: "2500", "1.5", "true", "1500ms").
 * An unknown key or an invalid/out-of-range value gives GNSQ_E_INVALID_ARG
 * with a detail naming the key, and changes nothing.
 */
int gnsq_config_set(gnsq_config_t *cfg, const char *key, const char *value);

/**
 * Copies the string form of key into buf (NUL-terminated, cut to n - 1
 * bytes). Returns its full length (so a return >= n means it was cut).
 */
int gnsq_config_get(char *buf, size_t n, const gnsq_config_t *cfg, const char *key);

/** Frees cfg. NULL is a no-op. */
int gnsq_config_free(gnsq_config_t *cfg);

/* ---- Producer -------------------------------------------------------- */

/**
 * Creates a producer for n_addrs nsqd addresses ("host[:port]", port 4150
 * by default). cfg may be NULL (defaults); it is copied. Not connected
 * until gnsq_producer_start().
 */
int gnsq_producer_new(gnsq_producer_t **out, const char *const *nsqd_addrs, size_t n_addrs, const gnsq_config_t *cfg);

/**
 * Connects to every nsqd, waiting for each first attempt. Failures are
 * queued as GNSQ_EV_ERROR events and retried with backoff, not returned.
 */
int gnsq_producer_start(gnsq_producer_t *p);

/**
 * Publishes body (copied; len 0 is refused, see below) to topic and
 * waits for nsqd's answer, at most timeout_ms (< 0: no limit) including
 * the wait for a connection. defer_ms > 0 sends a deferred publish (DPUB).
 * Returns 0 when nsqd answered OK; GNSQ_E_INVALID_ARG before any I/O for a
 * bad topic, an empty body (nsqd would refuse it and close the
 * connection under the other publishes) or a body of 2 GiB or more (an
 * MPUB of no bodies or with an empty one likewise); GNSQ_E_NSQ for nsqd's refusal
 * (detail "E_BAD_MESSAGE ...");
 * GNSQ_E_NO_CONNECTIONS, GNSQ_E_TIMEOUT (detail says whether it was sent:
 * if so the outcome is unknown), GNSQ_E_CONNECTION, GNSQ_E_CLOSED.
 *
 * Blocks the calling thread without starving the Go runtime: with one P
 * (GOMAXPROCS=1 set in the environment) the thread never runs Go code, it
 * hands the publish to the library's goroutines; with more it sends on
 * its own thread (another P reads the answer). Either way it then sleeps
 * on a futex. The timeout also bounds the wait for a connection, which
 * ends a few ms before it so that GNSQ_E_NO_CONNECTIONS arrives in time.
 * CPU cost per call:
 * the copy of the body, a futex wait (at GOMAXPROCS=1 also one eventfd
 * write); and, when the process may run on more than one CPU, at most
 * 100 us of checking for the answer, yielding the CPU in between
 * (sched_yield), before it sleeps, because a local nsqd often answers
 * sooner than a sleeping thread wakes. Use
 * gnsq_producer_publish_bounded() or gnsq_producer_publish_async() on a
 * thread that must not block.
 */
int gnsq_producer_publish(gnsq_producer_t *p, const char *topic, const void *body, size_t len, int64_t defer_ms, int timeout_ms);

/**
 * Publishes n bodies (bodies[i] of lens[i] bytes, copied) in one MPUB and
 * waits like gnsq_producer_publish().
 */
int gnsq_producer_multipublish(gnsq_producer_t *p, const char *topic, const void *const *bodies, const size_t *lens, size_t n, int timeout_ms);

/**
 * Queues a publish (DPUB when defer_ms > 0) without waiting for nsqd's
 * answer; waits at most wait_ms for a connection (0: not at all, < 0: no
 * limit). On success *token identifies it and exactly one
 * GNSQ_EV_PUBLISHED event with that token follows, with code 0 (nsqd said
 * OK) or the error (closing the producer ends a pending publish with
 * GNSQ_E_CLOSED). On failure nothing was sent and no event follows.
 */
int gnsq_producer_publish_async(uint64_t *token, gnsq_producer_t *p, const char *topic, const void *body, size_t len, int64_t defer_ms, int wait_ms);

/**
 * gnsq_producer_publish() for event loops: waits at most wait_us
 * microseconds for nsqd's answer. Returns its outcome (0 or an error, as
 * gnsq_producer_publish()) if it came in time; otherwise returns
 * GNSQ_E_PENDING with *token set, and exactly one GNSQ_EV_PUBLISHED event
 * with that token follows, with the outcome. A few tens of microseconds
 * (the round trip to a local nsqd) save a wake-up of the loop through the
 * notify fd for most publishes. Bad arguments and invalid or closed
 * handles are returned at once, never as events. timeout_ms (< 0: no
 * limit) bounds the wait for a connection, as for gnsq_producer_publish();
 * the library waits for it on its own threads, except with timeout_ms 0
 * (no wait): then, with more than one P, the caller sends it itself. With
 * wait_us 0 (the caller does not wait for the answer) the write is left to
 * the connection's flusher, so that a burst of such publishes shares
 * write(2) calls.
 */
int gnsq_producer_publish_bounded(uint64_t *token, gnsq_producer_t *p, const char *topic, const void *body, size_t len, int64_t defer_ms, int wait_us, int timeout_ms);

/**
 * gnsq_producer_publish_bounded() for an MPUB of n bodies (bodies[i] of
 * lens[i] bytes, copied): its outcome if nsqd answered within wait_us,
 * else GNSQ_E_PENDING with *token and one GNSQ_EV_PUBLISHED event later.
 */
int gnsq_producer_multipublish_bounded(uint64_t *token, gnsq_producer_t *p, const char *topic, const void *const *bodies,
                                       const size_t *lens, size_t n, int wait_us, int timeout_ms);

/** gnsq_producer_publish_async() for an MPUB of n bodies. */
int gnsq_producer_multipublish_async(uint64_t *token, gnsq_producer_t *p, const char *topic, const void *const *bodies, const size_t *lens, size_t n, int wait_ms);

/**
 * Sends the n publishes of pubs, in order, in one call and without
 * blocking: for an event loop that has many publishes ready at once (the
 * Node binding sends those made in one tick with it). Nothing waits for
 * a connection or an answer, and the writes are left to the connection's
 * flusher, so the n publishes share write(2) calls. Consecutive publishes
 * to one topic without defer_ms, of at most 64 KiB each, go as one MPUB
 * (up to 100 of them and 512 KiB): nsqd stores them together and answers
 * once, and each still gets its own event with that answer. An nsqd whose
 * limits (--max-msg-size, --max-body-size) are below those refuses such
 * an MPUB as a whole; then each of its publishes gets nsqd's error.
 *
 * Returns GNSQ_OK with tokens[i] set for each pubs[i] (tokens holds n
 * entries); then exactly one GNSQ_EV_PUBLISHED event per publish follows,
 * with its token and code 0 (nsqd said OK) or the error. That includes a
 * publish refused before it was sent: GNSQ_E_INVALID_ARG for a bad topic
 * or an empty body, GNSQ_E_NO_CONNECTIONS when no nsqd is connected
 * (retry it, e.g. with gnsq_producer_publish_bounded() and a timeout).
 * Otherwise nothing was sent and no event follows: GNSQ_E_INVALID_ARG
 * (tokens or pubs NULL with n > 0, a NULL topic, a NULL body with len > 0,
 * 2 GiB or more in all), GNSQ_E_INVALID_HANDLE, GNSQ_E_CLOSED. n 0 does
 * nothing. The GNSQ_EV_PUBLISHED events must not be masked out.
 */
int gnsq_producer_publish_batch(uint64_t *tokens, gnsq_producer_t *p, const gnsq_publish_t *pubs, size_t n);

/**
 * Copies up to max queued events into evs and their data into buf
 * (buf_len bytes), waiting at most timeout_ms (0: not at all, < 0: no
 * limit) for the first. Returns the number of events (0 on timeout). An
 * event whose data does not fit in what is left of buf stays queued for
 * the next call, unless it is the first: then a message body or HTTP
 * answer comes GNSQ_EVF_HELD, a text GNSQ_EVF_TRUNCATED (producer events
 * carry short texts: a 4 KiB buf is ample). GNSQ_EV_RESPONSE is off by
 * default for producers (one per publish): enable it with
 * gnsq_producer_set_event_mask() if wanted. Events queue until polled.
 */
int gnsq_producer_poll(gnsq_producer_t *p, gnsq_event_t *evs, int max, int timeout_ms, uint8_t *buf, size_t buf_len);

/**
 * Registers cb for events of event_type (0: every type without a callback
 * of its own); cb NULL removes it. Callbacks only run inside
 * gnsq_producer_dispatch() / gnsq_producer_run(), on the caller's thread;
 * events of a type with no callback are dropped there. Inside a callback,
 * *_close, *_free, *_dispatch and *_run return GNSQ_E_IN_CALLBACK.
 */
int gnsq_producer_set_callback(gnsq_producer_t *p, int event_type, gnsq_callback_t cb, void *closure);

/**
 * Polls events (waiting at most timeout_ms, < 0 no limit) and runs their
 * callbacks on this thread. Returns the number of events dispatched, or
 * GNSQ_E_CLOSED once the producer is closed. No callback runs once
 * gnsq_producer_close() has returned: a dispatch running or waiting then
 * finishes first, a gnsq_producer_run() dispatches everything up to
 * GNSQ_EV_CLOSED first; events left over are dropped.
 */
int gnsq_producer_dispatch(gnsq_producer_t *p, int timeout_ms);

/**
 * Dispatches until the producer is closed (returns 0) or a callback
 * returns non-zero (returns that value).
 */
int gnsq_producer_run(gnsq_producer_t *p);

/**
 * Makes a gnsq_producer_poll() or gnsq_producer_dispatch() blocked on
 * another thread return 0 at once, and gnsq_producer_run() return
 * GNSQ_E_INTERRUPTED; if none is blocked, the next one that would block
 * returns at once instead (one wakeup ends one wait). Safe from any
 * thread; not from a signal handler (write a byte to a pipe of your own
 * there and call this from a thread). This is how a host ends an
 * infinite wait for Ctrl-C or shutdown: poll, dispatch and run are the
 * interruptible waits; synchronous publishes, HTTP requests, connect and
 * close are bounded by their timeouts instead. Valid until free.
 */
int gnsq_producer_wakeup(gnsq_producer_t *p);

/**
 * The read end of the producer's wake-up pipe (non-blocking, close-on-exec,
 * owned by the library: do not close it; valid until gnsq_producer_free()).
 */
int gnsq_producer_notify_fd(int *fd, gnsq_producer_t *p);

/**
 * Closes the producer: connections close, pending publishes end with
 * GNSQ_E_CLOSED events, then GNSQ_EV_CLOSED is queued. Waits at most timeout_ms (< 0: no
 * limit) for the library's goroutines to stop; returns GNSQ_E_TIMEOUT if
 * they did not (the producer is closed anyway). Idempotent.
 */
int gnsq_producer_close(gnsq_producer_t *p, int timeout_ms);

/**
 * Starts gnsq_producer_close() without waiting for it (usable inside a
 * callback): *token identifies the close, and the GNSQ_EV_CLOSED event
 * carrying it (code 0, or GNSQ_E_TIMEOUT if the library's goroutines did
 * not stop within timeout_ms) says it is done; poll then returns
 * GNSQ_E_CLOSED. Every call returns the same token; a gnsq_producer_close()
 * after it waits for that close.
 */
int gnsq_producer_close_async(uint64_t *token, gnsq_producer_t *p, int timeout_ms);

/** Closes (if needed) and releases the producer. NULL is a no-op. */
int gnsq_producer_free(gnsq_producer_t *p);

/* ---- Consumer -------------------------------------------------------- */

/**
 * Creates a consumer of topic/channel from n_nsqd nsqd addresses
 * ("host[:port]") and/or n_lookupd nsqlookupd HTTP addresses ("http://h:p"
 * or "h:p"); at least one is needed. cfg may be NULL; it is copied
 * (max_in_flight, max_tries, requeue_delay, backoff_on_requeue,
 * lookupd_poll_interval, ... see docs/config.md).
 */
int gnsq_consumer_new(gnsq_consumer_t **out, const char *topic, const char *channel,
                      const char *const *nsqd_addrs, size_t n_nsqd,
                      const char *const *lookupd_addrs, size_t n_lookupd,
                      const gnsq_config_t *cfg);

/** Starts connecting and discovering (gnsq's start(block=False)). */
int gnsq_consumer_start(gnsq_consumer_t *c);

/**
 * Like gnsq_producer_poll(). GNSQ_EV_MESSAGE events carry the body as data;
 * a body that does not fit in the whole buffer comes with GNSQ_EVF_HELD.
 * Every MESSAGE must be answered with gnsq_consumer_respond(); messages
 * with attempts > max_tries never reach the host (GNSQ_EV_GIVING_UP).
 */
int gnsq_consumer_poll(gnsq_consumer_t *c, gnsq_event_t *evs, int max, int timeout_ms, uint8_t *buf, size_t buf_len);

/**
 * Copies the body of a GNSQ_EVF_HELD message (token from its event) into
 * dst (n bytes, at least its data_len) and releases it. Returns its
 * length; a return > n means dst was too small: nothing was copied and
 * it stays held.
 */
int gnsq_consumer_read_body(gnsq_consumer_t *c, uint64_t token, void *dst, size_t n);

/**
 * Applies n answers in order; the HANDLER_* actions apply gnsq's rules in
 * the library (auto-finish, requeue with backoff, on_exception). Each
 * HANDLER_FAILED answer may carry its own error text, a slice of texts
 * (texts_len bytes, may be NULL when no answer has one; copied), which
 * GNSQ_EV_EXCEPTION reports. A final answer (all but TOUCH) releases the
 * token and any held body. Returns n when all applied; otherwise the
 * first error (later answers are still applied): GNSQ_E_INVALID_ARG
 * (unknown action, negative delay, a text outside texts: that message
 * stays open), GNSQ_E_UNKNOWN_TOKEN (never handed out, or already
 * answered), GNSQ_E_CONNECTION (FINISH/REQUEUE/TOUCH on a connection that
 * is gone: nsqd redelivers the message; the HANDLER_* actions log this).
 */
int gnsq_consumer_respond(gnsq_consumer_t *c, const gnsq_response_t *r, size_t n, const char *texts, size_t texts_len);

/**
 * Chooses which event types are queued: bit (1 << GNSQ_EV_x) enables type
 * x. All are enabled at first. Outcomes (MESSAGE, PUBLISHED, CLOSED and
 * the other completions) cannot be disabled: disabling signals nobody
 * listens to (FINISHED, REQUEUED, RESPONSE) saves work per message.
 */
int gnsq_consumer_set_event_mask(gnsq_consumer_t *c, uint32_t mask);

/** The producer's gnsq_consumer_set_event_mask(). */
int gnsq_producer_set_event_mask(gnsq_producer_t *p, uint32_t mask);

/**
 * Changes max_in_flight (RDY is redistributed at once); 0 pauses delivery,
 * e.g. to stop intake before closing.
 */
int gnsq_consumer_set_max_in_flight(gnsq_consumer_t *c, int max_in_flight);

/** Copies the consumer's totals into *st (also once closed: zeros). */
int gnsq_consumer_status(gnsq_consumer_status_t *st, gnsq_consumer_t *c);

/**
 * Copies the state of the consumer's current connections, sorted by
 * address, into out (at most max). Returns how many there are (a return >
 * max means some were left out).
 */
int gnsq_consumer_connections(gnsq_conn_info_t *out, size_t max, gnsq_consumer_t *c);

/**
 * Copies the state of the connection with id conn_id (from an event's
 * conn) into *out. GNSQ_E_INVALID_ARG when the consumer has no such
 * connection (any more).
 */
int gnsq_consumer_connection(gnsq_conn_info_t *out, gnsq_consumer_t *c, uint32_t conn_id);

/**
 * gnsq's connect_to_nsqd(): adds a direct connection to nsqd at addr
 * ("host[:port]") while running; it is kept connected (reconnected with
 * backoff) until close. A failed attempt comes as GNSQ_EV_ERROR, not as
 * the return value. An address the consumer has already is left alone.
 * GNSQ_E_NOT_RUNNING before gnsq_consumer_start().
 */
int gnsq_consumer_connect_to_nsqd(gnsq_consumer_t *c, const char *addr);

/**
 * Registers cb for the consumer's events of event_type; see
 * gnsq_producer_set_callback(). A GNSQ_EV_MESSAGE callback answers the
 * message with gnsq_consumer_respond() (there or later), as after a poll.
 */
int gnsq_consumer_set_callback(gnsq_consumer_t *c, int event_type, gnsq_callback_t cb, void *closure);

/** gnsq_producer_dispatch() for a consumer. */
int gnsq_consumer_dispatch(gnsq_consumer_t *c, int timeout_ms);

/**
 * Dispatches until the consumer is closed (from another thread; returns 0)
 * or a callback returns non-zero (returns that value; then close it):
 * gnsq's start(block=True).
 */
int gnsq_consumer_run(gnsq_consumer_t *c);

/** gnsq_producer_wakeup() for a consumer (ends a poll, dispatch or run). */
int gnsq_consumer_wakeup(gnsq_consumer_t *c);

/** The read end of the consumer's wake-up pipe (see gnsq_producer_notify_fd()). */
int gnsq_consumer_notify_fd(int *fd, gnsq_consumer_t *c);

/**
 * Closes the consumer (gnsq's close(): connections close after writing the
 * answers already given; messages not answered are redelivered by nsqd
 * after its msg_timeout). Queues GNSQ_EV_CLOSED and nothing after it (no
 * DISCONNECTED for the connections it ends); waits at most timeout_ms
 * (< 0: no limit) for the library's goroutines. Idempotent.
 * gnsq_consumer_read_body() and gnsq_consumer_notify_fd() keep working
 * until gnsq_consumer_free().
 */
int gnsq_consumer_close(gnsq_consumer_t *c, int timeout_ms);

/** gnsq_consumer_close() without waiting; see gnsq_producer_close_async(). */
int gnsq_consumer_close_async(uint64_t *token, gnsq_consumer_t *c, int timeout_ms);

/**
 * The graceful close: CLS to every nsqd (which then sends no more), no
 * reconnects, RDY changes or lookups; every message already received is
 * still handed out and must be answered (keep polling and responding, on
 * another thread or from the poll loop with gnsq_consumer_drain_async());
 * once all are answered and written out, the consumer closes as
 * gnsq_consumer_close() does. After timeout_ms (< 0: no limit) the
 * messages not yet handed out are requeued at once and the consumer
 * closes, abandoning the ones handed out and not answered (nsqd
 * redelivers them after its msg_timeout). Returns 0 when everything was
 * drained, GNSQ_E_TIMEOUT when the timeout ended it, GNSQ_E_CLOSED on a
 * closed consumer. Blocks; refused inside a callback (GNSQ_E_IN_CALLBACK).
 * A close during a drain ends it.
 */
int gnsq_consumer_drain(gnsq_consumer_t *c, int timeout_ms);

/**
 * gnsq_consumer_drain() without waiting: *token identifies it, and the
 * GNSQ_EV_CLOSED event that ends it carries the token (code 0, or
 * GNSQ_E_TIMEOUT as above); every call returns the same token. Usable
 * from the loop that polls the consumer, which goes on handling the
 * remaining MESSAGE events until CLOSED.
 */
int gnsq_consumer_drain_async(uint64_t *token, gnsq_consumer_t *c, int timeout_ms);

/** Closes (if needed) and releases the consumer. NULL is a no-op. */
int gnsq_consumer_free(gnsq_consumer_t *c);

/* ---- Low-level TCP client -------------------------------------------- */

/*
 * gnsq's NsqdTCPClient, in its steps or in one call:
 *
 *   gnsq_tcp_open()           gnsq's connect(): TCP connect, the magic "  V2"
 *   gnsq_tcp_identify()       identify(): IDENTIFY, upgrades, AUTH if needed
 *   gnsq_tcp_auth()           auth()
 *   gnsq_tcp_read_response()  read_response(): one frame
 *   gnsq_tcp_listen()         listen(), in the background: frames become events
 *   gnsq_tcp_connect()        open + identify + listen
 *
 * and the commands (subscribe ... cls), which only write: the answer is
 * the next frame, read by read_response() or, once listening, a
 * RESPONSE/ERROR event. One step runs at a time on a client (another
 * one, also from another thread, fails with GNSQ_E_INVALID_ARG), and
 * none once listening (GNSQ_E_INVALID_ARG: the frames are events). Each step that waits for nsqd also has an *_async
 * form for event loops (under gevent the server that must answer may run
 * on the caller's thread): on success *token identifies it and exactly
 * one GNSQ_EV_STEP_DONE event with that token follows (before
 * GNSQ_EV_CLOSED if the client is closed meanwhile), with code 0 and
 * data = what the blocking form copies out (held under the token when it
 * does not fit the poll buffer: gnsq_tcp_read_body()), or the error's
 * code and text; on failure no event follows. STEP_DONE is not
 * CONNECT_DONE because a step leaves the client where the step took it
 * (CONNECT_DONE means listening); the token says which call it was, so
 * value carries the read's frame type instead.
 *
 * Frames read by either way fire gnsq's signals as events: RESPONSE
 * (also the IDENTIFY answer and heartbeats) and ERROR, AUTH; messages
 * become MESSAGE events only once listening (read_response returns them).
 */

/** Frame types of gnsq_tcp_read_response() (nsqd's numbers, gnsq's FRAME_TYPE_*). */
enum { GNSQ_FRAME_RESPONSE = 0, GNSQ_FRAME_ERROR = 1, GNSQ_FRAME_MESSAGE = 2 };

/**
 * Creates an unconnected client of nsqd at addr ("host:port") with cfg's
 * connection options (NULL: defaults; copied). gnsq's close() is
 * gnsq_tcp_cls() here; its close_stream() is gnsq_tcp_close().
 */
int gnsq_tcp_new(gnsq_tcp_t **out, const char *addr, const gnsq_config_t *cfg);

/**
 * gnsq's connect(): connects (dial_timeout) and sends the magic "  V2".
 * A no-op on an open connection; GNSQ_E_CLOSED once the connection was
 * closed (a client connects once). Blocks.
 */
int gnsq_tcp_open(gnsq_tcp_t *c);

/** gnsq_tcp_open() without waiting: one GNSQ_EV_STEP_DONE with *token follows (see above). */
int gnsq_tcp_open_async(uint64_t *token, gnsq_tcp_t *c);

/**
 * gnsq's identify(): sends IDENTIFY (gnsq's fields from cfg, plus
 * msg_timeout when set), reads nsqd's answer, performs the upgrades nsqd
 * agreed to (TLS, then Snappy or Deflate) and, when nsqd requires it,
 * AUTH with cfg's auth_secret (GNSQ_E_AUTH without one; GNSQ_EV_AUTH is
 * queued). Copies nsqd's answer as it sent it (JSON) into out and returns
 * its length, 0 if nsqd answered a plain OK; an answer longer than
 * out_len is held whole under *held (gnsq_tcp_read_body(); held NULL:
 * dropped), see "Buffers". nsqd's error frame gives its code (GNSQ_E_NSQ,
 * detail "E_... text"). A failure closes the connection. Blocks (at most
 * about cfg's timeout per answer while heartbeats are on).
 */
int gnsq_tcp_identify(uint8_t *out, size_t out_len, uint64_t *held, gnsq_tcp_t *c);

/** gnsq_tcp_identify() without waiting: one GNSQ_EV_STEP_DONE with *token follows, data = the answer. */
int gnsq_tcp_identify_async(uint64_t *token, gnsq_tcp_t *c);

/**
 * gnsq's auth(): sends AUTH with cfg's auth_secret and copies nsqd's
 * answer (JSON, as sent) like gnsq_tcp_identify(); queues GNSQ_EV_AUTH
 * with it. nsqd's refusal gives GNSQ_E_AUTH (detail "E_AUTH_FAILED ...",
 * without the secret). Blocks.
 */
int gnsq_tcp_auth(uint8_t *out, size_t out_len, uint64_t *held, gnsq_tcp_t *c);

/** gnsq_tcp_auth() without waiting: one GNSQ_EV_STEP_DONE with *token follows, data = the answer. */
int gnsq_tcp_auth_async(uint64_t *token, gnsq_tcp_t *c);

/**
 * gnsq's read_response(): reads one frame, waiting at most timeout_ms
 * (< 0: no limit, 0: only a frame already received). Sets *frame_type
 * (GNSQ_FRAME_*), copies the frame's data as nsqd sent it into out and
 * returns its length; data longer than out_len is held whole under *held
 * (see "Buffers"). The data of a message frame is the message as on the
 * wire (gnsq's protocol.unpack_message decodes it): timestamp (8 bytes,
 * big-endian ns), attempts (2, big-endian), id (16), body; it counts as
 * in flight until gnsq_tcp_finish()/gnsq_tcp_requeue(). A heartbeat is
 * answered with NOP and returned ("_heartbeat_"). An error frame is
 * returned, not failed (its data is "E_... text"); a fatal one closes
 * the connection, as in gnsq. GNSQ_E_TIMEOUT when no frame came in time:
 * the read goes on, the connection stays up, and its frame is the next
 * read_response's (or listen's first); identify and auth are refused
 * until then. GNSQ_E_CONNECTION when the connection is gone (or not
 * open); GNSQ_E_PROTOCOL for a malformed frame (the connection closes).
 */
int gnsq_tcp_read_response(int32_t *frame_type, uint8_t *out, size_t out_len, uint64_t *held, gnsq_tcp_t *c, int timeout_ms);

/**
 * gnsq_tcp_read_response() without waiting: one GNSQ_EV_STEP_DONE with
 * *token follows, value = the frame type, data = the frame's data (or
 * code GNSQ_E_TIMEOUT after timeout_ms, the read going on as above).
 */
int gnsq_tcp_read_response_async(uint64_t *token, gnsq_tcp_t *c, int timeout_ms);

/**
 * gnsq's listen(), without blocking: starts reading in the background
 * (after a pending read_response's frame): every frame becomes an event
 * (MESSAGE with the message's token and id, RESPONSE, ERROR;
 * DISCONNECTED when the connection ends). GNSQ_E_CONNECTION if the
 * connection is not open.
 */
int gnsq_tcp_listen(gnsq_tcp_t *c);

/**
 * gnsq_tcp_open(), gnsq_tcp_identify() (same out, out_len, held and
 * answer), then gnsq_tcp_listen(). Blocks; a failure closes the
 * connection.
 */
int gnsq_tcp_connect(uint8_t *out, size_t out_len, uint64_t *held, gnsq_tcp_t *c);

/**
 * gnsq_tcp_connect() without waiting: *token identifies it, and exactly one
 * GNSQ_EV_CONNECT_DONE event with that token follows (before GNSQ_EV_CLOSED
 * if the client is closed meanwhile).
 */
int gnsq_tcp_connect_async(uint64_t *token, gnsq_tcp_t *c);

/** SUB topic channel; nsqd answers OK or an error frame. */
int gnsq_tcp_subscribe(gnsq_tcp_t *c, const char *topic, const char *channel);

/** PUB (DPUB topic defer_ms when defer_ms > 0); nsqd answers OK or an error frame. */
int gnsq_tcp_publish(gnsq_tcp_t *c, const char *topic, const void *body, size_t len, int64_t defer_ms);

/** MPUB of n bodies; nsqd answers OK or an error frame. */
int gnsq_tcp_multipublish(gnsq_tcp_t *c, const char *topic, const void *const *bodies, const size_t *lens, size_t n);

/** RDY count (refused above nsqd's max_rdy_count). */
int gnsq_tcp_ready(gnsq_tcp_t *c, int count);

/** FIN id (16 bytes); queues GNSQ_EV_FINISHED. */
int gnsq_tcp_finish(gnsq_tcp_t *c, const uint8_t *id);

/** REQ id delay_ms; queues GNSQ_EV_REQUEUED. backoff is reported, for symmetry with gnsq. */
int gnsq_tcp_requeue(gnsq_tcp_t *c, const uint8_t *id, int64_t delay_ms, int backoff);

/** TOUCH id. */
int gnsq_tcp_touch(gnsq_tcp_t *c, const uint8_t *id);

/** NOP. */
int gnsq_tcp_nop(gnsq_tcp_t *c);

/** CLS: nsqd stops sending and answers CLOSE_WAIT; gnsq's close(). */
int gnsq_tcp_cls(gnsq_tcp_t *c);

/** Copies the connection's state into *st. */
int gnsq_tcp_status(gnsq_conn_info_t *st, gnsq_tcp_t *c);

/** Polls the client's events; see gnsq_producer_poll(). */
int gnsq_tcp_poll(gnsq_tcp_t *c, gnsq_event_t *evs, int max, int timeout_ms, uint8_t *buf, size_t buf_len);

/** Copies a held message body, IDENTIFY/AUTH answer or frame (*held, or a GNSQ_EVF_HELD event's token) into dst and releases it (also once closed, until free). */
int gnsq_tcp_read_body(gnsq_tcp_t *c, uint64_t token, void *dst, size_t n);

/** gnsq_producer_wakeup() for a TCP client (ends a gnsq_tcp_poll()). */
int gnsq_tcp_wakeup(gnsq_tcp_t *c);

/** The read end of the client's wake-up pipe (also once closed, until free); see gnsq_producer_notify_fd(). */
int gnsq_tcp_notify_fd(int *fd, gnsq_tcp_t *c);

/** Closes the socket (gnsq's close_stream()), queues GNSQ_EV_CLOSED. Idempotent. */
int gnsq_tcp_close(gnsq_tcp_t *c, int timeout_ms);

/** gnsq_tcp_close() without waiting; see gnsq_producer_close_async(). */
int gnsq_tcp_close_async(uint64_t *token, gnsq_tcp_t *c, int timeout_ms);

/** Closes (if needed) and releases the client. NULL is a no-op. */
int gnsq_tcp_free(gnsq_tcp_t *c);

/* ---- HTTP clients ---------------------------------------------------- */

/**
 * Creates a client of kind GNSQ_HTTP_NSQD or GNSQ_HTTP_LOOKUPD for url
 * ("http://h:p", "h:p", "https://h"; gnsq's from_url, default port 4151 or
 * 4161). cfg may be NULL; its "timeout" bounds each request (default 60 s)
 * and its "user_agent" is sent as User-Agent.
 */
int gnsq_http_new(gnsq_http_t **out, int kind, const char *url, const gnsq_config_t *cfg);

/**
 * Performs req and waits for the answer, at most timeout_ms (< 0: the
 * client's timeout). The answer (JSON, text, "OK", or empty) is copied into
 * out (out_len bytes; not NUL-terminated) and its length returned; an
 * answer longer than out_len is held whole under *held instead (read it
 * with gnsq_http_read_body(); held may be NULL: then it is dropped), and
 * the return is still its length: a request that was carried out never
 * reports a failure. *status (may be NULL) gets the HTTP status (200, or
 * the error status with GNSQ_E_HTTP; 0 when no answer came). Errors:
 * GNSQ_E_INVALID_ARG before any request (bad names, op not for this kind,
 * a '\n' in a text-mode body); GNSQ_E_HTTP (detail "http error 404:
 * TOPIC_NOT_FOUND"); GNSQ_E_TIMEOUT; GNSQ_E_CONNECTION.
 */
int gnsq_http_request(uint8_t *out, size_t out_len, int32_t *status, uint64_t *held, gnsq_http_t *h, const gnsq_http_request_t *req, int timeout_ms);

/**
 * Starts req in the background; *token identifies it and exactly one
 * GNSQ_EV_HTTP_DONE event with that token follows (an answer too large for
 * the poll buffer comes GNSQ_EVF_HELD: gnsq_http_read_body()). Closing the
 * client ends pending requests with GNSQ_E_CLOSED events.
 */
int gnsq_http_request_async(uint64_t *token, gnsq_http_t *h, const gnsq_http_request_t *req, int timeout_ms);

/** Polls the client's events (GNSQ_EV_HTTP_DONE); see gnsq_producer_poll(). */
int gnsq_http_poll(gnsq_http_t *h, gnsq_event_t *evs, int max, int timeout_ms, uint8_t *buf, size_t buf_len);

/** Copies a GNSQ_EVF_HELD answer into dst and releases it (also once closed, until free); see gnsq_consumer_read_body(). */
int gnsq_http_read_body(gnsq_http_t *h, uint64_t token, void *dst, size_t n);

/** gnsq_producer_wakeup() for an HTTP client (ends a gnsq_http_poll()). */
int gnsq_http_wakeup(gnsq_http_t *h);

/** The read end of the client's wake-up pipe (also once closed, until free); see gnsq_producer_notify_fd(). */
int gnsq_http_notify_fd(int *fd, gnsq_http_t *h);

/** Cancels pending requests (GNSQ_E_CLOSED events), queues GNSQ_EV_CLOSED. Idempotent. */
int gnsq_http_close(gnsq_http_t *h, int timeout_ms);

/** gnsq_http_close() without waiting; see gnsq_producer_close_async(). */
int gnsq_http_close_async(uint64_t *token, gnsq_http_t *h, int timeout_ms);

/** Closes (if needed) and releases the client. NULL is a no-op. */
int gnsq_http_free(gnsq_http_t *h);

#endif /* GNSQ_NO_PROTOTYPES */

#ifdef __cplusplus
}
#endif

#endif /* GNSQ_H */
