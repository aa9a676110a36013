/*
 * The low-level TCP client step by step, like gnsq's own NsqdTCPClient
 * tests. Run by tests/c/tcp_steps_test.go: each scenario but "errors" and
 * "live" talks to a scripted nsqd (address in FAKE_<NAME>) that checks the
 * exact bytes each step sends and answers with the frames checked here;
 * "live" runs against nsqd (NSQD_TCP). Each scenario prints "ok <name>";
 * the first failed check exits with status 1.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gnsq.h"


#include "check.h"

/* The event EXPECT_EVENT took and its data. */
static gnsq_event_t ev;
static uint8_t evbuf[4096];
#define EV_DATA (evbuf + ev.data_offset)

/* next_event takes the next event that is not a LOG record, waiting up to
   timeout_ms; 0 if none came. */
static int next_event(gnsq_tcp_t *c, int timeout_ms, uint8_t *buf, size_t n) {
    int got;
    do {
        got = gnsq_tcp_poll(c, &ev, 1, timeout_ms, buf, n);
        CHECK(got >= 0);
    } while (got == 1 && ev.type == GNSQ_EV_LOG);
    return got;
}

#define EXPECT_EVENT(c, want_type)                                                       \
    do {                                                                                 \
        if (next_event((c), 5000, evbuf, sizeof evbuf) != 1 || ev.type != (want_type)) { \
            fprintf(stderr, "%s:%d: want event %d, got %d\n", __FILE__, __LINE__,        \
                    (want_type), ev.type);                                               \
            exit(1);                                                                     \
        }                                                                                \
    } while (0)

#define EXPECT_NO_EVENT(c) CHECK(next_event((c), 0, evbuf, sizeof evbuf) == 0)

static int same(const uint8_t *data, size_t n, const char *want) {
    return n == strlen(want) && memcmp(data, want, n) == 0;
}

static int last_error_contains(const char *needle) {
    gnsq_last_error(check_last, sizeof check_last);
    return strstr(check_last, needle) != NULL;
}

static const char *env(const char *name) {
    const char *v = getenv(name);
    if (v == NULL) {
        fprintf(stderr, "%s must be set\n", name);
        exit(2);
    }
    return v;
}

/* new_client makes a client of addr with key/value options (NULL-ended). */
static gnsq_tcp_t *new_client(const char *addr, const char *const *opts) {
    gnsq_tcp_t *c = NULL;
    gnsq_config_t *cfg = NULL;
    CHECK_RC(gnsq_config_new(&cfg), GNSQ_OK);
    for (; opts != NULL && *opts != NULL; opts += 2) CHECK_RC(gnsq_config_set(cfg, opts[0], opts[1]), GNSQ_OK);
    CHECK_RC(gnsq_tcp_new(&c, addr, cfg), GNSQ_OK);
    CHECK_RC(gnsq_config_free(cfg), GNSQ_OK);
    return c;
}

static const char *const with_secret[] = {"auth_secret", "secret", NULL};

/* read_frame reads one frame into buf (n bytes, enough for it) and
   returns its length; *type gets the frame type. */
static int read_frame(gnsq_tcp_t *c, int32_t *type, uint8_t *buf, size_t n) {
    int len = gnsq_tcp_read_response(type, buf, n, NULL, c, 5000);
    CHECK(len >= 0 && (size_t)len <= n);
    return len;
}

#define EXPECT_FRAME(c, want_type, want_data)                                            \
    do {                                                                                 \
        uint8_t fb_[256];                                                                \
        int32_t ft_ = -1;                                                                \
        int fl_ = read_frame((c), &ft_, fb_, sizeof fb_);                                \
        CHECK(ft_ == (want_type) && same(fb_, (size_t)fl_, (want_data)));                \
    } while (0)

/* A message frame's data: timestamp, attempts, id, body (big-endian). */
static int64_t msg_timestamp(const uint8_t *d) {
    uint64_t v = 0;
    int i;
    for (i = 0; i < 8; i++) v = v << 8 | d[i];
    return (int64_t)v;
}
static int msg_attempts(const uint8_t *d) { return d[8] << 8 | d[9]; }

