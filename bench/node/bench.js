'use strict';
/**
 * Driver of bench/node/run.sh: runs the scenarios against one nsqd (which
 * run.sh started), each client in a fresh node process per round
 * (client.js), checks nsqd's counts after every run, and prints per-round
 * numbers, medians, ratios and the issue's targets (met or NOT met).
 *
 *   node bench.js NSQD_TCP NSQD_HTTP NSQD_PID
 *
 * Environment: ROUNDS (3), N (200000: messages consumed, and published by
 * MPUB), M (20000: sequential and windowed publishes), RDY (2500:
 * max_in_flight of the consumes), SCENARIOS ("pub pub100 mpub consume";
 * publishing scenarios always run before consume), CLIENTS (only these
 * client kinds; default all), CPU_PROF (a directory: every client runs
 * under node --cpu-prof and writes its profile there), BENCH_GNSQ_PKG (the
 * package copy to load, passed on to client.js).
 *
 * Client kinds (each a node process of client.js):
 *   ours      this package, GOMAXPROCS not set
 *   nsqjs     nsqjs 0.13.0 (bench/node/node_modules)
 *   ours-1P   this package with GOMAXPROCS=1 (a 1-CPU container)
 * Round r runs the clients in an order rotated by r - 1.
 *
 * Scenarios (100 B bodies; client.js has the details):
 *   consume   N messages, max_in_flight RDY; the channel is filled over
 *             nsqd's HTTP /mpub (binary, batches of 5000) with N + 2 x RDY
 *             messages, so it cannot run dry before the N-th; timed from
 *             the first message to the N-th
 *   pub       M sequential publishes, each answered before the next
 *   pub100    M publishes, a sliding window of 100 in flight
 *   mpub      N messages in MPUBs of 100, sequential
 * Checks: after a publishing run the topic holds exactly the published
 * count (+ the untimed first call); after a consume the topic's count is
 * the fill, at least N messages were finished (the channel's count minus
 * what is queued, in flight or deferred), and none was requeued or timed
 * out: both clients finish every message they are handed, so the finished
 * count must equal the client's handled count (messages handed to the
 * handler, the N-th and those after it included); for ours, whose
 * close({drain: true}) handles everything received, nothing may be left in
 * flight.
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const [TCP, HTTP, PID_ARG] = process.argv.slice(2);
const NSQD_PID = Number(PID_ARG);
const ROUNDS = Number(process.env.ROUNDS || 3);
const N = Number(process.env.N || 200000);
const M = Number(process.env.M || 20000);
const RDY = Number(process.env.RDY || 2500);
const ALL_SCENARIOS = ['pub', 'pub100', 'mpub', 'consume'];
const CLIENT = path.join(__dirname, 'client.js');
const FILL_BATCH = 5000; // messages per HTTP /mpub (nsqd's --max-body-size is 5 MB)
const CLIENT_TIMEOUT_MS = 600000;
const CPU_PROF = process.env.CPU_PROF || '';

// name -> [lib, extra environment]
const CLIENTS = {
  ours: ['ours', {}],
  nsqjs: ['nsqjs', {}],
  'ours-1P': ['ours', { GOMAXPROCS: '1' }],
};
const ORDER = ['ours', 'nsqjs', 'ours-1P'];
const UNITS = { consume: 'msg/s', pub: 'publishes/s', pub100: 'publishes/s', mpub: 'msg/s' };
// the issue's targets: ours / nsqjs at least
const TARGETS = { consume: 4, pub: 1, pub100: 1.5 };

function die(message) {
  process.stderr.write(message + '\n');
  process.exit(1);
}

function log(message) {
  process.stderr.write(message + '\n');
}

const SCENARIOS = [];
for (const s of (process.env.SCENARIOS || 'pub pub100 mpub consume').split(/\s+/).filter(Boolean)) {
  for (const t of s === 'all' ? ALL_SCENARIOS : [s]) {
    if (!ALL_SCENARIOS.includes(t)) die(`unknown scenario ${t} (known: ${ALL_SCENARIOS.join(' ')}, all)`);
    if (!SCENARIOS.includes(t)) SCENARIOS.push(t);
  }
}
// publishing first: consuming leaves nsqd with a larger heap, which would
// shift later publish numbers
SCENARIOS.sort((a, b) => (a === 'consume') - (b === 'consume'));
const ONLY = (process.env.CLIENTS || '').split(/\s+/).filter(Boolean);
for (const c of ONLY) if (!CLIENTS[c]) die(`unknown client ${c} in CLIENTS (known: ${ORDER.join(' ')})`);
for (const [k, v] of [['ROUNDS', ROUNDS], ['N', N], ['M', M], ['RDY', RDY]]) {
  if (!Number.isInteger(v) || v <= 0) die(`${k} must be a positive integer`);
}
if (N % 100) die('N must be a multiple of 100 (MPUB batches of 100)');

// ---- nsqd's HTTP API ----------------------------------------------------------------

function request(method, pathAndQuery, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(`http://${HTTP}${pathAndQuery}`, { method, timeout: 60000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`${method} ${pathAndQuery}: timeout`)));
    req.end(body);
  });
}

async function ok(method, pathAndQuery, body) {
  const res = await request(method, pathAndQuery, body);
  if (res.status !== 200) die(`${method} ${pathAndQuery}: ${res.status} ${res.text}`);
  return res.text;
}

async function topicStats(topic) {
  const doc = JSON.parse(await ok('GET', `/stats?format=json&topic=${topic}`));
  return (doc.topics || []).find((t) => t.topic_name === topic) || null;
}

async function channelStats(topic) {
  const t = await topicStats(topic);
  return t && t.channels.find((c) => c.channel_name === 'bench');
}

async function deleteTopic(topic) {
  await request('POST', `/topic/delete?topic=${topic}`); // 404 when it does not exist
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Creates topic and its channel "bench" and puts count 100 B messages in
 * it over HTTP (binary /mpub); waits until the channel holds them. */
