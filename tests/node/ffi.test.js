'use strict';
// The C ABI from a generic FFI library (koffi, a dev dependency only): any
// FFI user can load libgnsq.so and reach it, without the addon.
const assert = require('node:assert/strict');
const path = require('node:path');
const { after, before, test } = require('node:test');

const koffi = require('../../bindings/node/node_modules/koffi');
const { Server, topicName, ROOT, until } = require('./servers');

let nsqd;
before(async () => { nsqd = await Server.start('nsqd'); });
after(async () => { await nsqd.stop(); });

test('koffi: load libgnsq.so, publish, poll a message, answer it, close', async () => {
  const lib = koffi.load(path.join(ROOT, 'build', 'lib', 'libgnsq.so.0'));
  const fn = (proto) => lib.func(proto);
  const versionStr = fn('const char *gnsq_version_str(void)');
  const lastError = fn('int gnsq_last_error(_Out_ char *buf, size_t n)');
  const producerNew = fn('int gnsq_producer_new(_Out_ void **out, const char **addrs, size_t n, void *cfg)');
  const producerStart = fn('int gnsq_producer_start(void *p)');
  const publish = fn('int gnsq_producer_publish(void *p, const char *topic, const void *body, size_t len, int64_t defer_ms, int timeout_ms)');
  const producerClose = fn('int gnsq_producer_close(void *p, int timeout_ms)');
  const producerFree = fn('int gnsq_producer_free(void *p)');
  const consumerNew = fn('int gnsq_consumer_new(_Out_ void **out, const char *topic, const char *channel, const char **nsqds, size_t n_nsqd, const char **lookupds, size_t n_lookupd, void *cfg)');
  const consumerStart = fn('int gnsq_consumer_start(void *c)');
  const consumerPoll = fn('int gnsq_consumer_poll(void *c, _Out_ uint8_t *evs, int max, int timeout_ms, _Out_ uint8_t *buf, size_t len)');
  const consumerRespond = fn('int gnsq_consumer_respond(void *c, const uint8_t *r, size_t n, const char *texts, size_t texts_len)');
  const consumerClose = fn('int gnsq_consumer_close(void *c, int timeout_ms)');
  const consumerFree = fn('int gnsq_consumer_free(void *c)');

  const check = (rc) => {
    if (rc < 0) {
      const buf = Buffer.alloc(1024);
      lastError(buf, buf.length);
      assert.fail(`libgnsq error ${rc}: ${buf.toString('utf8').replace(/\0.*$/s, '')}`);
    }
    return rc;
  };
  assert.match(versionStr(), /^\d+\.\d+\.\d+$/);
  const topic = topicName('ffi');

  const out = [null];
  check(producerNew(out, [nsqd.tcpAddress], 1, null));
  const producer = out[0];
  check(producerStart(producer));
  const body = Buffer.from('through koffi');
  check(publish(producer, topic, body, body.length, 0, 5000));
  check(producerClose(producer, 5000));
  check(producerFree(producer));

  check(consumerNew(out, topic, 'ch', [nsqd.tcpAddress], 1, null, 0, null));
  const consumer = out[0];
  check(consumerStart(consumer));
  const events = Buffer.alloc(64 * 16);
  const data = Buffer.alloc(64 * 1024);
  let message = null;
  for (let i = 0; i < 50 && !message; i++) {
    const n = check(consumerPoll(consumer, events, 16, 200, data, data.length));
    for (let e = 0; e < n; e++) {
      if (events.readInt32LE(e * 64) === 1) { // GNSQ_EV_MESSAGE
        const off = events.readUInt32LE(e * 64 + 36);
        message = { token: events.subarray(e * 64 + 8, e * 64 + 16), body: data.toString('utf8', off, off + events.readUInt32LE(e * 64 + 32)) };
      }
    }
  }
  assert.ok(message, 'a MESSAGE event');
  assert.equal(message.body, 'through koffi');
  const response = Buffer.alloc(32); // gnsq_response_t: FINISH
  message.token.copy(response, 0);
  response.writeInt32LE(1, 8);
  check(consumerRespond(consumer, response, 1, null, 0));
  check(consumerClose(consumer, 5000));
  check(consumerFree(consumer));
  // nsqd applies the FIN and the disconnect on its own goroutines: await
  // the message leaving flight; a lost FIN would put it back in depth.
  let ch;
  await until(async () => (ch = await nsqd.channel(topic, 'ch')).in_flight_count === 0, 'the message out of flight');
  assert.equal(ch.in_flight_count, 0, 'the FIN reached nsqd');
  assert.equal(ch.depth, 0);
  // (no lib.unload(): a Go runtime cannot be unloaded from a process)
});
