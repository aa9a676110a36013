/*
 * A consumer driven by callbacks: gnsq_consumer_run() dispatches events to
 * the registered callbacks on this thread (gnsq's start(block=True)). The
 * message callback answers each message; after `count` messages it returns
 * non-zero, which makes run() return, and the consumer is closed.
 *
 * usage: consumer_callbacks <nsqd host:port> <topic> <channel> <count>
 */
#include <stdio.h>
#include <stdlib.h>

#include "gnsq.h"

struct state {
    gnsq_consumer_t *consumer;
    int wanted, received;
};

static int on_message(const gnsq_event_t *ev, const uint8_t *data, void *closure) {
    struct state *st = closure;
    gnsq_response_t answer = {ev->token, GNSQ_RESP_HANDLER_OK, 0, 0, 0, 0};
    if (ev->flags & GNSQ_EVF_HELD) {
        printf("message of %u bytes (held)\n", (unsigned)ev->data_len);
        /* Large bodies are read with gnsq_consumer_read_body(); here it is
           not needed, so it stays held until the consumer is freed. */
    } else {
        printf("message: %.*s (attempt %u)\n", (int)ev->data_len, (const char *)data, (unsigned)ev->attempts);
    }
    if (gnsq_consumer_respond(st->consumer, &answer, 1, NULL, 0) < 0) {
        char why[256];
        gnsq_last_error(why, sizeof why);
        fprintf(stderr, "respond: %s\n", why);
    }
    return ++st->received >= st->wanted; /* non-zero: stop run() */
}

static int on_signal(const gnsq_event_t *ev, const uint8_t *data, void *closure) {
    (void)closure;
    if (ev->type == GNSQ_EV_CONNECTED) printf("connected to %.*s\n", (int)ev->data_len, (const char *)data);
    if (ev->type == GNSQ_EV_ERROR) fprintf(stderr, "error: %.*s\n", (int)ev->data_len, (const char *)data);
    return 0;
}

int main(int argc, char **argv) {
    struct state st = {NULL, 0, 0};
    gnsq_config_t *cfg = NULL;
    const char *nsqd;
    int rc;
    if (argc != 5) {
        fprintf(stderr, "usage: %s <nsqd host:port> <topic> <channel> <count>\n", argv[0]);
        return 2;
    }
    nsqd = argv[1];
    st.wanted = atoi(argv[4]);
    if (gnsq_config_new(&cfg) < 0 || gnsq_config_set(cfg, "max_in_flight", "10") < 0 ||
        gnsq_consumer_new(&st.consumer, argv[2], argv[3], &nsqd, 1, NULL, 0, cfg) < 0 ||
        gnsq_consumer_set_callback(st.consumer, GNSQ_EV_MESSAGE, on_message, &st) < 0 ||
        gnsq_consumer_set_callback(st.consumer, 0, on_signal, &st) < 0 ||
        gnsq_consumer_start(st.consumer) < 0) {
        char why[256];
        gnsq_last_error(why, sizeof why);
        fprintf(stderr, "setup failed: %s\n", why);
        return 1;
    }
    gnsq_config_free(cfg);
    rc = gnsq_consumer_run(st.consumer);
    printf("run returned %d after %d messages\n", rc, st.received);
    gnsq_consumer_close(st.consumer, 5000);
    gnsq_consumer_free(st.consumer);
    return st.received >= st.wanted ? 0 : 1;
}
