// A typed program over the whole libgnsq API. It is never run: it must
// type-check (tests/node/types.test.js runs `tsc --noEmit -p tests/node/typed`),
// and the `@ts-expect-error` lines at the end must stay errors.
import { setTimeout as sleep } from 'node:timers/promises';

import gnsq, {
  ClosedError,
  ConnectionError,
  Consumer,
  HTTPError,
  InvalidArgumentError,
  LookupdClient,
  Message,
  NoConnectionsError,
  NSQError,
  NSQServerError,
  NsqdHTTPClient,
  Producer,
  RequeueMessage,
  libraryVersion,
} from 'libgnsq';
import type { ConsumerOptions, LogRecordLevel, NsqdStats, ProducerOptions } from 'libgnsq';
import nsqjs, { Reader, Writer } from 'libgnsq/nsqjs';
import type { Message as NsqjsMessage, ReaderOptions } from 'libgnsq/nsqjs';

// Exact types, checked at compile time.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
const checks: [
  Equal<Message['id'], Buffer>,
  Equal<Message['body'], Buffer>,
  Equal<Message['timestamp'], bigint>,
  Equal<Message['attempts'], number>,
  Equal<NsqjsMessage['id'], string>,
  Equal<NsqjsMessage['timestamp'], bigint>,
  Equal<ReturnType<Producer['publish']>, Promise<void>>,
  Equal<ReturnType<NsqdHTTPClient['publish']>, Promise<string>>,
  Equal<ReturnType<Consumer['close']>, Promise<void>>,
  Equal<ReturnType<Writer['publish']>, Promise<void>>,
  Equal<HTTPError['status'], number>,
  Equal<NSQError['errno'], number>,
  Equal<RequeueMessage['backoff'], boolean | undefined>,
  Equal<typeof gnsq.Producer, typeof Producer>,
  Equal<typeof nsqjs.Reader, typeof Reader>,
] = [true, true, true, true, true, true, true, true, true, true, true, true, true, true, true];

const NSQD = process.env.NSQD_TCP ?? '127.0.0.1:4150';
const NSQD_HTTP = process.env.NSQD_HTTP ?? 'http://127.0.0.1:4151';
const LOOKUPD_HTTP = process.env.LOOKUPD_HTTP ?? '127.0.0.1:4161';

interface Order {
  id: number;
  sku: string;
  quantity: number;
}

class TemporaryFailure extends Error {}

/** One line about any error this package (or a handler) produces. */
export function describe(error: unknown): string {
  if (error instanceof HTTPError) {
    return `HTTP ${error.status} ${error.code}`;
  }
  if (error instanceof NSQServerError) {
    switch (error.code) {
      case 'E_BAD_MESSAGE': return 'nsqd refused the body (too big?)';
      case 'E_BAD_TOPIC': return 'nsqd refused the topic name';
      default: return `nsqd said ${error.code}: ${error.message}`;
    }
  }
  if (error instanceof ConnectionError) {
    const code: 'GNSQ_E_CONNECTION' | 'GNSQ_E_TIMEOUT' | 'GNSQ_E_IO' | 'GNSQ_E_TLS' | 'GNSQ_E_PROTOCOL' | 'GNSQ_E_AUTH' =
      error.code;
    return code === 'GNSQ_E_TLS' ? 'TLS failed' : `connection failed (${code})`;
  }
  if (error instanceof NoConnectionsError) return 'no nsqd reachable';
  if (error instanceof ClosedError) return `closed (${error.code})`;
  if (error instanceof InvalidArgumentError) return `bad argument: ${error.message}`;
  if (error instanceof NSQError) return `${error.name} ${error.code} (errno ${error.errno})`;
  if (error instanceof Error) return error.message;
  return String(error);
}

async function produce(topic: string): Promise<void> {
  const options: ProducerOptions = {
    clientId: 'orders-api',
    heartbeatInterval: 10,
    dialTimeout: '2s',
    snappy: true,
    maxBackoffDuration: 30,
    logLevel: 'info',
  };
  const producer = new Producer([NSQD], options);
  producer.on('error', (error) => console.error('producer:', describe(error)));
  producer.on('connected', (address) => console.log('connected to', address));
  producer.on('log', (level: LogRecordLevel, component, text) => {
    if (level >= 30) console.warn(`${component}: ${text}`);
  });
  await producer.start();
  try {
    const order: Order = { id: 1, sku: 'A-1', quantity: 2 };
    await producer.publish(topic, JSON.stringify(order));
    await producer.publish(topic, Buffer.from([0, 1, 2]), { timeout: 1000 });
    await producer.publish(topic, new Uint8Array([3, 4]), { defer: 60_000 });
    await producer.multipublish(topic, ['a', Buffer.from('b'), new Uint8Array([99])]);
    await producer.multipublish(topic, new Set(['x', 'y']));
    // a window of 100 publishes in flight
    await Promise.all(Array.from({ length: 100 }, (_, i) => producer.publish(topic, `n${i}`)));
    try {
      await producer.publish(topic, Buffer.alloc(10 * 1024 * 1024));
    } catch (error) {
      if (error instanceof NSQServerError && error.code === 'E_BAD_MESSAGE') console.log('too big, skipped');
      else throw error;
    }
  } finally {
    await producer.close();
  }
  console.log('producer running after close:', producer.isRunning);
}

