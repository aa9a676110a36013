/*
 * producer.c - publishing to nsqd with libgnsq's C API.
 *
 *   producer <nsqd host:port> [topic]
 *
 * Publishes three messages synchronously, one MPUB of three bodies, then
 * ten asynchronous publishes whose GNSQ_EV_PUBLISHED events it collects
 * with gnsq_producer_poll(). Every return code is checked; a failure
 * prints gnsq_strerror() and the thread's gnsq_last_error() detail.
 * Exit status 0 when every publish was acknowledged by nsqd.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "gnsq.h"

#define TIMEOUT_MS 5000 /* per synchronous publish, including the wait for a connection */
#define N_ASYNC 10

/* report prints a failed call: its code, the code's text and the detail. */
static void report(const char *what, int rc)
{
    char detail[512];
    gnsq_last_error(detail, sizeof detail);
    fprintf(stderr, "%s failed: %d (%s): %s\n", what, rc, gnsq_strerror(rc), detail);
}

static const char *event_name(int type)
{
    switch (type) {
    case GNSQ_EV_MESSAGE: return "MESSAGE";
    case GNSQ_EV_GIVING_UP: return "GIVING_UP";
    case GNSQ_EV_FINISHED: return "FINISHED";
    case GNSQ_EV_REQUEUED: return "REQUEUED";
    case GNSQ_EV_RESPONSE: return "RESPONSE";
    case GNSQ_EV_ERROR: return "ERROR";
    case GNSQ_EV_AUTH: return "AUTH";
    case GNSQ_EV_CLOSED: return "CLOSED";
    case GNSQ_EV_CONNECTED: return "CONNECTED";
    case GNSQ_EV_DISCONNECTED: return "DISCONNECTED";
    case GNSQ_EV_EXCEPTION: return "EXCEPTION";
    case GNSQ_EV_PUBLISHED: return "PUBLISHED";
    }
    return "?";
}

