/*
 * C API tests against a live nsqd. Run by tests/c/c_test.go, which starts
 * nsqd and passes its addresses in NSQD_TCP and NSQD_HTTP. Each test
 * prints "ok <name>"; the first failed check exits with status 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gnsq.h"

static const char *nsqd_tcp, *nsqd_http, *lookupd_http;
/* A second nsqd, for connect_to_nsqd(). */
static const char *nsqd2_tcp;
/* A scripted nsqd (tests/c/c_test.go): it answers IDENTIFY, leaves the
   first PUB unanswered, and answers OK twice after the second PUB. */
static const char *silent_nsqd;

#include "check.h"

static void unique_topic(char *buf, size_t n, const char *prefix) {
    static int seq;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, n, "%s_%ld_%ld_%d", prefix, (long)ts.tv_sec, ts.tv_nsec, seq++);
}

static int contains(const uint8_t *buf, int n, const char *needle) {
    return n >= 0 && memmem(buf, (size_t)n, needle, strlen(needle)) != NULL;
}

static int last_error_contains(const char *needle) {
    gnsq_last_error(check_last, sizeof check_last);
    return strstr(check_last, needle) != NULL;
}

static gnsq_producer_t *started_producer(void) {
    gnsq_producer_t *p = NULL;
    const char *addrs[] = {nsqd_tcp};
    gnsq_config_t *cfg = NULL;
    CHECK_RC(gnsq_config_new(&cfg), GNSQ_OK);
    CHECK_RC(gnsq_config_set(cfg, "max_backoff_duration", "1"), GNSQ_OK);
    CHECK_RC(gnsq_producer_new(&p, addrs, 1, cfg), GNSQ_OK);
    CHECK_RC(gnsq_config_free(cfg), GNSQ_OK);
    CHECK_RC(gnsq_producer_start(p), GNSQ_OK);
    return p;
}

static gnsq_consumer_t *started_consumer(const char *topic, const char *max_in_flight) {
    gnsq_consumer_t *c = NULL;
    const char *addrs[] = {nsqd_tcp};
    gnsq_config_t *cfg = NULL;
    CHECK_RC(gnsq_config_new(&cfg), GNSQ_OK);
    CHECK_RC(gnsq_config_set(cfg, "max_in_flight", max_in_flight), GNSQ_OK);
    CHECK_RC(gnsq_consumer_new(&c, topic, "ch", addrs, 1, NULL, 0, cfg), GNSQ_OK);
    CHECK_RC(gnsq_config_free(cfg), GNSQ_OK);
    CHECK_RC(gnsq_consumer_start(c), GNSQ_OK);
    return c;
}

/* Waits until nsqd's stats show the one client of topic/ch at RDY want:
 * nsqd reads RDY asynchronously, so only its stats say when it applies. */
static int await_ready_count(const char *topic, int want) {
    gnsq_http_t *h = NULL;
    gnsq_http_request_t r;
    static uint8_t out[1 << 16];
    char needle[32];
    struct timespec pause = {0, 10 * 1000 * 1000};
    int n, tries, found = 0;
    snprintf(needle, sizeof needle, "\"ready_count\":%d", want);
    CHECK_RC(gnsq_http_new(&h, GNSQ_HTTP_NSQD, nsqd_http, NULL), GNSQ_OK);
    memset(&r, 0, sizeof r);
    r.op = GNSQ_HTTP_STATS;
    r.topic = topic;
    r.channel = "ch";
    for (tries = 0; tries < 500 && !found; tries++) {
        n = gnsq_http_request(out, sizeof out, NULL, NULL, h, &r, 5000);
        CHECK(n > 0);
        found = contains(out, n, needle);
        if (!found) nanosleep(&pause, NULL);
    }
    CHECK_RC(gnsq_http_close(h, 5000), GNSQ_OK);
    CHECK_RC(gnsq_http_free(h), GNSQ_OK);
    return found;
}

/* ---- tests --------------------------------------------------------------- */

static void test_version(void) {
    CHECK(gnsq_version() == GNSQ_VERSION);
    CHECK(strcmp(gnsq_version_str(), GNSQ_VERSION_STR) == 0);
}

static void test_errors(void) {
    int code;
    for (code = 0; code >= GNSQ_E_INTERNAL; code--) {
        CHECK(gnsq_strerror(code) != NULL && strlen(gnsq_strerror(code)) > 0);
    }
    CHECK(strcmp(gnsq_strerror(12345), "unknown error code") == 0);
    CHECK(gnsq_error_is_fatal(GNSQ_E_NSQ) && !gnsq_error_is_fatal(GNSQ_E_NSQ_NONFATAL));
    CHECK(gnsq_error_is_retriable(GNSQ_E_NO_CONNECTIONS) && !gnsq_error_is_retriable(GNSQ_E_INVALID_ARG));
    CHECK(!gnsq_error_is_fatal(GNSQ_OK) && !gnsq_error_is_retriable(GNSQ_OK));
    /* last_error: full length returned, truncated copy. */
    {
        gnsq_config_t *cfg = NULL;
        char small[8];
        int full;
        CHECK_RC(gnsq_config_new(&cfg), GNSQ_OK);
        CHECK_RC(gnsq_config_set(cfg, "no_such_key", "1"), GNSQ_E_INVALID_ARG);
        full = gnsq_last_error(small, sizeof small);
        CHECK(full > (int)sizeof small);
        CHECK(strlen(small) == sizeof small - 1);
        CHECK(gnsq_last_error(NULL, 0) == full);
        CHECK(last_error_contains("no_such_key"));
        gnsq_config_free(cfg);
    }
}

static void test_config(void) {
    gnsq_config_t *cfg = NULL;
    char buf[64];
    CHECK_RC(gnsq_config_new(&cfg), GNSQ_OK);
    CHECK_RC(gnsq_config_get(buf, sizeof buf, cfg, "max_in_flight"), 1);
    CHECK(strcmp(buf, "1") == 0);
    CHECK_RC(gnsq_config_set(cfg, "max_in_flight", "2500"), GNSQ_OK);
    CHECK_RC(gnsq_config_get(buf, sizeof buf, cfg, "max_in_flight"), 4);
    CHECK(strcmp(buf, "2500") == 0);
    CHECK_RC(gnsq_config_set(cfg, "heartbeat_interval", "1500ms"), GNSQ_OK);
    CHECK_RC(gnsq_config_get(buf, sizeof buf, cfg, "heartbeat_interval"), 3);
    CHECK(strcmp(buf, "1.5") == 0);
    CHECK_RC(gnsq_config_set(cfg, "deflate_level", "10"), GNSQ_E_INVALID_ARG);
    CHECK(last_error_contains("deflate_level"));
    CHECK_RC(gnsq_config_set(cfg, "tls_v1", "maybe"), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_config_set(cfg, NULL, "1"), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_config_set(cfg, "max_in_flight", "2500"), GNSQ_OK);
    CHECK_RC(gnsq_config_get(buf, 2, cfg, "max_in_flight"), 4); /* cut to "2", full length returned */
    CHECK(strcmp(buf, "2") == 0);
    CHECK_RC(gnsq_config_get(buf, sizeof buf, cfg, "nope"), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_config_new(NULL), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_config_free(cfg), GNSQ_OK);
    CHECK_RC(gnsq_config_free(cfg), GNSQ_E_INVALID_HANDLE); /* stale */
    CHECK_RC(gnsq_config_set(cfg, "max_in_flight", "1"), GNSQ_E_INVALID_HANDLE);
    CHECK_RC(gnsq_config_free(NULL), GNSQ_OK);
}

static void test_bad_handles(void) {
    gnsq_producer_t *garbage = (gnsq_producer_t *)(uintptr_t)0x12345678;
    gnsq_consumer_t *c = NULL;
    gnsq_config_t *cfg = NULL;
    gnsq_event_t ev;
    uint8_t buf[64];
    int fd;
    CHECK_RC(gnsq_producer_start(NULL), GNSQ_E_INVALID_HANDLE);
    CHECK_RC(gnsq_producer_start(garbage), GNSQ_E_INVALID_HANDLE);
    CHECK_RC(gnsq_producer_publish(garbage, "t", "x", 1, 0, 100), GNSQ_E_INVALID_HANDLE);
    CHECK_RC(gnsq_producer_publish_batch(NULL, garbage, NULL, 0), GNSQ_E_INVALID_HANDLE);
    CHECK_RC(gnsq_producer_poll(garbage, &ev, 1, 0, buf, sizeof buf), GNSQ_E_INVALID_HANDLE);
    CHECK_RC(gnsq_producer_notify_fd(&fd, garbage), GNSQ_E_INVALID_HANDLE);
    CHECK_RC(gnsq_producer_close(garbage, 0), GNSQ_E_INVALID_HANDLE);
    CHECK_RC(gnsq_producer_free(garbage), GNSQ_E_INVALID_HANDLE);
    CHECK_RC(gnsq_consumer_poll(NULL, &ev, 1, 0, buf, sizeof buf), GNSQ_E_INVALID_HANDLE);
    CHECK_RC(gnsq_producer_free(NULL), GNSQ_OK);
    CHECK_RC(gnsq_consumer_free(NULL), GNSQ_OK);
    /* A handle of another type is refused, and not freed by mistake. */
    CHECK_RC(gnsq_config_new(&cfg), GNSQ_OK);
    CHECK_RC(gnsq_consumer_start((gnsq_consumer_t *)cfg), GNSQ_E_INVALID_HANDLE);
    CHECK_RC(gnsq_consumer_free((gnsq_consumer_t *)cfg), GNSQ_E_INVALID_HANDLE);
    CHECK_RC(gnsq_config_set(cfg, "max_in_flight", "3"), GNSQ_OK);
    CHECK_RC(gnsq_config_free(cfg), GNSQ_OK);
    /* Constructor argument errors. */
    CHECK_RC(gnsq_consumer_new(&c, "bad topic", "ch", &nsqd_tcp, 1, NULL, 0, NULL), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_consumer_new(&c, "t", "ch\nSUB x", &nsqd_tcp, 1, NULL, 0, NULL), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_consumer_new(&c, "t", "ch", NULL, 0, NULL, 0, NULL), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_producer_new(NULL, &nsqd_tcp, 1, NULL), GNSQ_E_INVALID_ARG);
}

/* poll_until waits (up to 10 s) for an event of type, skipping others;
   fills *out. One event per poll, so the events after it stay queued. */
static int poll_until(gnsq_producer_t *p, gnsq_consumer_t *c, int type, uint64_t token, gnsq_event_t *out,
                      uint8_t *buf, size_t buf_len) {
    struct timespec t0, now;
    int n;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        n = p ? gnsq_producer_poll(p, out, 1, 100, buf, buf_len) : gnsq_consumer_poll(c, out, 1, 100, buf, buf_len);
        CHECK(n >= 0);
        if (n == 1 && out->type == type && (token == 0 || out->token == token)) return 1;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (now.tv_sec - t0.tv_sec < 10);
    return 0;
}

