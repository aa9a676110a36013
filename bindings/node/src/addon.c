/*
 * The libgnsq Node-API addon: a thin layer over include/gnsq.h.
 *
 * Everything here is non-blocking, so it runs on the JavaScript thread,
 * except gnsq_*_start (it waits for the first connection attempts), which
 * runs as napi_async_work on libuv's thread pool. No JavaScript runs on
 * another thread: events are polled from JavaScript when the handle's
 * notify fd (a dup of it, watched by a net.Socket) becomes readable.
 *
 * Events and answers cross as raw structs in Buffers that JavaScript owns
 * and reuses (gnsq_event_t, 64 bytes; gnsq_response_t, 32 bytes), so a
 * batch of events is one call, and a batch of answers is one call.
 * Tokens cross as two uint32 halves (lo, hi): no BigInt per message.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <node_api.h>

#include "gnsq.h"

enum { KIND_PRODUCER = 0, KIND_CONSUMER = 1, KIND_HTTP = 2 };

typedef struct {
    void *ptr; /* gnsq_producer_t, gnsq_consumer_t or gnsq_http_t; NULL once freed */
    int kind;
} handle_t;

#define CHECK(call)                                                                                  \
    do {                                                                                             \
        if ((call) != napi_ok) {                                                                     \
            throw_last(env);                                                                         \
            return NULL;                                                                             \
        }                                                                                            \
    } while (0)

static void throw_last(napi_env env) {
    const napi_extended_error_info *info = NULL;
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending)
        return;
    napi_get_last_error_info(env, &info);
    napi_throw_error(env, NULL, info && info->error_message ? info->error_message : "libgnsq addon: N-API call failed");
}

static napi_value int_value(napi_env env, int64_t v) {
    napi_value out;
    napi_create_int64(env, v, &out);
    return out;
}

static napi_value undefined(napi_env env) {
    napi_value out;
    napi_get_undefined(env, &out);
    return out;
}

/* ---- argument helpers (they throw TypeError on a wrong type) ------------- */

static int arg_int64(napi_env env, napi_value v, int64_t *out) {
    if (napi_get_value_int64(env, v, out) != napi_ok) {
        napi_throw_type_error(env, NULL, "expected a number");
        return -1;
    }
    return 0;
}

/* A NUL-terminated copy of a string argument (free it); NULL after a throw.
 * null/undefined give "" when allow_empty. */
static char *arg_string(napi_env env, napi_value v, int allow_empty) {
    napi_valuetype t;
    size_t len = 0;
    napi_typeof(env, v, &t);
    if (allow_empty && (t == napi_null || t == napi_undefined))
        return calloc(1, 1);
    if (t != napi_string) {
        napi_throw_type_error(env, NULL, "expected a string");
        return NULL;
    }
    napi_get_value_string_utf8(env, v, NULL, 0, &len);
    char *s = malloc(len + 1);
    if (!s) {
        napi_throw_error(env, NULL, "out of memory");
        return NULL;
    }
    napi_get_value_string_utf8(env, v, s, len + 1, &len);
    return s;
}

static int arg_buffer(napi_env env, napi_value v, void **data, size_t *len) {
    bool is_buffer = false;
    napi_is_buffer(env, v, &is_buffer);
    if (!is_buffer || napi_get_buffer_info(env, v, data, len) != napi_ok) {
        napi_throw_type_error(env, NULL, "expected a Buffer");
        return -1;
    }
    return 0;
}

static handle_t *arg_handle(napi_env env, napi_value v) {
    handle_t *h = NULL;
    if (napi_get_value_external(env, v, (void **)&h) != napi_ok || h == NULL) {
        napi_throw_type_error(env, NULL, "expected a libgnsq handle");
        return NULL;
    }
    return h;
}

