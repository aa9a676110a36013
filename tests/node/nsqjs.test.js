'use strict';
// The nsqjs facade with an nsqjs-style program: Reader and Writer with
// callbacks and nsqjs's event names, as an nsqjs 0.13 user writes them.
const assert = require('node:assert/strict');
const { after, before, test } = require('node:test');

const nsq = require('../../bindings/node/nsqjs');
const { Server, until, topicName } = require('./servers');

let nsqd;
before(async () => { nsqd = await Server.start('nsqd'); });
after(async () => { await nsqd.stop(); });

test('an nsqjs program: Writer.publish with callbacks, Reader with message/discard/ready events', async () => {
  const topic = topicName('nsqjs');
  const [host, port] = nsqd.tcpAddress.split(':');

  const w = new nsq.Writer(host, Number(port));
  const published = [];
  await new Promise((resolve, reject) => {
    w.on('ready', () => {
      w.publish(topic, 'single', (err) => {
        if (err) return reject(err);
        published.push('single');
        w.publish(topic, ['a', Buffer.from('b'), { json: true }], (err2) => {
          if (err2) return reject(err2);
          published.push('array');
          resolve();
        });
      });
    });
    w.on('error', reject);
    w.connect();
  });
  assert.deepEqual(published, ['single', 'array']);
  await w.publish(topic, 'promise too'); // the facade's publish also returns a Promise

  const events = [];
  const bodies = [];
  const discarded = [];
  const reader = new nsq.Reader(topic, 'ch', { nsqdTCPAddresses: nsqd.tcpAddress, maxInFlight: 10, maxAttempts: 2 });
  reader.on('ready', () => events.push('ready'));
  reader.on('nsqd_connected', (h, p) => events.push(`connected ${h}:${p}`));
  reader.on('discard', (msg) => discarded.push(msg.body.toString()));
  reader.on('message', (msg) => {
    assert.equal(typeof msg.id, 'string');
    assert.equal(typeof msg.timestamp, 'bigint');
    if (msg.body.toString() === 'a') {
      msg.requeue(0, false); // fails until discarded after maxAttempts
      return;
    }
    if (msg.body.toString().startsWith('{')) bodies.push(msg.json());
    else bodies.push(msg.body.toString());
    msg.finish();
  });
  reader.connect();
  await until(() => bodies.length === 4 && discarded.length === 1, 'four finished, one discarded');
  assert.deepEqual(events, [`connected ${nsqd.tcpAddress}`, 'ready']);
  assert.deepEqual(bodies.map((b) => (typeof b === 'string' ? b : JSON.stringify(b))).sort(),
    ['b', 'promise too', 'single', '{"json":true}']);
  assert.deepEqual(discarded, ['a']);
  await reader.close();

  // a closed Reader connects again (nsqjs could not)
  await w.publish(topic, 'after restart');
  const again = [];
  reader.removeAllListeners('message');
  reader.on('message', (msg) => { again.push(msg.body.toString()); msg.finish(); });
  await reader.connect();
  await until(() => again.length === 1, 'the message after the restart');
  assert.deepEqual(again, ['after restart']);
  await reader.close();
  await w.close();
  const ch = await nsqd.channel(topic, 'ch');
  assert.equal(ch.in_flight_count, 0);
  assert.equal(ch.depth, 0);
});

test("the facade's 'error' without a listener never throws; publish errors reach the callback", async () => {
  const [host, port] = nsqd.tcpAddress.split(':');
  const w = new nsq.Writer(host, Number(port));
  await w.connect();
  const err = await new Promise((resolve) => w.publish('bad topic!', 'x', resolve));
  assert.ok(err instanceof Error && /invalid topic/.test(err.message), String(err));
  await w.close();
  const unconnected = new nsq.Writer(host, Number(port));
  const err2 = await new Promise((resolve) => unconnected.publish('t', 'x', resolve));
  assert.match(String(err2), /No active Writer/);
});
