/*
 * consumer_poll.c - a libgnsq consumer driven by the host's own poll(2) loop.
 *
 *   consumer_poll <nsqd host:port> <topic> <channel> <count> [timeout_s]
 *
 * Waits on the consumer's notify fd (the pattern gnsq.h prescribes: wait
 * until readable, read the pipe empty, then gnsq_consumer_poll() with
 * timeout 0 until it returns 0), prints each message and answers every
 * poll batch with a single gnsq_consumer_respond() call. Stops after
 * <count> messages, after timeout_s seconds (default 30) or on SIGINT /
 * SIGTERM. Messages of the last batch beyond <count> are requeued (delay
 * 0, no backoff); messages still queued at the end are not answered, and
 * nsqd redelivers them once its msg_timeout for them expires (it does not
 * requeue in-flight messages when a consumer disconnects). Exit status 0
 * when <count> messages were received and answered.
 *
 * The poll buffer is deliberately small (4 KiB): a body that does not fit
 * comes with GNSQ_EVF_HELD and is copied out with gnsq_consumer_read_body().
 */
#define _XOPEN_SOURCE 700 /* poll, sigaction with SA_ONSTACK, clock_gettime */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gnsq.h"

#define MAX_EVENTS 64
#define POLL_BUF_SIZE 4096
#define MAX_IN_FLIGHT "32"

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) { stop_signal = sig; }