/* An array of strings as a NULL-free char* array (free with free_strings). */
static char **arg_strings(napi_env env, napi_value v, uint32_t *n) {
    bool is_array = false;
    napi_is_array(env, v, &is_array);
    if (!is_array) {
        napi_throw_type_error(env, NULL, "expected an array of strings");
        return NULL;
    }
    napi_get_array_length(env, v, n);
    char **out = calloc(*n + 1, sizeof(char *));
    for (uint32_t i = 0; out && i < *n; i++) {
        napi_value item;
        napi_get_element(env, v, i, &item);
        if (!(out[i] = arg_string(env, item, 0))) {
            for (uint32_t j = 0; j < i; j++)
                free(out[j]);
            free(out);
            return NULL;
        }
    }
    return out;
}

static void free_strings(char **s, uint32_t n) {
    for (uint32_t i = 0; s && i < n; i++)
        free(s[i]);
    free(s);
}

/* A config from [key, value, key, value, ...]; NULL after a throw (the
 * library's error is thrown as {code, message} by the caller's check). */
static gnsq_config_t *arg_config(napi_env env, napi_value v, int *rc) {
    uint32_t n = 0;
    char **kv = arg_strings(env, v, &n);
    gnsq_config_t *cfg = NULL;
    *rc = 0;
    if (!kv)
        return NULL;
    *rc = gnsq_config_new(&cfg);
    for (uint32_t i = 0; *rc == 0 && i + 1 < n; i += 2)
        *rc = gnsq_config_set(cfg, kv[i], kv[i + 1]);
    free_strings(kv, n);
    if (*rc != 0) {
        gnsq_config_free(cfg);
        return NULL;
    }
    return cfg;
}

/* ---- handles --------------------------------------------------------------- */

static void free_handle_ptr(handle_t *h) {
    void *p = h->ptr;
    h->ptr = NULL;
    if (!p)
        return;
    switch (h->kind) {
    case KIND_PRODUCER: gnsq_producer_free(p); break;
    case KIND_CONSUMER: gnsq_consumer_free(p); break;
    default: gnsq_http_free(p); break;
    }
}

static void finalize_handle(napi_env env, void *data, void *hint) {
    (void)env;
    (void)hint;
    free_handle_ptr(data);
    free(data);
}

static napi_value new_handle(napi_env env, void *ptr, int kind) {
    handle_t *h = malloc(sizeof(*h));
    napi_value out;
    if (!h) {
        napi_throw_error(env, NULL, "out of memory");
        return NULL;
    }
    h->ptr = ptr;
    h->kind = kind;
    CHECK(napi_create_external(env, h, finalize_handle, NULL, &out));
    return out;
}

/* Each entry returns a status code (>= 0 success, < 0 a GNSQ_E_* code whose
 * detail is in gnsq_last_error, read by JavaScript with lastError()). A
 * freed handle gives GNSQ_E_CLOSED. */
#define GET_ARGS(n)                                                                                  \
    size_t argc = (n);                                                                               \
    napi_value argv[(n) > 0 ? (n) : 1];                                                              \
    CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));                                     \
    if (argc < (n)) {                                                                                \
        napi_throw_type_error(env, NULL, "missing arguments");                                      \
        return NULL;                                                                                 \
    }

#define GET_HANDLE(h, i)                                                                             \
    handle_t *h = arg_handle(env, argv[i]);                                                          \
    if (!h)                                                                                          \
        return NULL;                                                                                 \
    if (!h->ptr)                                                                                     \
        return int_value(env, GNSQ_E_CLOSED);

/* producerNew(addrs, config) -> handle, or a negative code */
static napi_value producer_new(napi_env env, napi_callback_info info) {
    GET_ARGS(2);
    uint32_t n = 0;
    int rc;
    char **addrs = arg_strings(env, argv[0], &n);
    if (!addrs)
        return NULL;
    gnsq_config_t *cfg = arg_config(env, argv[1], &rc);
    if (!cfg) {
        free_strings(addrs, n);
        return rc ? int_value(env, rc) : NULL;
    }
    gnsq_producer_t *p = NULL;
    rc = gnsq_producer_new(&p, (const char *const *)addrs, n, cfg);
    gnsq_config_free(cfg);
    free_strings(addrs, n);
    return rc ? int_value(env, rc) : new_handle(env, p, KIND_PRODUCER);
}