static void test_publish_and_consume(void) {
    char topic[128];
    gnsq_producer_t *p = started_producer();
    gnsq_consumer_t *c;
    static const uint8_t binary[] = {0x00, 0xff, 0x00, 'x', 0xfe};
    const void *bodies[] = {"one", "two", binary};
    size_t lens[] = {3, 3, sizeof binary};
    uint64_t token = 0;
    gnsq_event_t ev, evs[16];
    uint8_t buf[4096];
    int seen = 0, i, n, fd;
    struct pollfd pfd;
    size_t big_len = 1 << 20;
    uint8_t *big = malloc(big_len);
    uint8_t *got_big = malloc(big_len);

    for (i = 0; i < (int)big_len; i++) big[i] = (uint8_t)(i * 31);
    unique_topic(topic, sizeof topic, "capi");

    CHECK_RC(gnsq_producer_publish(p, topic, "hello\0world", 11, 0, 5000), GNSQ_OK);
    CHECK_RC(gnsq_producer_multipublish(p, topic, bodies, lens, 3, 5000), GNSQ_OK);
    CHECK_RC(gnsq_producer_publish(p, topic, big, big_len, 0, 5000), GNSQ_OK);
    CHECK_RC(gnsq_producer_publish(p, topic, "later", 5, 200, 5000), GNSQ_OK); /* DPUB */
    /* Bad input, refused before any I/O: invalid topic, empty body (nsqd
       would refuse it and close the connection). */
    CHECK_RC(gnsq_producer_publish(p, "a\nPUB x", "x", 1, 0, 5000), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_producer_publish(p, topic, "", 0, 0, 5000), GNSQ_E_INVALID_ARG);
    CHECK(last_error_contains("empty"));
    CHECK_RC(gnsq_producer_multipublish(p, topic, bodies, lens, 0, 5000), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_producer_publish(p, topic, NULL, 3, 0, 5000), GNSQ_E_INVALID_ARG);

    /* Async: exactly one PUBLISHED event with the token, and the notify fd wakes. */
    CHECK_RC(gnsq_producer_notify_fd(&fd, p), GNSQ_OK);
    {
        /* The protocol: empty the pipe, then poll until nothing is left. */
        char drain[64];
        while (read(fd, drain, sizeof drain) > 0) {
        }
    }
    while (gnsq_producer_poll(p, evs, 16, 0, buf, sizeof buf) > 0) {
    }
    CHECK_RC(gnsq_producer_publish_async(&token, p, topic, "async", 5, 0, 5000), GNSQ_OK);
    CHECK(token != 0);
    pfd.fd = fd;
    pfd.events = POLLIN;
    CHECK(poll(&pfd, 1, 5000) == 1);
    CHECK(poll_until(p, NULL, GNSQ_EV_PUBLISHED, token, &ev, buf, sizeof buf));
    CHECK(ev.code == GNSQ_OK);
    CHECK_RC(gnsq_producer_multipublish_async(&token, p, topic, bodies, lens, 2, 5000), GNSQ_OK);
    CHECK(poll_until(p, NULL, GNSQ_EV_PUBLISHED, token, &ev, buf, sizeof buf));
    CHECK(ev.code == GNSQ_OK);

    /* Consume everything back: 1 + 3 + big + later + async + 2 = 9. */
    c = started_consumer(topic, "20");
    while (seen < 9) {
        n = gnsq_consumer_poll(c, evs, 16, 5000, buf, sizeof buf);
        CHECK(n > 0);
        for (i = 0; i < n; i++) {
            gnsq_response_t r;
            if (evs[i].type != GNSQ_EV_MESSAGE) continue;
            CHECK(evs[i].attempts == 1);
            if (evs[i].flags & GNSQ_EVF_HELD) {
                CHECK(evs[i].data_len == big_len);
                CHECK_RC(gnsq_consumer_read_body(c, evs[i].token, got_big, 10), (int)big_len); /* too small: kept */
                CHECK_RC(gnsq_consumer_read_body(c, evs[i].token, got_big, big_len), (int)big_len);
                CHECK(memcmp(got_big, big, big_len) == 0);
                CHECK_RC(gnsq_consumer_read_body(c, evs[i].token, got_big, big_len), GNSQ_E_UNKNOWN_TOKEN);
            } else {
                /* Each small body is one of those published, byte for byte. */
                static const struct {
                    const void *p;
                    size_t n;
                } want[] = {{"hello\0world", 11}, {"one", 3}, {"two", 3}, {binary, sizeof binary},
                            {"later", 5}, {"async", 5}};
                size_t k;
                int found = 0;
                for (k = 0; k < sizeof want / sizeof want[0]; k++) {
                    found |= evs[i].data_len == want[k].n && memcmp(buf + evs[i].data_offset, want[k].p, want[k].n) == 0;
                }
                CHECK(found);
            }
            r.token = evs[i].token;
            r.action = GNSQ_RESP_HANDLER_OK;
            r.backoff = 0;
            r.delay_ms = 0;
            CHECK_RC(gnsq_consumer_respond(c, &r, 1, NULL, 0), 1);
            CHECK_RC(gnsq_consumer_respond(c, &r, 1, NULL, 0), GNSQ_E_UNKNOWN_TOKEN);
            seen++;
        }
    }
    CHECK_RC(gnsq_consumer_close(c, 5000), GNSQ_OK);
    CHECK_RC(gnsq_consumer_free(c), GNSQ_OK);
    CHECK_RC(gnsq_producer_close(p, 5000), GNSQ_OK);
    CHECK_RC(gnsq_producer_free(p), GNSQ_OK);
    free(big);
    free(got_big);
}

static void test_requeue_and_signals(void) {
    char topic[128];
    gnsq_producer_t *p = started_producer();
    gnsq_consumer_t *c;
    gnsq_event_t ev;
    uint8_t buf[4096];
    gnsq_response_t r;
    unique_topic(topic, sizeof topic, "capi_req");
    CHECK_RC(gnsq_producer_publish(p, topic, "fail-once", 9, 0, 5000), GNSQ_OK);
    c = started_consumer(topic, "1");
    CHECK(poll_until(NULL, c, GNSQ_EV_MESSAGE, 0, &ev, buf, sizeof buf));
    CHECK(ev.attempts == 1);
    r.token = ev.token;
    r.action = GNSQ_RESP_HANDLER_FAILED;
    r.backoff = 0;
    r.delay_ms = 0;
    r.detail_offset = 6; /* each answer's text is a slice of texts */
    r.detail_len = 11;
    CHECK_RC(gnsq_consumer_respond(c, &r, 1, "other boom from C", 18), 1);
    r.detail_offset = r.detail_len = 0;
    CHECK(poll_until(NULL, c, GNSQ_EV_EXCEPTION, 0, &ev, buf, sizeof buf));
    CHECK(ev.data_len == 11 && memcmp(buf + ev.data_offset, "boom from C", 11) == 0);
    /* Requeued with backoff, redelivered with attempts 2. */
    CHECK(poll_until(NULL, c, GNSQ_EV_MESSAGE, 0, &ev, buf, sizeof buf));
    CHECK(ev.attempts == 2);
    r.token = ev.token;
    r.action = GNSQ_RESP_TOUCH;
    CHECK_RC(gnsq_consumer_respond(c, &r, 1, NULL, 0), 1);
    r.action = GNSQ_RESP_FINISH;
    CHECK_RC(gnsq_consumer_respond(c, &r, 1, NULL, 0), 1);
    {
        uint8_t id[16];
        memcpy(id, ev.id, sizeof id);
        CHECK(poll_until(NULL, c, GNSQ_EV_FINISHED, 0, &ev, buf, sizeof buf));
        CHECK(memcmp(ev.id, id, sizeof id) == 0);
    }
    CHECK_RC(gnsq_consumer_close(c, 5000), GNSQ_OK);
    CHECK_RC(gnsq_consumer_free(c), GNSQ_OK);
    CHECK_RC(gnsq_producer_free(p), GNSQ_OK);
}

static void test_respond_rules(void) {
    char topic[128];
    gnsq_producer_t *p = started_producer();
    gnsq_consumer_t *c;
    gnsq_event_t ev;
    uint8_t buf[4096], small[4];
    gnsq_response_t r;
    int n, tries;
    unique_topic(topic, sizeof topic, "capi_rules");
    CHECK_RC(gnsq_producer_publish(p, topic, "a body longer than four bytes", 29, 0, 5000), GNSQ_OK);
    c = started_consumer(topic, "1");
    /* A body larger than the whole poll buffer is held... */
    for (tries = 0; tries < 100; tries++) {
        n = gnsq_consumer_poll(c, &ev, 1, 100, small, sizeof small);
        CHECK(n >= 0);
        if (n == 1 && ev.type == GNSQ_EV_MESSAGE) break;
    }
    CHECK(tries < 100 && (ev.flags & GNSQ_EVF_HELD) && ev.data_len == 29);
    /* ... a bad answer leaves the message open ... */
    r.token = ev.token;
    r.action = GNSQ_RESP_REQUEUE;
    r.backoff = 0;
    r.delay_ms = -1;
    CHECK_RC(gnsq_consumer_respond(c, &r, 1, NULL, 0), GNSQ_E_INVALID_ARG);
    r.action = 99;
    CHECK_RC(gnsq_consumer_respond(c, &r, 1, NULL, 0), GNSQ_E_INVALID_ARG);
    /* ... and a final answer releases the held body too. */
    r.action = GNSQ_RESP_FINISH;
    CHECK_RC(gnsq_consumer_respond(c, &r, 1, NULL, 0), 1);
    CHECK_RC(gnsq_consumer_read_body(c, ev.token, buf, sizeof buf), GNSQ_E_UNKNOWN_TOKEN);

    /* max_in_flight 0 pauses delivery; raising it resumes. */
    CHECK_RC(gnsq_consumer_set_max_in_flight(c, 0), GNSQ_OK);
    CHECK_RC(gnsq_consumer_set_max_in_flight(c, -1), GNSQ_E_INVALID_ARG);
    CHECK(await_ready_count(topic, 0));
    CHECK_RC(gnsq_producer_publish(p, topic, "paused", 6, 0, 5000), GNSQ_OK);
    for (tries = 0; tries < 5; tries++) { /* 0.5 s without a message */
        n = gnsq_consumer_poll(c, &ev, 1, 100, buf, sizeof buf);
        CHECK(n >= 0 && (n == 0 || ev.type != GNSQ_EV_MESSAGE));
    }
    CHECK_RC(gnsq_consumer_set_max_in_flight(c, 1), GNSQ_OK);
    CHECK(poll_until(NULL, c, GNSQ_EV_MESSAGE, 0, &ev, buf, sizeof buf));
    CHECK(ev.data_len == 6 && memcmp(buf + ev.data_offset, "paused", 6) == 0);
    CHECK_RC(gnsq_consumer_close(c, 5000), GNSQ_OK);
    /* After close: no DISCONNECTED for the ends close caused; the last event is CLOSED. */
    while ((n = gnsq_consumer_poll(c, &ev, 1, 0, buf, sizeof buf)) > 0) {
        CHECK(ev.type != GNSQ_EV_DISCONNECTED);
    }
    CHECK(n == GNSQ_E_CLOSED && ev.type == GNSQ_EV_CLOSED);
    CHECK_RC(gnsq_consumer_free(c), GNSQ_OK);

    /* A producer event's text larger than the buffer is truncated, not held. */
    CHECK_RC(gnsq_producer_close(p, 5000), GNSQ_OK);
    n = gnsq_producer_poll(p, &ev, 1, 0, small, sizeof small);
    CHECK(n == 1 && ev.type == GNSQ_EV_CONNECTED && (ev.flags & GNSQ_EVF_TRUNCATED) && ev.data_len == sizeof small);
    CHECK_RC(gnsq_producer_free(p), GNSQ_OK);
}

