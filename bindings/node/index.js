'use strict';
/**
 * libgnsq for Node.js: Producer, Consumer, NsqdHTTPClient and LookupdClient
 * over libgnsq.so through a small Node-API addon (lib/gnsq.node).
 *
 * All NSQ work (connections, RDY, backoff, retries, discovery, TLS, Snappy,
 * Deflate, AUTH) runs in the library's own threads. Each object's events
 * are polled in batches on the event loop when a dup of its notify fd,
 * watched by a net.Socket, becomes readable: one addon call per batch, and
 * no JavaScript ever runs on another thread.
 */
const { EventEmitter } = require('node:events');
const net = require('node:net');

const addon = require('./lib/gnsq.node');

// include/gnsq.h: GNSQ_E_* codes.
const E = {
  INVALID_ARG: -1, INVALID_HANDLE: -2, CLOSED: -3, TIMEOUT: -4, NO_CONNECTIONS: -5, CONNECTION: -6, NSQ: -7,
  NSQ_NONFATAL: -8, PROTOCOL: -9, TLS: -10, AUTH: -11, HTTP: -12, NOT_RUNNING: -13, ALREADY_RESPONDED: -14,
  UNKNOWN_TOKEN: -15, IO: -17, INTERNAL: -18, IN_CALLBACK: -19, FORKED: -20, PENDING: -21, INTERRUPTED: -22,
};
const E_NAMES = Object.fromEntries(Object.entries(E).map(([name, code]) => [code, 'GNSQ_E_' + name]));

// GNSQ_EV_* event types, GNSQ_EVF_HELD, GNSQ_RESP_* actions, GNSQ_LOG_* levels.
const EV = {
  MESSAGE: 1, GIVING_UP: 2, FINISHED: 3, REQUEUED: 4, RESPONSE: 5, ERROR: 6, AUTH: 7, CLOSED: 8, CONNECTED: 9,
  DISCONNECTED: 10, EXCEPTION: 11, PUBLISHED: 12, HTTP_DONE: 13, CONNECT_DONE: 14, LOG: 15,
};
const EVF_HELD = 1;
const RESP = { FINISH: 1, REQUEUE: 2, TOUCH: 3, HANDLER_OK: 4, HANDLER_FAILED: 5, HANDLER_REQUEUE: 6 };
const LOG_WARNING = 30;
const EVENT_SIZE = 64;
const RESPONSE_SIZE = 32;

// How long a publish may wait inside the library for a local nsqd's answer
// (us): most come sooner, and then the publish costs no event-loop turn.
const BOUND_US = 100;
// A close without drain gives handlers this long (ms) before the library
// abandons what they still hold (nsqd then redelivers it after msg_timeout).
const CLOSE_WAIT_MS = 5000;

// ---- errors -----------------------------------------------------------------

/** Every error of this package. code: nsqd's code ('E_BAD_TOPIC') for
 * nsqd's errors, else the library's ('GNSQ_E_CLOSED'); errno: the
 * library's GNSQ_E_* number. */
class NSQError extends Error {
  constructor(message, code, errno) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.errno = errno;
  }
}
/** nsqd (or nsqlookupd) refused: code is its E_* code. */
class NSQServerError extends NSQError {}
/** No connection to any nsqd (within the wait). */
class NoConnectionsError extends NSQError {}
/** A connection failed, timed out, or TLS failed. */
class ConnectionError extends NSQError {}
/** The object is closed (or not started). */
class ClosedError extends NSQError {}
/** A bad argument, refused before anything was sent. */
class InvalidArgumentError extends NSQError {}
/** A non-2xx HTTP answer: status, and nsqd's reason as code ('TOPIC_NOT_FOUND'). */
class HTTPError extends NSQError {
  constructor(message, code, errno, status) {
    super(message, code, errno);
    this.status = status;
  }
}

/** The error for a GNSQ_E_* code and its detail: the one place that maps
 * the library's errors to JavaScript's. */
function errorFor(errno, detail, status) {
  const text = detail || addon.strerror(errno);
  if (errno === E.NSQ || errno === E.NSQ_NONFATAL || (errno === E.AUTH && /^E_[A-Z_]+/.test(text))) {
    return new NSQServerError(text, text.split(/[\s:]/, 1)[0], errno);
  }
  switch (errno) {
    case E.HTTP: {
      const reason = (/http error \d+:?\s*(.*)$/.exec(text) || [])[1] || '';
      return new HTTPError(text, reason.split(/\s/, 1)[0] || 'HTTP_' + status, errno, status);
    }
    case E.INVALID_ARG: return new InvalidArgumentError(text, E_NAMES[errno], errno);
    case E.NO_CONNECTIONS: return new NoConnectionsError(text, E_NAMES[errno], errno);
    case E.CONNECTION: case E.TIMEOUT: case E.IO: case E.TLS: case E.PROTOCOL: case E.AUTH:
      return new ConnectionError(text, E_NAMES[errno], errno);
    case E.CLOSED: case E.NOT_RUNNING: return new ClosedError(text, E_NAMES[errno], errno);
    default: return new NSQError(text, E_NAMES[errno] || 'GNSQ_E_' + errno, errno);
  }
}

/** rc if it is a success (>= 0), else throws errorFor(rc, the detail). */
function check(rc) {
  if (typeof rc === 'number' && rc < 0) throw errorFor(rc, addon.lastError());
  return rc;
}

function closedError(what) {
  return new ClosedError(what + ' is closed', 'GNSQ_E_CLOSED', E.CLOSED);
}