/* STEP_DONE of token: the next event, also checked for code. */
#define EXPECT_DONE(c, tok, want_code)                                                   \
    do {                                                                                 \
        EXPECT_EVENT((c), GNSQ_EV_STEP_DONE);                                            \
        CHECK(ev.token == (tok) && ev.code == (want_code));                              \
    } while (0)

/* gnsq's test_connection: connect() sends the magic only, and again is a no-op. */
static void test_open(void) {
    gnsq_tcp_t *c = new_client(env("FAKE_OPEN"), NULL);
    gnsq_conn_info_t st;
    CHECK_RC(gnsq_tcp_open(c), GNSQ_OK);
    CHECK_RC(gnsq_tcp_open(c), GNSQ_OK);
    CHECK_RC(gnsq_tcp_status(&st, c), GNSQ_OK);
    CHECK(st.connected == 1);
    EXPECT_NO_EVENT(c);
    CHECK_RC(gnsq_tcp_close(c, 5000), GNSQ_OK);
    CHECK_RC(gnsq_tcp_free(c), GNSQ_OK);
}

/* test_identify: a plain OK answer is length 0 (gnsq's None). */
static void test_identify(void) {
    gnsq_tcp_t *c = new_client(env("FAKE_IDENTIFY"), NULL);
    uint8_t out[64];
    CHECK_RC(gnsq_tcp_open(c), GNSQ_OK);
    CHECK_RC(gnsq_tcp_identify(out, sizeof out, NULL, c), 0);
    EXPECT_EVENT(c, GNSQ_EV_RESPONSE); /* gnsq's on_response */
    CHECK(same(EV_DATA, ev.data_len, "OK"));
    EXPECT_NO_EVENT(c);
    CHECK_RC(gnsq_tcp_free(c), GNSQ_OK);
}

/* test_negotiation: every IDENTIFY field from the config; the answer as
   nsqd sent it (also fields libgnsq does not know). */
static void test_negotiate(void) {
    static const char *const opts[] = {"client_id", "cid", "hostname", "host.example", "heartbeat_interval", "10",
                                       "output_buffer_size", "1024", "output_buffer_timeout", "100",
                                       "deflate_level", "3", "sample_rate", "50", "user_agent", "ua/1",
                                       "msg_timeout", "5000", NULL};
    static const char answer[] = "{\"test\": 42, \"max_rdy_count\": 100}";
    gnsq_tcp_t *c = new_client(env("FAKE_NEGOTIATE"), opts);
    gnsq_conn_info_t st;
    uint8_t out[64];
    uint64_t held = 0;
    CHECK_RC(gnsq_tcp_open(c), GNSQ_OK);
    CHECK_RC(gnsq_tcp_identify(out, 8, &held, c), (int)strlen(answer)); /* too long for 8: held whole */
    CHECK(held != 0);
    CHECK_RC(gnsq_tcp_read_body(c, held, out, sizeof out), (int)strlen(answer));
    CHECK(same(out, strlen(answer), answer));
    CHECK_RC(gnsq_tcp_status(&st, c), GNSQ_OK);
    CHECK(st.max_ready_count == 100);
    CHECK_RC(gnsq_tcp_ready(c, 101), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_tcp_free(c), GNSQ_OK);
}

/* test_identify_auth: auth_required and a secret: identify sends AUTH. */
static void test_identify_auth(void) {
    gnsq_tcp_t *c = new_client(env("FAKE_IDENTIFY_AUTH"), with_secret);
    uint8_t out[64];
    int n;
    CHECK_RC(gnsq_tcp_open(c), GNSQ_OK);
    n = gnsq_tcp_identify(out, sizeof out, NULL, c);
    CHECK(n >= 0 && same(out, (size_t)n, "{\"auth_required\": true}"));
    EXPECT_EVENT(c, GNSQ_EV_RESPONSE);
    CHECK(same(EV_DATA, ev.data_len, "{\"auth_required\": true}"));
    EXPECT_EVENT(c, GNSQ_EV_RESPONSE);
    EXPECT_EVENT(c, GNSQ_EV_AUTH); /* gnsq's on_auth, once */
    CHECK(same(EV_DATA, ev.data_len, "{\"identity\": \"awesome\"}"));
    EXPECT_NO_EVENT(c);
    CHECK_RC(gnsq_tcp_free(c), GNSQ_OK);
}