/* print_event prints an event other than PUBLISHED (its text data, if any). */
static void print_event(const gnsq_event_t *ev, const uint8_t *buf)
{
    int len = (int)ev->data_len;
    const char *data = (ev->flags & GNSQ_EVF_HELD) ? "(held)" : (const char *)buf + ev->data_offset;
    if (ev->flags & GNSQ_EVF_HELD)
        len = 6;
    printf("  event %s code %d%s%s: %.*s\n", event_name(ev->type), (int)ev->code,
           ev->code ? " " : "", ev->code ? gnsq_strerror(ev->code) : "", len, data);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s <nsqd host:port> [topic]\n", argv[0]);
        return 2;
    }
    const char *addr = argv[1];
    const char *topic = argc > 2 ? argv[2] : "gnsq_c_example";
    int ok = 1, rc;
    gnsq_config_t *cfg = NULL;
    gnsq_producer_t *p = NULL;
    gnsq_event_t evs[16];
    uint8_t buf[4096]; /* producer events carry short texts */
    uint64_t tokens[N_ASYNC];
    int done[N_ASYNC];
    int pending = 0, acked = 0;

    printf("libgnsq %s (header %s)\n", gnsq_version_str(), GNSQ_VERSION_STR);

    if ((rc = gnsq_config_new(&cfg)) < 0) {
        report("gnsq_config_new", rc);
        return 1;
    }
    if ((rc = gnsq_config_set(cfg, "client_id", "c-producer-example")) < 0 ||
        (rc = gnsq_config_set(cfg, "dial_timeout", "2")) < 0) {
        report("gnsq_config_set", rc);
        gnsq_config_free(cfg);
        return 1;
    }
    rc = gnsq_producer_new(&p, &addr, 1, cfg);
    gnsq_config_free(cfg); /* the producer keeps its own copy */
    if (rc < 0) {
        report("gnsq_producer_new", rc);
        return 1;
    }
    /* start() waits for the first connection attempt; a failure is queued
       as a GNSQ_EV_ERROR event (and retried), not returned. */
    if ((rc = gnsq_producer_start(p)) < 0) {
        report("gnsq_producer_start", rc);
        gnsq_producer_free(p);
        return 1;
    }
    /* nsqd's "OK" for every publish would also come as a GNSQ_EV_RESPONSE
       event; the return codes and PUBLISHED events already carry it. */
    if ((rc = gnsq_producer_set_event_mask(p, ~(1u << GNSQ_EV_RESPONSE))) < 0) {
        report("gnsq_producer_set_event_mask", rc);
        ok = 0;
    }
    while ((rc = gnsq_producer_poll(p, evs, 16, 0, buf, sizeof buf)) > 0)
        for (int i = 0; i < rc; i++)
            print_event(&evs[i], buf);
    if (rc < 0) {
        report("gnsq_producer_poll", rc);
        ok = 0;
    }

    /* 1. Synchronous publishes: each waits for nsqd's OK. */
    for (int i = 0; i < 3; i++) {
        char body[64];
        int len = snprintf(body, sizeof body, "sync message %d", i);
        rc = gnsq_producer_publish(p, topic, body, (size_t)len, 0, TIMEOUT_MS);
        if (rc < 0) {
            report("gnsq_producer_publish", rc);
            ok = 0;
            goto out; /* e.g. no nsqd: do not wait TIMEOUT_MS for every call */
        } else {
            printf("published \"%s\" to %s\n", body, topic);
        }
    }

    /* 2. One MPUB of three bodies. */
    {
        const char *texts[3] = {"mpub body A", "mpub body B", "mpub body C"};
        const void *bodies[3];
        size_t lens[3];
        for (int i = 0; i < 3; i++) {
            bodies[i] = texts[i];
            lens[i] = strlen(texts[i]);
        }
        rc = gnsq_producer_multipublish(p, topic, bodies, lens, 3, TIMEOUT_MS);
        if (rc < 0) {
            report("gnsq_producer_multipublish", rc);
            ok = 0;
            goto out;
        } else {
            printf("multipublished 3 bodies to %s\n", topic);
        }
    }

    /* 3. Asynchronous publishes: each accepted one is followed by exactly
       one GNSQ_EV_PUBLISHED event carrying its token. */
    for (int i = 0; i < N_ASYNC; i++)
        done[i] = 1; /* no event expected */
    for (int i = 0; i < N_ASYNC; i++) {
        char body[64];
        int len = snprintf(body, sizeof body, "async message %d", i);
        rc = gnsq_producer_publish_async(&tokens[i], p, topic, body, (size_t)len, 0, TIMEOUT_MS);
        if (rc < 0) {
            report("gnsq_producer_publish_async", rc);
            ok = 0;
            break; /* nothing was sent for this one: no event follows */
        }
        done[i] = 0;
        pending++;
    }
    printf("queued %d async publishes\n", pending);
    int64_t deadline = now_ms() + TIMEOUT_MS;
    while (pending > 0) {
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            fprintf(stderr, "%d async publishes still unanswered after %d ms\n", pending, TIMEOUT_MS);
            ok = 0;
            break;
        }
        int n = gnsq_producer_poll(p, evs, 16, (int)left, buf, sizeof buf);
        if (n < 0) {
            report("gnsq_producer_poll", n);
            ok = 0;
            break;
        }
        for (int i = 0; i < n; i++) {
            const gnsq_event_t *ev = &evs[i];
            if (ev->type != GNSQ_EV_PUBLISHED) {
                print_event(ev, buf);
                continue;
            }
            int k;
            for (k = 0; k < N_ASYNC && !(tokens[k] == ev->token && !done[k]); k++)
                ;
            if (k == N_ASYNC) {
                fprintf(stderr, "PUBLISHED event with unknown token %llu\n", (unsigned long long)ev->token);
                ok = 0;
                continue;
            }
            done[k] = 1;
            pending--;
            if (ev->code == 0) {
                acked++;
            } else {
                ok = 0;
                fprintf(stderr, "async publish %d (token %llu) failed: %d (%s): %.*s\n", k,
                        (unsigned long long)ev->token, (int)ev->code, gnsq_strerror(ev->code),
                        (ev->flags & GNSQ_EVF_HELD) ? 0 : (int)ev->data_len,
                        (const char *)buf + ev->data_offset);
            }
        }
    }
    printf("async publishes acknowledged: %d of %d\n", acked, N_ASYNC);

out:

    /* Close: events it causes are queued before it returns, CLOSED last;
       poll hands them out, then returns GNSQ_E_CLOSED. */
    if ((rc = gnsq_producer_close(p, TIMEOUT_MS)) < 0) {
        report("gnsq_producer_close", rc);
        ok = 0;
    }
    while ((rc = gnsq_producer_poll(p, evs, 16, 0, buf, sizeof buf)) > 0)
        for (int i = 0; i < rc; i++)
            print_event(&evs[i], buf);
    if (rc != GNSQ_E_CLOSED) {
        report("gnsq_producer_poll after close", rc);
        ok = 0;
    }
    if ((rc = gnsq_producer_free(p)) < 0) {
        report("gnsq_producer_free", rc);
        ok = 0;
    }
    printf("%s\n", ok ? "all publishes succeeded" : "some publishes FAILED");
    return ok ? 0 : 1;
}
