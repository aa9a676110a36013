/*
 * No leaks through the C ABI (R39 of the reliability list, issue 11): after
 * 100 cycles of creating, starting, using (sync, MPUB and async publishes,
 * a consumer receiving and answering them, both notify fds taken) and
 * closing and freeing a producer and a consumer against a real nsqd, the
 * process holds as many file descriptors as before and at most
 * THREAD_SLACK more threads. Run by tests/c/c_test.go with NSQD_TCP.
 *
 * LEAKS_CYCLES overrides the number of cycles; LEAKS_INJECT=fd or
 * LEAKS_INJECT=threads leaks an fd, or THREAD_SLACK + 1 threads, on
 * purpose after the baseline, to show that the check fails then.
 *
 * Prints the figures and "ok leaks"; the first failed check exits with 1.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gnsq.h"

#include "check.h"

/*
 * The Go runtime inside libgnsq never ends an idle OS thread (only one
 * whose locked goroutine exits), so the count only rises, to the most
 * threads ever busy at once: a cycle blocking a few more in syscalls at
 * once than the warm-up did leaves a few more behind. That is bounded by
 * concurrency, not by the number of cycles; a thread leaked per cycle
 * shows as 100 or more.
 */
#define THREAD_SLACK 6
#define MESSAGES 10

static const char *nsqd_tcp;

static int count_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    CHECK(d != NULL);
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') n++;
    }
    closedir(d);
    return n - 1; /* the directory's own fd */
}

static int count_threads(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = -1;
    CHECK(f != NULL);
    while (fgets(line, sizeof line, f) != NULL) {
        if (sscanf(line, "Threads: %d", &n) == 1) break;
    }
    fclose(f);
    CHECK(n > 0);
    return n;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static gnsq_config_t *config(const char *key, const char *value) {
    gnsq_config_t *cfg = NULL;
    CHECK_RC(gnsq_config_new(&cfg), GNSQ_OK);
    CHECK_RC(gnsq_config_set(cfg, "log_level", "off"), GNSQ_OK);
    if (key != NULL) CHECK_RC(gnsq_config_set(cfg, key, value), GNSQ_OK);
    return cfg;
}

static void cycle(int i) {
    const char *addrs[] = {nsqd_tcp};
    char topic[96];
    gnsq_producer_t *p = NULL;
    gnsq_consumer_t *c = NULL;
    gnsq_config_t *cfg;
    gnsq_event_t evs[16];
    uint8_t buf[4096];
    const void *bodies[] = {"m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8"};
    size_t lens[] = {2, 2, 2, 2, 2, 2, 2, 2};
    uint64_t token = 0;
    int fd, n, k, seen = 0, published = 0;
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(topic, sizeof topic, "cleaks_%ld_%ld_%d", (long)ts.tv_sec, ts.tv_nsec, i);

    cfg = config(NULL, NULL);
    CHECK_RC(gnsq_producer_new(&p, addrs, 1, cfg), GNSQ_OK);
    CHECK_RC(gnsq_config_free(cfg), GNSQ_OK);
    CHECK_RC(gnsq_producer_start(p), GNSQ_OK);
    CHECK_RC(gnsq_producer_notify_fd(&fd, p), GNSQ_OK);
    CHECK_RC(gnsq_producer_publish(p, topic, "pub", 3, 0, 5000), GNSQ_OK);
    CHECK_RC(gnsq_producer_multipublish(p, topic, bodies, lens, 8, 5000), GNSQ_OK);
    CHECK_RC(gnsq_producer_publish_async(&token, p, topic, "async", 5, 0, 5000), GNSQ_OK);
    while (!published) {
        n = gnsq_producer_poll(p, evs, 16, 5000, buf, sizeof buf);
        CHECK(n > 0);
        for (k = 0; k < n; k++) {
            if (evs[k].type == GNSQ_EV_PUBLISHED && evs[k].token == token) {
                CHECK(evs[k].code == GNSQ_OK);
                published = 1;
            }
        }
    }

    /* Unbuffered output from nsqd: no 250 ms flush wait for the last ones. */
    cfg = config("output_buffer_size", "-1");
    CHECK_RC(gnsq_config_set(cfg, "max_in_flight", "4"), GNSQ_OK);
    CHECK_RC(gnsq_consumer_new(&c, topic, "ch", addrs, 1, NULL, 0, cfg), GNSQ_OK);
    CHECK_RC(gnsq_config_free(cfg), GNSQ_OK);
    CHECK_RC(gnsq_consumer_start(c), GNSQ_OK);
    CHECK_RC(gnsq_consumer_notify_fd(&fd, c), GNSQ_OK);
    while (seen < MESSAGES) {
        n = gnsq_consumer_poll(c, evs, 16, 10000, buf, sizeof buf);
        CHECK(n > 0);
        for (k = 0; k < n; k++) {
            gnsq_response_t r;
            if (evs[k].type != GNSQ_EV_MESSAGE) continue;
            memset(&r, 0, sizeof r);
            r.token = evs[k].token;
            r.action = GNSQ_RESP_HANDLER_OK;
            CHECK_RC(gnsq_consumer_respond(c, &r, 1, NULL, 0), 1);
            seen++;
        }
    }
    CHECK_RC(gnsq_consumer_close(c, 10000), GNSQ_OK);
    CHECK_RC(gnsq_consumer_free(c), GNSQ_OK);
    CHECK_RC(gnsq_producer_close(p, 10000), GNSQ_OK);
    CHECK_RC(gnsq_producer_free(p), GNSQ_OK);
}

static void *block_forever(void *arg) {
    (void)arg;
    for (;;) pause();
    return NULL;
}

int main(void) {
    const char *env = getenv("LEAKS_CYCLES"), *inject = getenv("LEAKS_INJECT");
    int cycles = env != NULL ? atoi(env) : 100;
    /* An injected leak never goes: no need to wait long for it. */
    int settle_ms = inject != NULL ? 300 : 5000;
    int fds0, threads0, fds, threads, i, waited;

    nsqd_tcp = getenv("NSQD_TCP");
    CHECK(nsqd_tcp != NULL);
    cycle(-1); /* warm-up: the Go runtime and the library start up */
    sleep_ms(200);
    fds0 = count_fds();
    threads0 = count_threads();
    if (inject != NULL && strcmp(inject, "fd") == 0) {
        CHECK(open("/dev/null", O_RDONLY) >= 0);
    } else if (inject != NULL && strcmp(inject, "threads") == 0) {
        for (i = 0; i <= THREAD_SLACK; i++) {
            pthread_t t;
            CHECK(pthread_create(&t, NULL, block_forever, NULL) == 0);
        }
    }
    for (i = 0; i < cycles; i++) cycle(i);
    /* Sockets and threads go a moment after close returns. */
    for (waited = 0;; waited += 20) {
        fds = count_fds();
        threads = count_threads();
        if ((fds <= fds0 && threads <= threads0 + THREAD_SLACK) || waited >= settle_ms) break;
        sleep_ms(20);
    }
    printf("leaks: baseline %d fds, %d threads; after %d cycles %d fds, %d threads\n", fds0, threads0, cycles, fds,
           threads);
    fflush(stdout);
    if (fds > fds0) {
        fprintf(stderr, "leaks: %d fds more than the baseline after %d cycles\n", fds - fds0, cycles);
        return 1;
    }
    if (threads > threads0 + THREAD_SLACK) {
        fprintf(stderr, "leaks: %d threads more than the baseline (slack %d) after %d cycles\n", threads - threads0,
                THREAD_SLACK, cycles);
        return 1;
    }
    printf("ok leaks\n");
    return 0;
}