/* test_auth: AUTH with the secret, nsqd's JSON as sent; a refusal. */
static void test_auth(void) {
    static const char answer[] = "{\"identity\":\"awesome\",\"permission_count\":1}";
    gnsq_tcp_t *c = new_client(env("FAKE_AUTH"), with_secret);
    gnsq_conn_info_t st;
    uint8_t out[64];
    CHECK_RC(gnsq_tcp_open(c), GNSQ_OK);
    CHECK_RC(gnsq_tcp_auth(out, sizeof out, NULL, c), (int)strlen(answer));
    CHECK(same(out, strlen(answer), answer));
    EXPECT_EVENT(c, GNSQ_EV_RESPONSE);
    EXPECT_EVENT(c, GNSQ_EV_AUTH);
    CHECK(same(EV_DATA, ev.data_len, answer));
    CHECK_RC(gnsq_tcp_auth(out, sizeof out, NULL, c), GNSQ_E_AUTH);
    CHECK(last_error_contains("E_AUTH_FAILED") && !last_error_contains("secret"));
    EXPECT_EVENT(c, GNSQ_EV_ERROR);
    CHECK(ev.code == GNSQ_E_AUTH);
    CHECK_RC(gnsq_tcp_status(&st, c), GNSQ_OK);
    CHECK(st.connected == 0); /* a fatal error frame closes the connection */
    CHECK_RC(gnsq_tcp_free(c), GNSQ_OK);
}

/* test_command and the publishes: every command only writes; the fake
   nsqd compares their bytes and answers "checked" after the last. */
static void test_commands(void) {
    const uint8_t *id = (const uint8_t *)"deadbeafdeadbeaf";
    const void *bodies[] = {"a", "bc"};
    const size_t lens[] = {1, 2};
    gnsq_tcp_t *c = new_client(env("FAKE_COMMANDS"), NULL);
    CHECK_RC(gnsq_tcp_subscribe(c, "topic", "channel"), GNSQ_E_CONNECTION); /* not open */
    CHECK_RC(gnsq_tcp_open(c), GNSQ_OK);
    CHECK_RC(gnsq_tcp_subscribe(c, "topic", "channel"), GNSQ_OK);
    CHECK_RC(gnsq_tcp_subscribe(c, "bad topic", "channel"), GNSQ_E_INVALID_ARG); /* nothing sent */
    CHECK_RC(gnsq_tcp_ready(c, 0), GNSQ_OK);
    CHECK_RC(gnsq_tcp_ready(c, 1), GNSQ_OK);
    CHECK_RC(gnsq_tcp_ready(c, 42), GNSQ_OK);
    CHECK_RC(gnsq_tcp_ready(c, -1), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_tcp_finish(c, id), GNSQ_OK);
    CHECK_RC(gnsq_tcp_requeue(c, id, 0, 1), GNSQ_OK);
    CHECK_RC(gnsq_tcp_requeue(c, id, 42, 0), GNSQ_OK);
    CHECK_RC(gnsq_tcp_touch(c, id), GNSQ_OK);
    CHECK_RC(gnsq_tcp_cls(c), GNSQ_OK);
    CHECK_RC(gnsq_tcp_nop(c), GNSQ_OK);
    CHECK_RC(gnsq_tcp_publish(c, "topic", "hello world", 11, 0), GNSQ_OK);
    CHECK_RC(gnsq_tcp_publish(c, "topic", "", 0, 0), GNSQ_OK);
    CHECK_RC(gnsq_tcp_publish(c, "topic", "later", 5, 1000), GNSQ_OK);
    CHECK_RC(gnsq_tcp_multipublish(c, "topic", bodies, lens, 2), GNSQ_OK);
    EXPECT_FRAME(c, GNSQ_FRAME_RESPONSE, "checked");
    EXPECT_EVENT(c, GNSQ_EV_FINISHED);
    CHECK(memcmp(ev.id, id, 16) == 0);
    EXPECT_EVENT(c, GNSQ_EV_REQUEUED);
    CHECK(memcmp(ev.id, id, 16) == 0 && ev.value == 0);
    EXPECT_EVENT(c, GNSQ_EV_REQUEUED);
    CHECK(ev.value == 42);
    EXPECT_EVENT(c, GNSQ_EV_RESPONSE);
    EXPECT_NO_EVENT(c);
    CHECK_RC(gnsq_tcp_free(c), GNSQ_OK);
}

