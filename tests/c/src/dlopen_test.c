/*
 * libgnsq used the way FFIs use it: this program is not linked to the
 * library; it dlopen()s the file named by GNSQ_LIBRARY (as ctypes, Node
 * and koffi do) and calls through dlsym()ed pointers. Run by
 * tests/c/dlopen_test.go with a live nsqd in NSQD_TCP and a closed port in
 * DEAD_NSQD. Each test prints "ok <name>"; a failed check exits with 1.
 * The library must write nothing on stderr: the Go test checks that
 * stderr stays empty, so this program reports failures on stdout.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gnsq.h"

/* One pointer per function used, typed from the header's prototype. */
#define FUNCTIONS(X)                                                                                                   \
    X(gnsq_version) X(gnsq_last_error) X(gnsq_strerror) X(gnsq_config_new) X(gnsq_config_set) X(gnsq_config_free)      \
    X(gnsq_producer_new) X(gnsq_producer_start) X(gnsq_producer_publish) X(gnsq_producer_poll) X(gnsq_producer_close)  \
    X(gnsq_producer_free) X(gnsq_consumer_new) X(gnsq_consumer_start) X(gnsq_consumer_poll)                          \
    X(gnsq_consumer_respond) X(gnsq_consumer_wakeup) X(gnsq_consumer_run) X(gnsq_consumer_close)                      \
    X(gnsq_consumer_free) X(gnsq_consumer_set_event_mask)
#define DECLARE(name) static __typeof__(name) *p_##name;
FUNCTIONS(DECLARE)

static const char *nsqd_tcp, *dead_nsqd;

#define CHECK_LAST_ERROR p_gnsq_last_error
#define CHECK_STRERROR p_gnsq_strerror
#define CHECK_OUT stdout
#include "check.h"

static void load(const char *path) {
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        printf("dlopen(%s): %s\n", path, dlerror());
        exit(1);
    }
#define RESOLVE(name)                                                                                                  \
    if ((p_##name = (__typeof__(name) *)dlsym(lib, #name)) == NULL) {                                                  \
        printf("dlsym(%s): %s\n", #name, dlerror());                                                                   \
        exit(1);                                                                                                       \
    }
    FUNCTIONS(RESOLVE)
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void unique_topic(char *buf, size_t n, const char *prefix) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, n, "%s_%ld_%ld", prefix, (long)ts.tv_sec, ts.tv_nsec);
}

static gnsq_producer_t *started_producer(const char *addr) {
    gnsq_producer_t *p = NULL;
    CHECK_RC(p_gnsq_producer_new(&p, &addr, 1, NULL), GNSQ_OK);
    CHECK_RC(p_gnsq_producer_start(p), GNSQ_OK);
    return p;
}

static gnsq_consumer_t *started_consumer(const char *addr, const char *topic, const char *log_level) {
    gnsq_consumer_t *c = NULL;
    gnsq_config_t *cfg = NULL;
    CHECK_RC(p_gnsq_config_new(&cfg), GNSQ_OK);
    CHECK_RC(p_gnsq_config_set(cfg, "max_in_flight", "10"), GNSQ_OK);
    if (log_level != NULL) CHECK_RC(p_gnsq_config_set(cfg, "log_level", log_level), GNSQ_OK);
    CHECK_RC(p_gnsq_consumer_new(&c, topic, "ch", &addr, 1, NULL, 0, cfg), GNSQ_OK);
    CHECK_RC(p_gnsq_config_free(cfg), GNSQ_OK);
    CHECK_RC(p_gnsq_consumer_start(c), GNSQ_OK);
    return c;
}

/* Polls c until a MESSAGE with body want arrives (finishing it), at most 10 s. */
static void consume_one(gnsq_consumer_t *c, const char *want) {
    gnsq_event_t evs[16];
    uint8_t buf[4096];
    int64_t deadline = now_ms() + 10000;
    while (now_ms() < deadline) {
        int n = p_gnsq_consumer_poll(c, evs, 16, 500, buf, sizeof buf);
        CHECK(n >= 0);
        for (int i = 0; i < n; i++) {
            if (evs[i].type != GNSQ_EV_MESSAGE) continue;
            gnsq_response_t r = {evs[i].token, GNSQ_RESP_FINISH, 0, 0, 0, 0};
            CHECK(evs[i].conn != 0);
            CHECK(evs[i].data_len == strlen(want) && memcmp(buf + evs[i].data_offset, want, evs[i].data_len) == 0);
            CHECK_RC(p_gnsq_consumer_respond(c, &r, 1, NULL, 0), 1);
            return;
        }
    }
    CHECK(!"no message within 10 s");
}