async function fill(topic, count) {
  await ok('POST', `/topic/create?topic=${topic}`);
  await ok('POST', `/channel/create?topic=${topic}&channel=bench`);
  const one = Buffer.alloc(104, 'm');
  one.writeUInt32BE(100, 0);
  for (let left = count; left > 0;) {
    const k = Math.min(left, FILL_BATCH);
    const body = Buffer.alloc(4 + k * one.length);
    body.writeUInt32BE(k, 0);
    for (let i = 0; i < k; i++) one.copy(body, 4 + i * one.length);
    await ok('POST', `/mpub?topic=${topic}&binary=true`, body);
    left -= k;
  }
  for (let i = 0; i < 400; i++) {
    if ((await channelStats(topic)).depth === count) return;
    await sleep(50);
  }
  die(`fill ${topic}: channel depth ${(await channelStats(topic)).depth}, want ${count}`);
}

function nsqdTicks() {
  const stat = fs.readFileSync(`/proc/${NSQD_PID}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

/** Waits (at most 5 s) until nsqd is idle: at most 1 tick of CPU in 100
 * ms, so that leftover work (a fill, GC) is not measured. */
async function settle() {
  for (let i = 0; i < 50; i++) {
    const a = nsqdTicks();
    await sleep(100);
    if (nsqdTicks() - a <= 1) return;
  }
  log('   nsqd did not go idle within 5 s; measuring anyway');
}

// ---- clients -------------------------------------------------------------------------

const FILES = {};

function runClient(name, scenario, topic, count) {
  const [lib, extra] = CLIENTS[name];
  const env = { ...process.env };
  delete env.GOMAXPROCS;
  delete env.NODE_OPTIONS;
  Object.assign(env, extra);
  const args = [];
  if (CPU_PROF) {
    args.push('--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`, `--cpu-prof-name=${topic}.cpuprofile`);
  }
  args.push(CLIENT, lib, scenario, TCP, topic, String(count), String(RDY));
  const proc = spawnSync(process.execPath, args, { env, cwd: __dirname, encoding: 'utf8', timeout: CLIENT_TIMEOUT_MS });
  if (proc.status !== 0) {
    die(`${name} ${scenario} failed (${proc.error || (proc.signal ? 'signal ' + proc.signal : 'exit ' + proc.status)}):\n` +
      `${proc.stdout}${proc.stderr}`);
  }
  if (proc.stderr.trim()) log(proc.stderr.trim().split('\n').map((l) => `   ${name}: ${l}`).join('\n'));
  const lines = proc.stdout.trim().split('\n');
  const f = JSON.parse(lines[lines.length - 1]);
  // each process must have loaded what it is meant to, and nothing else
  if (lib === 'ours') {
    if (f.addon_file === '-' || f.nsqjs_file !== '-') die(`${name} loaded addon ${f.addon_file}, nsqjs ${f.nsqjs_file}`);
    const pkg = process.env.BENCH_GNSQ_PKG || path.resolve(__dirname, '..', '..', 'bindings', 'node');
    if (!f.package_file.startsWith(pkg + path.sep)) die(`${name} loaded ${f.package_file}, want the package in ${pkg}`);
  } else {
    const want = path.join(__dirname, 'node_modules', 'nsqjs') + path.sep;
    if (f.addon_file !== '-' || !f.nsqjs_file.startsWith(want) || f.nsqjs_version !== '0.13.0') {
      die(`${name} loaded addon ${f.addon_file}, nsqjs ${f.nsqjs_file} ${f.nsqjs_version}`);
    }
  }
  if (f.gomaxprocs !== (extra.GOMAXPROCS || '-')) die(`${name} ran with GOMAXPROCS=${f.gomaxprocs}`);
  if (!FILES[name]) {
    FILES[name] = lib === 'ours'
      ? `${f.package_file}, addon ${f.addon_file}, library ${f.library_version}, GOMAXPROCS ${f.gomaxprocs}`
      : `nsqjs ${f.nsqjs_version} ${f.nsqjs_file}`;
    log(`   ${name}: ${FILES[name]} (node ${f.node})`);
  }
  return f;
}