static void test_use_after_close(void) {
    gnsq_producer_t *p = started_producer();
    gnsq_consumer_t *c = started_consumer("closed_topic", "1");
    gnsq_event_t evs[64];
    uint8_t buf[4096];
    uint64_t token;
    int fd, n, closed_seen = 0, i;
    gnsq_consumer_status_t status;
    gnsq_response_t r = {1, GNSQ_RESP_FINISH, 0, 0, 0, 0};

    CHECK_RC(gnsq_producer_close(p, 5000), GNSQ_OK);
    CHECK_RC(gnsq_producer_close(p, 5000), GNSQ_OK); /* idempotent */
    CHECK_RC(gnsq_producer_start(p), GNSQ_E_CLOSED);
    CHECK_RC(gnsq_producer_publish(p, "t", "x", 1, 0, 100), GNSQ_E_CLOSED);
    CHECK_RC(gnsq_producer_multipublish(p, "t", NULL, NULL, 0, 100), GNSQ_E_CLOSED);
    CHECK_RC(gnsq_producer_publish_async(&token, p, "t", "x", 1, 0, 100), GNSQ_E_CLOSED);
    CHECK_RC(gnsq_producer_multipublish_async(&token, p, "t", NULL, NULL, 0, 100), GNSQ_E_CLOSED);
    {
        gnsq_publish_t one = {"t", "x", 1, 0};
        CHECK_RC(gnsq_producer_publish_batch(&token, p, &one, 1), GNSQ_E_CLOSED);
    }
    CHECK_RC(gnsq_producer_notify_fd(&fd, p), GNSQ_OK); /* valid until free, like every handle kind's */
    CHECK_RC(gnsq_producer_set_event_mask(p, 0), GNSQ_E_CLOSED);
    /* Poll hands out what was queued, ending with CLOSED, then the error. */
    while ((n = gnsq_producer_poll(p, evs, 64, 0, buf, sizeof buf)) > 0) {
        for (i = 0; i < n; i++) closed_seen += evs[i].type == GNSQ_EV_CLOSED;
    }
    CHECK(n == GNSQ_E_CLOSED && closed_seen == 1);

    CHECK_RC(gnsq_consumer_close(c, 5000), GNSQ_OK);
    CHECK_RC(gnsq_consumer_close(c, 5000), GNSQ_OK);
    CHECK_RC(gnsq_consumer_start(c), GNSQ_E_CLOSED);
    CHECK_RC(gnsq_consumer_respond(c, &r, 1, NULL, 0), GNSQ_E_CLOSED);
    CHECK_RC(gnsq_consumer_read_body(c, 1, buf, sizeof buf), GNSQ_E_UNKNOWN_TOKEN); /* still usable */
    CHECK_RC(gnsq_consumer_status(&status, c), GNSQ_OK); /* until free */
    CHECK(status.running == 0 && status.connections == 0);
    CHECK_RC(gnsq_consumer_connections(NULL, 0, c), GNSQ_E_CLOSED);
    CHECK_RC(gnsq_consumer_notify_fd(&fd, c), GNSQ_OK); /* until free */
    CHECK_RC(gnsq_consumer_set_event_mask(c, 0), GNSQ_E_CLOSED);
    closed_seen = 0;
    while ((n = gnsq_consumer_poll(c, evs, 64, 0, buf, sizeof buf)) > 0) {
        for (i = 0; i < n; i++) closed_seen += evs[i].type == GNSQ_EV_CLOSED;
    }
    CHECK(n == GNSQ_E_CLOSED && closed_seen == 1);
    /* No event ever after close returned. */
    usleep(200 * 1000);
    CHECK_RC(gnsq_consumer_poll(c, evs, 64, 0, buf, sizeof buf), GNSQ_E_CLOSED);

    CHECK_RC(gnsq_producer_free(p), GNSQ_OK);
    CHECK_RC(gnsq_producer_free(p), GNSQ_E_INVALID_HANDLE); /* double free */
    CHECK_RC(gnsq_producer_publish(p, "t", "x", 1, 0, 100), GNSQ_E_INVALID_HANDLE);
    CHECK_RC(gnsq_consumer_free(c), GNSQ_OK);
    CHECK_RC(gnsq_consumer_poll(c, evs, 64, 0, buf, sizeof buf), GNSQ_E_INVALID_HANDLE);
}

/* ---- callbacks ------------------------------------------------------- */

struct cb_state {
    gnsq_consumer_t *c;
    int messages, finished, close_rc, free_rc, dispatch_rc, stop_after;
    int after_close; /* callbacks seen once close returned */
    volatile int closed;
};

static int on_message(const gnsq_event_t *ev, const uint8_t *data, void *closure) {
    struct cb_state *st = closure;
    gnsq_response_t r = {ev->token, GNSQ_RESP_HANDLER_OK, 0, 0, 0, 0};
    (void)data;
    if (st->closed) st->after_close++;
    st->messages++;
    /* Closing, freeing or dispatching from a callback is refused, at once. */
    st->close_rc = gnsq_consumer_close(st->c, 5000);
    st->free_rc = gnsq_consumer_free(st->c);
    st->dispatch_rc = gnsq_consumer_dispatch(st->c, 0);
    CHECK_RC(gnsq_consumer_respond(st->c, &r, 1, NULL, 0), 1);
    return st->messages == st->stop_after ? 42 : 0;
}

static int on_any(const gnsq_event_t *ev, const uint8_t *data, void *closure) {
    struct cb_state *st = closure;
    (void)data;
    if (st->closed) st->after_close++;
    if (ev->type == GNSQ_EV_FINISHED) st->finished++;
    return 0;
}

static void *close_consumer_later(void *arg) {
    struct cb_state *st = arg;
    usleep(300 * 1000);
    CHECK_RC(gnsq_consumer_close(st->c, 5000), GNSQ_OK);
    st->closed = 1;
    return NULL;
}

static void test_callbacks(void) {
    char topic[128];
    gnsq_producer_t *p = started_producer();
    struct cb_state st;
    pthread_t closer;
    int i;
    memset(&st, 0, sizeof st);
    unique_topic(topic, sizeof topic, "capi_cb");
    for (i = 0; i < 5; i++) CHECK_RC(gnsq_producer_publish(p, topic, "cb", 2, 0, 5000), GNSQ_OK);
    st.c = started_consumer(topic, "5");
    st.stop_after = 3;
    for (i = 1; i <= GNSQ_EV_LAST; i++) { /* every event type can have a callback */
        CHECK_RC(gnsq_consumer_set_callback(st.c, i, on_any, &st), GNSQ_OK);
        CHECK_RC(gnsq_consumer_set_callback(st.c, i, NULL, NULL), GNSQ_OK);
    }
    CHECK_RC(gnsq_consumer_set_callback(st.c, GNSQ_EV_MESSAGE, on_message, &st), GNSQ_OK);
    CHECK_RC(gnsq_consumer_set_callback(st.c, 0, on_any, &st), GNSQ_OK);
    CHECK_RC(gnsq_consumer_set_callback(st.c, 99, on_any, &st), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_consumer_set_callback(st.c, GNSQ_EV_LAST + 1, on_any, &st), GNSQ_E_INVALID_ARG);
    /* A callback returning non-zero makes run return its value. */
    CHECK_RC(gnsq_consumer_run(st.c), 42);
    CHECK(st.messages >= 3);
    CHECK(st.close_rc == GNSQ_E_IN_CALLBACK && st.free_rc == GNSQ_E_IN_CALLBACK && st.dispatch_rc == GNSQ_E_IN_CALLBACK);
    /* Run again until another thread closes the consumer. */
    CHECK(pthread_create(&closer, NULL, close_consumer_later, &st) == 0);
    CHECK_RC(gnsq_consumer_run(st.c), GNSQ_OK);
    pthread_join(closer, NULL);
    CHECK(st.messages == 5);
    CHECK(st.finished >= 1);
    CHECK(st.after_close == 0);
    CHECK_RC(gnsq_consumer_dispatch(st.c, 0), GNSQ_E_CLOSED);
    CHECK_RC(gnsq_consumer_free(st.c), GNSQ_OK);
    CHECK_RC(gnsq_producer_free(p), GNSQ_OK);
}

/* ---- low-level TCP client -------------------------------------------- */

/* tcp_next waits (up to 5 s) for the next event of type. */
static int tcp_next(gnsq_tcp_t *c, int type, gnsq_event_t *out, uint8_t *buf, size_t n) {
    int tries, i, got;
    for (tries = 0; tries < 50; tries++) {
        got = gnsq_tcp_poll(c, out, 1, 100, buf, n);
        CHECK(got >= 0);
        for (i = 0; i < got; i++) {
            if (out->type == type) return 1;
        }
    }
    return 0;
}