// ---- options ----------------------------------------------------------------

// camelCase option -> the library's config key (docs/config.md), where the
// plain camelCase -> snake_case rule does not give it ('tls' is gnsq's tls_v1).
const KEY_NAMES = { tls: 'tls_v1' };

/** [key, value, ...] for the addon's config: options (minus the keys an
 * object takes itself) over defaults. A key or value the library refuses
 * throws InvalidArgumentError here, when the object is created. */
function configPairs(options, own, defaults) {
  const pairs = [];
  const all = { ...defaults, ...options };
  for (const [key, value] of Object.entries(all)) {
    if (own.has(key) || value === undefined || value === null) continue;
    pairs.push(KEY_NAMES[key] || key.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase()), String(value));
  }
  check(addon.configCheck(pairs));
  return pairs;
}

function asAddresses(value, what) {
  if (value === undefined || value === null) return [];
  const list = typeof value === 'string' ? [value] : Array.from(value);
  for (const a of list) {
    if (typeof a !== 'string' || !a) throw new TypeError(what + ' must be strings "host:port"');
  }
  return list;
}

function asBody(body) {
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new TypeError('a message body must be a Buffer, a Uint8Array or a string');
}

// ---- the event source of a handle -----------------------------------------------

/** Polls a library handle whenever its notify fd is readable and hands
 * each batch to onEvents(source, n) (events in source.events, their data
 * in source.data); after the handle's CLOSED event, stops, frees the
 * handle and calls onClosed. */
class EventSource {
  constructor(handle, maxEvents, bufSize, onEvents, onClosed) {
    this.handle = handle;
    this.events = Buffer.alloc(EVENT_SIZE * maxEvents);
    this.data = Buffer.alloc(bufSize);
    this.onEvents = onEvents;
    this.onClosed = onClosed;
    this.stopped = false;
    this.scheduled = false;
    this.socket = new net.Socket({ fd: check(addon.notifyFd(handle)), readable: true, writable: false });
    this.socket.on('data', () => this.drain());
    this.socket.on('error', () => {}); // a pipe of the library's: nothing to report
  }

  /** Polls until no event is left: at most 16 batches per turn of the
   * event loop, then the rest in the next turn (I/O runs in between). */
  drain() {
    for (let round = 0; round < 16 && !this.stopped; round++) {
      const n = addon.poll(this.handle, this.events, this.data);
      if (n === 0) return;
      if (n < 0) {
        this.stop();
        return;
      }
      this.onEvents(this, n);
    }
    if (!this.stopped && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.drain();
      });
    }
  }

  /** The data of event i: a copy (the buffer is reused by the next poll). */
  dataOf(i) {
    const base = i * EVENT_SIZE;
    const len = this.events.readUInt32LE(base + 32);
    if (this.events.readUInt16LE(base + 42) & EVF_HELD) {
      return check(addon.readBody(this.handle, this.events.readUInt32LE(base + 8),
        this.events.readUInt32LE(base + 12), len));
    }
    const off = this.events.readUInt32LE(base + 36);
    return Buffer.from(this.data.subarray(off, off + len));
  }

  textOf(i) {
    const base = i * EVENT_SIZE;
    const off = this.events.readUInt32LE(base + 36);
    return this.data.toString('utf8', off, off + this.events.readUInt32LE(base + 32));
  }

  ref(on) {
    if (on) this.socket.ref();
    else this.socket.unref();
  }

  stop() {
    if (this.stopped) return;
    this.stopped = true;
    this.socket.destroy();
    addon.free(this.handle);
    this.onClosed();
  }
}

/** A LOG event: to the object's 'log' listeners (level, component, text),
 * or, without any (or without an emitter), warnings and errors to stderr. */
function logEvent(emitter, source, i) {
  const level = source.events.readInt32LE(i * EVENT_SIZE + 24);
  const line = source.textOf(i);
  const space = line.indexOf(' ');
  const component = space < 0 ? 'gnsq' : line.slice(0, space);
  const text = space < 0 ? line : line.slice(space + 1);
  if (emitter && emitter.listenerCount('log') > 0) safeEmit(emitter, 'log', level, component, text);
  else if (level >= LOG_WARNING) process.stderr.write(`${component}: ${text}\n`);
}

/** Emits an event from inside a batch of events: a listener that throws
 * does not cut the batch short (its error is rethrown on the next tick,
 * where Node reports it as any uncaught exception). */
function safeEmit(emitter, name, ...args) {
  try {
    emitter.emit(name, ...args);
  } catch (error) {
    process.nextTick(() => { throw error; });
  }
}

/** Emits 'error' only when someone listens: a non-fatal error must never
 * crash the process as an unhandled 'error' event. */
function emitError(emitter, error) {
  if (emitter.listenerCount('error') > 0) safeEmit(emitter, 'error', error);
}

/** Runs the library's start of handle on the thread pool (it waits for the
 * first connection attempts); if it fails, closes obj and throws. */
async function startOrClose(obj, handle) {
  const result = await addon.start(handle);
  if (result !== 0) {
    const error = errorFor(result[0], result[1]);
    await obj.close();
    throw error;
  }
}

function tokenKey(lo, hi) {
  return hi * 4294967296 + lo;
}

// ---- Producer ---------------------------------------------------------------

const PRODUCER_OWN = new Set([]);

/** Publishes to one or more nsqd (gnsq's Producer). Events: 'error'
 * (error), 'response' (text, only while listened to), 'auth' (response),
 * 'connected' (address), 'disconnected' (address), 'close', 'log'. */