// ---- scenarios -----------------------------------------------------------------------

const results = {}; // `${scenario} ${client}` -> [rate per round]
const cpuPer = {}; // -> [client CPU us per message per round]

function record(scenario, name, rate, cpuUs) {
  (results[`${scenario} ${name}`] = results[`${scenario} ${name}`] || []).push(rate);
  (cpuPer[`${scenario} ${name}`] = cpuPer[`${scenario} ${name}`] || []).push(cpuUs);
}

function rotated(items, r) {
  const k = (r - 1) % items.length;
  return items.slice(k).concat(items.slice(0, k));
}

async function one(scenario, name, r) {
  const topic = `node_${scenario}_${r}_${name.replace(/-/g, '_')}`;
  await deleteTopic(topic);
  const total = N + 2 * RDY; // the channel must not run dry before the N-th message
  if (scenario === 'consume') await fill(topic, total);
  await settle();
  const count = scenario === 'pub' || scenario === 'pub100' ? M : N;
  const f = runClient(name, scenario, topic, count);
  let extra = '';
  if (scenario === 'consume') {
    // FINs sent before the client's connection closed are all handled by
    // nsqd by the time it sees the close; poll a little for its stats.
    let t;
    let ch;
    let finished = 0;
    for (let i = 0; i < 40; i++) {
      t = await topicStats(topic);
      ch = t.channels.find((c) => c.channel_name === 'bench');
      finished = ch.message_count - ch.depth - ch.in_flight_count - ch.deferred_count;
      if (finished >= N) break;
      await sleep(50);
    }
    const where = `(channel: ${finished} finished, ${ch.depth} queued, ${ch.in_flight_count} in flight, ` +
      `${ch.requeue_count} requeued, ${ch.timeout_count} timed out; the client handled ${f.handled})`;
    if (t.message_count !== total) die(`${name} consume: topic message_count ${t.message_count}, want ${total}`);
    if (finished < N) die(`${name} consume: only ${finished} messages finished, want at least N = ${N} ${where}`);
    // every handler finishes: a requeue or a timeout means a handler's
    // result was taken as a failure, or a FIN was lost
    if (ch.requeue_count !== 0 || ch.timeout_count !== 0) die(`${name} consume: requeues or timeouts ${where}`);
    // every FIN of a handled message reached nsqd before the client exited
    if (finished !== f.handled) die(`${name} consume: the finished count is not the handled count ${where}`);
    // ours's close({drain: true}) hands every message received to the
    // handler: nothing is left in flight (nsqjs's close leaves what it
    // received and did not hand out in flight; nsqd redelivers that after
    // msg_timeout)
    if (CLIENTS[name][0] === 'ours' && ch.in_flight_count !== 0) {
      die(`${name} consume: messages left in flight after close({drain: true}) ${where}`);
    }
    extra = `, ${finished} finished of ${f.handled} handled, ${ch.in_flight_count} in flight left; ` +
      `start to first message ${(f.start_s * 1000).toFixed(0)} ms`;
  } else {
    const want = count + (scenario === 'mpub' ? 100 : 1); // the untimed first call
    const got = (await topicStats(topic)).message_count;
    if (got !== want) die(`${name} ${scenario}: topic message_count ${got}, want ${want}`);
  }
  await deleteTopic(topic);
  const rate = f.n / f.elapsed_s;
  const cpuUs = (f.cpu_s / f.n) * 1e6;
  log(`   round ${r} ${scenario.padEnd(8)} ${name.padEnd(8)} ${fmt(rate).padStart(10)} ${UNITS[scenario]}  ` +
    `(${f.elapsed_s.toFixed(3)} s, client CPU ${cpuUs.toFixed(2)} us/msg${extra})`);
  record(scenario, name, rate, cpuUs);
}

function fmt(x) {
  return Math.round(x).toLocaleString('en-US');
}

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

