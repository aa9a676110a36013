'use strict';
// The libgnsq npm package against live nsqd/nsqlookupd.
const assert = require('node:assert/strict');
const { after, before, describe, test } = require('node:test');

const gnsq = require('../../bindings/node');
const { Server, until, sleep, topicName, freePort } = require('./servers');

let nsqd;
before(async () => { nsqd = await Server.start('nsqd'); });
after(async () => { await nsqd.stop(); });

async function withProducer(fn, options) {
  const producer = new gnsq.Producer([nsqd.tcpAddress], options);
  await producer.start();
  try {
    return await fn(producer);
  } finally {
    await producer.close();
  }
}

/** Starts a consumer whose 'message' listener is handler, and waits for cond. */
async function consume(topic, options, handler, cond, what) {
  const consumer = new gnsq.Consumer(topic, 'ch', { nsqdTcpAddresses: [nsqd.tcpAddress], ...options });
  consumer.on('message', handler);
  await consumer.start();
  await until(cond, what);
  return consumer;
}

describe('Producer', () => {
  test('publish, DPUB, MPUB, 100 in flight; binary bodies round-trip', async () => {
    const topic = topicName('pub');
    const binary = Buffer.from([0, 1, 2, 10, 13, 255, 0]);
    const responses = [];
    await withProducer(async (producer) => {
      producer.on('response', (text) => responses.push(text));
      assert.equal(producer.isRunning, true);
      assert.equal(await producer.publish(topic, 'text'), undefined);
      await producer.publish(topic, binary);
      await producer.publish(topic, new Uint8Array([7, 8]));
      // (a deferred message reaches a channel created after it only at nsqd's
      // next queue-scan refresh, 5 s: DPUB goes to a topic of its own)
      await producer.publish(`${topic}_d`, 'deferred', { defer: 60000 });
      await producer.multipublish(topic, [Buffer.from('a'), 'b']);
      await Promise.all(Array.from({ length: 100 }, (_, i) => producer.publish(topic, `c${i}`)));
    });
    // One 'response' per answer of nsqd: the 100 publishes of one tick share MPUBs.
    const oks = responses.filter((text) => text === 'OK').length;
    assert.ok(oks >= 6 && oks < 105, String(oks));
    const bodies = [];
    const consumer = await consume(topic, { maxInFlight: 200 }, (m) => { bodies.push(Buffer.from(m.body)); },
      () => bodies.length === 105, '105 messages');
    await consumer.close({ drain: true });
    assert.ok(bodies.some((b) => b.equals(binary)));
    assert.ok(bodies.some((b) => b.equals(Buffer.from([7, 8]))));
    await nsqd.http(`/channel/create?topic=${topic}_d&channel=ch`, '');
    assert.equal((await nsqd.channel(`${topic}_d`, 'ch')).deferred_count, 1);
  });

  test('bad input rejects before any I/O, with a clear error', async () => {
    const topic = topicName('bad');
    await withProducer(async (producer) => {
      await assert.rejects(producer.publish('bad topic!', 'x'), gnsq.InvalidArgumentError);
      await assert.rejects(producer.publish(topic, ''), gnsq.InvalidArgumentError);
      await assert.rejects(producer.publish(topic, 42), TypeError);
      // A bad argument does not take the other publishes of its tick down.
      const sameTick = producer.publish(topic, 'same tick');
      await assert.rejects(producer.publish(42, 'x'), TypeError);
      await sameTick;
      await assert.rejects(producer.multipublish(topic, []), gnsq.InvalidArgumentError);
      await assert.rejects(producer.multipublish(topic, ['a', '']), gnsq.InvalidArgumentError);
      assert.equal(await producer.publish(topic, 'still fine'), undefined);
    });
    assert.equal((await nsqd.channel(topic, 'none')), undefined);
  });

  test("an oversize body rejects with nsqd's error class and code; the producer goes on", async () => {
    const small = await Server.start('nsqd', ['--max-msg-size=100']);
    try {
      const producer = new gnsq.Producer([small.tcpAddress]);
      await producer.start();
      const error = await producer.publish('t', Buffer.alloc(101)).catch((e) => e);
      assert.ok(error instanceof gnsq.NSQServerError, String(error));
      assert.equal(error.code, 'E_BAD_MESSAGE');
      await producer.publish('t', Buffer.alloc(100)); // reconnected
      await producer.close();
    } finally {
      await small.stop();
    }
  });

  test('publishes of one tick share an MPUB: an nsqd refusing it fails each of them, and stores none', async () => {
    const small = await Server.start('nsqd', ['--max-body-size=1000']);
    try {
      const producer = new gnsq.Producer([small.tcpAddress]);
      await producer.start();
      const body = 'x'.repeat(20);
      // 100 x 20 B: one MPUB of about 2.4 KB, over the limit; each PUB alone is within it.
      const outcomes = await Promise.allSettled(Array.from({ length: 100 }, () => producer.publish('t', body)));
      for (const o of outcomes) {
        assert.ok(o.status === 'rejected' && o.reason instanceof gnsq.NSQServerError, String(o.reason));
        assert.equal(o.reason.code, 'E_BAD_BODY');
      }
      assert.equal(await producer.publish('t', body), undefined); // alone: accepted, after a reconnect
      assert.equal((await small.topic('t')).message_count, 1);
      await producer.close();
    } finally {
      await small.stop();
    }
  });

  test('use after close rejects; close is idempotent', async () => {
    const producer = new gnsq.Producer([nsqd.tcpAddress]);
    await assert.rejects(producer.publish('t', 'x'), gnsq.ClosedError); // not started
    let closes = 0;
    producer.on('close', () => closes++);
    await producer.start();
    await producer.close();
    await producer.close();
    assert.equal(closes, 1);
    await assert.rejects(producer.publish('t', 'x'), gnsq.ClosedError);
    await assert.rejects(producer.multipublish('t', ['x']), gnsq.ClosedError);
    await assert.rejects(producer.start(), gnsq.ClosedError);
  });

  test('no nsqd: a publish times out with NoConnectionsError, then succeeds once nsqd is up', async () => {
    const port = await freePort();
    const producer = new gnsq.Producer([`127.0.0.1:${port}`]);
    await producer.start();
    await assert.rejects(producer.publish('t', 'x', { timeout: 200 }), gnsq.NoConnectionsError);
    // Several made in one tick go out together, and each waits on its own.
    const timedOut = await Promise.allSettled([1, 2, 3].map((i) => producer.publish('t', `x${i}`, { timeout: 200 })));
    assert.deepEqual(timedOut.map((o) => o.reason instanceof gnsq.NoConnectionsError), [true, true, true]);
    const waiting = Promise.all([producer.publish('t', 'late'), producer.publish('t', 'late2')]);
    const late = await Server.start('nsqd', [`--tcp-address=127.0.0.1:${port}`]);
    try {
      await waiting;
      assert.equal((await late.topic('t')).message_count, 2);
      await producer.close();
    } finally {
      await late.stop();
    }
  });

  test('publishes made in one tick keep their order around an MPUB; a refused one rejects alone', async () => {
    const topic = topicName('tick');
    const published = [];
    let bad;
    let empty;
    await withProducer(async (producer) => {
      published.push(producer.publish(topic, '0'));
      bad = producer.publish('bad topic!', 'x');
      empty = producer.publish(topic, Buffer.alloc(0));
      published.push(producer.multipublish(topic, ['1', '2']));
      for (let i = 3; i < 300; i++) published.push(producer.publish(topic, String(i)));
      await assert.rejects(bad, gnsq.InvalidArgumentError);
      await assert.rejects(empty, /empty/);
      await Promise.all(published);
    });
    const bodies = [];
    const consumer = await consume(topic, { maxInFlight: 1 }, (m) => { bodies.push(m.body.toString()); },
      () => bodies.length === 300, '300 messages');
    await consumer.close({ drain: true });
    assert.deepEqual(bodies, Array.from({ length: 300 }, (_, i) => String(i)));
  });

  test('close rejects the publishes still awaiting an answer, exactly once each', async () => {
    const producer = new gnsq.Producer([nsqd.tcpAddress]);
    await producer.start();
    const outcomes = await Promise.allSettled([
      ...Array.from({ length: 200 }, () => producer.publish(topicName('closing'), 'x')),
      producer.close(),
    ]);
    for (const o of outcomes.slice(0, 200)) {
      assert.ok(o.status === 'fulfilled' || o.reason instanceof gnsq.ClosedError, String(o.reason));
    }
    assert.equal(producer._pending.size, 0);
  });
});