async function consume(topic: string): Promise<void> {
  const options: ConsumerOptions = {
    nsqdTcpAddresses: [NSQD],
    lookupdHttpAddresses: LOOKUPD_HTTP,
    maxInFlight: 50,
    maxTries: 10,
    requeueDelay: '5s',
    backoffOnRequeue: false,
    lookupdPollInterval: 15,
    lowReadyIdleTimeout: 30,
    tlsV1: false,
  };
  const consumer = new Consumer(topic, 'billing', options);
  const seen = new Set<string>();

  consumer.on('message', async function (this: Consumer, message) {
    const order = message.json<Order>();
    const key = message.id.toString('hex');
    if (seen.has(key)) return; // finished
    if (order.quantity <= 0) throw new Error('bad quantity'); // requeued, 'exception'
    try {
      await sleep(5);
    } catch {
      throw new RequeueMessage(false); // requeued without backoff or 'exception'
    }
    seen.add(key);
    const sentMs = Number(message.timestamp / 1_000_000n);
    console.log(`order ${order.id} (attempt ${message.attempts}) ${Date.now() - sentMs} ms after publish`);
    if (this.totalInFlight > 40) console.log('busy');
  });

  // a second topic's messages are answered later, outside the handler
  const slow = new Consumer(`${topic}_slow`, 'archive', { nsqdTcpAddresses: NSQD });
  const pending: Message[] = [];
  slow.on('message', (message) => {
    message.enableAsync();
    pending.push(message);
    if (pending.length >= 10) {
      for (const m of pending.splice(0)) {
        if (m.text().startsWith('retry')) m.requeue(1000, false);
        else m.finish();
      }
    }
  });
  const keepAlive = setInterval(() => pending.forEach((m) => m.touch()), 30_000);
  // a second listener that returns a value (ignored: a plain return finishes)
  const sizes: number[] = [];
  slow.on('message', (message) => sizes.push(message.body.length));

  consumer.on('exception', (message, error) => {
    console.warn(`handler failed on ${message.id.toString('hex')}:`, error instanceof TemporaryFailure, describe(error));
  });
  consumer.on('givingUp', (message) => console.error('gave up on', message.body.toString(), message.hasResponded));
  consumer.on('finish', (id) => seen.delete(id.toString('hex')));
  consumer.on('requeue', (id, delayMs) => console.log('requeued', id.length, delayMs));
  consumer.on('error', (error) => console.error('consumer:', describe(error)));
  consumer.on('auth', (response) => console.log('authenticated as', response.identity, response.permission_count));
  consumer.once('close', () => console.log('consumer closed'));
  consumer.on('disconnected', (address) => console.log('lost', address));

  await consumer.start();
  await slow.start();
  console.log(consumer.topic, consumer.channel, consumer.isRunning, consumer.isStarved, consumer.totalReadyCount);
  consumer.setMaxInFlight(100);
  consumer.connectToNsqd('127.0.0.1:4152');

  process.once('SIGINT', () => {
    void consumer.close(); // requeues what is not finished yet
  });
  await sleep(1000);
  clearInterval(keepAlive);
  await Promise.all([consumer.close({ drain: true, timeout: 10_000 }), slow.close()]);
}

async function administer(topic: string): Promise<NsqdStats> {
  const nsqd = new NsqdHTTPClient(NSQD_HTTP, { timeout: 5, userAgent: 'orders-admin/1.0' });
  const lookupd = new LookupdClient(LOOKUPD_HTTP);
  try {
    const ok: string = await nsqd.ping();
    const info = await nsqd.info();
    console.log(ok, info.version, info.tcp_port);
    await nsqd.createTopic(topic);
    await nsqd.createChannel(topic, 'billing');
    await nsqd.publish(topic, '{"id":2,"sku":"B","quantity":1}', { defer: 500 });
    await nsqd.multipublish(topic, ['line\nbreak'], { binary: true });
    await nsqd.pauseChannel(topic, 'billing');
    await nsqd.unpauseChannel(topic, 'billing');
    const text: string = await nsqd.stats({ text: true });
    console.log(text.length);
    const stats = await nsqd.stats({ topic, channel: 'billing' });
    for (const t of stats.topics) {
      for (const c of t.channels) console.log(t.topic_name, c.channel_name, c.depth, c.in_flight_count);
    }
    try {
      await nsqd.deleteChannel(topic, 'no_such_channel');
    } catch (error) {
      if (error instanceof HTTPError && error.status === 404) console.log(error.code); // 'CHANNEL_NOT_FOUND'
    }

    const found = await lookupd.lookup(topic);
    for (const p of found.producers) console.log(p.broadcast_address, p.tcp_port);
    const { topics } = await lookupd.topics();
    const { channels } = await lookupd.channels(topic);
    const { producers } = await lookupd.nodes();
    console.log(topics.length, channels.length, producers.map((p) => p.tombstones.length));
    if (producers[0]) await lookupd.tombstoneTopic(topic, `${producers[0].broadcast_address}:${producers[0].http_port}`);
    console.log((await lookupd.info()).version, nsqd.url, lookupd.url);
    return stats;
  } finally {
    await Promise.all([nsqd.close(), lookupd.close()]);
  }
}