function report() {
  const out = (s) => process.stdout.write(s);
  const ran = SCENARIOS.filter((s) => ORDER.some((c) => results[`${s} ${c}`]));
  const cols = ORDER.filter((c) => ran.some((s) => results[`${s} ${c}`]));
  const med = {};
  for (const [k, v] of Object.entries(results)) med[k] = median(v);

  out(`\n### Per round (${ran.map((s) => `${s} ${UNITS[s]}`).join(', ')})\n\n`);
  out(`| scenario | round | ${cols.join(' | ')} |\n|---|---:|${'---:|'.repeat(cols.length)}\n`);
  for (const s of ran) {
    for (let r = 0; r < ROUNDS; r++) {
      const cells = cols.map((c) => (results[`${s} ${c}`] && results[`${s} ${c}`].length > r ? fmt(results[`${s} ${c}`][r]) : ''));
      out(`| ${s} | ${r + 1} | ${cells.join(' | ')} |\n`);
    }
  }

  const ratioOf = (s, a, b) => (med[`${s} ${a}`] && med[`${s} ${b}`] ? med[`${s} ${a}`] / med[`${s} ${b}`] : null);
  const ratio = (s, a, b) => {
    const x = ratioOf(s, a, b);
    if (x === null) return '';
    const per = results[`${s} ${a}`].map((p, i) => p / results[`${s} ${b}`][i]);
    return `**${x.toFixed(2)}x** (${Math.min(...per).toFixed(2)}-${Math.max(...per).toFixed(2)})`;
  };
  out(`\n### Medians of ${ROUNDS} rounds and ratios (ratios of the medians; per-round range in brackets)\n\n`);
  out('| scenario | ours | nsqjs 0.13.0 | ours GOMAXPROCS=1 | ours / nsqjs | ours 1P / nsqjs |\n|---|---:|---:|---:|---:|---:|\n');
  for (const s of ran) {
    const cells = ORDER.map((c) => (med[`${s} ${c}`] ? fmt(med[`${s} ${c}`]) : ''));
    cells.push(ratio(s, 'ours', 'nsqjs'), ratio(s, 'ours-1P', 'nsqjs'));
    out(`| ${s} (${UNITS[s]}) | ${cells.join(' | ')} |\n`);
  }

  const lines = [];
  for (const s of ran) {
    if (!(s in TARGETS)) continue;
    const least = TARGETS[s];
    const x = ratioOf(s, 'ours', 'nsqjs');
    const x1 = ratioOf(s, 'ours-1P', 'nsqjs');
    let verdict = x === null ? 'not measured' : `${x.toFixed(2)}x, ${x >= least ? 'met' : 'NOT met'}`;
    if (x1 !== null) verdict += ` (GOMAXPROCS=1: ${x1.toFixed(2)}x, ${x1 >= least ? 'met' : 'NOT met'})`;
    lines.push(`- ${s}: ours >= ${least}x nsqjs: ${verdict}\n`);
  }
  if (lines.length) out(`\nThe issue's targets (ratios of the medians):\n\n${lines.join('')}`);
  if (ran.includes('mpub')) out('- mpub: no target (ratio only)\n');

  out('\nClient CPU per message (user+sys of the whole client process over the timed part, median, us):\n\n');
  out(`| scenario | ${cols.join(' | ')} |\n|---|${'---:|'.repeat(cols.length)}\n`);
  for (const s of ran) {
    const cells = cols.map((c) => (cpuPer[`${s} ${c}`] ? median(cpuPer[`${s} ${c}`]).toFixed(2) : ''));
    out(`| ${s} | ${cells.join(' | ')} |\n`);
  }
  out(`\nLoaded: ${Object.entries(FILES).map(([k, v]) => `${k}: ${v}`).join('; ')}\n`);
}

async function main() {
  log(`node ${process.version}; nsqd tcp ${TCP} http ${HTTP} pid ${NSQD_PID}; ROUNDS=${ROUNDS} N=${N} M=${M} RDY=${RDY}; ` +
    `scenarios ${SCENARIOS.join(' ')}${ONLY.length ? '; clients ' + ONLY.join(' ') : ''}${CPU_PROF ? '; profiles in ' + CPU_PROF : ''}`);
  for (const scenario of SCENARIOS) {
    const names = ONLY.length ? ORDER.filter((c) => ONLY.includes(c)) : ORDER;
    log(`== ${scenario}`);
    for (let r = 1; r <= ROUNDS; r++) {
      for (const name of rotated(names, r)) await one(scenario, name, r);
    }
  }
  report();
}

main().catch((error) => die(error && error.stack ? error.stack : String(error)));