/* consumerNew(topic, channel, nsqds, lookupds, config) -> handle, or a negative code */
static napi_value consumer_new(napi_env env, napi_callback_info info) {
    GET_ARGS(5);
    uint32_t n_nsqd = 0, n_lookupd = 0;
    int rc = 0;
    napi_value out = NULL;
    char *topic = arg_string(env, argv[0], 0);
    char *channel = topic ? arg_string(env, argv[1], 0) : NULL;
    char **nsqds = channel ? arg_strings(env, argv[2], &n_nsqd) : NULL;
    char **lookupds = nsqds ? arg_strings(env, argv[3], &n_lookupd) : NULL;
    gnsq_config_t *cfg = lookupds ? arg_config(env, argv[4], &rc) : NULL;
    if (cfg) {
        gnsq_consumer_t *c = NULL;
        rc = gnsq_consumer_new(&c, topic, channel, (const char *const *)nsqds, n_nsqd,
                               (const char *const *)lookupds, n_lookupd, cfg);
        out = rc ? int_value(env, rc) : new_handle(env, c, KIND_CONSUMER);
        gnsq_config_free(cfg);
    } else if (rc) {
        out = int_value(env, rc);
    }
    free(topic);
    free(channel);
    free_strings(nsqds, n_nsqd);
    free_strings(lookupds, n_lookupd);
    return out;
}

/* configCheck(config) -> 0, or the code of the first key or value the
 * library refuses (detail in lastError) */
static napi_value config_check(napi_env env, napi_callback_info info) {
    GET_ARGS(1);
    int rc;
    gnsq_config_t *cfg = arg_config(env, argv[0], &rc);
    if (!cfg)
        return rc ? int_value(env, rc) : NULL;
    gnsq_config_free(cfg);
    return int_value(env, 0);
}

/* httpNew(kind, url, config) -> handle, or a negative code */
static napi_value http_new(napi_env env, napi_callback_info info) {
    GET_ARGS(3);
    int64_t kind;
    int rc;
    if (arg_int64(env, argv[0], &kind))
        return NULL;
    char *url = arg_string(env, argv[1], 0);
    if (!url)
        return NULL;
    gnsq_config_t *cfg = arg_config(env, argv[2], &rc);
    if (!cfg) {
        free(url);
        return rc ? int_value(env, rc) : NULL;
    }
    gnsq_http_t *h = NULL;
    rc = gnsq_http_new(&h, (int)kind, url, cfg);
    gnsq_config_free(cfg);
    free(url);
    return rc ? int_value(env, rc) : new_handle(env, h, KIND_HTTP);
}

/* start(handle) -> Promise<0 | [code, detail]>: gnsq_{producer,consumer}_start on the thread pool. */
typedef struct {
    napi_async_work work;
    napi_deferred deferred;
    napi_ref handle_ref; /* keeps the handle alive while starting */
    handle_t *h;
    int rc;
    char detail[512]; /* gnsq_last_error of the pool thread when rc < 0 */
} start_job_t;

static void start_execute(napi_env env, void *data) {
    (void)env;
    start_job_t *job = data;
    void *p = job->h->ptr;
    if (!p)
        job->rc = GNSQ_E_CLOSED;
    else if (job->h->kind == KIND_PRODUCER)
        job->rc = gnsq_producer_start(p);
    else
        job->rc = gnsq_consumer_start(p);
    if (job->rc < 0)
        gnsq_last_error(job->detail, sizeof(job->detail));
}

static void start_complete(napi_env env, napi_status status, void *data) {
    start_job_t *job = data;
    napi_value result = int_value(env, status == napi_ok ? job->rc : GNSQ_E_INTERNAL);
    if (status == napi_ok && job->rc < 0) { /* [code, detail] */
        napi_value detail;
        napi_create_array_with_length(env, 2, &result);
        napi_set_element(env, result, 0, int_value(env, job->rc));
        napi_create_string_utf8(env, job->detail, NAPI_AUTO_LENGTH, &detail);
        napi_set_element(env, result, 1, detail);
    }
    napi_resolve_deferred(env, job->deferred, result);
    napi_delete_reference(env, job->handle_ref);
    napi_delete_async_work(env, job->work);
    free(job);
}

