/*
 * consume_bench.c - how fast a C host consumes through gnsq_consumer_poll().
 *
 *   consume_bench <nsqd host:port> <topic> <channel> <N> <max_in_flight> [finish|handler_ok] [block|fd]
 *
 * The topic/channel must already hold at least N messages (bench/c/run.sh
 * fills N + 2 x max_in_flight, as bench/cmd/nsqbench does, so that nsqd's
 * output buffer never waits for its flush tick before the N-th message).
 *
 * Only MESSAGE events are enabled (plus the ones that cannot be masked).
 * The loop polls with a blocking gnsq_consumer_poll() (batches of at most
 * 256 events, a 1 MiB buffer) and answers each batch with one
 * gnsq_consumer_respond() call: GNSQ_RESP_FINISH (default) or
 * GNSQ_RESP_HANDLER_OK. With "fd" as the last argument it waits in
 * poll(2) on the notify fd instead (drain the pipe, then
 * gnsq_consumer_poll() with timeout 0 until it returns 0), for comparison.
 * Timed from gnsq_consumer_start() until the N-th
 * message is handed out, like nsqbench's "ours" (from Start() until the
 * handler sees the N-th message). Every message handed out is answered,
 * including any beyond N in the last batch.
 *
 * Prints one line:
 *   mode=<m> wait=<w> n=<N> answered=<a> seconds=<s> msg_per_s=<r> batches=<b> avg_batch=<x> cpu_us_per_msg=<c>
 * Exit status 0 on success.
 */
#define _XOPEN_SOURCE 700

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <poll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "gnsq.h"

#define BATCH 256
#define BUF_SIZE (1u << 20)
#define STALL_MS 10000 /* a poll that waits this long means the run is broken */