static void test_tcp(void) {
    char topic[128];
    gnsq_tcp_t *c = NULL, *dead = NULL;
    gnsq_event_t ev;
    gnsq_conn_info_t st;
    uint64_t held = 0;
    uint8_t buf[4096], ids[3][16];
    uint64_t token = 0;
    const void *bodies[] = {"m2", "m3"};
    size_t lens[] = {2, 2};
    int n, i;

    unique_topic(topic, sizeof topic, "capi_tcp");
    CHECK_RC(gnsq_tcp_new(&dead, "127.0.0.1:1", NULL), GNSQ_OK);
    CHECK_RC(gnsq_tcp_connect(buf, sizeof buf, NULL, dead), GNSQ_E_CONNECTION);
    CHECK_RC(gnsq_tcp_free(dead), GNSQ_OK);
    /* The non-blocking connect ends in one CONNECT_DONE event: an error... */
    CHECK_RC(gnsq_tcp_new(&dead, "127.0.0.1:1", NULL), GNSQ_OK);
    CHECK_RC(gnsq_tcp_connect_async(NULL, dead), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_tcp_connect_async(&token, dead), GNSQ_OK);
    CHECK(tcp_next(dead, GNSQ_EV_CONNECT_DONE, &ev, buf, sizeof buf) && ev.token == token);
    CHECK(ev.code == GNSQ_E_CONNECTION);
    CHECK_RC(gnsq_tcp_free(dead), GNSQ_OK);
    /* ... or nsqd's IDENTIFY answer; a close right after still gets it first. */
    CHECK_RC(gnsq_tcp_new(&dead, nsqd_tcp, NULL), GNSQ_OK);
    CHECK_RC(gnsq_tcp_connect_async(&token, dead), GNSQ_OK);
    CHECK(tcp_next(dead, GNSQ_EV_CONNECT_DONE, &ev, buf, sizeof buf) && ev.token == token && ev.code == 0);
    CHECK(contains(buf + ev.data_offset, (int)ev.data_len, "max_rdy_count"));
    CHECK_RC(gnsq_tcp_connect_async(&token, dead), GNSQ_E_INVALID_ARG); /* connects once */
    CHECK_RC(gnsq_tcp_connect(buf, sizeof buf, NULL, dead), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_tcp_free(dead), GNSQ_OK);
    CHECK_RC(gnsq_tcp_new(&dead, nsqd_tcp, NULL), GNSQ_OK);
    CHECK_RC(gnsq_tcp_connect_async(&token, dead), GNSQ_OK);
    CHECK_RC(gnsq_tcp_close(dead, 5000), GNSQ_OK);
    n = gnsq_tcp_poll(dead, &ev, 1, 0, buf, sizeof buf);
    while (n == 1 && ev.type != GNSQ_EV_CONNECT_DONE && ev.type != GNSQ_EV_CLOSED)
        n = gnsq_tcp_poll(dead, &ev, 1, 0, buf, sizeof buf);
    CHECK(n == 1 && ev.type == GNSQ_EV_CONNECT_DONE && ev.token == token);
    CHECK_RC(gnsq_tcp_free(dead), GNSQ_OK);
    CHECK_RC(gnsq_tcp_new(&dead, "127.0.0.1:1", NULL), GNSQ_OK);
    CHECK_RC(gnsq_tcp_free(dead), GNSQ_OK);
    CHECK_RC(gnsq_tcp_new(&c, "no port", NULL), GNSQ_E_INVALID_ARG);

    /* An IDENTIFY answer too long for out is held, not a failure: the
       connection is up. */
    CHECK_RC(gnsq_tcp_new(&c, nsqd_tcp, NULL), GNSQ_OK);
    n = gnsq_tcp_connect(buf, 8, &held, c);
    CHECK(n > 8 && held != 0);
    CHECK_RC(gnsq_tcp_read_body(c, held, buf, sizeof buf), n);
    CHECK(contains(buf, n, "\"max_rdy_count\":2500"));
    /* The IDENTIFY answer was a response too (gnsq's on_response): drain it. */
    CHECK(tcp_next(c, GNSQ_EV_RESPONSE, &ev, buf, sizeof buf) && contains(buf + ev.data_offset, (int)ev.data_len, "max_rdy_count"));
    CHECK_RC(gnsq_tcp_publish(c, topic, "m1", 2, 0), GNSQ_OK);
    CHECK(tcp_next(c, GNSQ_EV_RESPONSE, &ev, buf, sizeof buf) && ev.data_len == 2);
    CHECK_RC(gnsq_tcp_multipublish(c, topic, bodies, lens, 2), GNSQ_OK);
    CHECK(tcp_next(c, GNSQ_EV_RESPONSE, &ev, buf, sizeof buf));
    CHECK_RC(gnsq_tcp_publish(c, "bad topic", "x", 1, 0), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_tcp_subscribe(c, topic, "ch"), GNSQ_OK);
    CHECK(tcp_next(c, GNSQ_EV_RESPONSE, &ev, buf, sizeof buf) && memcmp(buf + ev.data_offset, "OK", 2) == 0);
    CHECK_RC(gnsq_tcp_ready(c, 2501), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_tcp_ready(c, 10), GNSQ_OK);
    for (i = 0; i < 3; i++) {
        CHECK(tcp_next(c, GNSQ_EV_MESSAGE, &ev, buf, sizeof buf));
        memcpy(ids[i], ev.id, 16);
    }
    CHECK_RC(gnsq_tcp_status(&st, c), GNSQ_OK);
    CHECK(st.connected == 1 && st.ready_count == 10 && st.last_ready == 10 && st.in_flight == 3 &&
          st.max_ready_count == 2500 && st.id == ev.conn && st.id != 0 && strcmp(st.address, nsqd_tcp) == 0);
    CHECK_RC(gnsq_tcp_touch(c, ids[0]), GNSQ_OK);
    CHECK_RC(gnsq_tcp_finish(c, ids[0]), GNSQ_OK);
    CHECK(tcp_next(c, GNSQ_EV_FINISHED, &ev, buf, sizeof buf) && memcmp(ev.id, ids[0], 16) == 0);
    CHECK_RC(gnsq_tcp_requeue(c, ids[1], 0, 1), GNSQ_OK);
    CHECK(tcp_next(c, GNSQ_EV_REQUEUED, &ev, buf, sizeof buf) && memcmp(ev.id, ids[1], 16) == 0);
    CHECK(tcp_next(c, GNSQ_EV_MESSAGE, &ev, buf, sizeof buf) && ev.attempts == 2); /* the requeued one */
    CHECK_RC(gnsq_tcp_finish(c, ev.id), GNSQ_OK);
    CHECK_RC(gnsq_tcp_finish(c, ids[2]), GNSQ_OK);
    /* A FIN for a message not in flight: the non-fatal E_FIN_FAILED. */
    CHECK_RC(gnsq_tcp_finish(c, ids[0]), GNSQ_OK);
    CHECK(tcp_next(c, GNSQ_EV_ERROR, &ev, buf, sizeof buf) && ev.code == GNSQ_E_NSQ_NONFATAL);
    CHECK(contains(buf + ev.data_offset, (int)ev.data_len, "E_FIN_FAILED"));
    CHECK_RC(gnsq_tcp_nop(c), GNSQ_OK);
    CHECK_RC(gnsq_tcp_cls(c), GNSQ_OK);
    CHECK(tcp_next(c, GNSQ_EV_RESPONSE, &ev, buf, sizeof buf) && contains(buf + ev.data_offset, (int)ev.data_len, "CLOSE_WAIT"));
    CHECK_RC(gnsq_tcp_close_async(&token, c, 5000), GNSQ_OK);
    CHECK_RC(gnsq_tcp_close(c, 5000), GNSQ_OK); /* waits for that close */
    CHECK(tcp_next(c, GNSQ_EV_CLOSED, &ev, buf, sizeof buf) && ev.token == token);
    CHECK_RC(gnsq_tcp_close(c, 5000), GNSQ_OK);
    CHECK_RC(gnsq_tcp_status(&st, c), GNSQ_E_CLOSED);
    CHECK_RC(gnsq_tcp_nop(c), GNSQ_E_CLOSED);
    CHECK_RC(gnsq_tcp_free(c), GNSQ_OK);
    CHECK_RC(gnsq_tcp_free(c), GNSQ_E_INVALID_HANDLE);
}

/* ---- HTTP clients ---------------------------------------------------- */

static int http_do(gnsq_http_t *h, int op, const char *topic, const char *channel, uint8_t *out, size_t out_len) {
    gnsq_http_request_t r;
    memset(&r, 0, sizeof r);
    r.op = op;
    r.topic = topic;
    r.channel = channel;
    return gnsq_http_request(out, out_len, NULL, NULL, h, &r, 5000);
}

