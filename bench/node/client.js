'use strict';
/**
 * One timed scenario with one client library, in a node process of its own
 * (bench/node/bench.js starts one per client per round).
 *
 *   node client.js LIB SCENARIO NSQD_TCP TOPIC COUNT [MAX_IN_FLIGHT]
 *
 * LIB:      ours   -- this package (bindings/node, or the copy of it named by
 *                     BENCH_GNSQ_PKG: run.sh copies it so that a rebuild
 *                     during the run cannot change what is measured);
 *                     nsqjs is never loaded
 *           nsqjs  -- nsqjs 0.13.0 from bench/node/node_modules; the
 *                     package is never loaded
 * SCENARIO: consume -- a consumer on channel "bench" with MAX_IN_FLIGHT
 *                      (ours: Consumer, a 'message' listener that counts
 *                      and returns, which finishes; nsqjs: Reader, a
 *                      'message' listener that counts and calls
 *                      msg.finish()); timed from the first message to the
 *                      COUNT-th; then closed (ours: close({drain: true});
 *                      nsqjs: close() once its socket has written all
 *                      FINs: its close() drops what is still buffered)
 *           pub     -- COUNT sequential publishes of 100 B, each answered
 *                      before the next is made (ours: await publish();
 *                      nsqjs: the next publish from the callback of the
 *                      previous one), after one untimed publish
 *           pub100  -- COUNT publishes with 100 in flight, a sliding window
 *                      (ours: a queue of the publish Promises, the oldest
 *                      awaited before the 101st is made; nsqjs: each
 *                      callback makes the next publish), after one untimed
 *                      publish
 *           mpub    -- COUNT messages in MPUBs of 100 x 100 B, each answered
 *                      before the next (ours: await multipublish(); nsqjs:
 *                      publish(topic, array, cb) chained), after one untimed
 *                      MPUB; COUNT must be a multiple of 100
 * Every publish answer is checked (an error ends the process with exit 1).
 *
 * Prints one JSON line on stdout: lib, scenario, n, elapsed_s (the timed
 * part), cpu_s (user + system of the whole process over the timed part:
 * for ours that includes the library's Go threads), start_s (consume:
 * start/connect to the first message), the files loaded (package, addon,
 * nsqjs), GOMAXPROCS; consume also handled (messages handed to the
 * handler up to the end of close(), the N-th and those after it included).
 * Everything else goes to stderr.
 */
const path = require('node:path');

const [LIB, SCENARIO, NSQD, TOPIC, COUNT_ARG, MIF_ARG] = process.argv.slice(2);
const COUNT = Number(COUNT_ARG);
const MAX_IN_FLIGHT = Number(MIF_ARG || 2500);
const BODY = Buffer.alloc(100, 'm');
const BATCH = 100;
const WINDOW = 100;
const CONSUME_TIMEOUT_MS = 300000;

if (!['ours', 'nsqjs'].includes(LIB) || !['consume', 'pub', 'pub100', 'mpub'].includes(SCENARIO) ||
    !NSQD || !TOPIC || !(COUNT > 0)) {
  process.stderr.write('usage: node client.js ours|nsqjs consume|pub|pub100|mpub NSQD_TCP TOPIC COUNT [MAX_IN_FLIGHT]\n');
  process.exit(2);
}
const [HOST, PORT] = [NSQD.slice(0, NSQD.lastIndexOf(':')), Number(NSQD.slice(NSQD.lastIndexOf(':') + 1))];

const PKG = process.env.BENCH_GNSQ_PKG || path.resolve(__dirname, '..', '..', 'bindings', 'node');
const lib = LIB === 'ours' ? require(PKG) : require('nsqjs');

function fail(message) {
  process.stderr.write(`${LIB} ${SCENARIO}: ${message}\n`);
  process.exit(1);
}

function cpu() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

const now = () => Number(process.hrtime.bigint()) / 1e9;

// ---- consume ------------------------------------------------------------------

/** Counts consumed messages: state records when the first and the
 * COUNT-th came (wall and CPU time); finished resolves at the COUNT-th. */