/** An nsqjs 0.13 program, unchanged but for the require. */
async function legacy(topic: string): Promise<void> {
  const options: ReaderOptions = {
    lookupdHTTPAddresses: LOOKUPD_HTTP,
    nsqdTCPAddresses: [NSQD],
    maxInFlight: 10,
    maxAttempts: 3,
    requeueDelay: 2000,
    tls: false,
    tlsVerification: true,
    messageTimeout: null,
  };
  const reader = new Reader(topic, 'legacy', options);
  reader.on(Reader.MESSAGE, (msg) => {
    const order = msg.json<Order>();
    if (order.quantity > 0) msg.finish();
    else msg.requeue();
  });
  reader.on('discard', (msg) => console.log('discarded', msg.id, msg.attempts));
  reader.on('nsqd_connected', (host, port) => console.log(host, port + 0));
  reader.on('error', (error) => console.error('reader:', describe(error), error.code));
  reader.on(Reader.READY, () => console.log('reader ready', reader.isPaused()));
  await reader.connect();
  reader.pause();
  reader.unpause();

  const writer = new Writer('127.0.0.1', 4150, { deflate: true, deflateLevel: 3, clientId: 'legacy' });
  writer.on(Writer.READY, () => {
    writer.publish(topic, { id: 3, sku: 'C', quantity: 1 }, (err) => {
      if (err) console.error(err.message);
    });
  });
  writer.on('error', (error) => console.error(describe(error)));
  writer.on(Writer.CLOSED, () => console.log('writer closed'));
  await writer.connect();
  await writer.publish(topic, ['one', Buffer.from('two'), { three: 3 }]);
  await writer.deferPublish(topic, 'later', 1500);
  await writer.close();
  await reader.close();
  await reader.connect(); // a closed Reader connects again
  await reader.close();
}

async function main(): Promise<void> {
  console.log('libgnsq', libraryVersion(), checks.length);
  const topic = `orders_${process.pid}`;
  await produce(topic);
  await administer(topic);
  await consume(topic);
  await legacy(topic);
}

main().catch((error: unknown) => {
  console.error(describe(error));
  process.exitCode = 1;
});

// ---- wrong usage: each line must stay a type error ----------------------------------------

export async function wrongUsage(producer: Producer, consumer: Consumer, message: Message): Promise<void> {
  // @ts-expect-error maxInFlight is a number
  new Consumer('t', 'c', { nsqdTcpAddresses: [NSQD], maxInFlight: '10' });
  // @ts-expect-error snappy is a boolean
  new Producer([NSQD], { snappy: 'yes' });
  // @ts-expect-error not an option (the library would refuse it at start())
  new Producer([NSQD], { maxInFlightt: 1 });
  // @ts-expect-error a Consumer needs nsqdTcpAddresses or lookupdHttpAddresses
  new Consumer('t', 'c', { maxInFlight: 1 });
  // @ts-expect-error no such event ('message')
  consumer.on('mesage', () => undefined);
  // @ts-expect-error 'finish' listeners get the id, a Buffer
  consumer.on('finish', (id: string) => id);
  // @ts-expect-error Producer has no 'message' event
  producer.once('message', () => undefined);
  // @ts-expect-error a body is a string, Buffer or Uint8Array
  await producer.publish('t', 42);
  // @ts-expect-error a string is one body, not a list of them
  await producer.multipublish('t', 'abc');
  // @ts-expect-error requeue takes ms, not a string
  message.requeue('5s');
  // @ts-expect-error close takes options, not a boolean
  await consumer.close(true);
  // @ts-expect-error the text form of stats is a string
  (await new NsqdHTTPClient().stats({ text: true })).topics;
  // @ts-expect-error nsqjs's key/cert/ca contents are not supported: use tlsKeyFile, tlsCertFile, tlsCaFile
  new Reader('t', 'c', { nsqdTCPAddresses: NSQD, cert: Buffer.from('') });
  // @ts-expect-error no such Reader event
  new Reader('t', 'c', { nsqdTCPAddresses: NSQD }).on('closed', () => undefined);
}