static napi_value start(napi_env env, napi_callback_info info) {
    GET_ARGS(1);
    handle_t *h = arg_handle(env, argv[0]);
    napi_value promise, name;
    if (!h)
        return NULL;
    start_job_t *job = calloc(1, sizeof(*job));
    if (!job) {
        napi_throw_error(env, NULL, "out of memory");
        return NULL;
    }
    job->h = h;
    CHECK(napi_create_promise(env, &job->deferred, &promise));
    CHECK(napi_create_reference(env, argv[0], 1, &job->handle_ref));
    CHECK(napi_create_string_utf8(env, "gnsq_start", NAPI_AUTO_LENGTH, &name));
    CHECK(napi_create_async_work(env, NULL, name, start_execute, start_complete, job, &job->work));
    CHECK(napi_queue_async_work(env, job->work));
    return promise;
}

/* notifyFd(handle) -> a dup of the notify fd (close-on-exec, non-blocking), owned by the caller */
static napi_value notify_fd(napi_env env, napi_callback_info info) {
    GET_ARGS(1);
    GET_HANDLE(h, 0);
    int fd = -1, rc;
    switch (h->kind) {
    case KIND_PRODUCER: rc = gnsq_producer_notify_fd(&fd, h->ptr); break;
    case KIND_CONSUMER: rc = gnsq_consumer_notify_fd(&fd, h->ptr); break;
    default: rc = gnsq_http_notify_fd(&fd, h->ptr); break;
    }
    if (rc < 0)
        return int_value(env, rc);
    int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (dup_fd < 0)
        return int_value(env, GNSQ_E_IO);
    return int_value(env, dup_fd);
}

/* poll(handle, events, data) -> n events copied into the Buffer events
 * (64 bytes each) with their data in the Buffer data, or a negative code */
static napi_value poll_events(napi_env env, napi_callback_info info) {
    GET_ARGS(3);
    GET_HANDLE(h, 0);
    void *evs, *buf;
    size_t evs_len, buf_len;
    if (arg_buffer(env, argv[1], &evs, &evs_len) || arg_buffer(env, argv[2], &buf, &buf_len))
        return NULL;
    int max = (int)(evs_len / sizeof(gnsq_event_t)), n;
    switch (h->kind) {
    case KIND_PRODUCER: n = gnsq_producer_poll(h->ptr, evs, max, 0, buf, buf_len); break;
    case KIND_CONSUMER: n = gnsq_consumer_poll(h->ptr, evs, max, 0, buf, buf_len); break;
    default: n = gnsq_http_poll(h->ptr, evs, max, 0, buf, buf_len); break;
    }
    return int_value(env, n);
}

static uint64_t token_of(napi_env env, napi_value lo, napi_value hi) {
    uint32_t l = 0, u = 0;
    napi_get_value_uint32(env, lo, &l);
    napi_get_value_uint32(env, hi, &u);
    return (uint64_t)u << 32 | l;
}

/* readBody(handle, tokenLo, tokenHi, size) -> Buffer, or a negative code */
static napi_value read_body(napi_env env, napi_callback_info info) {
    GET_ARGS(4);
    GET_HANDLE(h, 0);
    int64_t size;
    void *dst;
    napi_value out;
    if (arg_int64(env, argv[3], &size))
        return NULL;
    CHECK(napi_create_buffer(env, (size_t)size, &dst, &out));
    uint64_t token = token_of(env, argv[1], argv[2]);
    int n;
    switch (h->kind) {
    case KIND_CONSUMER: n = gnsq_consumer_read_body(h->ptr, token, dst, (size_t)size); break;
    case KIND_HTTP: n = gnsq_http_read_body(h->ptr, token, dst, (size_t)size); break;
    default: n = GNSQ_E_INVALID_ARG; break;
    }
    return n < 0 ? int_value(env, n) : out;
}

