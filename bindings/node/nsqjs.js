'use strict';
/**
 * nsqjs 0.13's Reader and Writer over libgnsq: the same constructors,
 * option names, event names, Message methods and publish callbacks, so an
 * nsqjs program switches by changing require('nsqjs') to
 * require('libgnsq/nsqjs').
 *
 * Also fixed here: the Writer reconnects by itself (with backoff), a
 * closed Reader can connect() again, publish() also returns a Promise, and
 * an 'error' without a listener never throws (it crashed nsqjs programs).
 */
const { EventEmitter } = require('node:events');

const gnsq = require('./index.js');

// nsqjs option -> this package's option (with a unit change where needed).
const COMMON = {
  authSecret: (v) => ({ authSecret: v }),
  clientId: (v) => ({ clientId: v }),
  deflate: (v) => ({ deflate: v }),
  deflateLevel: (v) => ({ deflateLevel: v }),
  heartbeatInterval: (v) => ({ heartbeatInterval: v }),
  maxInFlight: (v) => ({ maxInFlight: v }),
  messageTimeout: (v) => ({ msgTimeout: v }),
  outputBufferSize: (v) => ({ outputBufferSize: v }),
  outputBufferTimeout: (v) => ({ outputBufferTimeout: v }),
  sampleRate: (v) => ({ sampleRate: v }),
  snappy: (v) => ({ snappy: v }),
  tls: (v) => ({ tls: v }),
  tlsVerification: (v) => ({ tlsInsecureSkipVerify: !v }),
  // nsqjs passes key, cert and ca contents to tls.connect; the library
  // reads files: give tlsCaFile, tlsCertFile, tlsKeyFile instead.
  tlsCaFile: (v) => ({ tlsCaFile: v }),
  tlsCertFile: (v) => ({ tlsCertFile: v }),
  tlsKeyFile: (v) => ({ tlsKeyFile: v }),
  requeueDelay: () => ({}), // the default delay of Message.requeue(), kept here
  idleTimeout: () => ({}),
};
const READER = {
  ...COMMON,
  lookupdHTTPAddresses: (v) => ({ lookupdHttpAddresses: typeof v === 'string' ? [v] : v }),
  nsqdTCPAddresses: (v) => ({ nsqdTcpAddresses: typeof v === 'string' ? [v] : v }),
  lookupdPollInterval: (v) => ({ lookupdPollInterval: v }),
  lookupdPollJitter: (v) => ({ lookupdPollJitter: v }),
  maxAttempts: (v) => ({ maxTries: v }),
  maxBackoffDuration: (v) => ({ maxBackoffDuration: v }),
  // nsqjs: how often (ms) RDY moves between connections when maxInFlight
  // is below their number: the library's rdy_redistribute_interval (s)
  lowRdyTimeout: (v) => ({ rdyRedistributeInterval: v / 1000 }),
  name: () => ({}),
};

function translate(options, table) {
  const out = {};
  for (const [key, value] of Object.entries(options || {})) {
    if (value === undefined || value === null) continue;
    const map = table[key];
    if (!map) throw new Error(`unsupported option ${key}`);
    Object.assign(out, map(value));
  }
  return out;
}

function splitAddress(address) {
  const at = address.lastIndexOf(':');
  return [address.slice(0, at).replace(/^\[(.*)\]$/, '$1'), Number(address.slice(at + 1))];
}

/** nsqjs's Message: id a string, body a Buffer, timestamp a BigInt;
 * finish(), requeue(delay = requeueDelay ms, backoff = true), touch(). */
class Message {
  constructor(message, requeueDelay) {
    this._message = message;
    this.requeueDelay = requeueDelay;
  }

  get id() { return this._message.id.toString(); }
  get body() { return this._message.body; }
  get timestamp() { return this._message.timestamp; }
  get attempts() { return this._message.attempts; }
  get hasResponded() { return this._message.hasResponded; }

  json() {
    if (this._parsed === undefined) this._parsed = JSON.parse(this.body.toString());
    return this._parsed;
  }

  finish() {
    if (!this._message.hasResponded) this._message.finish();
  }

  requeue(delay = this.requeueDelay, backoff = true) {
    if (!this._message.hasResponded) this._message.requeue(Math.trunc(delay), backoff);
  }

  touch() {
    if (!this._message.hasResponded) this._message.touch();
  }
}

class Reader extends EventEmitter {
  static get ERROR() { return 'error'; }
  static get MESSAGE() { return 'message'; }
  static get READY() { return 'ready'; }
  static get NOT_READY() { return 'not_ready'; }
  static get DISCARD() { return 'discard'; }
  static get NSQD_CONNECTED() { return 'nsqd_connected'; }
  static get NSQD_CLOSED() { return 'nsqd_closed'; }

  constructor(topic, channel, options = {}) {
    super();
    this.topic = topic;
    this.channel = channel;
    this.requeueDelay = options.requeueDelay === undefined ? 90000 : options.requeueDelay;
    this._options = { maxTries: 0, ...translate(options, READER) }; // nsqjs: maxAttempts 0, no limit
    if (!this._options.nsqdTcpAddresses && !this._options.lookupdHttpAddresses) {
      throw new Error('nsqdTCPAddresses or lookupdHTTPAddresses is needed');
    }
    this._consumer = null;
    this._connections = 0;
    this._paused = false;
  }