static void report(const char *what, int rc)
{
    char detail[512];
    gnsq_last_error(detail, sizeof detail);
    fprintf(stderr, "consume_bench: %s failed: %d (%s): %s\n", what, rc, gnsq_strerror(rc), detail);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

int main(int argc, char **argv)
{
    if (argc < 6 || argc > 8) {
        fprintf(stderr,
                "usage: %s <nsqd host:port> <topic> <channel> <N> <max_in_flight> [finish|handler_ok] [block|fd]\n",
                argv[0]);
        return 2;
    }
    const char *addr = argv[1], *topic = argv[2], *channel = argv[3];
    long long n_want = atoll(argv[4]);
    const char *mif = argv[5];
    const char *mode = argc > 6 ? argv[6] : "finish";
    int32_t action;
    if (strcmp(mode, "finish") == 0) {
        action = GNSQ_RESP_FINISH;
    } else if (strcmp(mode, "handler_ok") == 0) {
        action = GNSQ_RESP_HANDLER_OK;
    } else {
        fprintf(stderr, "mode must be finish or handler_ok\n");
        return 2;
    }
    const char *wait = argc > 7 ? argv[7] : "block";
    int use_fd = strcmp(wait, "fd") == 0;
    if (!use_fd && strcmp(wait, "block") != 0) {
        fprintf(stderr, "wait must be block or fd\n");
        return 2;
    }
    if (n_want <= 0) {
        fprintf(stderr, "N must be > 0\n");
        return 2;
    }

    int rc;
    gnsq_config_t *cfg = NULL;
    gnsq_consumer_t *c = NULL;
    if ((rc = gnsq_config_new(&cfg)) < 0) {
        report("gnsq_config_new", rc);
        return 1;
    }
    if ((rc = gnsq_config_set(cfg, "max_in_flight", mif)) < 0) {
        report("gnsq_config_set max_in_flight", rc);
        gnsq_config_free(cfg);
        return 1;
    }
    rc = gnsq_consumer_new(&c, topic, channel, &addr, 1, NULL, 0, cfg);
    gnsq_config_free(cfg);
    if (rc < 0) {
        report("gnsq_consumer_new", rc);
        return 1;
    }
    if ((rc = gnsq_consumer_set_event_mask(c, 1u << GNSQ_EV_MESSAGE)) < 0) {
        report("gnsq_consumer_set_event_mask", rc);
        gnsq_consumer_free(c);
        return 1;
    }
    int fd = -1;
    if (use_fd && (rc = gnsq_consumer_notify_fd(&fd, c)) < 0) {
        report("gnsq_consumer_notify_fd", rc);
        gnsq_consumer_free(c);
        return 1;
    }
    static gnsq_event_t evs[BATCH];
    static gnsq_response_t resps[BATCH];
    uint8_t *buf = malloc(BUF_SIZE);
    uint8_t *held = NULL;
    size_t held_cap = 0;
    if (buf == NULL) {
        perror("malloc");
        return 1;
    }
    memset(resps, 0, sizeof resps);
    for (int i = 0; i < BATCH; i++)
        resps[i].action = action;

    long long got = 0, answered = 0, batches = 0;
    int ok = 1;
    double t_end = 0, cpu_end = 0;
    double cpu0 = cpu_s();
    double t0 = now_s();
    if ((rc = gnsq_consumer_start(c)) < 0) {
        report("gnsq_consumer_start", rc);
        gnsq_consumer_free(c);
        return 1;
    }
    while (got < n_want) {
        int n = gnsq_consumer_poll(c, evs, BATCH, use_fd ? 0 : STALL_MS, buf, BUF_SIZE);
        if (n == 0 && use_fd) {
            /* Queue empty: wait for the pipe, read it empty, poll again. */
            struct pollfd pfd = {.fd = fd, .events = POLLIN, .revents = 0};
            int pr = poll(&pfd, 1, STALL_MS);
            if (pr < 0 && errno == EINTR)
                continue;
            if (pr > 0) {
                uint8_t scratch[64];
                while (read(fd, scratch, sizeof scratch) > 0)
                    ;
                continue;
            }
        }
        if (n <= 0) {
            if (n == 0)
                fprintf(stderr, "consume_bench: no event for %d ms after %lld of %lld messages\n", STALL_MS, got,
                        n_want);
            else
                report("gnsq_consumer_poll", n);
            ok = 0;
            break;
        }
        batches++;
        size_t nr = 0;
        for (int i = 0; i < n; i++) {
            const gnsq_event_t *ev = &evs[i];
            if (ev->type != GNSQ_EV_MESSAGE) {
                if (ev->type == GNSQ_EV_CLOSED) {
                    fprintf(stderr, "consume_bench: consumer closed\n");
                    ok = 0;
                }
                continue;
            }
            if (ev->flags & GNSQ_EVF_HELD) { /* never with 100-byte bodies and 1 MiB */
                if (held_cap < ev->data_len) {
                    free(held);
                    held_cap = ev->data_len;
                    held = malloc(held_cap);
                    if (held == NULL) {
                        perror("malloc");
                        return 1;
                    }
                }
                if ((rc = gnsq_consumer_read_body(c, ev->token, held, held_cap)) < 0) {
                    report("gnsq_consumer_read_body", rc);
                    ok = 0;
                }
            }
            resps[nr++].token = ev->token;
            if (++got == n_want) {
                t_end = now_s();
                cpu_end = cpu_s();
            }
        }
        if (nr > 0) {
            rc = gnsq_consumer_respond(c, resps, nr, NULL, 0);
            if (rc < 0 || (size_t)rc != nr) {
                report("gnsq_consumer_respond", rc);
                ok = 0;
                break;
            }
            answered += (long long)nr;
        }
        if (!ok)
            break;
    }
    if ((rc = gnsq_consumer_close(c, 10000)) < 0) {
        report("gnsq_consumer_close", rc);
        ok = 0;
    }
    if ((rc = gnsq_consumer_free(c)) < 0) {
        report("gnsq_consumer_free", rc);
        ok = 0;
    }
    free(buf);
    free(held);
    if (!ok || got < n_want)
        return 1;
    double secs = t_end - t0;
    printf("mode=%s wait=%s n=%lld answered=%lld seconds=%.6f msg_per_s=%.0f batches=%lld avg_batch=%.1f "
           "cpu_us_per_msg=%.3f\n",
           mode, wait, n_want, answered, secs, (double)n_want / secs, batches, (double)got / (double)batches,
           (cpu_end - cpu0) * 1e6 / (double)n_want);
    return 0;
}