/* read_response: a response, a non-fatal error frame (returned, not
   failed), message frames (the wire data; one held), a heartbeat (NOP
   sent back: the fake nsqd answers it), a fatal error frame (closes). */
static void test_read(void) {
    gnsq_tcp_t *c = new_client(env("FAKE_READ"), NULL);
    gnsq_conn_info_t st;
    uint8_t out[64], big[200];
    uint64_t held = 0;
    int32_t type = -1;
    int n;
    CHECK_RC(gnsq_tcp_open(c), GNSQ_OK);
    EXPECT_FRAME(c, GNSQ_FRAME_RESPONSE, "OK");
    EXPECT_FRAME(c, GNSQ_FRAME_ERROR, "E_FIN_FAILED FIN failed");
    n = read_frame(c, &type, out, sizeof out);
    CHECK(type == GNSQ_FRAME_MESSAGE && n == 26 + 5);
    CHECK(msg_timestamp(out) == 1234567890 && msg_attempts(out) == 3);
    CHECK(memcmp(out + 10, "0123456789abcdef", 16) == 0 && memcmp(out + 26, "hello", 5) == 0);
    n = gnsq_tcp_read_response(&type, out, sizeof out, &held, c, 5000);
    CHECK(type == GNSQ_FRAME_MESSAGE && n == 26 + 100 && held != 0); /* held whole, not cut */
    CHECK_RC(gnsq_tcp_read_body(c, held, big, sizeof big), 26 + 100);
    CHECK(memcmp(big + 10, "fedcba9876543210", 16) == 0 && big[26] == 'b' && big[125] == 'b');
    CHECK_RC(gnsq_tcp_status(&st, c), GNSQ_OK);
    CHECK(st.in_flight == 2 && st.connected == 1);
    EXPECT_FRAME(c, GNSQ_FRAME_RESPONSE, "_heartbeat_");
    EXPECT_FRAME(c, GNSQ_FRAME_RESPONSE, "after nop"); /* the fake nsqd saw the NOP */
    EXPECT_FRAME(c, GNSQ_FRAME_ERROR, "E_INVALID cannot SUB in current state");
    CHECK_RC(gnsq_tcp_status(&st, c), GNSQ_OK);
    CHECK(st.connected == 0);
    CHECK_RC(gnsq_tcp_read_response(&type, out, sizeof out, NULL, c, 5000), GNSQ_E_CONNECTION);
    CHECK_RC(gnsq_tcp_nop(c), GNSQ_E_CONNECTION);
    /* gnsq's signals: on_response, on_error; messages only as returned */
    EXPECT_EVENT(c, GNSQ_EV_RESPONSE);
    CHECK(same(EV_DATA, ev.data_len, "OK"));
    EXPECT_EVENT(c, GNSQ_EV_ERROR);
    CHECK(ev.code == GNSQ_E_NSQ_NONFATAL && same(EV_DATA, ev.data_len, "E_FIN_FAILED FIN failed"));
    EXPECT_EVENT(c, GNSQ_EV_RESPONSE);
    CHECK(same(EV_DATA, ev.data_len, "_heartbeat_"));
    EXPECT_EVENT(c, GNSQ_EV_RESPONSE);
    EXPECT_EVENT(c, GNSQ_EV_ERROR);
    CHECK(ev.code == GNSQ_E_NSQ);
    EXPECT_NO_EVENT(c);
    CHECK_RC(gnsq_tcp_free(c), GNSQ_OK);
}

/* A read_response that times out leaves the connection up and goes on:
   the fake nsqd answers only after each NOP. */