describe('Consumer', () => {
  test('a handler returning finishes; throwing requeues (exception event); giving up; finish/requeue events',
    async () => {
      const topic = topicName('rules');
      await withProducer((p) => p.multipublish(topic, ['ok', 'throw', 'reject']));
      const seen = [];
      const exceptions = [];
      const givingUp = [];
      const finished = [];
      const requeued = [];
      const consumer = new gnsq.Consumer(topic, 'ch', {
        nsqdTcpAddresses: [nsqd.tcpAddress], maxInFlight: 3, maxTries: 2, backoffOnRequeue: false,
        maxBackoffDuration: 0, // no backoff pauses between the failures
      });
      consumer.on('exception', (m, e) => exceptions.push([m.body.toString(), e.message]));
      consumer.on('givingUp', (m) => givingUp.push(m.body.toString()));
      consumer.on('finish', (id) => finished.push(id.toString()));
      consumer.on('requeue', (id, delay) => requeued.push(delay));
      consumer.on('message', (m) => {
        seen.push(`${m.body}:${m.attempts}`);
        assert.equal(typeof m.timestamp, 'bigint');
        assert.equal(m.id.length, 16);
        if (m.body.toString() === 'throw') throw new Error('boom');
        if (m.body.toString() === 'reject') return Promise.reject(new Error('async boom'));
        return sleep(1);
      });
      await consumer.start();
      await until(() => givingUp.length === 2 && finished.length === 3, '2 given up, 3 finished');
      await consumer.close();
      assert.deepEqual(seen.sort(), ['ok:1', 'reject:1', 'reject:2', 'throw:1', 'throw:2']);
      assert.deepEqual(exceptions.map((e) => e[1]).sort(), ['async boom', 'async boom', 'boom', 'boom']);
      assert.deepEqual(givingUp.sort(), ['reject', 'throw']);
      assert.equal(requeued.length, 4);
      const ch = await nsqd.channel(topic, 'ch');
      assert.equal(ch.in_flight_count, 0);
      assert.equal(ch.depth, 0);
    });

  test('RequeueMessage requeues without counting as a failure; enableAsync and touch', async () => {
    const topic = topicName('async');
    await withProducer((p) => p.multipublish(topic, ['a', 'b']));
    const attempts = [];
    const exceptions = [];
    const consumer = await consume(topic, { maxInFlight: 2 }, (m) => {
      attempts.push(`${m.body}:${m.attempts}`);
      if (m.body.toString() === 'a' && m.attempts === 1) throw new gnsq.RequeueMessage(false);
      m.enableAsync();
      setTimeout(() => {
        m.touch();
        m.finish();
        assert.throws(() => m.finish(), gnsq.NSQError);
      }, 5);
      return undefined;
    }, () => attempts.length === 3, '3 deliveries');
    consumer.on('exception', (m, e) => exceptions.push(e));
    await until(async () => (await nsqd.channel(topic, 'ch')).in_flight_count === 0 &&
      (await nsqd.channel(topic, 'ch')).depth === 0, 'all finished');
    await consumer.close();
    assert.deepEqual(attempts.sort(), ['a:1', 'a:2', 'b:1']);
    assert.equal(exceptions.length, 0);
  });

  test('a failure backs off (RDY 0 for a while) and successes bring RDY back', async () => {
    const topic = topicName('backoff');
    await nsqd.fill(topic, 20);
    const readyCounts = [];
    let failures = 0;
    let handled = 0;
    const consumer = await consume(topic, { maxInFlight: 10, maxBackoffDuration: 0.5 }, () => {
      handled++;
      if (failures < 1) {
        failures++;
        throw new Error('fail once');
      }
    }, () => handled >= 1, 'the first message');
    consumer.on('exception', () => {});
    // sample RDY while it backs off and recovers
    await until(() => {
      readyCounts.push(consumer.totalReadyCount);
      return handled >= 21;
    }, 'every message handled after the backoff');
    await consumer.close({ drain: true });
    assert.ok(readyCounts.includes(0), `RDY 0 during the backoff: ${readyCounts.slice(0, 20)}`);
    assert.ok(readyCounts.some((r) => r > 1), 'RDY back above 1 after it');
  });

  test('two nsqd with maxInFlight 1: both deliver', async () => {
    const other = await Server.start('nsqd');
    try {
      const topic = topicName('two');
      await nsqd.fill(topic, 5, (i) => `a${i}`);
      await other.fill(topic, 5, (i) => `b${i}`);
      const got = [];
      const consumer = new gnsq.Consumer(topic, 'ch', { nsqdTcpAddresses: [nsqd.tcpAddress, other.tcpAddress],
        maxInFlight: 1, lowReadyIdleTimeout: 0.1, rdyRedistributeInterval: 0.1 });
      consumer.on('message', (m) => { got.push(m.body.toString()); });
      await consumer.start();
      await until(() => got.length === 10, '10 messages', 30000);
      await consumer.close({ drain: true });
      assert.deepEqual(got.sort(), [0, 1, 2, 3, 4].map((i) => `a${i}`).concat([0, 1, 2, 3, 4].map((i) => `b${i}`)));
    } finally {
      await other.stop();
    }
  });

  for (const drain of [true, false]) {
    test(`close(${drain ? '{drain: true}' : ''}) with 100 in flight and slow async handlers loses nothing`, async () => {
      const topic = topicName(drain ? 'drain' : 'nodrain');
      await nsqd.fill(topic, 400);
      let handled = 0;
      const consumer = await consume(topic, { maxInFlight: 100 }, async () => {
        await sleep(10);
        handled++;
      }, () => handled >= 20, '20 handled');
      const closing = consumer.close({ drain });
      // without drain, handlers still running are abandoned (their messages
      // requeued): what counts is what was handled when close() was called
      const handledBefore = handled;
      await closing;
      assert.equal(consumer.isRunning, false);
      // nsqd applies the last answers written before the close a moment later
      await until(async () => (await nsqd.channel(topic, 'ch')).in_flight_count === 0, 'nothing in flight');
      assert.equal((await nsqd.channel(topic, 'ch')).depth, 400 - (drain ? handled : handledBefore));
    });
  }

  test('drain with a timeout: a handler that never settles does not hold the close', async () => {
    const topic = topicName('stuck');
    await nsqd.fill(topic, 3);
    let started = 0;
    const consumer = await consume(topic, { maxInFlight: 3 }, () => {
      started++;
      return new Promise(() => {});
    }, () => started >= 1, 'a handler running');
    const t0 = Date.now();
    await consumer.close({ drain: true, timeout: 200 });
    assert.ok(Date.now() - t0 < 4000, 'closed by the timeout');
    await until(async () => (await nsqd.channel(topic, 'ch')).in_flight_count === 0, 'requeued');
  });

  test('start without a message listener, and bad names, are refused', async () => {
    const consumer = new gnsq.Consumer('t', 'c', { nsqdTcpAddresses: [nsqd.tcpAddress] });
    await assert.rejects(consumer.start(), TypeError);
    const bad = new gnsq.Consumer('bad topic!', 'c', { nsqdTcpAddresses: [nsqd.tcpAddress] });
    bad.on('message', () => {});
    await assert.rejects(bad.start(), gnsq.InvalidArgumentError);
    assert.throws(() => new gnsq.Consumer('t', 'c', {}), TypeError);
    // options are checked when the object is created
    assert.throws(() => new gnsq.Consumer('t', 'c', { nsqdTcpAddresses: [nsqd.tcpAddress], noSuchOption: 1 }),
      gnsq.InvalidArgumentError);
    assert.throws(() => new gnsq.Producer([nsqd.tcpAddress], { maxInFlight: 'many' }), gnsq.InvalidArgumentError);
    const closed = new gnsq.Consumer('t', 'c', { nsqdTcpAddresses: [nsqd.tcpAddress] });
    await closed.close();
    closed.on('message', () => {});
    await assert.rejects(closed.start(), gnsq.ClosedError);
  });

  test("an nsqd error without an 'error' listener does not crash the process", async () => {
    const topic = topicName('unhandled');
    await nsqd.fill(topic, 1);
    let got = 0;
    const consumer = await consume(topic, { maxInFlight: 1 }, (m) => {
      got++;
      m.finish();
      m._responded = false;
      m.finish(); // a second FIN: nsqd answers E_FIN_FAILED (non-fatal)
    }, () => got === 1, 'the message');
    await sleep(100);
    assert.equal(consumer.isRunning, true);
    await consumer.close();
  });
});

