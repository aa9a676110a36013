/*
 * publish_bench.c - latency of one publish-and-wait from C.
 *
 *   publish_bench <nsqd host:port> <topic> <M> [sync|async_wait|async_spin] [nomask]
 *
 * Connects (waits for GNSQ_EV_CONNECTED, not timed), then publishes M
 * 100-byte bodies one at a time, each waiting for nsqd's answer before the
 * next, like bench/cmd/nsqbench's "pub" metric (a fresh topic, timed from
 * the first call to the last answer). How it waits:
 *
 *   sync        gnsq_producer_publish() (the default; what the issue's
 *               target is about)
 *   async_wait  gnsq_producer_publish_async(), then a blocking
 *               gnsq_producer_poll() until its GNSQ_EV_PUBLISHED event
 *   async_spin  the same, but polling with timeout 0 in a busy loop
 *
 * Prints one line:
 *   method=<m> n=<M> seconds=<s> msg_per_s=<r> us_per_call=<mean> p50_us=<p50> p99_us=<p99> cpu_us_per_call=<c>
 *
 * The producer queues only CONNECTED, ERROR and DISCONNECTED events (plus
 * the ones that cannot be masked, such as PUBLISHED): otherwise the
 * RESPONSE event of every publish, which "sync" never polls, would pile up
 * in the queue. "nomask" keeps the default mask (all events), for
 * comparison.
 */
#define _XOPEN_SOURCE 700

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "gnsq.h"

static void report(const char *what, int rc)
{
    char detail[512];
    gnsq_last_error(detail, sizeof detail);
    fprintf(stderr, "publish_bench: %s failed: %d (%s): %s\n", what, rc, gnsq_strerror(rc), detail);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* publish_and_wait publishes body asynchronously and polls until its
   PUBLISHED event (wait_ms per poll: 0 spins). Returns 1 when nsqd said OK. */
static int publish_and_wait(gnsq_producer_t *p, const char *topic, const char *body, size_t len, int wait_ms)
{
    uint64_t token;
    gnsq_event_t evs[16];
    uint8_t buf[4096];
    int rc = gnsq_producer_publish_async(&token, p, topic, body, len, 0, 10000);
    if (rc < 0) {
        report("gnsq_producer_publish_async", rc);
        return 0;
    }
    for (;;) {
        int n = gnsq_producer_poll(p, evs, 16, wait_ms, buf, sizeof buf);
        if (n < 0) {
            report("gnsq_producer_poll", n);
            return 0;
        }
        if (n == 0 && wait_ms > 0) {
            fprintf(stderr, "publish_bench: no PUBLISHED event within %d ms\n", wait_ms);
            return 0;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].type == GNSQ_EV_PUBLISHED && evs[i].token == token) {
                if (evs[i].code != 0) {
                    fprintf(stderr, "publish_bench: async publish failed: %d (%s)\n", (int)evs[i].code,
                            gnsq_strerror(evs[i].code));
                    return 0;
                }
                return 1;
            }
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 6) {
        fprintf(stderr, "usage: %s <nsqd host:port> <topic> <M> [sync|async_wait|async_spin] [nomask]\n", argv[0]);
        return 2;
    }
    const char *addr = argv[1], *topic = argv[2];
    long m = atol(argv[3]);
    const long size = 100;
    const char *method = argc > 4 ? argv[4] : "sync";
    int mask = !(argc > 5 && strcmp(argv[5], "nomask") == 0);
    int wait_ms;
    if (strcmp(method, "sync") == 0)
        wait_ms = 1; /* not used */
    else if (strcmp(method, "async_wait") == 0)
        wait_ms = 10000;
    else if (strcmp(method, "async_spin") == 0)
        wait_ms = 0;
    else {
        fprintf(stderr, "method must be sync, async_wait or async_spin\n");
        return 2;
    }
    if (m <= 0) {
        fprintf(stderr, "M must be > 0\n");
        return 2;
    }
    char *body = malloc((size_t)size);
    int64_t *lat = malloc(sizeof *lat * (size_t)m);
    if (body == NULL || lat == NULL) {
        perror("malloc");
        return 1;
    }
    memset(body, 'x', (size_t)size);

    int rc;
    gnsq_producer_t *p = NULL;
    if ((rc = gnsq_producer_new(&p, &addr, 1, NULL)) < 0) {
        report("gnsq_producer_new", rc);
        return 1;
    }
    if (mask && (rc = gnsq_producer_set_event_mask(p, (1u << GNSQ_EV_CONNECTED) | (1u << GNSQ_EV_ERROR) |
                                                          (1u << GNSQ_EV_DISCONNECTED))) < 0) {
        report("gnsq_producer_set_event_mask", rc);
        gnsq_producer_free(p);
        return 1;
    }
    if ((rc = gnsq_producer_start(p)) < 0) {
        report("gnsq_producer_start", rc);
        gnsq_producer_free(p);
        return 1;
    }
    /* Wait for the connection, so that connecting is never timed. */
    int connected = 0;
    int64_t deadline = now_ns() + 10 * (int64_t)1000000000;
    while (!connected && now_ns() < deadline) {
        gnsq_event_t evs[16];
        uint8_t buf[4096];
        int n = gnsq_producer_poll(p, evs, 16, 1000, buf, sizeof buf);
        if (n < 0) {
            report("gnsq_producer_poll", n);
            break;
        }
        for (int i = 0; i < n; i++)
            if (evs[i].type == GNSQ_EV_CONNECTED)
                connected = 1;
    }
    if (!connected) {
        fprintf(stderr, "publish_bench: not connected to %s within 10 s\n", addr);
        gnsq_producer_free(p);
        return 1;
    }

    int ok = 1;
    double cpu0 = cpu_s();
    int64_t t0 = now_ns(), prev = t0;
    int sync = strcmp(method, "sync") == 0;
    for (long i = 0; i < m; i++) {
        if (sync) {
            rc = gnsq_producer_publish(p, topic, body, (size_t)size, 0, 10000);
            if (rc < 0) {
                report("gnsq_producer_publish", rc);
                ok = 0;
                break;
            }
        } else if (!publish_and_wait(p, topic, body, (size_t)size, wait_ms)) {
            ok = 0;
            break;
        }
        int64_t t = now_ns();
        lat[i] = t - prev;
        prev = t;
    }
    double cpu1 = cpu_s();
    int64_t total = prev - t0;

    if ((rc = gnsq_producer_close(p, 10000)) < 0) {
        report("gnsq_producer_close", rc);
        ok = 0;
    }
    if ((rc = gnsq_producer_free(p)) < 0) {
        report("gnsq_producer_free", rc);
        ok = 0;
    }
    if (ok) {
        qsort(lat, (size_t)m, sizeof *lat, cmp_i64);
        printf("method=%s n=%ld seconds=%.6f msg_per_s=%.0f us_per_call=%.2f p50_us=%.2f p99_us=%.2f cpu_us_per_call=%.2f\n",
               method, m, (double)total * 1e-9, (double)m / ((double)total * 1e-9), (double)total * 1e-3 / (double)m,
               (double)lat[m / 2] * 1e-3, (double)lat[m * 99 / 100] * 1e-3, (cpu1 - cpu0) * 1e6 / (double)m);
    }
    free(body);
    free(lat);
    return ok ? 0 : 1;
}