static void test_http(void) {
    char topic[128], node[128];
    gnsq_http_t *h = NULL, *l = NULL;
    gnsq_http_request_t r;
    static uint8_t out[1 << 16];
    const void *bodies[] = {"line1", "line2", "bin\n\0\xff"};
    size_t lens[] = {5, 5, 6};
    const void *bad_text[] = {"has\nnewline"};
    size_t bad_len[] = {11};
    uint64_t token, held = 0;
    int32_t status = 0;
    gnsq_event_t ev;
    int n, tries;

    unique_topic(topic, sizeof topic, "capi_http");
    CHECK_RC(gnsq_http_new(&h, GNSQ_HTTP_NSQD, nsqd_http, NULL), GNSQ_OK);
    CHECK_RC(gnsq_http_new(&l, GNSQ_HTTP_LOOKUPD, lookupd_http, NULL), GNSQ_OK);
    CHECK_RC(gnsq_http_new(&h, 7, nsqd_http, NULL), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_http_new(&h, GNSQ_HTTP_NSQD, "ftp://x", NULL), GNSQ_E_INVALID_ARG);

    n = http_do(h, GNSQ_HTTP_PING, NULL, NULL, out, sizeof out);
    CHECK(n == 2 && memcmp(out, "OK", 2) == 0);
    CHECK(contains(out, http_do(h, GNSQ_HTTP_INFO, NULL, NULL, out, sizeof out), "1.3.0"));
    CHECK_RC(http_do(h, GNSQ_HTTP_CREATE_TOPIC, topic, NULL, out, sizeof out), 0);
    CHECK_RC(http_do(h, GNSQ_HTTP_CREATE_CHANNEL, topic, "ch", out, sizeof out), 0);

    memset(&r, 0, sizeof r);
    r.op = GNSQ_HTTP_PUBLISH;
    r.topic = topic;
    r.bodies = bodies;
    r.lens = lens;
    r.n = 1;
    CHECK_RC(gnsq_http_request(out, sizeof out, NULL, NULL, h, &r, 5000), 2);
    r.defer_ms = 60000;
    CHECK_RC(gnsq_http_request(out, sizeof out, NULL, NULL, h, &r, 5000), 2);
    r.defer_ms = 0;
    r.op = GNSQ_HTTP_MULTIPUBLISH;
    r.n = 2;
    CHECK_RC(gnsq_http_request(out, sizeof out, NULL, NULL, h, &r, 5000), 2);
    r.op = GNSQ_HTTP_MULTIPUBLISH_BINARY;
    r.n = 3;
    CHECK_RC(gnsq_http_request(out, sizeof out, NULL, NULL, h, &r, 5000), 2);
    r.op = GNSQ_HTTP_MULTIPUBLISH;
    r.bodies = bad_text;
    r.lens = bad_len;
    r.n = 1;
    CHECK_RC(gnsq_http_request(out, sizeof out, NULL, NULL, h, &r, 5000), GNSQ_E_INVALID_ARG);

    /* 1 immediate + 2 + 3 in the channel, 1 deferred. */
    n = http_do(h, GNSQ_HTTP_STATS, topic, "ch", out, sizeof out);
    CHECK(contains(out, n, "\"depth\":6") && contains(out, n, "\"deferred_count\":1"));
    CHECK(contains(out, http_do(h, GNSQ_HTTP_STATS_TEXT, topic, NULL, out, sizeof out), topic));
    /* An answer longer than out is held (or dropped without a held
       pointer), never a failure: the request was carried out. */
    n = http_do(h, GNSQ_HTTP_STATS, NULL, NULL, out, 4);
    CHECK(n > 4);
    memset(&r, 0, sizeof r);
    r.op = GNSQ_HTTP_STATS;
    CHECK(gnsq_http_request(out, 4, &status, &held, h, &r, 5000) > 4 && status == 200 && held != 0);
    CHECK(contains(out, gnsq_http_read_body(h, held, out, sizeof out), "topics"));
    r.op = GNSQ_HTTP_EMPTY_TOPIC;
    r.topic = "capi_no_such_topic";
    CHECK_RC(gnsq_http_request(out, sizeof out, &status, NULL, h, &r, 5000), GNSQ_E_HTTP);
    CHECK(status == 404);
    CHECK_RC(http_do(h, GNSQ_HTTP_PAUSE_TOPIC, topic, NULL, out, sizeof out), 0);
    CHECK(contains(out, http_do(h, GNSQ_HTTP_STATS, topic, NULL, out, sizeof out), "\"paused\":true"));
    CHECK_RC(http_do(h, GNSQ_HTTP_UNPAUSE_TOPIC, topic, NULL, out, sizeof out), 0);
    CHECK_RC(http_do(h, GNSQ_HTTP_PAUSE_CHANNEL, topic, "ch", out, sizeof out), 0);
    CHECK_RC(http_do(h, GNSQ_HTTP_UNPAUSE_CHANNEL, topic, "ch", out, sizeof out), 0);
    CHECK_RC(http_do(h, GNSQ_HTTP_EMPTY_CHANNEL, topic, "ch", out, sizeof out), 0);
    CHECK(contains(out, http_do(h, GNSQ_HTTP_STATS, topic, "ch", out, sizeof out), "\"depth\":0"));
    CHECK_RC(http_do(h, GNSQ_HTTP_EMPTY_TOPIC, topic, NULL, out, sizeof out), 0);
    CHECK_RC(http_do(h, GNSQ_HTTP_LOOKUP, topic, NULL, out, sizeof out), GNSQ_E_INVALID_ARG);
    CHECK_RC(http_do(h, GNSQ_HTTP_CREATE_TOPIC, "bad topic", NULL, out, sizeof out), GNSQ_E_INVALID_ARG);

    /* Async, with an answer too big for the poll buffer: held. */
    memset(&r, 0, sizeof r);
    r.op = GNSQ_HTTP_STATS;
    CHECK_RC(gnsq_http_request_async(&token, h, &r, 5000), GNSQ_OK);
    CHECK_RC(gnsq_http_poll(h, &ev, 1, 5000, out, 8), 1);
    CHECK(ev.type == GNSQ_EV_HTTP_DONE && ev.token == token && ev.code == 0 && ev.value == 200);
    CHECK(ev.flags & GNSQ_EVF_HELD);
    CHECK_RC(gnsq_http_read_body(h, ev.token, out, sizeof out), (int)ev.data_len);
    CHECK(contains(out, (int)ev.data_len, topic));

    /* nsqlookupd sees the topic once nsqd registered it. */
    for (tries = 0; tries < 100; tries++) {
        n = http_do(l, GNSQ_HTTP_TOPICS, NULL, NULL, out, sizeof out);
        if (contains(out, n, topic)) break;
        usleep(50 * 1000);
    }
    CHECK(tries < 100);
    n = http_do(l, GNSQ_HTTP_PING, NULL, NULL, out, sizeof out);
    CHECK(n == 2 && memcmp(out, "OK", 2) == 0);
    CHECK(contains(out, http_do(l, GNSQ_HTTP_INFO, NULL, NULL, out, sizeof out), "version"));
    CHECK(contains(out, http_do(l, GNSQ_HTTP_LOOKUP, topic, NULL, out, sizeof out), "\"broadcast_address\":\"127.0.0.1\""));
    CHECK(contains(out, http_do(l, GNSQ_HTTP_CHANNELS, topic, NULL, out, sizeof out), "ch"));
    CHECK(contains(out, http_do(l, GNSQ_HTTP_NODES, NULL, NULL, out, sizeof out), "producers"));
    CHECK_RC(http_do(l, GNSQ_HTTP_CREATE_TOPIC, "capi_lookupd_only", NULL, out, sizeof out), 0);
    CHECK_RC(http_do(l, GNSQ_HTTP_CREATE_CHANNEL, "capi_lookupd_only", "c2", out, sizeof out), 0);
    CHECK(contains(out, http_do(l, GNSQ_HTTP_CHANNELS, "capi_lookupd_only", NULL, out, sizeof out), "c2"));
    CHECK_RC(http_do(l, GNSQ_HTTP_DELETE_CHANNEL, "capi_lookupd_only", "c2", out, sizeof out), 0);
    CHECK_RC(http_do(l, GNSQ_HTTP_DELETE_TOPIC, "capi_lookupd_only", NULL, out, sizeof out), 0);
    snprintf(node, sizeof node, "%s", nsqd_http);
    memset(&r, 0, sizeof r);
    r.op = GNSQ_HTTP_TOMBSTONE_TOPIC;
    r.topic = topic;
    r.node = node;
    CHECK_RC(gnsq_http_request(out, sizeof out, NULL, NULL, l, &r, 5000), 0);
    CHECK_RC(http_do(l, GNSQ_HTTP_STATS, NULL, NULL, out, sizeof out), GNSQ_E_INVALID_ARG);
    CHECK_RC(http_do(l, GNSQ_HTTP_LOOKUP, "capi_never_seen", NULL, out, sizeof out), GNSQ_E_HTTP);
    CHECK(last_error_contains("404"));

    CHECK_RC(http_do(h, GNSQ_HTTP_DELETE_CHANNEL, topic, "ch", out, sizeof out), 0);
    CHECK_RC(http_do(h, GNSQ_HTTP_DELETE_TOPIC, topic, NULL, out, sizeof out), 0);
    CHECK_RC(http_do(h, GNSQ_HTTP_DELETE_TOPIC, topic, NULL, out, sizeof out), GNSQ_E_HTTP);
    CHECK(last_error_contains("TOPIC_NOT_FOUND"));

    CHECK_RC(gnsq_http_close(h, 5000), GNSQ_OK);
    CHECK_RC(http_do(h, GNSQ_HTTP_PING, NULL, NULL, out, sizeof out), GNSQ_E_CLOSED);
    CHECK_RC(gnsq_http_free(h), GNSQ_OK);
    CHECK_RC(gnsq_http_free(l), GNSQ_OK);
}

/* ---- threads --------------------------------------------------------- */

static void *close_producer(void *arg) {
    int rc = gnsq_producer_close((gnsq_producer_t *)arg, 5000);
    return (void *)(intptr_t)rc;
}

static void test_concurrent_close(void) {
    gnsq_producer_t *p = started_producer();
    pthread_t th[10];
    int i;
    for (i = 0; i < 10; i++) CHECK(pthread_create(&th[i], NULL, close_producer, p) == 0);
    for (i = 0; i < 10; i++) {
        void *rc;
        pthread_join(th[i], &rc);
        CHECK((intptr_t)rc == GNSQ_OK);
    }
    CHECK_RC(gnsq_producer_free(p), GNSQ_OK);
}

struct publisher {
    gnsq_producer_t *p;
    const char *topic;
    int ok, closed, other;
};

static void *publish_loop(void *arg) {
    struct publisher *pub = arg;
    int i, rc;
    for (i = 0; i < 2000; i++) {
        rc = gnsq_producer_publish(pub->p, pub->topic, "m", 1, 0, 5000);
        if (rc == GNSQ_OK) pub->ok++;
        else if (rc == GNSQ_E_CLOSED) pub->closed++;
        else pub->other++;
        if (rc == GNSQ_E_CLOSED) break;
    }
    return NULL;
}

static void test_publish_while_closing(void) {
    char topic[128];
    gnsq_producer_t *p = started_producer();
    struct publisher pubs[8];
    pthread_t th[8];
    int i, total_ok = 0;
    unique_topic(topic, sizeof topic, "capi_race");
    for (i = 0; i < 8; i++) {
        pubs[i].p = p;
        pubs[i].topic = topic;
        pubs[i].ok = pubs[i].closed = pubs[i].other = 0;
        CHECK(pthread_create(&th[i], NULL, publish_loop, &pubs[i]) == 0);
    }
    usleep(100 * 1000);
    CHECK_RC(gnsq_producer_close(p, 5000), GNSQ_OK);
    for (i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        total_ok += pubs[i].ok;
        CHECK(pubs[i].other == 0);
    }
    CHECK(total_ok > 0);
    CHECK_RC(gnsq_producer_free(p), GNSQ_OK);
}

/* ---- blocking waits (wait.c) ------------------------------------------- */

static double elapsed_ms(const struct timespec *since) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - since->tv_sec) * 1e3 + (double)(now.tv_nsec - since->tv_nsec) / 1e6;
}

static void *poll_until_error(void *arg) {
    gnsq_event_t ev;
    uint8_t buf[256];
    int n;
    while ((n = gnsq_consumer_poll((gnsq_consumer_t *)arg, &ev, 1, -1, buf, sizeof buf)) >= 0) {
    }
    return (void *)(intptr_t)n;
}

static void *run_producer(void *arg) { return (void *)(intptr_t)gnsq_producer_run((gnsq_producer_t *)arg); }

/* Joins t within 5 s and returns its result. */
static intptr_t join_within_5s(pthread_t t) {
    struct timespec limit;
    void *res = NULL;
    clock_gettime(CLOCK_REALTIME, &limit);
    limit.tv_sec += 5;
    CHECK(pthread_timedjoin_np(t, &res, &limit) == 0);
    return (intptr_t)res;
}