/* respond(handle, responses, n, texts) -> code: n gnsq_response_t from the Buffer responses */
static napi_value respond(napi_env env, napi_callback_info info) {
    GET_ARGS(4);
    GET_HANDLE(h, 0);
    void *r, *texts = NULL;
    size_t r_len, texts_len = 0;
    int64_t n;
    napi_valuetype t;
    if (arg_buffer(env, argv[1], &r, &r_len) || arg_int64(env, argv[2], &n))
        return NULL;
    napi_typeof(env, argv[3], &t);
    if (t != napi_null && t != napi_undefined && arg_buffer(env, argv[3], &texts, &texts_len))
        return NULL;
    if (n < 0 || (size_t)n * sizeof(gnsq_response_t) > r_len || h->kind != KIND_CONSUMER)
        return int_value(env, GNSQ_E_INVALID_ARG);
    return int_value(env, gnsq_consumer_respond(h->ptr, r, (size_t)n, texts, texts_len));
}

/* The token of the last publish/close/drain/request: out-parameters land here
 * and tokenLo()/tokenHi() read them (one JS thread: no race). */
static uint64_t last_token;

static napi_value token_lo(napi_env env, napi_callback_info info) {
    (void)info;
    return int_value(env, (uint32_t)last_token);
}

static napi_value token_hi(napi_env env, napi_callback_info info) {
    (void)info;
    return int_value(env, (uint32_t)(last_token >> 32));
}

/* publish(handle, topic, body, deferMs, waitUs, timeoutMs) -> 0 (answered OK),
 * GNSQ_E_PENDING (token in tokenLo/Hi; a PUBLISHED event follows), or an error */
static napi_value publish(napi_env env, napi_callback_info info) {
    GET_ARGS(6);
    GET_HANDLE(h, 0);
    void *body;
    size_t len;
    int64_t defer_ms, wait_us, timeout_ms;
    if (arg_buffer(env, argv[2], &body, &len) || arg_int64(env, argv[3], &defer_ms) ||
        arg_int64(env, argv[4], &wait_us) || arg_int64(env, argv[5], &timeout_ms))
        return NULL;
    char *topic = arg_string(env, argv[1], 0);
    if (!topic)
        return NULL;
    int rc = h->kind == KIND_PRODUCER
                 ? gnsq_producer_publish_bounded(&last_token, h->ptr, topic, body, len, defer_ms, (int)wait_us,
                                                 (int)timeout_ms)
                 : GNSQ_E_INVALID_ARG;
    free(topic);
    return int_value(env, rc);
}

/* Collects an array of Buffers as pointer and length arrays (free both). */
static int arg_bodies(napi_env env, napi_value v, const void ***bodies, size_t **lens, uint32_t *n) {
    bool is_array = false;
    napi_is_array(env, v, &is_array);
    if (!is_array) {
        napi_throw_type_error(env, NULL, "expected an array of Buffers");
        return -1;
    }
    napi_get_array_length(env, v, n);
    *bodies = calloc(*n + 1, sizeof(void *));
    *lens = calloc(*n + 1, sizeof(size_t));
    if (!*bodies || !*lens) {
        free(*bodies);
        free(*lens);
        napi_throw_error(env, NULL, "out of memory");
        return -1;
    }
    for (uint32_t i = 0; i < *n; i++) {
        napi_value item;
        void *data;
        napi_get_element(env, v, i, &item);
        if (arg_buffer(env, item, &data, &(*lens)[i])) {
            free(*bodies);
            free(*lens);
            return -1;
        }
        (*bodies)[i] = data;
    }
    return 0;
}