static void test_timeout(void) {
    gnsq_tcp_t *c = new_client(env("FAKE_TIMEOUT"), with_secret);
    gnsq_conn_info_t st;
    uint8_t out[64];
    uint64_t token = 0;
    int32_t type;
    CHECK_RC(gnsq_tcp_open(c), GNSQ_OK);
    CHECK_RC(gnsq_tcp_read_response(&type, out, sizeof out, NULL, c, 0), GNSQ_E_TIMEOUT);
    CHECK_RC(gnsq_tcp_read_response(&type, out, sizeof out, NULL, c, 50), GNSQ_E_TIMEOUT);
    CHECK_RC(gnsq_tcp_identify(out, sizeof out, NULL, c), GNSQ_E_INVALID_ARG); /* its answer would be lost */
    CHECK(last_error_contains("read_response"));
    CHECK_RC(gnsq_tcp_auth(out, sizeof out, NULL, c), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_tcp_status(&st, c), GNSQ_OK);
    CHECK(st.connected == 1);
    CHECK_RC(gnsq_tcp_nop(c), GNSQ_OK);
    EXPECT_FRAME(c, GNSQ_FRAME_RESPONSE, "late");
    CHECK_RC(gnsq_tcp_nop(c), GNSQ_OK);
    CHECK_RC(gnsq_tcp_read_response_async(&token, c, 5000), GNSQ_OK);
    EXPECT_EVENT(c, GNSQ_EV_RESPONSE);
    CHECK(same(EV_DATA, ev.data_len, "late"));
    EXPECT_EVENT(c, GNSQ_EV_RESPONSE); /* queued while the step read, before its end */
    EXPECT_DONE(c, token, 0);
    CHECK(ev.value == GNSQ_FRAME_RESPONSE && same(EV_DATA, ev.data_len, "second"));
    CHECK_RC(gnsq_tcp_free(c), GNSQ_OK);
}

/* listen after the steps: it takes over a pending read; then every frame
   is an event and the reading steps are refused. */
static void test_listen(void) {
    gnsq_tcp_t *c = new_client(env("FAKE_LISTEN"), with_secret);
    uint8_t out[64], id[16];
    uint64_t token = 0;
    int32_t type;
    CHECK_RC(gnsq_tcp_listen(c), GNSQ_E_CONNECTION); /* not open */
    CHECK_RC(gnsq_tcp_open(c), GNSQ_OK);
    CHECK_RC(gnsq_tcp_identify(out, sizeof out, NULL, c), 0);
    CHECK_RC(gnsq_tcp_subscribe(c, "topic", "channel"), GNSQ_OK);
    EXPECT_FRAME(c, GNSQ_FRAME_RESPONSE, "OK");
    CHECK_RC(gnsq_tcp_read_response(&type, out, sizeof out, NULL, c, 0), GNSQ_E_TIMEOUT); /* nothing before RDY */
    CHECK_RC(gnsq_tcp_ready(c, 1), GNSQ_OK);
    CHECK_RC(gnsq_tcp_listen(c), GNSQ_OK);
    CHECK_RC(gnsq_tcp_listen(c), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_tcp_read_response(&type, out, sizeof out, NULL, c, 0), GNSQ_E_INVALID_ARG);
    CHECK(last_error_contains("listening"));
    CHECK_RC(gnsq_tcp_read_response_async(&token, c, 0), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_tcp_identify(out, sizeof out, NULL, c), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_tcp_auth_async(&token, c), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_tcp_open(c), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_tcp_connect(out, sizeof out, NULL, c), GNSQ_E_INVALID_ARG);
    EXPECT_EVENT(c, GNSQ_EV_RESPONSE); /* IDENTIFY's OK */
    EXPECT_EVENT(c, GNSQ_EV_RESPONSE); /* SUB's OK */
    EXPECT_EVENT(c, GNSQ_EV_MESSAGE);  /* the pending read's frame */
    CHECK(ev.timestamp == 42 && ev.attempts == 1 && same(EV_DATA, ev.data_len, "listened"));
    CHECK(memcmp(ev.id, "0123456789abcdef", 16) == 0);
    memcpy(id, ev.id, 16);
    CHECK_RC(gnsq_tcp_finish(c, id), GNSQ_OK);
    EXPECT_EVENT(c, GNSQ_EV_FINISHED);
    EXPECT_EVENT(c, GNSQ_EV_RESPONSE);
    CHECK(same(EV_DATA, ev.data_len, "fin seen"));
    EXPECT_EVENT(c, GNSQ_EV_RESPONSE);
    CHECK(same(EV_DATA, ev.data_len, "_heartbeat_"));
    EXPECT_EVENT(c, GNSQ_EV_ERROR); /* sent after the fake nsqd saw the NOP */
    CHECK(ev.code == GNSQ_E_NSQ_NONFATAL);
    CHECK_RC(gnsq_tcp_cls(c), GNSQ_OK);
    EXPECT_EVENT(c, GNSQ_EV_RESPONSE);
    CHECK(same(EV_DATA, ev.data_len, "CLOSE_WAIT"));
    CHECK_RC(gnsq_tcp_close(c, 5000), GNSQ_OK);
    EXPECT_EVENT(c, GNSQ_EV_CLOSED); /* no DISCONNECTED for a close */
    CHECK_RC(gnsq_tcp_free(c), GNSQ_OK);
}