class Producer extends EventEmitter {
  constructor(nsqdTcpAddresses, options = {}) {
    super();
    this.nsqdTcpAddresses = asAddresses(nsqdTcpAddresses, 'nsqdTcpAddresses');
    if (this.nsqdTcpAddresses.length === 0) throw new TypeError('at least one nsqd address is needed');
    this.options = { ...options };
    this._config = configPairs(this.options, PRODUCER_OWN, { logLevel: 'warn' });
    this._state = 'init';
    this._source = null;
    this._pending = new Map(); // token key -> {settle(code, detail), fail(error)} awaiting its PUBLISHED event
    this._queue = []; // publishes made in this tick, sent together by _flush
    this._flush = this._flush.bind(this);
    this._tokens = Buffer.alloc(8 * 128); // publishBatch's tokens (grown as needed)
    this._connectedWaiters = [];
    this._closed = null;
    this._responseEvents = null;
  }

  get isRunning() {
    return this._state === 'running';
  }

  /** Connects to every nsqd; resolves after each first attempt (failures
   * are retried in the background and reported as 'error'). */
  async start() {
    if (this._state === 'closed') throw closedError('the producer');
    if (this._state !== 'init') return;
    const handle = check(addon.producerNew(this.nsqdTcpAddresses, this._config));
    this._state = 'running';
    let closedResolve;
    this._closed = new Promise((resolve) => { closedResolve = resolve; });
    this._source = new EventSource(handle, 128, 64 * 1024, (s, n) => this._onEvents(s, n), () => {
      this._state = 'closed';
      for (const waiter of this._pending.values()) waiter.fail(closedError('the producer'));
      this._pending.clear();
      this._wakeConnected();
      closedResolve();
      safeEmit(this, 'close');
    });
    this._updateMask();
    await startOrClose(this, handle);
  }