static void test_blocking_waits(void) {
    gnsq_producer_t *p = NULL;
    gnsq_consumer_t *c = NULL;
    const char *addrs[] = {nsqd_tcp};
    const char *silent[] = {silent_nsqd};
    gnsq_event_t ev;
    uint8_t buf[4096];
    struct timespec t0;
    pthread_t waiter;
    intptr_t rc;
    int n;

    /* A timed poll with nothing to hand out returns 0 at its timeout. */
    CHECK_RC(gnsq_producer_new(&p, addrs, 1, NULL), GNSQ_OK);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_RC(gnsq_producer_poll(p, &ev, 1, 200, buf, sizeof buf), 0);
    CHECK(elapsed_ms(&t0) >= 199 && elapsed_ms(&t0) < 5000);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_RC(gnsq_producer_dispatch(p, 200), 0);
    CHECK(elapsed_ms(&t0) >= 199 && elapsed_ms(&t0) < 5000);
    CHECK_RC(gnsq_producer_free(p), GNSQ_OK);

    /* Closing, then freeing, a consumer wakes a poll blocked without limit
       in another thread; it ends with an error, never hangs. Either order
       (poll blocked first, or free first) must pass; the pause only makes
       the blocked case the usual one. */
    for (n = 0; n < 2; n++) {
        CHECK_RC(gnsq_consumer_new(&c, "capi_wait", "ch", addrs, 1, NULL, 0, NULL), GNSQ_OK);
        CHECK(pthread_create(&waiter, NULL, poll_until_error, c) == 0);
        usleep(100 * 1000);
        if (n == 0) {
            CHECK_RC(gnsq_consumer_close(c, 5000), GNSQ_OK);
            CHECK(join_within_5s(waiter) == GNSQ_E_CLOSED);
            CHECK_RC(gnsq_consumer_free(c), GNSQ_OK);
        } else {
            CHECK_RC(gnsq_consumer_free(c), GNSQ_OK);
            rc = join_within_5s(waiter);
            CHECK(rc == GNSQ_E_CLOSED || rc == GNSQ_E_INVALID_HANDLE);
        }
    }

    /* Close wakes a run() waiting for events; run returns once the CLOSED
       event is dispatched. Many rounds: a close racing with run's wait
       once left run waiting forever (CLOSED taken before the queue was
       sealed). */
    for (n = 0; n < 300; n++) {
        CHECK_RC(gnsq_producer_new(&p, addrs, 1, NULL), GNSQ_OK);
        CHECK(pthread_create(&waiter, NULL, run_producer, p) == 0);
        if (n % 2) sched_yield();
        CHECK_RC(gnsq_producer_close(p, 5000), GNSQ_OK);
        CHECK(join_within_5s(waiter) == GNSQ_OK);
        CHECK_RC(gnsq_producer_free(p), GNSQ_OK);
    }

    /* A synchronous publish nsqd does not answer times out with the outcome
       unknown; its answer, arriving after the caller gave up, is dropped
       (the next publish gets its own answer). */
    CHECK_RC(gnsq_producer_new(&p, silent, 1, NULL), GNSQ_OK);
    CHECK_RC(gnsq_producer_start(p), GNSQ_OK);
    CHECK(poll_until(p, NULL, GNSQ_EV_CONNECTED, 0, &ev, buf, sizeof buf));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_RC(gnsq_producer_publish(p, "t", "first", 5, 0, 300), GNSQ_E_TIMEOUT);
    CHECK(elapsed_ms(&t0) >= 299 && last_error_contains("outcome unknown"));
    CHECK_RC(gnsq_producer_publish(p, "t", "second", 6, 0, 5000), GNSQ_OK);
    CHECK_RC(gnsq_producer_close(p, 5000), GNSQ_OK);
    CHECK_RC(gnsq_producer_free(p), GNSQ_OK);
}

/* ---- consumer state ------------------------------------------------------- */

/* Connection ids in events, the state of connections and totals, and
   connect_to_nsqd() adding a second nsqd at run time. */
static void test_consumer_state(void) {
    char topic[128];
    gnsq_producer_t *p = started_producer(), *p2 = NULL;
    gnsq_consumer_t *c = NULL;
    const char *addrs[] = {nsqd_tcp}, *addrs2[] = {nsqd2_tcp};
    gnsq_consumer_status_t st;
    gnsq_conn_info_t info, all[4];
    gnsq_event_t ev;
    uint8_t buf[4096];
    uint32_t first_conn = 0;
    gnsq_response_t r = {0, GNSQ_RESP_FINISH, 0, 0, 0, 0};
    int i;

    unique_topic(topic, sizeof topic, "capi_state");
    CHECK_RC(gnsq_consumer_new(&c, topic, "ch", addrs, 1, NULL, 0, NULL), GNSQ_OK);
    CHECK_RC(gnsq_consumer_connect_to_nsqd(c, nsqd2_tcp), GNSQ_E_NOT_RUNNING);
    CHECK_RC(gnsq_consumer_free(c), GNSQ_OK);
    c = started_consumer(topic, "10");
    /* A new connection has RDY 1 until its first message is finished. */
    CHECK_RC(gnsq_producer_publish(p, topic, "first", 5, 0, 5000), GNSQ_OK);
    CHECK(poll_until(NULL, c, GNSQ_EV_MESSAGE, 0, &ev, buf, sizeof buf));
    first_conn = ev.conn;
    r.token = ev.token;
    CHECK_RC(gnsq_consumer_respond(c, &r, 1, NULL, 0), 1);
    for (i = 0; i < 3; i++) CHECK_RC(gnsq_producer_publish(p, topic, "m", 1, 0, 5000), GNSQ_OK);
    for (i = 0; i < 3; i++) {
        CHECK(poll_until(NULL, c, GNSQ_EV_MESSAGE, 0, &ev, buf, sizeof buf));
        CHECK(ev.conn != 0 && (first_conn == 0 || ev.conn == first_conn));
        first_conn = ev.conn;
    }
    CHECK_RC(gnsq_consumer_connection(&info, c, first_conn), GNSQ_OK);
    CHECK(info.id == first_conn && info.connected == 1 && info.in_flight == 3 && info.ready_count > 0);
    CHECK(strcmp(info.address, nsqd_tcp) == 0);
    CHECK_RC(gnsq_consumer_connection(&info, c, first_conn + 100000), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_consumer_status(&st, c), GNSQ_OK);
    CHECK(st.running == 1 && st.connections == 1 && st.total_in_flight == 3 && st.max_in_flight == 10);
    CHECK(st.total_ready_count == info.ready_count);
    CHECK_RC(gnsq_consumer_connections(NULL, 0, c), 1);
    CHECK_RC(gnsq_consumer_connections(all, 4, c), 1);
    CHECK(all[0].id == first_conn);

    /* A second nsqd added at run time delivers too, on its own connection. */
    CHECK_RC(gnsq_producer_new(&p2, addrs2, 1, NULL), GNSQ_OK);
    CHECK_RC(gnsq_producer_start(p2), GNSQ_OK);
    CHECK_RC(gnsq_producer_publish(p2, topic, "from2", 5, 0, 5000), GNSQ_OK);
    CHECK_RC(gnsq_consumer_connect_to_nsqd(c, "no port here:x"), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_consumer_connect_to_nsqd(c, nsqd2_tcp), GNSQ_OK);
    CHECK_RC(gnsq_consumer_connect_to_nsqd(c, nsqd2_tcp), GNSQ_OK); /* already there: no-op */
    CHECK(poll_until(NULL, c, GNSQ_EV_MESSAGE, 0, &ev, buf, sizeof buf));
    CHECK(ev.conn != 0 && ev.conn != first_conn && ev.data_len == 5);
    CHECK_RC(gnsq_consumer_connections(all, 4, c), 2);
    CHECK(all[0].id != all[1].id && (all[0].id == ev.conn || all[1].id == ev.conn));
    CHECK_RC(gnsq_consumer_close(c, 5000), GNSQ_OK);
    CHECK_RC(gnsq_consumer_free(c), GNSQ_OK);
    CHECK_RC(gnsq_producer_free(p2), GNSQ_OK);
    CHECK_RC(gnsq_producer_free(p), GNSQ_OK);
}

/* ---- bounded publish ------------------------------------------------------ */

/* Polls p until the PUBLISHED event of token; fails on CLOSED before it. */
static gnsq_event_t published_event(gnsq_producer_t *p, uint64_t token) {
    gnsq_event_t ev;
    uint8_t buf[4096];
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (elapsed_ms(&t0) < 10000) {
        int n = gnsq_producer_poll(p, &ev, 1, 100, buf, sizeof buf);
        CHECK(n >= 0);
        if (n == 1 && ev.type == GNSQ_EV_PUBLISHED && ev.token == token) return ev;
        CHECK(n == 0 || ev.type != GNSQ_EV_CLOSED);
    }
    CHECK(!"no PUBLISHED event within 10 s");
    return ev;
}