/* The *_async forms: one STEP_DONE per token, a held answer, one step at
   a time, and a pending step ended by close before CLOSED. */
static void test_async(void) {
    gnsq_tcp_t *c = new_client(env("FAKE_ASYNC"), with_secret);
    uint8_t small[64], out[512];
    uint64_t token = 0, token2 = 0, close_token = 0;
    int32_t type;
    int n;
    CHECK_RC(gnsq_tcp_open_async(NULL, c), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_tcp_open_async(&token, c), GNSQ_OK);
    EXPECT_DONE(c, token, 0);
    CHECK(ev.value == 0 && ev.data_len == 0);
    CHECK_RC(gnsq_tcp_identify_async(&token, c), GNSQ_OK);
    /* IDENTIFY's answer (and AUTH's) come first, as RESPONSE signals */
    CHECK(next_event(c, 5000, small, sizeof small) == 1 && ev.type == GNSQ_EV_RESPONSE && (ev.flags & GNSQ_EVF_TRUNCATED));
    EXPECT_EVENT(c, GNSQ_EV_RESPONSE);
    EXPECT_EVENT(c, GNSQ_EV_AUTH);
    CHECK(same(EV_DATA, ev.data_len, "{\"identity\":\"a\"}"));
    CHECK(next_event(c, 5000, small, sizeof small) == 1 && ev.type == GNSQ_EV_STEP_DONE && ev.token == token);
    CHECK(ev.code == 0 && (ev.flags & GNSQ_EVF_HELD) && ev.data_len > sizeof small);
    n = gnsq_tcp_read_body(c, token, out, sizeof out);
    CHECK(n == (int)ev.data_len && memmem(out, (size_t)n, "\"auth_required\": true", 21) != NULL);
    CHECK_RC(gnsq_tcp_auth_async(&token, c), GNSQ_OK);
    EXPECT_EVENT(c, GNSQ_EV_RESPONSE);
    EXPECT_EVENT(c, GNSQ_EV_AUTH);
    EXPECT_DONE(c, token, 0);
    CHECK(same(EV_DATA, ev.data_len, "{\"identity\":\"b\"}"));
    CHECK_RC(gnsq_tcp_read_response_async(&token, c, 0), GNSQ_OK); /* nothing before the NOP */
    EXPECT_DONE(c, token, GNSQ_E_TIMEOUT);
    CHECK_RC(gnsq_tcp_nop(c), GNSQ_OK);
    CHECK_RC(gnsq_tcp_read_response_async(&token, c, 5000), GNSQ_OK);
    EXPECT_DONE(c, token, 0);
    CHECK(ev.value == GNSQ_FRAME_MESSAGE && ev.data_len == 26 + 5 && msg_attempts(EV_DATA) == 2);
    CHECK(memcmp(EV_DATA + 26, "async", 5) == 0);
    /* a step that never ends: others are refused; close ends it first */
    CHECK_RC(gnsq_tcp_read_response_async(&token, c, -1), GNSQ_OK);
    CHECK_RC(gnsq_tcp_read_response_async(&token2, c, -1), GNSQ_E_INVALID_ARG);
    CHECK(last_error_contains("still running"));
    CHECK_RC(gnsq_tcp_read_response(&type, out, sizeof out, NULL, c, 0), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_tcp_identify(out, sizeof out, NULL, c), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_tcp_listen(c), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_tcp_close_async(&close_token, c, 5000), GNSQ_OK);
    EXPECT_DONE(c, token, GNSQ_E_CONNECTION);
    EXPECT_EVENT(c, GNSQ_EV_CLOSED);
    CHECK(ev.token == close_token);
    CHECK_RC(gnsq_tcp_poll(c, &ev, 1, 0, evbuf, sizeof evbuf), GNSQ_E_CLOSED);
    CHECK_RC(gnsq_tcp_free(c), GNSQ_OK);
}

