/*
 * Process lifecycle (R37): start a producer and a consumer, publish, then
 * exit without closing or freeing anything. Must exit 0, without hanging
 * or crashing, every time.
 */
#include <stdio.h>
#include <stdlib.h>

#include "gnsq.h"

int main(void) {
    const char *nsqd = getenv("NSQD_TCP");
    gnsq_producer_t *p = NULL;
    gnsq_consumer_t *c = NULL;
    gnsq_event_t ev;
    unsigned char buf[256];
    if (nsqd == NULL) return 2;
    if (gnsq_producer_new(&p, &nsqd, 1, NULL) != GNSQ_OK || gnsq_producer_start(p) != GNSQ_OK) return 3;
    if (gnsq_producer_publish(p, "exit_live", "x", 1, 0, 5000) != GNSQ_OK) return 4;
    if (gnsq_consumer_new(&c, "exit_live", "ch", &nsqd, 1, NULL, 0, NULL) != GNSQ_OK) return 5;
    if (gnsq_consumer_start(c) != GNSQ_OK) return 6;
    (void)gnsq_consumer_poll(c, &ev, 1, 50, buf, sizeof buf);
    return 0;
}