function messageCounter() {
  const state = { n: 0, first: 0, end: 0, c0: 0, c1: 0 };
  let done;
  const finished = new Promise((resolve) => { done = resolve; });
  const count = () => {
    const n = ++state.n;
    if (n === 1) {
      state.first = now();
      state.c0 = cpu();
    }
    if (n === COUNT) {
      state.end = now();
      state.c1 = cpu();
      done();
    }
  };
  return { state, finished, count };
}

async function consumeOurs() {
  const { state, finished, count } = messageCounter();
  const consumer = new lib.Consumer(TOPIC, 'bench', { nsqdTcpAddresses: [NSQD], maxInFlight: MAX_IN_FLIGHT });
  consumer.on('error', (error) => fail(`consumer error: ${error.stack || error}`));
  consumer.on('message', count); // a plain return finishes the message
  const t0 = now();
  await consumer.start();
  await withTimeout(finished, state);
  await consumer.close({ drain: true });
  return { n: COUNT, elapsed_s: state.end - state.first, cpu_s: state.c1 - state.c0, start_s: state.first - t0,
    handled: state.n };
}

async function consumeNsqjs() {
  const { state, finished, count } = messageCounter();
  const reader = new lib.Reader(TOPIC, 'bench', { nsqdTCPAddresses: [NSQD], maxInFlight: MAX_IN_FLIGHT });
  reader.on('error', (error) => fail(`reader error: ${error.stack || error}`));
  reader.on('message', (msg) => {
    msg.finish();
    count();
  });
  const t0 = now();
  reader.connect();
  await withTimeout(finished, state);
  // nsqjs 0.13's close() end()s its socket and destroy()s it at once
  // (nsqdconnection.js, the CLOSED state's Enter), which drops the FINs
  // still in the socket's write buffer (340 in one run: those messages
  // stay in flight until nsqd's msg_timeout). So close only once its
  // sockets have written everything (FINs are written on the nextTick
  // after finish(): all are out by the time a timer runs). Messages still
  // in transit after the N-th are finished too: pause (RDY 0), then close
  // only after 20 ms without a new one and with everything written.
  reader.pause();
  let seen;
  do {
    seen = state.n;
    if (!(await nsqjsWritten(reader, 10000))) fail('nsqjs still had unwritten data 10 s after the N-th message');
    await new Promise((resolve) => setTimeout(resolve, 20));
  } while (state.n !== seen);
  if (!(await nsqjsWritten(reader, 10000))) fail('nsqjs still had unwritten data 10 s after the N-th message');
  reader.close();
  return { n: COUNT, elapsed_s: state.end - state.first, cpu_s: state.c1 - state.c0, start_s: state.first - t0,
    handled: state.n };
}

/** Resolves true once every socket of reader (nsqjs 0.13's internals:
 * readerRdy.connections[i].conn.conn) has nothing left to write, false
 * after ms. */
async function nsqjsWritten(reader, ms) {
  const sockets = reader.readerRdy.connections.map((c) => c.conn && c.conn.conn);
  if (sockets.length === 0 || !sockets.every((s) => s && typeof s.writableLength === 'number')) {
    fail("cannot find nsqjs's sockets (reader.readerRdy.connections[i].conn.conn)");
  }
  const deadline = Date.now() + ms;
  while (sockets.some((s) => s.writableLength > 0)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  return true;
}

function withTimeout(promise, state) {
  let timer;
  return Promise.race([promise.finally(() => clearTimeout(timer)), new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`only ${state.n} of ${COUNT} messages within ${CONSUME_TIMEOUT_MS} ms`)),
      CONSUME_TIMEOUT_MS);
  })]);
}

// ---- publish: ours ----------------------------------------------------------------

async function oursProducer() {
  const p = new lib.Producer([NSQD]);
  p.on('error', (error) => fail(`producer error: ${error.stack || error}`));
  await p.start();
  return p;
}

async function timed(fn) {
  const c0 = cpu();
  const t0 = now();
  await fn();
  const elapsed = now() - t0;
  return { elapsed_s: elapsed, cpu_s: cpu() - c0 };
}

async function pubOurs() {
  const p = await oursProducer();
  await p.publish(TOPIC, BODY); // untimed: connects, creates the topic
  const t = await timed(async () => {
    for (let i = 0; i < COUNT; i++) await p.publish(TOPIC, BODY);
  });
  await p.close();
  return { n: COUNT, ...t };
}