/* NULL arguments, a dead address, a client never opened, a closed one. */
static void test_errors(void) {
    gnsq_tcp_t *c;
    uint8_t out[64];
    uint64_t token = 0, held = 0;
    int32_t type;
    CHECK_RC(gnsq_tcp_open(NULL), GNSQ_E_INVALID_HANDLE);
    CHECK_RC(gnsq_tcp_open_async(&token, NULL), GNSQ_E_INVALID_HANDLE);
    CHECK_RC(gnsq_tcp_identify(out, sizeof out, &held, NULL), GNSQ_E_INVALID_HANDLE);
    CHECK_RC(gnsq_tcp_identify_async(&token, NULL), GNSQ_E_INVALID_HANDLE);
    CHECK_RC(gnsq_tcp_auth(out, sizeof out, &held, NULL), GNSQ_E_INVALID_HANDLE);
    CHECK_RC(gnsq_tcp_auth_async(&token, NULL), GNSQ_E_INVALID_HANDLE);
    CHECK_RC(gnsq_tcp_read_response(&type, out, sizeof out, &held, NULL, 0), GNSQ_E_INVALID_HANDLE);
    CHECK_RC(gnsq_tcp_read_response_async(&token, NULL, 0), GNSQ_E_INVALID_HANDLE);
    CHECK_RC(gnsq_tcp_listen(NULL), GNSQ_E_INVALID_HANDLE);
    CHECK_RC(gnsq_tcp_listen((gnsq_tcp_t *)(uintptr_t)0xdeadbeef), GNSQ_E_INVALID_HANDLE);

    c = new_client("127.0.0.1:1", NULL);
    CHECK_RC(gnsq_tcp_read_response(NULL, out, sizeof out, NULL, c, 0), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_tcp_read_response(&type, NULL, 8, NULL, c, 0), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_tcp_identify(NULL, 8, NULL, c), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_tcp_auth(NULL, 8, NULL, c), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_tcp_identify_async(NULL, c), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_tcp_auth_async(NULL, c), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_tcp_read_response_async(NULL, c, 0), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_tcp_read_response(&type, out, sizeof out, NULL, c, 1000), GNSQ_E_CONNECTION); /* not open */
    CHECK_RC(gnsq_tcp_listen(c), GNSQ_E_CONNECTION);
    CHECK_RC(gnsq_tcp_open(c), GNSQ_E_CONNECTION);
    CHECK_RC(gnsq_tcp_open_async(&token, c), GNSQ_OK);
    EXPECT_DONE(c, token, GNSQ_E_CONNECTION);
    CHECK(ev.data_len > 0); /* the error text */
    CHECK_RC(gnsq_tcp_close(c, 5000), GNSQ_OK);
    CHECK_RC(gnsq_tcp_open(c), GNSQ_E_CLOSED);
    CHECK_RC(gnsq_tcp_open_async(&token, c), GNSQ_E_CLOSED);
    CHECK_RC(gnsq_tcp_identify(out, sizeof out, NULL, c), GNSQ_E_CLOSED);
    CHECK_RC(gnsq_tcp_identify_async(&token, c), GNSQ_E_CLOSED);
    CHECK_RC(gnsq_tcp_auth(out, sizeof out, NULL, c), GNSQ_E_CLOSED);
    CHECK_RC(gnsq_tcp_auth_async(&token, c), GNSQ_E_CLOSED);
    CHECK_RC(gnsq_tcp_read_response(&type, out, sizeof out, NULL, c, 0), GNSQ_E_CLOSED);
    CHECK_RC(gnsq_tcp_read_response_async(&token, c, 0), GNSQ_E_CLOSED);
    CHECK_RC(gnsq_tcp_listen(c), GNSQ_E_CLOSED);
    CHECK_RC(gnsq_tcp_free(c), GNSQ_OK);
    CHECK_RC(gnsq_tcp_open(c), GNSQ_E_INVALID_HANDLE); /* stale */
}

