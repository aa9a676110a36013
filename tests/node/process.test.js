'use strict';
// The package in a real process: exit with live objects, an event loop
// that stays responsive under load, and an installed tarball.
const assert = require('node:assert/strict');
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { after, before, test } = require('node:test');

const gnsq = require('../../bindings/node');
const { Server, topicName, ROOT } = require('./servers');

const PACKAGE = path.join(ROOT, 'bindings', 'node');
let nsqd;
before(async () => { nsqd = await Server.start('nsqd'); });
after(async () => { await nsqd.stop(); });

function runNode(code, cwd = ROOT, timeout = 30000) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', code], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => { out += c; });
    child.stderr.on('data', (c) => { err += c; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeout);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out, err });
    });
  });
}

test('process.exit() with a live producer, consumer and HTTP client: 20 processes, no hang or crash', async () => {
  const topic = topicName('exit');
  const code = `
    const gnsq = require(${JSON.stringify(PACKAGE)});
    (async () => {
      const p = new gnsq.Producer([${JSON.stringify(nsqd.tcpAddress)}]);
      await p.start();
      await p.publish(${JSON.stringify(topic)}, 'x');
      const c = new gnsq.Consumer(${JSON.stringify(topic)}, 'ch', { nsqdTcpAddresses: [${JSON.stringify(nsqd.tcpAddress)}] });
      c.on('message', () => {});
      await c.start();
      const h = new gnsq.NsqdHTTPClient(${JSON.stringify(nsqd.httpAddress)});
      await h.ping();
      p.publish(${JSON.stringify(topic)}, 'in flight at exit').catch(() => {});
      console.log('ok');
      process.exit(0);
    })();`;
  const results = await Promise.all(Array.from({ length: 20 }, () => runNode(code)));
  for (const r of results) {
    assert.equal(r.signal, null, r.err);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.trim(), 'ok');
  }
});

test('a program whose objects are closed exits by itself (nothing keeps the loop alive)', async () => {
  const code = `
    const gnsq = require(${JSON.stringify(PACKAGE)});
    (async () => {
      const p = new gnsq.Producer([${JSON.stringify(nsqd.tcpAddress)}]);
      await p.start();
      await p.publish('exit_by_itself', 'x');
      await p.close();
      const h = new gnsq.NsqdHTTPClient(${JSON.stringify(nsqd.httpAddress)});
      await h.ping(); // an idle HTTP client does not hold the process either
      console.log('done');
    })();`;
  const r = await runNode(code, ROOT, 15000);
  assert.equal(r.signal, null, 'killed: the process did not exit by itself');
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out.trim(), 'done');
});

test('an event-loop ticker keeps ticking while 200000 messages are consumed', async () => {
  const topic = topicName('ticker');
  const n = 200000;
  await nsqd.fill(topic, n, (i) => String(i).padStart(99, '0'));
  const ticks = [];
  const ticker = setInterval(() => ticks.push(Date.now()), 10);
  let count = 0;
  const consumer = new gnsq.Consumer(topic, 'ch', { nsqdTcpAddresses: [nsqd.tcpAddress], maxInFlight: 2500 });
  const done = new Promise((resolve) => {
    consumer.on('message', () => {
      count++;
      if (count === n) resolve();
    });
  });
  const t0 = Date.now();
  await consumer.start();
  await done;
  const elapsed = Date.now() - t0;
  clearInterval(ticker);
  await consumer.close({ drain: true });
  const gaps = ticks.slice(1).map((t, i) => t - ticks[i]);
  const worst = Math.max(...gaps);
  assert.equal(count, n);
  assert.ok(ticks.length > 2, 'the ticker ran');
  assert.ok(worst < elapsed / 5, `worst ticker gap ${worst} ms in ${elapsed} ms`);
});

test('npm pack gives a tarball that installs into a new project and works there', async () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'libgnsq-pack-'));
  try {
    const tarball = execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: PACKAGE })
      .toString().trim().split('\n').pop();
    const listing = execFileSync('tar', ['tzf', path.join(work, tarball)]).toString();
    for (const file of ['package/lib/gnsq.node', 'package/lib/libgnsq.so.0', 'package/index.js', 'package/index.d.ts']) {
      assert.ok(listing.includes(file), `${file} in the tarball`);
    }
    assert.ok(!listing.includes('node_modules'), 'no node_modules in the tarball');
    const project = path.join(work, 'app');
    fs.mkdirSync(project);
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--offline', path.join(work, tarball)], { cwd: project });
    const topic = topicName('packed');
    const r = await runNode(`
      const gnsq = require('libgnsq');
      (async () => {
        const p = new gnsq.Producer([${JSON.stringify(nsqd.tcpAddress)}]);
        await p.start();
        await p.publish(${JSON.stringify(topic)}, 'from the installed package');
        await p.close();
        const c = new gnsq.Consumer(${JSON.stringify(topic)}, 'ch', { nsqdTcpAddresses: [${JSON.stringify(nsqd.tcpAddress)}] });
        const got = new Promise((resolve) => c.on('message', (m) => resolve(m.body.toString())));
        await c.start();
        console.log(await got, require.resolve('libgnsq'));
        await c.close({ drain: true });
      })();`, project);
    assert.equal(r.code, 0, r.err);
    const [body, resolved] = [r.out.trim().slice(0, 'from the installed package'.length), r.out.trim()];
    assert.equal(body, 'from the installed package');
    assert.ok(resolved.includes(path.join(project, 'node_modules', 'libgnsq')), resolved);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});