static void report(const char *what, int rc)
{
    char detail[512];
    gnsq_last_error(detail, sizeof detail);
    fprintf(stderr, "%s failed: %d (%s): %s\n", what, rc, gnsq_strerror(rc), detail);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* print_body prints at most 80 bytes of a body, escaping non-printables. */
static void print_body(uint64_t count, const gnsq_event_t *ev, const uint8_t *body, size_t len, int held)
{
    printf("#%llu id %.16s attempts %u%s %zu bytes: \"", (unsigned long long)count,
           (const char *)ev->id, (unsigned)ev->attempts, held ? " (held)" : "", len);
    for (size_t i = 0; i < len && i < 80; i++) {
        if (body[i] >= 0x20 && body[i] < 0x7f && body[i] != '"' && body[i] != '\\')
            putchar(body[i]);
        else
            printf("\\x%02x", body[i]);
    }
    printf("\"%s\n", len > 80 ? "..." : "");
}

/* print_text prints a non-MESSAGE event with its text data. */
static void print_text(const char *name, const gnsq_event_t *ev, const uint8_t *buf)
{
    int held = (ev->flags & GNSQ_EVF_HELD) != 0;
    printf("event %s", name);
    if (ev->code != 0)
        printf(" code %d (%s)", (int)ev->code, gnsq_strerror(ev->code));
    printf(": %.*s\n", held ? 0 : (int)ev->data_len, held ? "" : (const char *)buf + ev->data_offset);
}

int main(int argc, char **argv)
{
    if (argc < 5 || argc > 6) {
        fprintf(stderr, "usage: %s <nsqd host:port> <topic> <channel> <count> [timeout_s]\n", argv[0]);
        return 2;
    }
    const char *addr = argv[1], *topic = argv[2], *channel = argv[3];
    char *end;
    unsigned long long want = strtoull(argv[4], &end, 10);
    if (*end != '\0' || want == 0) {
        fprintf(stderr, "count must be a positive integer\n");
        return 2;
    }
    long timeout_s = argc > 5 ? strtol(argv[5], &end, 10) : 30;
    if (argc > 5 && (*end != '\0' || timeout_s <= 0)) {
        fprintf(stderr, "timeout_s must be a positive integer\n");
        return 2;
    }

    /* SA_ONSTACK: the signal may land on a thread of the Go runtime inside
       libgnsq, whose handlers expect to run on the alternate signal stack. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_ONSTACK; /* no SA_RESTART: poll(2) returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int rc, status = 1;
    gnsq_config_t *cfg = NULL;
    gnsq_consumer_t *c = NULL;
    if ((rc = gnsq_config_new(&cfg)) < 0) {
        report("gnsq_config_new", rc);
        return 1;
    }
    if ((rc = gnsq_config_set(cfg, "max_in_flight", MAX_IN_FLIGHT)) < 0) {
        report("gnsq_config_set max_in_flight", rc);
        gnsq_config_free(cfg);
        return 1;
    }
    rc = gnsq_consumer_new(&c, topic, channel, &addr, 1, NULL, 0, cfg);
    gnsq_config_free(cfg); /* copied by the consumer */
    if (rc < 0) {
        report("gnsq_consumer_new", rc);
        return 1;
    }
    int fd = -1;
    if ((rc = gnsq_consumer_notify_fd(&fd, c)) < 0) {
        report("gnsq_consumer_notify_fd", rc);
        gnsq_consumer_free(c);
        return 1;
    }
    if ((rc = gnsq_consumer_start(c)) < 0) {
        report("gnsq_consumer_start", rc);
        gnsq_consumer_free(c);
        return 1;
    }

    static gnsq_event_t evs[MAX_EVENTS];
    static gnsq_response_t resps[MAX_EVENTS];
    /* The texts a failed answer can point at (detail_offset/detail_len). */
    static const char failure_texts[] = "out of memory" "could not read the body";
    enum { OUT_OF_MEMORY = 0, UNREADABLE = sizeof "out of memory" - 1 };
    static uint8_t buf[POLL_BUF_SIZE];
    unsigned long long got = 0, requeued = 0;
    int64_t deadline = now_ms() + (int64_t)timeout_s * 1000;
    int failed = 0;

    while (got < want && !failed) {
        if (stop_signal) {
            fprintf(stderr, "stopped by signal %d\n", (int)stop_signal);
            break;
        }
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            fprintf(stderr, "timed out after %lds with %llu of %llu messages\n", timeout_s, got, want);
            break;
        }
        /* 1. Wait until the notify fd is readable. */
        struct pollfd pfd = {.fd = fd, .events = POLLIN, .revents = 0};
        /* At most 1 s: a signal may be delivered to a library thread
           instead of this one, and then poll(2) is not interrupted. */
        int pr = poll(&pfd, 1, left > 1000 ? 1000 : (int)left);
        if (pr < 0) {
            if (errno == EINTR)
                continue;
            perror("poll");
            break;
        }
        if (pr == 0)
            continue;
        /* 2. Read the pipe empty (it is non-blocking). */
        uint8_t scratch[256];
        ssize_t r;
        while ((r = read(fd, scratch, sizeof scratch)) > 0)
            ;
        if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            perror("read notify fd");
            break;
        }
        /* 3. Take the queued events, without waiting, until none is left. */
        for (;;) {
            int n = gnsq_consumer_poll(c, evs, MAX_EVENTS, 0, buf, sizeof buf);
            if (n == 0)
                break;
            if (n < 0) {
                report("gnsq_consumer_poll", n);
                failed = 1;
                break;
            }
            size_t nresp = 0;
            for (int i = 0; i < n; i++) {
                const gnsq_event_t *ev = &evs[i];
                switch (ev->type) {
                case GNSQ_EV_MESSAGE: {
                    gnsq_response_t *resp = &resps[nresp++];
                    memset(resp, 0, sizeof *resp);
                    resp->token = ev->token;
                    if (got >= want) {
                        /* Beyond <count>: give it back to nsqd right away. */
                        resp->action = GNSQ_RESP_REQUEUE;
                        resp->backoff = 0;
                        resp->delay_ms = 0;
                        requeued++;
                        break;
                    }
                    got++;
                    resp->action = GNSQ_RESP_HANDLER_OK;
                    if (ev->flags & GNSQ_EVF_HELD) {
                        /* Too big for the poll buffer: copy it out (this
                           also releases the library's copy). */
                        uint8_t *body = malloc(ev->data_len ? ev->data_len : 1);
                        if (body == NULL) {
                            perror("malloc");
                            resp->action = GNSQ_RESP_HANDLER_FAILED;
                            resp->detail_offset = OUT_OF_MEMORY;
                            resp->detail_len = sizeof "out of memory" - 1;
                            break;
                        }
                        int len = gnsq_consumer_read_body(c, ev->token, body, ev->data_len);
                        if (len < 0) {
                            report("gnsq_consumer_read_body", len);
                            resp->action = GNSQ_RESP_HANDLER_FAILED;
                            resp->detail_offset = UNREADABLE;
                            resp->detail_len = sizeof "could not read the body" - 1;
                        } else {
                            print_body(got, ev, body, (size_t)len, 1);
                        }
                        free(body);
                    } else {
                        print_body(got, ev, buf + ev->data_offset, ev->data_len, 0);
                    }
                    break;
                }
                case GNSQ_EV_CONNECTED: print_text("CONNECTED", ev, buf); break;
                case GNSQ_EV_DISCONNECTED: print_text("DISCONNECTED", ev, buf); break;
                case GNSQ_EV_ERROR: print_text("ERROR", ev, buf); break;
                case GNSQ_EV_GIVING_UP: print_text("GIVING_UP", ev, buf); break;
                case GNSQ_EV_EXCEPTION: print_text("EXCEPTION", ev, buf); break;
                case GNSQ_EV_CLOSED: print_text("CLOSED", ev, buf); break;
                default: break; /* FINISHED, REQUEUED, RESPONSE, AUTH: not needed here */
                }
            }
            /* 4. One respond call answers the whole batch. */
            if (nresp > 0) {
                rc = gnsq_consumer_respond(c, resps, nresp, failure_texts, sizeof failure_texts - 1);
                if (rc < 0) {
                    report("gnsq_consumer_respond", rc);
                    failed = 1;
                } else if ((size_t)rc != nresp) {
                    fprintf(stderr, "gnsq_consumer_respond applied %d of %zu\n", rc, nresp);
                    failed = 1;
                }
            }
            if (got >= want || failed)
                break; /* done: what is still queued is left to close */
        }
    }
    if (got == want && !failed)
        status = 0;

    /* Close: answers already given are written first; messages not yet
       answered go back to nsqd. poll() still hands out what was queued
       (unanswerable now), then GNSQ_E_CLOSED. */
    if ((rc = gnsq_consumer_close(c, 5000)) < 0) {
        report("gnsq_consumer_close", rc);
        status = 1;
    }
    unsigned long long left_over = 0;
    while ((rc = gnsq_consumer_poll(c, evs, MAX_EVENTS, 0, buf, sizeof buf)) > 0)
        for (int i = 0; i < rc; i++)
            if (evs[i].type == GNSQ_EV_MESSAGE)
                left_over++;
    if (rc != GNSQ_E_CLOSED) {
        report("gnsq_consumer_poll after close", rc);
        status = 1;
    }
    if ((rc = gnsq_consumer_free(c)) < 0) {
        report("gnsq_consumer_free", rc);
        status = 1;
    }
    printf("received %llu of %llu messages; requeued %llu extra; %llu left unanswered at close\n",
           got, want, requeued, left_over);
    return status;
}
