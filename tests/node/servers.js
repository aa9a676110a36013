'use strict';
// Real nsqd and nsqlookupd (the pinned v1.3.0 that build.sh puts in
// $GNSQ_BIN_DIR, default build/bin) on 127.0.0.1, ports chosen free at test
// time, stopped by pid at the end of the test (and killed if this process
// exits first).
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const BIN_DIR = process.env.GNSQ_BIN_DIR || path.join(ROOT, 'build', 'bin');
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function request(method, url, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, timeout: 5000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        if (res.statusCode !== 200) reject(new Error(`${method} ${url}: ${res.statusCode} ${text}`));
        else resolve(text);
      });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    if (body) req.write(body);
    req.end();
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves when cond() is true (checked every 5 ms); rejects after timeout ms. */
async function until(cond, what, timeout = 10000) {
  const deadline = Date.now() + timeout;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
    await sleep(5);
  }
}

class Server {
  static async start(name, flags = []) {
    const s = new Server();
    s.name = name;
    s.tcpPort = await freePort();
    s.httpPort = await freePort();
    s.data = fs.mkdtempSync(path.join(os.tmpdir(), name + '-'));
    const args = [`--tcp-address=127.0.0.1:${s.tcpPort}`, `--http-address=127.0.0.1:${s.httpPort}`,
      '--broadcast-address=127.0.0.1', '--log-level=warn'];
    if (name === 'nsqd') args.push('--data-path=' + s.data, '--mem-queue-size=1000000');
    s.stderr = '';
    s.child = spawn(path.join(BIN_DIR, name), args.concat(flags), { stdio: ['ignore', 'ignore', 'pipe'] });
    s.child.stderr.on('data', (c) => { s.stderr += c; });
    running.add(s.child);
    await until(async () => {
      if (s.child.exitCode !== null) throw new Error(`${name} exited: ${s.stderr}`);
      return s.http('/ping').then((t) => t === 'OK', () => false);
    }, name + ' to answer');
    return s;
  }

  get tcpAddress() { return `127.0.0.1:${this.tcpPort}`; }
  get httpAddress() { return `127.0.0.1:${this.httpPort}`; }

  http(pathAndQuery, body) {
    return request(body === undefined ? 'GET' : 'POST', `http://${this.httpAddress}${pathAndQuery}`, body);
  }

  /** The topic's stats (undefined if nsqd has no such topic). */
  async topic(topic) {
    const stats = JSON.parse(await this.http(`/stats?format=json&topic=${topic}`));
    return stats.topics.find((x) => x.topic_name === topic);
  }

  async channel(topic, channel) {
    const t = await this.topic(topic);
    return t && t.channels.find((c) => c.channel_name === channel);
  }

  /** Publishes n bodies (each `${prefix}${i}`) over HTTP in batches. */
  async fill(topic, n, body = (i) => String(i)) {
    await this.http(`/topic/create?topic=${topic}`, '');
    for (let start = 0; start < n; start += 5000) {
      const lines = [];
      for (let i = start; i < Math.min(n, start + 5000); i++) lines.push(body(i));
      await this.http(`/mpub?topic=${topic}`, lines.join('\n'));
    }
  }

  async stop() {
    if (this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      await exited;
    }
    running.delete(this.child);
    fs.rmSync(this.data, { recursive: true, force: true });
  }
}

let topics = 0;
/** A topic name unique to this process and call. */
function topicName(label) {
  return `t${process.pid}_${++topics}_${label}`.replace(/[^.a-zA-Z0-9_-]/g, '_').slice(0, 64);
}

module.exports = { Server, freePort, until, sleep, topicName, ROOT };