static void test_round_trip(void) {
    char topic[64];
    gnsq_producer_t *p = started_producer(nsqd_tcp);
    gnsq_consumer_t *c;
    unique_topic(topic, sizeof topic, "dlopen");
    CHECK_RC(p_gnsq_producer_publish(p, topic, "through dlopen", 14, 0, 5000), GNSQ_OK);
    c = started_consumer(nsqd_tcp, topic, NULL);
    consume_one(c, "through dlopen");
    CHECK_RC(p_gnsq_consumer_close(c, 5000), GNSQ_OK);
    CHECK_RC(p_gnsq_consumer_free(c), GNSQ_OK);
    CHECK_RC(p_gnsq_producer_close(p, 5000), GNSQ_OK);
    CHECK_RC(p_gnsq_producer_free(p), GNSQ_OK);
}

/* A fork after the library was used: every call in the child fails with
   GNSQ_E_FORKED at once; the parent goes on publishing. */
static void test_fork(void) {
    char topic[64];
    gnsq_producer_t *p = started_producer(nsqd_tcp);
    gnsq_producer_t *q = NULL;
    gnsq_event_t ev;
    uint8_t buf[64];
    int status = 0;
    int64_t deadline;
    pid_t child, done = 0;
    unique_topic(topic, sizeof topic, "fork");
    CHECK_RC(p_gnsq_producer_publish(p, topic, "before", 6, 0, 5000), GNSQ_OK);
    fflush(stdout);
    child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        int ok = p_gnsq_producer_publish(p, topic, "child", 5, 0, 5000) == GNSQ_E_FORKED &&
                 p_gnsq_producer_new(&q, &nsqd_tcp, 1, NULL) == GNSQ_E_FORKED &&
                 p_gnsq_producer_poll(p, &ev, 1, -1, buf, sizeof buf) == GNSQ_E_FORKED &&
                 p_gnsq_producer_close(p, -1) == GNSQ_E_FORKED && p_gnsq_version() == GNSQ_VERSION;
        p_gnsq_last_error(check_last, sizeof check_last);
        _exit(ok && strstr(check_last, "load the library in the child") != NULL ? 0 : 3);
    }
    for (deadline = now_ms() + 1000; done == 0 && now_ms() < deadline;) {
        struct timespec pause = {0, 1000 * 1000};
        done = waitpid(child, &status, WNOHANG);
        if (done == 0) nanosleep(&pause, NULL);
    }
    if (done == 0) {
        kill(child, SIGKILL);
        waitpid(child, &status, 0);
        CHECK(!"the forked child did not finish within 1 s");
    }
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_RC(p_gnsq_producer_publish(p, topic, "after", 5, 0, 5000), GNSQ_OK);
    CHECK_RC(p_gnsq_producer_free(p), GNSQ_OK);
}

struct blocked_call {
    gnsq_consumer_t *c;
    int run; /* 1: gnsq_consumer_run, 0: gnsq_consumer_poll(-1) */
    int rc;
    int started, returned;
};