/* multipublish(handle, topic, bodies, waitUs, timeoutMs) -> as publish */
static napi_value multipublish(napi_env env, napi_callback_info info) {
    GET_ARGS(5);
    GET_HANDLE(h, 0);
    const void **bodies;
    size_t *lens;
    uint32_t n;
    int64_t wait_us, timeout_ms;
    if (arg_int64(env, argv[3], &wait_us) || arg_int64(env, argv[4], &timeout_ms))
        return NULL;
    char *topic = arg_string(env, argv[1], 0);
    if (!topic)
        return NULL;
    if (arg_bodies(env, argv[2], &bodies, &lens, &n)) {
        free(topic);
        return NULL;
    }
    int rc = h->kind == KIND_PRODUCER
                 ? gnsq_producer_multipublish_bounded(&last_token, h->ptr, topic, bodies, lens, n, (int)wait_us,
                                                      (int)timeout_ms)
                 : GNSQ_E_INVALID_ARG;
    free(topic);
    free(bodies);
    free(lens);
    return int_value(env, rc);
}

/* Fills pubs[0..n) from parallel arrays of topics (strings), bodies
 * (Buffers) and defers (ms); a topic equal to the one before shares its
 * copy. owned[i] is the copy pubs[i] made (free them); -1 after a throw. */
static int arg_publishes(napi_env env, napi_value topics, napi_value bodies, napi_value defers, uint32_t n,
                         gnsq_publish_t *pubs, char **owned) {
    napi_value prev = NULL; /* topics[i - 1] */
    for (uint32_t i = 0; i < n; i++) {
        napi_value topic, body, defer;
        bool same = false;
        void *data;
        int64_t defer_ms;
        napi_get_element(env, topics, i, &topic);
        napi_get_element(env, bodies, i, &body);
        napi_get_element(env, defers, i, &defer);
        if (arg_buffer(env, body, &data, &pubs[i].len) || arg_int64(env, defer, &defer_ms))
            return -1;
        pubs[i].body = data;
        pubs[i].defer_ms = defer_ms;
        if (prev)
            napi_strict_equals(env, topic, prev, &same);
        prev = topic;
        if (same) {
            pubs[i].topic = pubs[i - 1].topic;
        } else if ((owned[i] = arg_string(env, topic, 0)) == NULL) {
            return -1;
        } else {
            pubs[i].topic = owned[i];
        }
    }
    return 0;
}

/* publishBatch(handle, topics, bodies, defers, tokens) -> 0: the n
 * publishes were sent, tokens (a Buffer of n * 8 bytes) holds their
 * tokens, and one PUBLISHED event follows for each; or an error (nothing
 * sent). topics, bodies and defers are arrays of n. */
static napi_value publish_batch(napi_env env, napi_callback_info info) {
    GET_ARGS(5);
    GET_HANDLE(h, 0);
    uint32_t n = 0, nb = 0, nd = 0;
    void *out;
    size_t out_len;
    if (napi_get_array_length(env, argv[1], &n) != napi_ok || napi_get_array_length(env, argv[2], &nb) != napi_ok ||
        napi_get_array_length(env, argv[3], &nd) != napi_ok || nb != n || nd != n) {
        napi_throw_type_error(env, NULL, "expected three arrays of one length");
        return NULL;
    }
    if (arg_buffer(env, argv[4], &out, &out_len))
        return NULL;
    if (h->kind != KIND_PRODUCER || out_len < (size_t)n * sizeof(uint64_t))
        return int_value(env, GNSQ_E_INVALID_ARG);
    gnsq_publish_t *pubs = calloc(n + 1, sizeof *pubs);
    char **owned = calloc(n + 1, sizeof *owned);
    uint64_t *tokens = calloc(n + 1, sizeof *tokens);
    napi_value result = NULL;
    if (!pubs || !owned || !tokens) {
        napi_throw_error(env, NULL, "out of memory");
    } else if (arg_publishes(env, argv[1], argv[2], argv[3], n, pubs, owned) == 0) {
        int rc = gnsq_producer_publish_batch(tokens, h->ptr, pubs, n);
        if (rc == GNSQ_OK)
            memcpy(out, tokens, (size_t)n * sizeof *tokens); /* out may be unaligned */
        result = int_value(env, rc);
    }
    for (uint32_t i = 0; owned && i < n; i++)
        free(owned[i]);
    free(pubs);
    free(owned);
    free(tokens);
    return result;
}

/* httpRequest(handle, op, topic, channel, node, bodies|null, deferMs) -> 0
 * (token in tokenLo/Hi; an HTTP_DONE event follows) or an error */