async function pub100Ours() {
  const p = await oursProducer();
  await p.publish(TOPIC, BODY);
  const t = await timed(async () => {
    const pending = [];
    let head = 0;
    for (let i = 0; i < COUNT; i++) {
      if (pending.length - head === WINDOW) await pending[head++];
      pending.push(p.publish(TOPIC, BODY));
    }
    while (head < pending.length) await pending[head++];
  });
  await p.close();
  return { n: COUNT, ...t };
}

async function mpubOurs() {
  const p = await oursProducer();
  const batch = new Array(BATCH).fill(BODY);
  await p.multipublish(TOPIC, batch);
  const t = await timed(async () => {
    for (let i = 0; i < COUNT / BATCH; i++) await p.multipublish(TOPIC, batch);
  });
  await p.close();
  return { n: COUNT, ...t };
}

// ---- publish: nsqjs -----------------------------------------------------------------

async function nsqjsWriter() {
  const w = new lib.Writer(HOST, PORT);
  const ready = new Promise((resolve, reject) => {
    w.once('ready', resolve);
    w.once('error', reject);
  });
  w.connect();
  await ready;
  w.on('error', (error) => fail(`writer error: ${error.stack || error}`));
  return w;
}

function publishOnce(w, msgs) {
  return new Promise((resolve, reject) => w.publish(TOPIC, msgs, (err) => (err ? reject(err) : resolve())));
}

/** count publishes of msgs, at most window unanswered: each callback makes
 * the next publish (nsqjs answers in order). Resolves after the last answer. */
function chained(w, msgs, count, window) {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = 0;
    const answer = (err) => {
      if (err) {
        reject(err);
        return;
      }
      answered++;
      if (answered === count) resolve();
      else if (sent < count) send();
    };
    const send = () => {
      sent++;
      w.publish(TOPIC, msgs, answer);
    };
    for (let i = 0; i < Math.min(window, count); i++) send();
  });
}

async function closeWriter(w) {
  const closed = new Promise((resolve) => w.once('closed', resolve));
  w.close();
  await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 2000))]);
}

async function pubNsqjs(window) {
  const w = await nsqjsWriter();
  await publishOnce(w, BODY); // untimed: creates the topic
  const t = await timed(() => chained(w, BODY, COUNT, window));
  await closeWriter(w);
  return { n: COUNT, ...t };
}

async function mpubNsqjs() {
  const w = await nsqjsWriter();
  const batch = new Array(BATCH).fill(BODY);
  await publishOnce(w, batch);
  const t = await timed(() => chained(w, batch, COUNT / BATCH, 1));
  await closeWriter(w);
  return { n: COUNT, ...t };
}

// ---- main ---------------------------------------------------------------------------

const SCENARIOS = {
  ours: { consume: consumeOurs, pub: pubOurs, pub100: pub100Ours, mpub: mpubOurs },
  nsqjs: { consume: consumeNsqjs, pub: () => pubNsqjs(1), pub100: () => pubNsqjs(WINDOW), mpub: mpubNsqjs },
};

async function main() {
  if (SCENARIO === 'mpub' && COUNT % BATCH) fail(`COUNT must be a multiple of ${BATCH}`);
  const result = await SCENARIOS[LIB][SCENARIO]();
  // what this process really loaded
  const loaded = Object.keys(require.cache);
  const addon = loaded.filter((f) => f.endsWith('.node') && path.basename(f) === 'gnsq.node');
  const nsqjs = loaded.filter((f) => f.includes(`${path.sep}node_modules${path.sep}nsqjs${path.sep}`));
  const out = {
    lib: LIB,
    scenario: SCENARIO,
    ...result,
    rate: result.n / result.elapsed_s,
    package_file: LIB === 'ours' ? require.resolve(PKG) : '-',
    addon_file: addon[0] || '-',
    library_version: LIB === 'ours' ? lib.libraryVersion() : '-',
    nsqjs_file: nsqjs.length ? require.resolve('nsqjs') : '-',
    nsqjs_version: nsqjs.length ? require('nsqjs/package.json').version : '-',
    gomaxprocs: process.env.GOMAXPROCS || '-',
    node: process.version,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().then(() => process.exit(0), (error) => fail(error && error.stack ? error.stack : String(error)));