static void *blocked_thread(void *arg) {
    struct blocked_call *b = arg;
    gnsq_event_t evs[4];
    uint8_t buf[256];
    __atomic_store_n(&b->started, 1, __ATOMIC_SEQ_CST);
    b->rc = b->run ? p_gnsq_consumer_run(b->c) : p_gnsq_consumer_poll(b->c, evs, 4, -1, buf, sizeof buf);
    __atomic_store_n(&b->returned, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Calls wakeup until the blocked call returns (a wakeup that comes before
   the call blocks ends its wait at once). */
static void wake_until_returned(struct blocked_call *b) {
    pthread_t t;
    struct timespec pause = {0, 5 * 1000 * 1000};
    CHECK(pthread_create(&t, NULL, blocked_thread, b) == 0);
    while (!__atomic_load_n(&b->started, __ATOMIC_SEQ_CST)) nanosleep(&pause, NULL);
    CHECK_RC(p_gnsq_consumer_wakeup(b->c), GNSQ_OK);
    CHECK(pthread_join(t, NULL) == 0);
}

/* A wakeup ends a poll(-1) and a run blocked on another thread, and a
   wakeup with nobody waiting ends the next wait. Consumers of a topic
   nobody publishes to: nothing else would end these waits. */
static void test_wakeup(void) {
    char topic[64];
    gnsq_event_t ev;
    uint8_t buf[256];
    gnsq_consumer_t *c;
    struct blocked_call poll_call = {0}, run_call = {0};
    unique_topic(topic, sizeof topic, "wakeup");
    c = started_consumer(nsqd_tcp, topic, "off");
    CHECK_RC(p_gnsq_consumer_set_event_mask(c, 0), GNSQ_OK); /* no CONNECTED from now on */
    while (p_gnsq_consumer_poll(c, &ev, 1, 0, buf, sizeof buf) > 0) {
    }
    poll_call.c = run_call.c = c;
    run_call.run = 1;
    wake_until_returned(&poll_call);
    CHECK(poll_call.rc == 0);
    wake_until_returned(&run_call);
    CHECK(run_call.rc == GNSQ_E_INTERRUPTED);
    CHECK_RC(p_gnsq_consumer_wakeup(c), GNSQ_OK);
    CHECK_RC(p_gnsq_consumer_poll(c, &ev, 1, -1, buf, sizeof buf), 0);
    CHECK_RC(p_gnsq_consumer_close(c, 5000), GNSQ_OK);
    CHECK_RC(p_gnsq_consumer_free(c), GNSQ_OK);
}

/* Records become LOG events, never stderr: a consumer of a dead nsqd logs
   a warning (the Go test checks stderr is empty), and at log_level info
   the connect to a live one is logged too. */
static int await_log(gnsq_consumer_t *c, int level, const char *needle) {
    gnsq_event_t evs[16];
    uint8_t buf[8192];
    int64_t deadline = now_ms() + 10000;
    while (now_ms() < deadline) {
        int n = p_gnsq_consumer_poll(c, evs, 16, 200, buf, sizeof buf);
        CHECK(n >= 0);
        for (int i = 0; i < n; i++) {
            const char *text = (const char *)buf + evs[i].data_offset;
            if (evs[i].type != GNSQ_EV_LOG || evs[i].value != level) continue;
            CHECK(evs[i].attempts > 0 && evs[i].attempts < evs[i].data_len && text[evs[i].attempts] == ' ');
            CHECK(strncmp(text, "gnsq.consumer.", 14) == 0);
            if (memmem(text, evs[i].data_len, needle, strlen(needle)) != NULL) return 1;
        }
    }
    return 0;
}

static void test_log_events(void) {
    char topic[64];
    gnsq_consumer_t *c;
    unique_topic(topic, sizeof topic, "log");
    c = started_consumer(dead_nsqd, topic, NULL);
    CHECK(await_log(c, GNSQ_LOG_WARNING, "connection failed"));
    CHECK_RC(p_gnsq_consumer_free(c), GNSQ_OK);
    c = started_consumer(nsqd_tcp, topic, "info");
    CHECK(await_log(c, GNSQ_LOG_INFO, "connected"));
    CHECK_RC(p_gnsq_consumer_free(c), GNSQ_OK);
}

int main(void) {
    const char *path = getenv("GNSQ_LIBRARY");
    nsqd_tcp = getenv("NSQD_TCP");
    dead_nsqd = getenv("DEAD_NSQD");
    if (path == NULL || nsqd_tcp == NULL || dead_nsqd == NULL) {
        printf("GNSQ_LIBRARY, NSQD_TCP and DEAD_NSQD must be set\n");
        return 2;
    }
    load(path);
    CHECK(p_gnsq_version() == GNSQ_VERSION);
    test_round_trip();
    printf("ok round_trip\n");
    test_fork();
    printf("ok fork\n");
    test_wakeup();
    printf("ok wakeup\n");
    test_log_events();
    printf("ok log_events\n");
    return 0;
}