static void test_bounded_publish(void) {
    gnsq_producer_t *p = started_producer();
    const char *silent[] = {silent_nsqd};
    const char *dead[] = {"127.0.0.1:1"};
    uint64_t token = 0, token2 = 0;
    gnsq_event_t ev;
    uint8_t buf[4096];
    struct timespec t0;
    int rc, i;

    /* Answered within the wait: the outcome is returned. */
    CHECK_RC(gnsq_producer_publish_bounded(&token, p, "capi_bounded", "x", 1, 0, 5000000, 5000), GNSQ_OK);
    CHECK_RC(gnsq_producer_publish_bounded(&token, p, "bad topic!", "x", 1, 0, 5000000, 5000), GNSQ_E_INVALID_ARG);
    CHECK(last_error_contains("topic"));
    CHECK_RC(gnsq_producer_publish_bounded(NULL, p, "capi_bounded", "x", 1, 0, 0, 5000), GNSQ_E_INVALID_ARG);
    /* timeout_ms 0 bounds only the wait for a connection: with one up, the
       publish goes out (answered at once, or its event follows). */
    for (i = 0; i < 50; i++) {
        rc = gnsq_producer_publish_bounded(&token, p, "capi_bounded", "x", 1, 0, 0, 0);
        if (rc == GNSQ_E_PENDING) rc = published_event(p, token).code;
        CHECK_RC(rc, GNSQ_OK);
    }
    /* The MPUB form: answered within the wait, or its event follows. */
    {
        const void *bodies[2] = {"m1", "m2"};
        size_t lens[2] = {2, 2};
        CHECK_RC(gnsq_producer_multipublish_bounded(&token, p, "capi_bounded", bodies, lens, 2, 5000000, 5000), GNSQ_OK);
        CHECK_RC(gnsq_producer_multipublish_bounded(&token, p, "bad topic!", bodies, lens, 2, 5000000, 5000),
                 GNSQ_E_INVALID_ARG);
        rc = gnsq_producer_multipublish_bounded(&token, p, "capi_bounded", bodies, lens, 2, 0, 5000);
        if (rc == GNSQ_E_PENDING) rc = published_event(p, token).code;
        CHECK_RC(rc, GNSQ_OK);
    }
    /* Bodies of 2 GiB or more are refused before anything is read. */
    CHECK_RC(gnsq_producer_publish(p, "capi_bounded", "x", (size_t)1 << 31, 0, 1000), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_producer_publish_bounded(&token, p, "capi_bounded", "x", (size_t)1 << 32, 0, 0, 1000), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_producer_publish_async(&token, p, "capi_bounded", "x", (size_t)1 << 31, 0, 1000), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_producer_free(p), GNSQ_OK);

    /* Not answered within the wait: GNSQ_E_PENDING, then the outcome as
       an event (the silent nsqd answers the first PUB after the second). */
    CHECK_RC(gnsq_producer_new(&p, silent, 1, NULL), GNSQ_OK);
    CHECK_RC(gnsq_producer_start(p), GNSQ_OK);
    CHECK(poll_until(p, NULL, GNSQ_EV_CONNECTED, 0, &ev, buf, sizeof buf));
    CHECK_RC(gnsq_producer_publish_bounded(&token, p, "t", "first", 5, 0, 1000, 5000), GNSQ_E_PENDING);
    CHECK(token != 0 && token < ((uint64_t)1 << 53));
    CHECK_RC(gnsq_producer_publish(p, "t", "second", 6, 0, 5000), GNSQ_OK);
    ev = published_event(p, token);
    CHECK(ev.code == 0);
    CHECK_RC(gnsq_producer_free(p), GNSQ_OK);

    /* A pending one that the close ends: its event, with an error, comes
       before GNSQ_EV_CLOSED. */
    CHECK_RC(gnsq_producer_new(&p, silent, 1, NULL), GNSQ_OK);
    CHECK_RC(gnsq_producer_start(p), GNSQ_OK);
    CHECK(poll_until(p, NULL, GNSQ_EV_CONNECTED, 0, &ev, buf, sizeof buf));
    CHECK_RC(gnsq_producer_publish_bounded(&token2, p, "t", "first", 5, 0, 0, 5000), GNSQ_E_PENDING);
    CHECK_RC(gnsq_producer_close(p, 5000), GNSQ_OK);
    ev = published_event(p, token2);
    CHECK(ev.code < 0);
    CHECK(poll_until(p, NULL, GNSQ_EV_CLOSED, 0, &ev, buf, sizeof buf));
    CHECK_RC(gnsq_producer_free(p), GNSQ_OK);

    /* No connection within the timeout: a synchronous publish says so (on
       either path: this suite also runs at GOMAXPROCS=1) ... */
    CHECK_RC(gnsq_producer_new(&p, dead, 1, NULL), GNSQ_OK);
    CHECK_RC(gnsq_producer_start(p), GNSQ_OK);
    CHECK_RC(gnsq_producer_publish(p, "t", "x", 1, 0, 200), GNSQ_E_NO_CONNECTIONS);
    CHECK_RC(gnsq_producer_free(p), GNSQ_OK);
    /* ... and a bounded one's event carries the error. */
    CHECK_RC(gnsq_producer_new(&p, dead, 1, NULL), GNSQ_OK);
    CHECK_RC(gnsq_producer_start(p), GNSQ_OK);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = gnsq_producer_publish_bounded(&token, p, "t", "x", 1, 0, 0, 200);
    if (rc == GNSQ_E_PENDING) rc = published_event(p, token).code;
    CHECK(rc == GNSQ_E_NO_CONNECTIONS || rc == GNSQ_E_TIMEOUT);
    CHECK(elapsed_ms(&t0) < 5000);
    CHECK_RC(gnsq_producer_free(p), GNSQ_OK);
}

/* Polls until the PUBLISHED events of all n tokens came, each once (10 s
   at most), storing their codes; fails on a PUBLISHED event of another
   token. */
static void await_batch_events(gnsq_producer_t *p, const uint64_t *tokens, int *codes, size_t n) {
    gnsq_event_t ev;
    uint8_t buf[4096];
    struct timespec t0;
    size_t seen = 0, i;
    for (i = 0; i < n; i++) codes[i] = 1; /* not seen */
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (seen < n && elapsed_ms(&t0) < 10000) {
        int got = gnsq_producer_poll(p, &ev, 1, 100, buf, sizeof buf);
        CHECK(got >= 0);
        if (got == 0 || ev.type != GNSQ_EV_PUBLISHED) continue;
        for (i = 0; i < n && tokens[i] != ev.token; i++) {
        }
        CHECK(i < n);         /* a token of this batch */
        CHECK(codes[i] == 1); /* once */
        codes[i] = ev.code;
        seen++;
    }
    CHECK(seen == n);
}

static void test_publish_batch(void) {
    gnsq_producer_t *p = started_producer();
    gnsq_consumer_t *c;
    const char *dead[] = {"127.0.0.1:1"};
    char topic[64];
    uint64_t tokens[6];
    int codes[6], n, i, got = 0;
    gnsq_event_t evs[16];
    uint8_t buf[4096];
    char order[8] = {0};
    unique_topic(topic, sizeof topic, "capi_batch");
    {
        /* Every publish gets its own event, the refused ones included. */
        gnsq_publish_t pubs[6] = {
            {topic, "b0", 2, 0}, {topic, "", 0, 0}, {"bad topic!", "x", 1, 0},
            {topic, "b1", 2, 0}, {topic, "d2", 2, 1}, {topic, "b3", 2, 0},
        };
        static const int want[6] = {GNSQ_OK, GNSQ_E_INVALID_ARG, GNSQ_E_INVALID_ARG, GNSQ_OK, GNSQ_OK, GNSQ_OK};
        CHECK_RC(gnsq_producer_publish_batch(tokens, p, pubs, 6), GNSQ_OK);
        for (i = 1; i < 6; i++) CHECK(tokens[i] != tokens[i - 1] && tokens[i] != 0);
        await_batch_events(p, tokens, codes, 6);
        for (i = 0; i < 6; i++) CHECK_RC(codes[i], want[i]);
    }
    /* What was sent arrives once, the PUBs in the order given (the DPUB
       after its delay). */
    c = started_consumer(topic, "10");
    while (got < 4) {
        n = gnsq_consumer_poll(c, evs, 16, 5000, buf, sizeof buf);
        CHECK(n > 0);
        for (i = 0; i < n; i++) {
            gnsq_response_t r = {evs[i].token, GNSQ_RESP_FINISH, 0, 0, 0, 0};
            if (evs[i].type != GNSQ_EV_MESSAGE) continue;
            CHECK(evs[i].data_len == 2 && got < 4);
            order[got++] = (char)buf[evs[i].data_offset + 1];
            CHECK_RC(gnsq_consumer_respond(c, &r, 1, NULL, 0), 1);
        }
    }
    CHECK(strchr(order, '2') != NULL);
    {
        char pubs_only[4] = {0};
        for (i = 0, n = 0; i < 4; i++)
            if (order[i] != '2') pubs_only[n++] = order[i];
        CHECK(strcmp(pubs_only, "013") == 0);
    }
    CHECK_RC(gnsq_consumer_close(c, 5000), GNSQ_OK);
    CHECK_RC(gnsq_consumer_free(c), GNSQ_OK);

    /* Runs of small publishes to one topic go as MPUBs (of at most 100):
       every publish still gets its own event, and what arrives keeps the
       order given, around a body too large to share an MPUB and a
       publish to another topic. */
    {
        enum { N = 150, BIG = 70000 };
        static gnsq_publish_t many[N];
        static uint64_t many_tokens[N];
        static int many_codes[N];
        static char texts[N][8];
        static char big[BIG];
        char topic2[64], other[64];
        int next = 0;
        unique_topic(topic2, sizeof topic2, "capi_batch_run");
        unique_topic(other, sizeof other, "capi_batch_other");
        memset(big, 'B', sizeof big);
        for (i = 0; i < N; i++) {
            snprintf(texts[i], sizeof texts[i], "c%03d", i);
            many[i].topic = i == 100 ? other : topic2;
            many[i].body = i == 60 ? big : texts[i];
            many[i].len = i == 60 ? sizeof big : strlen(texts[i]);
            many[i].defer_ms = 0;
        }
        CHECK_RC(gnsq_producer_publish_batch(many_tokens, p, many, N), GNSQ_OK);
        await_batch_events(p, many_tokens, many_codes, N);
        for (i = 0; i < N; i++) CHECK_RC(many_codes[i], GNSQ_OK);
        c = started_consumer(topic2, "1");
        while (next < N) {
            n = gnsq_consumer_poll(c, evs, 16, 5000, buf, sizeof buf);
            CHECK(n > 0);
            for (i = 0; i < n; i++) {
                gnsq_response_t r = {evs[i].token, GNSQ_RESP_FINISH, 0, 0, 0, 0};
                if (evs[i].type != GNSQ_EV_MESSAGE) continue;
                if (next == 100) next++; /* the publish to the other topic */
                CHECK(next < N);
                if (next == 60) {
                    CHECK(evs[i].data_len == BIG); /* held: too large for buf */
                } else {
                    CHECK(evs[i].data_len == 4 && memcmp(buf + evs[i].data_offset, texts[next], 4) == 0);
                }
                next++;
                CHECK_RC(gnsq_consumer_respond(c, &r, 1, NULL, 0), 1);
            }
        }
        CHECK_RC(gnsq_consumer_close(c, 5000), GNSQ_OK);
        CHECK_RC(gnsq_consumer_free(c), GNSQ_OK);
    }

    /* Refused as a whole: nothing sent, no event (the next batch's event
       is the first PUBLISHED one that comes). */
    {
        gnsq_publish_t no_topic = {NULL, "x", 1, 0}, no_body = {topic, NULL, 1, 0}, ok = {topic, "x", 1, 0};
        gnsq_publish_t mixed[2] = {{topic, "x", 1, 0}, {NULL, "x", 1, 0}};
        CHECK_RC(gnsq_producer_publish_batch(tokens, p, NULL, 0), GNSQ_OK);
        CHECK_RC(gnsq_producer_publish_batch(NULL, p, &ok, 1), GNSQ_E_INVALID_ARG);
        CHECK_RC(gnsq_producer_publish_batch(tokens, p, NULL, 1), GNSQ_E_INVALID_ARG);
        CHECK_RC(gnsq_producer_publish_batch(tokens, p, &no_topic, 1), GNSQ_E_INVALID_ARG);
        CHECK(last_error_contains("topic is NULL"));
        CHECK_RC(gnsq_producer_publish_batch(tokens, p, &no_body, 1), GNSQ_E_INVALID_ARG);
        CHECK_RC(gnsq_producer_publish_batch(tokens, p, mixed, 2), GNSQ_E_INVALID_ARG);
        CHECK(last_error_contains("publish 1"));
        CHECK_RC(gnsq_producer_publish_batch(tokens, p, &ok, 1), GNSQ_OK);
        await_batch_events(p, tokens, codes, 1);
        CHECK_RC(codes[0], GNSQ_OK);
    }
    CHECK_RC(gnsq_producer_free(p), GNSQ_OK);

    /* No connection: never waited for, each publish's event says so. */
    CHECK_RC(gnsq_producer_new(&p, dead, 1, NULL), GNSQ_OK);
    CHECK_RC(gnsq_producer_start(p), GNSQ_OK);
    {
        gnsq_publish_t two[2] = {{"t", "x", 1, 0}, {"t", "y", 1, 0}};
        CHECK_RC(gnsq_producer_publish_batch(tokens, p, two, 2), GNSQ_OK);
        await_batch_events(p, tokens, codes, 2);
        CHECK_RC(codes[0], GNSQ_E_NO_CONNECTIONS);
        CHECK_RC(codes[1], GNSQ_E_NO_CONNECTIONS);
    }
    CHECK_RC(gnsq_producer_free(p), GNSQ_OK);
}