static napi_value http_request(napi_env env, napi_callback_info info) {
    GET_ARGS(7);
    GET_HANDLE(h, 0);
    gnsq_http_request_t req;
    int64_t op, defer_ms;
    napi_valuetype t;
    const void **bodies = NULL;
    size_t *lens = NULL;
    uint32_t n = 0;
    memset(&req, 0, sizeof(req));
    if (arg_int64(env, argv[1], &op) || arg_int64(env, argv[6], &defer_ms))
        return NULL;
    char *topic = arg_string(env, argv[2], 1);
    char *channel = topic ? arg_string(env, argv[3], 1) : NULL;
    char *node = channel ? arg_string(env, argv[4], 1) : NULL;
    napi_typeof(env, argv[5], &t);
    int ok = node && (t == napi_null || t == napi_undefined || !arg_bodies(env, argv[5], &bodies, &lens, &n));
    napi_value out = NULL;
    if (ok) {
        req.op = (int32_t)op;
        req.topic = topic[0] ? topic : NULL;
        req.channel = channel[0] ? channel : NULL;
        req.node = node[0] ? node : NULL;
        req.bodies = bodies;
        req.lens = lens;
        req.n = n;
        req.defer_ms = defer_ms;
        out = int_value(env, h->kind == KIND_HTTP ? gnsq_http_request_async(&last_token, h->ptr, &req, -1)
                                                  : GNSQ_E_INVALID_ARG);
    }
    free(topic);
    free(channel);
    free(node);
    free(bodies);
    free(lens);
    return out;
}

/* closeAsync(handle) -> 0 (a CLOSED event follows) or an error */
static napi_value close_async(napi_env env, napi_callback_info info) {
    GET_ARGS(1);
    GET_HANDLE(h, 0);
    int rc;
    switch (h->kind) {
    case KIND_PRODUCER: rc = gnsq_producer_close_async(&last_token, h->ptr, -1); break;
    case KIND_CONSUMER: rc = gnsq_consumer_close_async(&last_token, h->ptr, -1); break;
    default: rc = gnsq_http_close_async(&last_token, h->ptr, -1); break;
    }
    return int_value(env, rc);
}

/* drainAsync(consumer, timeoutMs) -> 0 (a CLOSED event ends it) or an error */
static napi_value drain_async(napi_env env, napi_callback_info info) {
    GET_ARGS(2);
    GET_HANDLE(h, 0);
    int64_t ms;
    if (arg_int64(env, argv[1], &ms))
        return NULL;
    if (h->kind != KIND_CONSUMER)
        return int_value(env, GNSQ_E_INVALID_ARG);
    return int_value(env, gnsq_consumer_drain_async(&last_token, h->ptr, (int)ms));
}

/* free(handle): releases it (closing it first if needed); later calls get GNSQ_E_CLOSED */
static napi_value free_handle(napi_env env, napi_callback_info info) {
    GET_ARGS(1);
    handle_t *h = arg_handle(env, argv[0]);
    if (!h)
        return NULL;
    free_handle_ptr(h);
    return undefined(env);
}

/* setEventMask(handle, mask) -> code */
static napi_value set_event_mask(napi_env env, napi_callback_info info) {
    GET_ARGS(2);
    GET_HANDLE(h, 0);
    int64_t mask;
    if (arg_int64(env, argv[1], &mask))
        return NULL;
    int rc = h->kind == KIND_PRODUCER   ? gnsq_producer_set_event_mask(h->ptr, (uint32_t)mask)
             : h->kind == KIND_CONSUMER ? gnsq_consumer_set_event_mask(h->ptr, (uint32_t)mask)
                                        : GNSQ_E_INVALID_ARG;
    return int_value(env, rc);
}

/* setMaxInFlight(consumer, n) -> code */
static napi_value set_max_in_flight(napi_env env, napi_callback_info info) {
    GET_ARGS(2);
    GET_HANDLE(h, 0);
    int64_t n;
    if (arg_int64(env, argv[1], &n))
        return NULL;
    return int_value(env, h->kind == KIND_CONSUMER ? gnsq_consumer_set_max_in_flight(h->ptr, (int)n)
                                                   : GNSQ_E_INVALID_ARG);
}