  /** Publishes body (Buffer or string) to topic; {defer} (ms) makes it a
   * DPUB; {timeout} (ms, default: no limit) bounds the wait for a
   * connection. Resolves once nsqd said OK. */
  publish(topic, body, options = {}) {
    try {
      const defer = options.defer ? Math.trunc(options.defer) : 0;
      return this._enqueue(topic, asBody(body), defer, false, options.timeout);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Publishes bodies in one MPUB. */
  multipublish(topic, bodies, options = {}) {
    try {
      return this._enqueue(topic, Array.from(bodies, asBody), 0, true, options.timeout);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Closes: publishes awaiting an answer reject with ClosedError. */
  async close() {
    if (this._state === 'init') {
      this._state = 'closed';
      return;
    }
    if (this._state === 'running') {
      this._flush(); // what was published before close() goes out first
      this._state = 'closing';
      check(addon.closeAsync(this._source.handle));
    }
    await this._closed;
  }

  _handle() {
    if (this._state !== 'running') throw closedError('the producer');
    this._updateMask();
    return this._source.handle;
  }

  /** Queues a publish for _flush, at the end of this tick: the publishes
   * made in one tick (a window of them, Promise.all) go out in one call. */
  _enqueue(topic, data, defer, multi, timeout) {
    // A bad argument must reject this publish alone, not the batch it would join.
    if (typeof topic !== 'string') throw new TypeError('topic must be a string');
    this._handle(); // refuses at once when closed
    const deadline = timeout === undefined || timeout === null ? Infinity : Date.now() + timeout;
    const item = new QueuedPublish(this, topic, data, defer, multi, deadline);
    const promise = new Promise((resolve, reject) => {
      item.resolve = resolve;
      item.fail = reject;
    });
    if (this._queue.push(item) === 1) process.nextTick(this._flush);
    return promise;
  }

  /** Sends the queued publishes in order: runs of single publishes in one
   * publishBatch call each (one alone by _sendOne, which may wait briefly
   * for its answer), an MPUB by _sendOne. */
  _flush() {
    const queue = this._queue;
    if (queue.length === 0) return;
    this._queue = [];
    let run = 0;
    for (let i = 0; i <= queue.length; i++) {
      if (i < queue.length && !queue[i].multi) continue;
      if (i - run === 1) this._sendOne(queue[run]);
      else if (i - run > 1) this._sendBatch(queue.slice(run, i));
      if (i < queue.length) this._sendOne(queue[i]);
      run = i + 1;
    }
  }

  /** Sends items (single publishes) in one call; each settles through its
   * PUBLISHED event. */
  _sendBatch(items) {
    const n = items.length;
    let rc;
    try {
      if (this._tokens.length < 8 * n) this._tokens = Buffer.alloc(8 * n * 2);
      rc = addon.publishBatch(this._handle(), items.map((item) => item.topic), items.map((item) => item.data),
        items.map((item) => item.defer), this._tokens);
    } catch (error) {
      for (const item of items) item.fail(error);
      return;
    }
    if (rc < 0) {
      const error = errorFor(rc, addon.lastError());
      for (const item of items) item.fail(error);
      return;
    }
    const tokens = this._tokens;
    for (let i = 0; i < n; i++) this._pending.set(tokenKey(tokens.readUInt32LE(8 * i), tokens.readUInt32LE(8 * i + 4)), items[i]);
  }

  /** Sends one item by itself (waiting up to _waitUs for its answer), and
   * again while no nsqd is connected, until its deadline. */
  _sendOne(item) {
    const call = item.multi
      ? (wait) => addon.multipublish(this._handle(), item.topic, item.data, wait, 0)
      : (wait) => addon.publish(this._handle(), item.topic, item.data, item.defer, wait, 0);
    this._send(call, item.deadline).then(item.resolve, item.fail);
  }

  /** How long a publish sent by itself may wait inside the library for
   * nsqd's answer: BOUND_US when no other is in flight (a sequential
   * `await publish()`: the answer usually comes within it, and the publish
   * costs no loop turn), else 0 (the answers come back in batches). */
  _waitUs() {
    return this._pending.size > 0 ? 0 : BOUND_US;
  }

  async _send(call, deadline) {
    let pause = 1;
    for (;;) {
      let rc = call(this._waitUs());
      let detail = '';
      if (rc === E.PENDING) {
        const key = tokenKey(addon.tokenLo(), addon.tokenHi());
        [rc, detail] = await new Promise((resolve, reject) => {
          this._pending.set(key, { settle: (code, text) => resolve([code, text]), fail: reject });
        });
      } else if (rc < 0) {
        detail = addon.lastError();
      }
      if (rc === 0) return undefined;
      if (rc !== E.NO_CONNECTIONS || Date.now() >= deadline) throw errorFor(rc, detail);
      await this._connected(Math.min(pause, deadline - Date.now()));
      pause = Math.min(pause * 2, 50);
      if (this._state !== 'running') throw closedError('the producer');
    }
  }

  /** Resolves at the next CONNECTED event, or after ms. */
  _connected(ms) {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        const at = this._connectedWaiters.indexOf(done);
        if (at >= 0) this._connectedWaiters.splice(at, 1);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this._connectedWaiters.push(done);
    });
  }

  _wakeConnected() {
    const waiters = this._connectedWaiters;
    this._connectedWaiters = [];
    for (const wake of waiters) wake();
  }

  _updateMask() {
    const wanted = this.listenerCount('response') > 0;
    if (wanted !== this._responseEvents && this._source) {
      this._responseEvents = wanted;
      addon.setEventMask(this._source.handle, wanted ? 0xFFFFFFFF : (0xFFFFFFFF & ~(1 << EV.RESPONSE)) >>> 0);
    }
  }

  _onEvents(source, n) {
    this._updateMask();
    const ev = source.events;
    for (let i = 0; i < n; i++) {
      const base = i * EVENT_SIZE;
      const type = ev.readInt32LE(base);
      const code = ev.readInt32LE(base + 4);
      switch (type) {
        case EV.PUBLISHED: {
          const key = tokenKey(ev.readUInt32LE(base + 8), ev.readUInt32LE(base + 12));
          const waiter = this._pending.get(key);
          if (waiter) {
            this._pending.delete(key);
            waiter.settle(code, code === 0 ? '' : source.textOf(i));
          }
          break;
        }
        case EV.CONNECTED: this._wakeConnected(); safeEmit(this, 'connected', source.textOf(i)); break;
        case EV.DISCONNECTED: safeEmit(this, 'disconnected', source.textOf(i)); break;
        case EV.RESPONSE: safeEmit(this, 'response', source.textOf(i)); break;
        case EV.ERROR: emitError(this, errorFor(code, source.textOf(i))); break;
        case EV.AUTH: safeEmit(this, 'auth', JSON.parse(source.textOf(i))); break;
        case EV.LOG: logEvent(this, source, i); break;
        default: break;
      }
    }
  }
}

/** A publish made by publish() or multipublish(), until _flush sends it;
 * then, if sent in a batch, the waiter of its PUBLISHED event. */
class QueuedPublish {
  constructor(producer, topic, data, defer, multi, deadline) {
    this.producer = producer;
    this.topic = topic;
    this.data = data;
    this.defer = defer;
    this.multi = multi;
    this.deadline = deadline;
    this.resolve = null;
    this.fail = null;
  }

  /** Its PUBLISHED event: OK, an error, or no connection (then it is sent
   * again by itself, which waits for one until its deadline). */
  settle(code, detail) {
    if (code === 0) this.resolve();
    else if (code === E.NO_CONNECTIONS && Date.now() < this.deadline && this.producer.isRunning) this.producer._sendOne(this);
    else this.fail(errorFor(code, detail));
  }
}

// ---- Consumer ---------------------------------------------------------------

/** One message from nsqd. body and id are Buffers, timestamp a BigInt (ns),
 * attempts a number. */
class Message {
  constructor(consumer, lo, hi, id, body, timestamp, attempts) {
    this.id = id;
    this.body = body;
    this.timestamp = timestamp;
    this.attempts = attempts;
    this._consumer = consumer;
    this._lo = lo;
    this._hi = hi;
    this._async = false;
    this._responded = false;
  }

  /** The consumer will not answer this message when its handler returns
   * (or its Promise settles): call finish() or requeue() later. */
  enableAsync() {
    this._async = true;
  }

  get isAsync() {
    return this._async;
  }

  get hasResponded() {
    return this._responded;
  }

  /** The body as text (utf8) or parsed JSON. */
  text() {
    return this.body.toString('utf8');
  }

  json() {
    return JSON.parse(this.text());
  }

  /** Tells nsqd the message was processed (FIN). */
  finish() {
    this._answer(RESP.FINISH, 0, 0);
  }

  /** Tells nsqd to deliver it again after delayMs (REQ); backoff (default
   * true) slows the consumer down as after a failure. */
  requeue(delayMs = 0, backoff = true) {
    if (!Number.isInteger(delayMs) || delayMs < 0) throw new TypeError('requeue delay must be an integer >= 0 (ms)');
    this._answer(RESP.REQUEUE, backoff ? 1 : 0, delayMs);
  }

  /** Asks nsqd for more time (TOUCH); the message stays open. */
  touch() {
    if (this._responded) throw new NSQError('already responded', 'GNSQ_E_ALREADY_RESPONDED', E.ALREADY_RESPONDED);
    this._consumer._respondNow(this, RESP.TOUCH, 0, 0);
  }

  _answer(action, backoff, delayMs) {
    if (this._responded) throw new NSQError('already responded', 'GNSQ_E_ALREADY_RESPONDED', E.ALREADY_RESPONDED);
    this._consumer._checkOpen();
    this._responded = true;
    this._consumer._answered(this, action, backoff, delayMs);
  }
}

/** A handler's way to requeue with gnsq's rule: backoff true, false, or
 * undefined (the consumer's backoffOnRequeue). */
class RequeueMessage extends Error {
  constructor(backoff) {
    super('requeue');
    this.name = 'RequeueMessage';
    this.backoff = backoff;
  }
}

const CONSUMER_OWN = new Set(['nsqdTcpAddresses', 'lookupdHttpAddresses']);

/** Consumes topic/channel from nsqd and/or nsqlookupd (gnsq's Consumer).
 * Listeners of 'message' are the handlers: a return (or the fulfilment of
 * a returned Promise) finishes the message, a throw (or a rejection)
 * requeues it (RequeueMessage: without it counting as a failure).
 * Events: 'message', 'finish' (id), 'requeue' (id, delayMs), 'givingUp'
 * (message), 'exception' (message, error), 'error' (error, only when
 * listened to), 'response' (text), 'auth' (response), 'connected'
 * (address), 'disconnected' (address), 'close', 'log'. */
class Consumer extends EventEmitter {
  constructor(topic, channel, options = {}) {
    super();
    if (typeof topic !== 'string' || typeof channel !== 'string') throw new TypeError('topic and channel must be strings');
    this.topic = topic;
    this.channel = channel;
    this.options = { ...options };
    this.nsqdTcpAddresses = asAddresses(options.nsqdTcpAddresses, 'nsqdTcpAddresses');
    this.lookupdHttpAddresses = asAddresses(options.lookupdHttpAddresses, 'lookupdHttpAddresses');
    if (this.nsqdTcpAddresses.length === 0 && this.lookupdHttpAddresses.length === 0) {
      throw new TypeError('nsqdTcpAddresses or lookupdHttpAddresses is needed');
    }
    this._config = configPairs(this.options, CONSUMER_OWN, { logLevel: 'warn' });
    this._state = 'init';
    this._source = null;
    this._answers = Buffer.alloc(RESPONSE_SIZE * 256);
    this._count = 0;
    this._texts = [];
    this._textsLength = 0;
    this._flushScheduled = false;
    this._unanswered = new Map(); // token key -> message handed to a handler that has not answered yet (async)
    this._mask = null;
    this._draining = false;
    this._closed = null;
  }

  get isRunning() {
    return this._state === 'running';
  }

  _status() {
    const st = this._source ? addon.status(this._source.handle) : null;
    return Array.isArray(st) ? st : [0, 0, 0, 0, 0, 0];
  }

  get isStarved() {
    return this._status()[1] !== 0;
  }

  get totalReadyCount() {
    return this._status()[2];
  }

  get totalInFlight() {
    return this._status()[3];
  }

  /** Connects and starts handling messages; resolves once the first
   * connection attempts (and lookup) are done. */
  async start() {
    if (this._state !== 'init') throw closedError('the consumer (started once)');
    if (this.listenerCount('message') === 0) throw new TypeError("no 'message' listener: add the handler first");
    const handle = check(addon.consumerNew(this.topic, this.channel, this.nsqdTcpAddresses, this.lookupdHttpAddresses,
      this._config));
    this._state = 'running';
    let closedResolve;
    this._closed = new Promise((resolve) => { closedResolve = resolve; });
    this._closedResolve = closedResolve;
    this._source = new EventSource(handle, 256, 256 * 1024, (s, n) => this._onEvents(s, n), () => {
      this._state = 'closed';
      this._unanswered.clear();
      this._closedResolve();
    });
    this._updateMask();
    await startOrClose(this, handle);
  }

  /** Stops; resolves once closed. Without drain: messages received and
   * not answered are requeued (also those whose handler is still
   * running: its outcome is then ignored), and so is what still arrives.
   * With {drain: true}: nsqd sends nothing more and the handlers finish
   * what was received; after {timeout} ms it goes on as without drain.
   * Either way nothing is lost. */
  async close(options = {}) {
    const drain = Boolean(options.drain);
    if (this._state === 'init') {
      this._state = 'closed';
      return;
    }
    if (this._state === 'running' && !this._draining) {
      this._draining = true;
      const timeout = options.timeout;
      const ms = drain && (timeout === undefined || timeout === null) ? -1 : Math.trunc((timeout || 0) + CLOSE_WAIT_MS);
      check(addon.drainAsync(this._source.handle, ms));
    }
    if (!drain) this._giveBackAll();
    else if (options.timeout !== undefined && options.timeout !== null) {
      const timer = setTimeout(() => this._giveBackAll(), options.timeout);
      this._closed.then(() => clearTimeout(timer));
    }
    await this._closed;
  }

  /** Changes max_in_flight while running. */
  setMaxInFlight(n) {
    this._checkOpen();
    check(addon.setMaxInFlight(this._source.handle, n));
  }

  /** Adds a connection to nsqd at address while running. */
  connectToNsqd(address) {
    this._checkOpen();
    check(addon.connectToNsqd(this._source.handle, address));
  }

  _checkOpen() {
    if (this._state !== 'running') throw closedError('the consumer');
  }

  _giveBackAll() {
    if (this._state !== 'running') return;
    this._state = 'stopping';
    for (const message of this._unanswered.values()) {
      if (!message._responded) {
        message._responded = true;
        this._add(message._lo, message._hi, RESP.REQUEUE, 0, 0, null);
      }
    }
    this._unanswered.clear();
    this._flush();
  }

  _updateMask() {
    let mask = (0xFFFFFFFF & ~(1 << EV.EXCEPTION)) >>> 0; // 'exception' is emitted here, with the error
    if (this.listenerCount('finish') === 0) mask &= ~(1 << EV.FINISHED);
    if (this.listenerCount('requeue') === 0) mask &= ~(1 << EV.REQUEUED);
    if (this.listenerCount('response') === 0) mask &= ~(1 << EV.RESPONSE);
    mask >>>= 0;
    if (mask !== this._mask) {
      this._mask = mask;
      addon.setEventMask(this._source.handle, mask);
    }
  }

  _onEvents(source, n) {
    this._updateMask();
    // One copy of the batch's events and data: ids and bodies are views of
    // it (a message keeps its batch's copy alive), not one allocation each.
    const ev = Buffer.from(source.events.subarray(0, n * EVENT_SIZE));
    let end = 0;
    for (let i = 0; i < n; i++) {
      if (!(ev.readUInt16LE(i * EVENT_SIZE + 42) & EVF_HELD)) {
        end = Math.max(end, ev.readUInt32LE(i * EVENT_SIZE + 36) + ev.readUInt32LE(i * EVENT_SIZE + 32));
      }
    }
    const data = Buffer.from(source.data.subarray(0, end));
    const bodyOf = (i) => {
      const base = i * EVENT_SIZE;
      if (ev.readUInt16LE(base + 42) & EVF_HELD) return source.dataOf(i);
      const off = ev.readUInt32LE(base + 36);
      return data.subarray(off, off + ev.readUInt32LE(base + 32));
    };
    const handlers = this.listeners('message');
    for (let i = 0; i < n; i++) {
      const base = i * EVENT_SIZE;
      const type = ev.readInt32LE(base);
      if (type === EV.MESSAGE) {
        const lo = ev.readUInt32LE(base + 8);
        const hi = ev.readUInt32LE(base + 12);
        if (this._state !== 'running') {
          this._add(lo, hi, RESP.REQUEUE, 0, 0, null); // not handled: back to nsqd at once
          continue;
        }
        const message = new Message(this, lo, hi, ev.subarray(base + 48, base + 64), bodyOf(i),
          ev.readBigInt64LE(base + 16), ev.readUInt16LE(base + 40));
        this._handle(message, handlers);
        continue;
      }
      const code = ev.readInt32LE(base + 4);
      switch (type) {
        case EV.GIVING_UP: {
          const message = new Message(this, 0, 0, ev.subarray(base + 48, base + 64), bodyOf(i),
            ev.readBigInt64LE(base + 16), ev.readUInt16LE(base + 40));
          message._responded = true; // the library finished it
          safeEmit(this, 'givingUp', message);
          break;
        }
        case EV.FINISHED: safeEmit(this, 'finish', ev.subarray(base + 48, base + 64)); break;
        case EV.REQUEUED:
          safeEmit(this, 'requeue', ev.subarray(base + 48, base + 64), Number(ev.readBigInt64LE(base + 24)));
          break;
        case EV.RESPONSE: safeEmit(this, 'response', source.textOf(i)); break;
        case EV.ERROR: emitError(this, errorFor(code, source.textOf(i))); break;
        case EV.AUTH: safeEmit(this, 'auth', JSON.parse(source.textOf(i))); break;
        case EV.CONNECTED: safeEmit(this, 'connected', source.textOf(i)); break;
        case EV.DISCONNECTED: safeEmit(this, 'disconnected', source.textOf(i)); break;
        case EV.LOG: logEvent(this, source, i); break;
        case EV.CLOSED:
          this._flush();
          this._state = 'closed';
          safeEmit(this, 'close');
          break;
        default: break;
      }
    }
    this._flush();
  }

  _handle(message, handlers) {
    let promises = null;
    try {
      for (const handler of handlers) {
        const result = handler.call(this, message);
        if (result && typeof result.then === 'function') (promises || (promises = [])).push(result);
      }
    } catch (error) {
      this._failed(message, error);
      return;
    }
    if (promises === null) {
      this._ok(message);
      return;
    }
    const key = tokenKey(message._lo, message._hi);
    this._unanswered.set(key, message);
    const settle = promises.length === 1 ? promises[0] : Promise.all(promises);
    settle.then(() => {
      this._unanswered.delete(key);
      if (this._state === 'running' || this._draining) this._ok(message);
      this._scheduleFlush();
    }, (error) => {
      this._unanswered.delete(key);
      if (this._state === 'running' || this._draining) this._failed(message, error);
      this._scheduleFlush();
    });
  }

  _ok(message) {
    if (message._responded) return;
    if (message._async) {
      this._unanswered.set(tokenKey(message._lo, message._hi), message);
      return;
    }
    message._responded = true;
    this._add(message._lo, message._hi, RESP.HANDLER_OK, 0, 0, null);
  }

  _failed(message, error) {
    if (error instanceof RequeueMessage) {
      if (!message._responded) {
        message._responded = true;
        const backoff = error.backoff === undefined ? -1 : (error.backoff ? 1 : 0);
        this._add(message._lo, message._hi, RESP.HANDLER_REQUEUE, backoff, 0, null);
      }
      return;
    }
    safeEmit(this, 'exception', message, error);
    if (!message._responded) {
      message._responded = true;
      const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      this._add(message._lo, message._hi, RESP.HANDLER_FAILED, 0, 0, Buffer.from(text, 'utf8'));
    }
  }

  _answered(message, action, backoff, delayMs) {
    this._unanswered.delete(tokenKey(message._lo, message._hi));
    this._add(message._lo, message._hi, action, backoff, delayMs, null);
    this._scheduleFlush();
  }

  _respondNow(message, action, backoff, delayMs) {
    this._checkOpen();
    const one = Buffer.alloc(RESPONSE_SIZE);
    writeResponse(one, 0, message._lo, message._hi, action, backoff, delayMs, 0, 0);
    check(addon.respond(this._source.handle, one, 1, null));
  }

  /** Adds an answer to the batch sent by _flush. */
  _add(lo, hi, action, backoff, delayMs, text) {
    if (this._count * RESPONSE_SIZE === this._answers.length) {
      const bigger = Buffer.alloc(this._answers.length * 2);
      this._answers.copy(bigger);
      this._answers = bigger;
    }
    let offset = 0;
    let length = 0;
    if (text) {
      offset = this._textsLength;
      length = text.length;
      this._texts.push(text);
      this._textsLength += length;
    }
    writeResponse(this._answers, this._count * RESPONSE_SIZE, lo, hi, action, backoff, delayMs, offset, length);
    this._count++;
  }

  _scheduleFlush() {
    if (!this._flushScheduled) {
      this._flushScheduled = true;
      setImmediate(() => {
        this._flushScheduled = false;
        this._flush();
      });
    }
  }

  _flush() {
    if (this._count === 0 || !this._source || this._source.stopped) {
      this._count = 0;
      return;
    }
    const texts = this._texts.length ? Buffer.concat(this._texts, this._textsLength) : null;
    const rc = addon.respond(this._source.handle, this._answers, this._count, texts);
    this._count = 0;
    this._texts = [];
    this._textsLength = 0;
    if (rc < 0 && rc !== E.CLOSED) emitError(this, errorFor(rc, addon.lastError()));
  }
}

function writeResponse(buf, at, lo, hi, action, backoff, delayMs, textOffset, textLength) {
  buf.writeUInt32LE(lo, at);
  buf.writeUInt32LE(hi, at + 4);
  buf.writeInt32LE(action, at + 8);
  buf.writeInt32LE(backoff, at + 12);
  buf.writeUInt32LE(delayMs >>> 0, at + 16);
  buf.writeUInt32LE(Math.floor(delayMs / 4294967296), at + 20);
  buf.writeUInt32LE(textOffset, at + 24);
  buf.writeUInt32LE(textLength, at + 28);
}

// ---- HTTP clients -------------------------------------------------------------

// include/gnsq.h: client kinds and GNSQ_HTTP_* operations.
const KIND_NSQD = 1;
const KIND_LOOKUPD = 2;
const OP = {
  PING: 1, INFO: 2, STATS: 3, STATS_TEXT: 4, PUBLISH: 5, MULTIPUBLISH: 6, MULTIPUBLISH_BINARY: 7, CREATE_TOPIC: 8,
  DELETE_TOPIC: 9, EMPTY_TOPIC: 10, PAUSE_TOPIC: 11, UNPAUSE_TOPIC: 12, CREATE_CHANNEL: 13, DELETE_CHANNEL: 14,
  EMPTY_CHANNEL: 15, PAUSE_CHANNEL: 16, UNPAUSE_CHANNEL: 17, LOOKUP: 18, TOPICS: 19, CHANNELS: 20, NODES: 21,
  TOMBSTONE_TOPIC: 22,
};
const JSON_OPS = new Set([OP.INFO, OP.STATS, OP.LOOKUP, OP.TOPICS, OP.CHANNELS, OP.NODES]);

/** The base of the HTTP clients: url is 'http://host:port' (or
 * 'host:port'); options: timeout (s), userAgent. Every request returns a
 * Promise: parsed JSON for JSON answers, a string otherwise ('OK' or ''). */
class HTTPClient {
  constructor(kind, url, options = {}) {
    if (typeof url !== 'string' || !url) throw new TypeError('url must be a string "http://host:port"');
    this.url = url.includes('://') ? url : 'http://' + url;
    this._kind = kind;
    this._config = configPairs(options, new Set(), { logLevel: 'warn' });
    this._source = null;
    this._pending = new Map(); // token key -> {op, resolve, reject}
    this._closed = false;
    this._closedPromise = null;
  }

  /** Ends pending requests (they reject) and releases the library handle. */
  async close() {
    this._closed = true;
    if (!this._source) return;
    if (!this._source.stopped) check(addon.closeAsync(this._source.handle));
    await this._closedPromise;
  }

  _request(op, topic = null, channel = null, node = null, bodies = null, deferMs = 0) {
    try {
      if (this._closed) throw closedError('the HTTP client');
      if (!this._source) this._open();
      check(addon.httpRequest(this._source.handle, op, topic, channel, node, bodies, deferMs));
      const key = tokenKey(addon.tokenLo(), addon.tokenHi());
      this._source.ref(true);
      return new Promise((resolve, reject) => this._pending.set(key, { op, resolve, reject }));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  _open() {
    const handle = check(addon.httpNew(this._kind, this.url, this._config));
    let closedResolve;
    this._closedPromise = new Promise((resolve) => { closedResolve = resolve; });
    this._source = new EventSource(handle, 64, 64 * 1024, (s, n) => this._onEvents(s, n), () => {
      for (const { reject } of this._pending.values()) reject(closedError('the HTTP client'));
      this._pending.clear();
      closedResolve();
    });
  }

  _onEvents(source, n) {
    const ev = source.events;
    for (let i = 0; i < n; i++) {
      const base = i * EVENT_SIZE;
      const type = ev.readInt32LE(base);
      if (type === EV.LOG) {
        logEvent(null, source, i);
        continue;
      }
      if (type !== EV.HTTP_DONE) continue;
      const key = tokenKey(ev.readUInt32LE(base + 8), ev.readUInt32LE(base + 12));
      const request = this._pending.get(key);
      if (!request) continue;
      this._pending.delete(key);
      const code = ev.readInt32LE(base + 4);
      const status = ev.readInt32LE(base + 24);
      const data = source.dataOf(i);
      if (code < 0) {
        request.reject(this._closed ? closedError('the HTTP client') : errorFor(code, data.toString('utf8'), status));
      } else if (JSON_OPS.has(request.op)) {
        try {
          request.resolve(JSON.parse(data.toString('utf8')));
        } catch (error) {
          request.reject(error);
        }
      } else {
        request.resolve(data.toString('utf8'));
      }
    }
    if (this._pending.size === 0) source.ref(false); // idle: does not keep the process alive
  }
}

/** nsqd's HTTP API. */
class NsqdHTTPClient extends HTTPClient {
  constructor(url = 'http://127.0.0.1:4151', options = {}) {
    super(KIND_NSQD, url, options);
  }

  ping() { return this._request(OP.PING); }
  info() { return this._request(OP.INFO); }

  /** nsqd's stats, of one topic or channel if given; {text: true} for the text form. */
  stats({ topic = null, channel = null, text = false } = {}) {
    return this._request(text ? OP.STATS_TEXT : OP.STATS, topic, channel);
  }

  publish(topic, body, { defer = 0 } = {}) {
    try {
      return this._request(OP.PUBLISH, topic, null, null, [asBody(body)], Math.trunc(defer));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** {binary: true} allows '\n' in the bodies. */
  multipublish(topic, bodies, { binary = false } = {}) {
    try {
      return this._request(binary ? OP.MULTIPUBLISH_BINARY : OP.MULTIPUBLISH, topic, null, null,
        Array.from(bodies, asBody));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  createTopic(topic) { return this._request(OP.CREATE_TOPIC, topic); }
  deleteTopic(topic) { return this._request(OP.DELETE_TOPIC, topic); }
  emptyTopic(topic) { return this._request(OP.EMPTY_TOPIC, topic); }
  pauseTopic(topic) { return this._request(OP.PAUSE_TOPIC, topic); }
  unpauseTopic(topic) { return this._request(OP.UNPAUSE_TOPIC, topic); }
  createChannel(topic, channel) { return this._request(OP.CREATE_CHANNEL, topic, channel); }
  deleteChannel(topic, channel) { return this._request(OP.DELETE_CHANNEL, topic, channel); }
  emptyChannel(topic, channel) { return this._request(OP.EMPTY_CHANNEL, topic, channel); }
  pauseChannel(topic, channel) { return this._request(OP.PAUSE_CHANNEL, topic, channel); }
  unpauseChannel(topic, channel) { return this._request(OP.UNPAUSE_CHANNEL, topic, channel); }
}

/** nsqlookupd's HTTP API. */
class LookupdClient extends HTTPClient {
  constructor(url = 'http://127.0.0.1:4161', options = {}) {
    super(KIND_LOOKUPD, url, options);
  }

  ping() { return this._request(OP.PING); }
  info() { return this._request(OP.INFO); }
  lookup(topic) { return this._request(OP.LOOKUP, topic); }
  topics() { return this._request(OP.TOPICS); }
  channels(topic) { return this._request(OP.CHANNELS, topic); }
  nodes() { return this._request(OP.NODES); }
  createTopic(topic) { return this._request(OP.CREATE_TOPIC, topic); }
  deleteTopic(topic) { return this._request(OP.DELETE_TOPIC, topic); }
  createChannel(topic, channel) { return this._request(OP.CREATE_CHANNEL, topic, channel); }
  deleteChannel(topic, channel) { return this._request(OP.DELETE_CHANNEL, topic, channel); }
  /** Tombstones the producer node ('host:httpPort') of topic. */
  tombstoneTopic(topic, node) { return this._request(OP.TOMBSTONE_TOPIC, topic, null, node); }
}

/** The library's version ('0.1.0'). */
function libraryVersion() {
  return addon.version();
}

module.exports = {
  Producer,
  Consumer,
  Message,
  RequeueMessage,
  NsqdHTTPClient,
  LookupdClient,
  NSQError,
  NSQServerError,
  NoConnectionsError,
  ConnectionError,
  ClosedError,
  InvalidArgumentError,
  HTTPError,
  libraryVersion,
};