/* ---- close without waiting ---------------------------------------------- */

struct async_close_state {
    gnsq_consumer_t *c;
    uint64_t token;
    int rc, messages, closed_events, closed_code, after_closed;
};

/* Handles one message, then closes the consumer from inside the callback. */
static int close_from_callback(const gnsq_event_t *ev, const uint8_t *data, void *closure) {
    struct async_close_state *st = closure;
    gnsq_response_t r = {ev->token, GNSQ_RESP_HANDLER_OK, 0, 0, 0, 0};
    (void)data;
    if (st->closed_events) st->after_closed++;
    st->messages++;
    gnsq_consumer_respond(st->c, &r, 1, NULL, 0);
    if (st->token == 0) st->rc = gnsq_consumer_close_async(&st->token, st->c, 5000);
    return 0;
}

static int count_closed(const gnsq_event_t *ev, const uint8_t *data, void *closure) {
    struct async_close_state *st = closure;
    (void)data;
    if (st->closed_events) st->after_closed++;
    if (ev->type == GNSQ_EV_CLOSED && ev->token == st->token) {
        st->closed_events++;
        st->closed_code = ev->code;
    }
    return 0;
}

static void test_close_async(void) {
    char topic[128];
    gnsq_producer_t *p = started_producer();
    gnsq_http_t *h = NULL;
    gnsq_event_t ev;
    uint8_t buf[4096];
    uint64_t token = 0, again = 0;
    struct async_close_state st;
    int n, i;

    /* A producer: closed at once, done when its CLOSED event comes. */
    unique_topic(topic, sizeof topic, "capi_close_async");
    for (i = 0; i < 3; i++) CHECK_RC(gnsq_producer_publish(p, topic, "x", 1, 0, 5000), GNSQ_OK);
    CHECK_RC(gnsq_producer_close_async(NULL, p, 5000), GNSQ_E_INVALID_ARG);
    CHECK_RC(gnsq_producer_close_async(&token, p, 5000), GNSQ_OK);
    CHECK(token != 0);
    CHECK_RC(gnsq_producer_close_async(&again, p, 5000), GNSQ_OK);
    CHECK(again == token);
    CHECK_RC(gnsq_producer_publish(p, topic, "x", 1, 0, 5000), GNSQ_E_CLOSED);
    CHECK(poll_until(p, NULL, GNSQ_EV_CLOSED, 0, &ev, buf, sizeof buf));
    CHECK(ev.token == token && ev.code == 0);
    CHECK_RC(gnsq_producer_poll(p, &ev, 1, 0, buf, sizeof buf), GNSQ_E_CLOSED);
    CHECK_RC(gnsq_producer_close(p, 5000), GNSQ_OK);
    CHECK_RC(gnsq_producer_free(p), GNSQ_OK);

    /* A consumer closed from inside its own callback: allowed (nothing
       waits), run returns once the close is done, nothing after CLOSED. */
    memset(&st, 0, sizeof st);
    st.c = started_consumer(topic, "1");
    CHECK_RC(gnsq_consumer_set_callback(st.c, GNSQ_EV_MESSAGE, close_from_callback, &st), GNSQ_OK);
    CHECK_RC(gnsq_consumer_set_callback(st.c, 0, count_closed, &st), GNSQ_OK);
    CHECK_RC(gnsq_consumer_run(st.c), GNSQ_OK);
    CHECK(st.rc == GNSQ_OK && st.token != 0 && st.messages >= 1);
    CHECK(st.closed_events == 1 && st.closed_code == 0 && st.after_closed == 0);
    CHECK_RC(gnsq_consumer_free(st.c), GNSQ_OK);

    /* An HTTP client. */
    CHECK_RC(gnsq_http_new(&h, GNSQ_HTTP_NSQD, nsqd_http, NULL), GNSQ_OK);
    CHECK_RC(gnsq_http_close_async(&token, h, 5000), GNSQ_OK);
    n = gnsq_http_poll(h, &ev, 1, 5000, buf, sizeof buf);
    CHECK(n == 1 && ev.type == GNSQ_EV_CLOSED && ev.token == token);
    CHECK_RC(gnsq_http_free(h), GNSQ_OK);
}


/* Channel stats of topic/ch contain needle (e.g. "\"depth\":3"). */
static int stats_contain(const char *topic, const char *needle) {
    gnsq_http_t *h = NULL;
    gnsq_http_request_t r;
    static uint8_t out[1 << 16];
    int n, found;
    CHECK_RC(gnsq_http_new(&h, GNSQ_HTTP_NSQD, nsqd_http, NULL), GNSQ_OK);
    memset(&r, 0, sizeof r);
    r.op = GNSQ_HTTP_STATS;
    r.topic = topic;
    r.channel = "ch";
    n = gnsq_http_request(out, sizeof out, NULL, NULL, h, &r, 5000);
    CHECK(n > 0);
    found = n > 0 && contains(out, n, needle);
    CHECK_RC(gnsq_http_free(h), GNSQ_OK);
    return found;
}

/* The graceful close: the messages received are still handed out and
   answered, nothing more comes, and the drain ends with its CLOSED event;
   nothing is left in flight at nsqd, the rest waits in the channel. */
static void test_drain(void) {
    char topic[64], needle[32];
    gnsq_producer_t *p = started_producer();
    gnsq_consumer_t *c;
    gnsq_event_t evs[64];
    static uint8_t buf[1 << 16];
    const void *bodies[50];
    size_t lens[50];
    uint64_t token = 0, again = 0;
    int handled = 0, closed = 0, n, i;
    unique_topic(topic, sizeof topic, "capi_drain");
    for (i = 0; i < 50; i++) {
        bodies[i] = "m";
        lens[i] = 1;
    }
    CHECK_RC(gnsq_producer_multipublish(p, topic, bodies, lens, 50, 5000), GNSQ_OK);
    c = started_consumer(topic, "10");
    while (!closed) {
        n = gnsq_consumer_poll(c, evs, 64, 5000, buf, sizeof buf);
        CHECK(n > 0);
        for (i = 0; i < n && n > 0; i++) {
            if (evs[i].type == GNSQ_EV_MESSAGE) {
                gnsq_response_t r = {evs[i].token, GNSQ_RESP_HANDLER_OK, 0, 0, 0, 0};
                CHECK_RC(gnsq_consumer_respond(c, &r, 1, NULL, 0), 1);
                if (++handled == 5) {
                    CHECK_RC(gnsq_consumer_drain_async(&token, c, 10000), GNSQ_OK);
                    CHECK_RC(gnsq_consumer_drain_async(&again, c, 10000), GNSQ_OK);
                    CHECK(token != 0 && token == again);
                }
            } else if (evs[i].type == GNSQ_EV_CLOSED) {
                CHECK(evs[i].token == token);
                CHECK_RC(evs[i].code, GNSQ_OK);
                closed = 1;
            }
        }
        if (n <= 0) break;
    }
    CHECK(handled >= 5 && handled < 50);
    CHECK(stats_contain(topic, "\"in_flight_count\":0"));
    snprintf(needle, sizeof needle, "\"depth\":%d", 50 - handled);
    CHECK(stats_contain(topic, needle));
    CHECK_RC(gnsq_consumer_free(c), GNSQ_OK);

    /* A message handed out and never answered: the drain's timeout ends it. */
    c = started_consumer(topic, "1");
    CHECK(poll_until(NULL, c, GNSQ_EV_MESSAGE, 0, evs, buf, sizeof buf));
    CHECK_RC(gnsq_consumer_drain(c, 200), GNSQ_E_TIMEOUT);
    CHECK_RC(gnsq_consumer_drain(c, 200), GNSQ_E_CLOSED);
    CHECK_RC(gnsq_consumer_free(c), GNSQ_OK);
    CHECK_RC(gnsq_producer_free(p), GNSQ_OK);
}

int main(int argc, char **argv) {
    static const struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {
        {"version", test_version},
        {"errors", test_errors},
        {"config", test_config},
        {"bad_handles", test_bad_handles},
        {"publish_and_consume", test_publish_and_consume},
        {"requeue_and_signals", test_requeue_and_signals},
        {"respond_rules", test_respond_rules},
        {"use_after_close", test_use_after_close},
        {"callbacks", test_callbacks},
        {"http", test_http},
        {"tcp", test_tcp},
        {"concurrent_close", test_concurrent_close},
        {"publish_while_closing", test_publish_while_closing},
        {"blocking_waits", test_blocking_waits},
        {"close_async", test_close_async},
        {"bounded_publish", test_bounded_publish},
        {"publish_batch", test_publish_batch},
        {"consumer_state", test_consumer_state},
        {"drain", test_drain},
    };
    size_t i;
    nsqd_tcp = getenv("NSQD_TCP");
    nsqd_http = getenv("NSQD_HTTP");
    lookupd_http = getenv("LOOKUPD_HTTP");
    silent_nsqd = getenv("SILENT_NSQD");
    nsqd2_tcp = getenv("NSQD2_TCP");
    if (nsqd_tcp == NULL || nsqd_http == NULL || lookupd_http == NULL || silent_nsqd == NULL || nsqd2_tcp == NULL) {
        fprintf(stderr, "NSQD_TCP, NSQD_HTTP, LOOKUPD_HTTP, SILENT_NSQD and NSQD2_TCP must be set\n");
        return 2;
    }
    for (i = 0; i < sizeof tests / sizeof tests[0]; i++) {
        if (argc > 1 && strcmp(argv[1], tests[i].name) != 0) continue;
        tests[i].fn();
        printf("ok %s\n", tests[i].name);
        fflush(stdout);
    }
    return 0;
}