/* connectToNsqd(consumer, address) -> code */
static napi_value connect_to_nsqd(napi_env env, napi_callback_info info) {
    GET_ARGS(2);
    GET_HANDLE(h, 0);
    char *addr = arg_string(env, argv[1], 0);
    if (!addr)
        return NULL;
    int rc = h->kind == KIND_CONSUMER ? gnsq_consumer_connect_to_nsqd(h->ptr, addr) : GNSQ_E_INVALID_ARG;
    free(addr);
    return int_value(env, rc);
}

/* status(consumer) -> [running, starved, readyCount, inFlight, maxInFlight, connections] or a negative code */
static napi_value status(napi_env env, napi_callback_info info) {
    GET_ARGS(1);
    GET_HANDLE(h, 0);
    gnsq_consumer_status_t st;
    napi_value out;
    int rc = h->kind == KIND_CONSUMER ? gnsq_consumer_status(&st, h->ptr) : GNSQ_E_INVALID_ARG;
    if (rc < 0)
        return int_value(env, rc);
    int32_t values[] = {st.running, st.starved, st.total_ready_count, st.total_in_flight, st.max_in_flight,
                        st.connections};
    CHECK(napi_create_array_with_length(env, 6, &out));
    for (uint32_t i = 0; i < 6; i++)
        napi_set_element(env, out, i, int_value(env, values[i]));
    return out;
}

/* lastError() -> the calling thread's last error detail */
static napi_value last_error(napi_env env, napi_callback_info info) {
    (void)info;
    char small[1024];
    napi_value out;
    int n = gnsq_last_error(small, sizeof(small));
    if (n < 0)
        n = 0;
    if ((size_t)n < sizeof(small)) {
        CHECK(napi_create_string_utf8(env, small, (size_t)n, &out));
        return out;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        napi_throw_error(env, NULL, "out of memory");
        return NULL;
    }
    gnsq_last_error(big, (size_t)n + 1);
    napi_status s = napi_create_string_utf8(env, big, (size_t)n, &out);
    free(big);
    CHECK(s);
    return out;
}

/* strerror(code) -> the code's name and meaning */
static napi_value str_error(napi_env env, napi_callback_info info) {
    GET_ARGS(1);
    int64_t code;
    napi_value out;
    if (arg_int64(env, argv[0], &code))
        return NULL;
    CHECK(napi_create_string_utf8(env, gnsq_strerror((int)code), NAPI_AUTO_LENGTH, &out));
    return out;
}

static napi_value version(napi_env env, napi_callback_info info) {
    (void)info;
    napi_value out;
    CHECK(napi_create_string_utf8(env, gnsq_version_str(), NAPI_AUTO_LENGTH, &out));
    return out;
}

static napi_value init(napi_env env, napi_value exports) {
    static const struct {
        const char *name;
        napi_callback fn;
    } fns[] = {
        {"producerNew", producer_new}, {"consumerNew", consumer_new}, {"httpNew", http_new},
        {"configCheck", config_check},
        {"start", start}, {"notifyFd", notify_fd}, {"poll", poll_events}, {"readBody", read_body},
        {"respond", respond}, {"publish", publish}, {"multipublish", multipublish},
        {"publishBatch", publish_batch},
        {"httpRequest", http_request}, {"tokenLo", token_lo}, {"tokenHi", token_hi},
        {"closeAsync", close_async}, {"drainAsync", drain_async}, {"free", free_handle},
        {"setEventMask", set_event_mask}, {"setMaxInFlight", set_max_in_flight},
        {"connectToNsqd", connect_to_nsqd}, {"status", status}, {"lastError", last_error},
        {"strerror", str_error}, {"version", version},
    };
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        napi_value fn;
        CHECK(napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &fn));
        CHECK(napi_set_named_property(env, exports, fns[i].name, fn));
    }
    return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