  /** Starts consuming (again, after close()). Returns a Promise. */
  connect() {
    if (this._consumer && this._consumer.isRunning) return Promise.resolve();
    // paused before connect(): start with nothing in flight (nsqjs did not connect)
    const consumer = new gnsq.Consumer(this.topic, this.channel,
      this._paused ? { ...this._options, maxInFlight: 0 } : this._options);
    this._consumer = consumer;
    this._connections = 0;
    consumer.on('message', (message) => {
      message.enableAsync(); // nsqjs: the handler answers, whenever it likes
      this.emit('message', new Message(message, this.requeueDelay));
    });
    consumer.on('givingUp', (message) => {
      // attempts over maxAttempts: the library already finished it
      this.emit(this.listenerCount('discard') > 0 ? 'discard' : 'message', new Message(message, this.requeueDelay));
    });
    consumer.on('connected', (address) => {
      this._connections++;
      this.emit('nsqd_connected', ...splitAddress(address));
      if (this._connections === 1) this.emit('ready');
    });
    consumer.on('disconnected', (address) => {
      this._connections = Math.max(0, this._connections - 1);
      this.emit('nsqd_closed', ...splitAddress(address));
      if (this._connections === 0) this.emit('not_ready');
    });
    consumer.on('error', (error) => {
      if (this.listenerCount('error') > 0) this.emit('error', error);
    });
    return consumer.start().catch((error) => {
      if (this.listenerCount('error') > 0) this.emit('error', error);
    });
  }

  /** Stops; messages not answered are requeued. Returns a Promise. */
  close() {
    const consumer = this._consumer;
    return consumer ? consumer.close() : Promise.resolve();
  }

  pause() {
    this._paused = true;
    if (this._consumer && this._consumer.isRunning) this._consumer.setMaxInFlight(0);
  }

  unpause() {
    this._paused = false;
    if (this._consumer && this._consumer.isRunning) this._consumer.setMaxInFlight(this._options.maxInFlight || 1);
  }

  isPaused() {
    return this._paused;
  }
}

function serialize(message) {
  return typeof message === 'string' || Buffer.isBuffer(message) ? message : JSON.stringify(message);
}

/** callback(err) when given; the Promise is returned either way. Its
 * rejection never goes unhandled (an nsqjs program that ignores the
 * result must not crash): without a callback, it goes to 'error'
 * listeners too. */
function settle(emitter, promise, callback) {
  if (typeof callback === 'function') promise.then(() => callback(), (error) => callback(error));
  else promise.catch((error) => { if (emitter.listenerCount('error') > 0) emitter.emit('error', error); });
  return promise;
}

function notConnected(callback) {
  const error = new Error('No active Writer connection to send messages');
  if (typeof callback !== 'function') throw error; // as nsqjs: at once, without a callback
  process.nextTick(callback, error);
  const rejected = Promise.reject(error);
  rejected.catch(() => {}); // reported through the callback
  return rejected;
}

class Writer extends EventEmitter {
  static get READY() { return 'ready'; }
  static get CLOSED() { return 'closed'; }
  static get ERROR() { return 'error'; }

  constructor(nsqdHost, nsqdPort, options = {}) {
    super();
    this.nsqdHost = nsqdHost;
    this.nsqdPort = nsqdPort;
    this._options = translate(options, COMMON);
    this.ready = false;
    this._producer = null;
  }

  /** Connects (and keeps reconnecting); 'ready' once connected. */
  connect() {
    if (this._producer && this._producer.isRunning) return Promise.resolve();
    const producer = new gnsq.Producer([`${this.nsqdHost}:${this.nsqdPort}`], this._options);
    this._producer = producer;
    producer.on('connected', () => {
      this.ready = true;
      this.emit('ready');
    });
    producer.on('disconnected', () => {
      this.ready = false;
    });
    producer.on('close', () => {
      this.ready = false;
      this.emit('closed');
    });
    producer.on('error', (error) => {
      if (this.listenerCount('error') > 0) this.emit('error', error);
    });
    return producer.start().catch((error) => {
      if (this.listenerCount('error') > 0) this.emit('error', error);
    });
  }

  /** msgs: a message or an array of them (one MPUB); strings and Buffers
   * as they are, anything else as JSON. callback(err), and a Promise. */
  publish(topic, msgs, callback) {
    const producer = this._producer;
    if (!producer) return notConnected(callback);
    const promise = Array.isArray(msgs)
      ? producer.multipublish(topic, msgs.map(serialize))
      : producer.publish(topic, serialize(msgs));
    return settle(this, promise, callback);
  }

  deferPublish(topic, msg, timeMs, callback) {
    const producer = this._producer;
    if (!producer) return notConnected(callback);
    return settle(this, producer.publish(topic, serialize(msg), { defer: timeMs }), callback);
  }

  close() {
    return this._producer ? this._producer.close() : Promise.resolve();
  }
}

module.exports = { Reader, Writer, Message };