/* Against nsqd, plain and with Snappy: open, identify, publish, subscribe,
   ready, read the message, finish. */
static void test_live(void) {
    static const char *const snappy[] = {"snappy", "true", NULL};
    const char *const *opts[] = {NULL, snappy};
    char topic[64];
    size_t i;
    for (i = 0; i < 2; i++) {
        gnsq_tcp_t *c = new_client(env("NSQD_TCP"), opts[i]);
        uint8_t out[1024];
        int32_t type;
        int n;
        snprintf(topic, sizeof topic, "steps_%ld_%d", (long)time(NULL), (int)i);
        CHECK_RC(gnsq_tcp_open(c), GNSQ_OK);
        n = gnsq_tcp_identify(out, sizeof out, NULL, c);
        CHECK(n > 0 && memmem(out, (size_t)n, "\"max_rdy_count\"", 15) != NULL);
        CHECK(memmem(out, (size_t)n, i == 1 ? "\"snappy\":true" : "\"snappy\":false", i == 1 ? 13 : 14) != NULL);
        CHECK_RC(gnsq_tcp_publish(c, topic, "live", 4, 0), GNSQ_OK);
        EXPECT_FRAME(c, GNSQ_FRAME_RESPONSE, "OK");
        CHECK_RC(gnsq_tcp_subscribe(c, topic, "ch"), GNSQ_OK);
        EXPECT_FRAME(c, GNSQ_FRAME_RESPONSE, "OK");
        CHECK_RC(gnsq_tcp_ready(c, 1), GNSQ_OK);
        n = read_frame(c, &type, out, sizeof out);
        CHECK(type == GNSQ_FRAME_MESSAGE && n == 26 + 4 && memcmp(out + 26, "live", 4) == 0 && msg_attempts(out) == 1);
        CHECK_RC(gnsq_tcp_finish(c, out + 10), GNSQ_OK);
        CHECK_RC(gnsq_tcp_cls(c), GNSQ_OK); /* nsqd answers after the FIN */
        EXPECT_FRAME(c, GNSQ_FRAME_RESPONSE, "CLOSE_WAIT");
        EXPECT_EVENT(c, GNSQ_EV_RESPONSE); /* IDENTIFY's answer */
        if (opts[i] == snappy) EXPECT_EVENT(c, GNSQ_EV_RESPONSE); /* the upgrade's OK */
        EXPECT_EVENT(c, GNSQ_EV_RESPONSE); /* PUB's OK */
        EXPECT_EVENT(c, GNSQ_EV_RESPONSE); /* SUB's OK */
        EXPECT_EVENT(c, GNSQ_EV_FINISHED);
        CHECK(memcmp(ev.id, out + 10, 16) == 0);
        CHECK_RC(gnsq_tcp_free(c), GNSQ_OK);
    }
}

int main(int argc, char **argv) {
    static const struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"open", test_open},         {"identify", test_identify}, {"negotiate", test_negotiate},
        {"identify_auth", test_identify_auth}, {"auth", test_auth}, {"commands", test_commands},
        {"read", test_read},         {"timeout", test_timeout},   {"listen", test_listen},
        {"async", test_async},       {"errors", test_errors},     {"live", test_live},
    };
    size_t i;
    for (i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        if (argc > 1 && strcmp(argv[1], tests[i].name) != 0) continue;
        tests[i].fn();
        printf("ok %s\n", tests[i].name);
        fflush(stdout);
    }
    return 0;
}