describe('HTTP clients', () => {
  test('NsqdHTTPClient', async () => {
    const topic = topicName('http');
    const client = new gnsq.NsqdHTTPClient(`http://${nsqd.httpAddress}`);
    assert.equal(await client.ping(), 'OK');
    assert.equal((await client.info()).version, '1.3.0');
    assert.equal(await client.createTopic(topic), '');
    assert.equal(await client.createChannel(topic, 'ch'), '');
    assert.equal(await client.publish(topic, Buffer.from([0, 10, 255])), 'OK');
    assert.equal(await client.publish(topic, 'later', { defer: 1000 }), 'OK');
    assert.equal(await client.multipublish(topic, ['a', 'b']), 'OK');
    assert.equal(await client.multipublish(topic, ['with\nnewline'], { binary: true }), 'OK');
    assert.equal((await client.stats({ topic })).topics[0].message_count, 5);
    assert.match(await client.stats({ text: true }), new RegExp(topic));
    assert.deepEqual(await Promise.all(Array.from({ length: 20 }, () => client.ping())), Array(20).fill('OK'));
    for (const op of ['pauseTopic', 'unpauseTopic', 'emptyTopic']) assert.equal(await client[op](topic), '');
    for (const op of ['pauseChannel', 'unpauseChannel', 'emptyChannel', 'deleteChannel']) {
      assert.equal(await client[op](topic, 'ch'), '');
    }
    const error = await client.deleteChannel(topic, 'ch').catch((e) => e);
    assert.ok(error instanceof gnsq.HTTPError, String(error));
    assert.equal(error.status, 404);
    assert.equal(error.code, 'CHANNEL_NOT_FOUND');
    assert.equal(await client.deleteTopic(topic), '');
    await assert.rejects(client.publish('bad topic!', 'x'), gnsq.InvalidArgumentError);
    await client.close();
    await assert.rejects(client.ping(), gnsq.ClosedError);
  });

  test('LookupdClient', async () => {
    const lookupd = await Server.start('nsqlookupd');
    const registered = await Server.start('nsqd', [`--lookupd-tcp-address=${lookupd.tcpAddress}`]);
    try {
      const topic = topicName('lookup');
      const client = new gnsq.LookupdClient(lookupd.httpAddress);
      assert.equal(await client.ping(), 'OK');
      assert.ok((await client.info()).version);
      await registered.http(`/topic/create?topic=${topic}`, '');
      await until(async () => (await client.topics()).topics.includes(topic), 'the topic registered');
      assert.deepEqual((await client.lookup(topic)).producers.map((p) => p.tcp_port), [registered.tcpPort]);
      assert.deepEqual((await client.nodes()).producers.map((p) => p.tcp_port), [registered.tcpPort]);
      assert.equal(await client.createTopic(`${topic}_2`), '');
      assert.equal(await client.deleteTopic(`${topic}_2`), '');
      assert.equal(await client.createChannel(topic, 'ch'), '');
      assert.ok((await client.channels(topic)).channels.includes('ch'));
      assert.equal(await client.deleteChannel(topic, 'ch'), '');
      await assert.rejects(client.lookup('no_such_topic'), gnsq.HTTPError);

      // a Consumer that finds nsqd through lookupd
      await registered.fill(topic, 10);
      const got = [];
      const consumer = new gnsq.Consumer(topic, 'ch2', { lookupdHttpAddresses: [lookupd.httpAddress],
        maxInFlight: 10, lookupdPollInterval: 0.1 });
      consumer.on('message', (m) => { got.push(m.body.toString()); });
      await consumer.start();
      try {
        await until(() => got.length === 10, '10 messages via lookupd');
      } finally {
        await consumer.close({ drain: true });
      }
      assert.equal(await client.tombstoneTopic(topic, `127.0.0.1:${registered.httpPort}`), '');
      await client.close();
    } finally {
      await registered.stop();
      await lookupd.stop();
    }
  });
});
