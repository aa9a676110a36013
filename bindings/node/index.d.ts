// Type declarations of the libgnsq package (index.js; index.mjs has the same
// named exports, and its default export is the whole module).
/// <reference types="node" />

import { EventEmitter } from 'node:events';

// ---- values -------------------------------------------------------------------

/** A message body: a string is sent as UTF-8. */
export type Body = string | Buffer | Uint8Array;

/** Any iterable of bodies (an array, a Set, a generator), but not a string. */
export type Bodies = Iterable<Body> & object;

/** One address or an iterable of them. */
export type Addresses = string | Iterable<string>;

/** A duration: a number in the option's unit (see each option), or a Go
 * duration string such as '1500ms' or '2m'. */
export type Duration = number | string;

/** The least severe log record delivered (the library's log_level). */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'off';

/** The level of a 'log' record: 10 debug, 20 info, 30 warning, 40 error
 * (Python logging's numbers). */
export type LogRecordLevel = 10 | 20 | 30 | 40;

// ---- options (docs/config.md, camelCase) ----------------------------------------

/** Options of every TCP connection to nsqd (Producer and Consumer).
 * Unknown keys are refused by the library: start() rejects with
 * InvalidArgumentError. */
export interface ConnectionOptions {
  /** s (default 60): write timeout; with heartbeats also the read timeout. */
  timeout?: Duration;
  /** s (default 5): TCP connect timeout. */
  dialTimeout?: Duration;
  /** Sent in IDENTIFY (default: the short hostname). */
  clientId?: string;
  /** Sent in IDENTIFY (default: the machine's hostname). */
  hostname?: string;
  /** Sent in IDENTIFY (default: libgnsq/<version>). */
  userAgent?: string;
  /** s (default 30); -1 disables heartbeats, 0 takes nsqd's default. */
  heartbeatInterval?: Duration;
  /** Bytes (default 16384); -1 disables nsqd's output buffering. */
  outputBufferSize?: number;
  /** ms (default 250); -1 disables. */
  outputBufferTimeout?: Duration;
  /** ms (default 0: nsqd's): server-side timeout of messages in flight. */
  msgTimeout?: Duration;
  /** Percent of the channel's messages delivered (0-99, 0: all). */
  sampleRate?: number;
  /** Upgrade to TLS; certificates are verified unless tlsInsecureSkipVerify. */
  tlsV1?: boolean;
  /** Another name of tlsV1. */
  tls?: boolean;
  /** PEM file of CA certificates (default: the system roots). */
  tlsCaFile?: string;
  /** PEM client certificate file (with tlsKeyFile). */
  tlsCertFile?: string;
  /** PEM key file of tlsCertFile. */
  tlsKeyFile?: string;
  /** Name to verify nsqd's certificate against (default: the address's host). */
  tlsServerName?: string;
  /** Accept any server certificate (for testing only). */
  tlsInsecureSkipVerify?: boolean;
  /** Snappy stream compression (not with deflate). */
  snappy?: boolean;
  /** Deflate stream compression (not with snappy). */
  deflate?: boolean;
  /** 1-9 (default 6). */
  deflateLevel?: number;
  /** Sent with AUTH when nsqd requires it; never logged. */
  authSecret?: string;
  /** Bytes (default 16777216): the largest frame accepted from nsqd. */
  maxFrameSize?: number;
  /** s (default 128): cap of the message backoff and of reconnect delays;
   * 0 disables message backoff. */
  maxBackoffDuration?: Duration;
  /** Default 'warn'. */
  logLevel?: LogLevel;
}

export interface ProducerOptions extends ConnectionOptions {}

/** Options of a Consumer, without its addresses. */
export interface ConsumerBaseOptions extends ConnectionOptions {
  /** Most messages in flight across all connections (default 1; 0 pauses). */
  maxInFlight?: number;
  /** A message delivered more often is finished and reported as 'givingUp'
   * (default 5; 0: no limit). */
  maxTries?: number;
  /** ms (default 0): delay of the requeue after a failed handler. */
  requeueDelay?: Duration;
  /** Whether a RequeueMessage without an explicit backoff backs off (default true). */
  backoffOnRequeue?: boolean;
  /** s (default 60): time between lookupd queries. */
  lookupdPollInterval?: Duration;
  /** 0-1 (default 0.3): random fraction added to each poll interval. */
  lookupdPollJitter?: number;
  /** s (default 5): a longer lookupd query is abandoned. */
  lookupdRequestTimeout?: Duration;
  /** s (default 10): an idle connection keeps only RDY 1. */
  lowReadyIdleTimeout?: Duration;
  /** s (default 5): how often RDY is redistributed. */
  rdyRedistributeInterval?: Duration;
}

/** A Consumer's options: nsqdTcpAddresses ('host[:port]'), lookupdHttpAddresses
 * ('http://host:port' or 'host:port'), or both. */
export type ConsumerOptions = ConsumerBaseOptions & (
  | { nsqdTcpAddresses: Addresses; lookupdHttpAddresses?: Addresses }
  | { nsqdTcpAddresses?: Addresses; lookupdHttpAddresses: Addresses }
);

export interface PublishOptions {
  /** ms: deliver after this delay (DPUB). */
  defer?: number;
  /** ms (default: no limit): how long to wait for a connection to nsqd. */
  timeout?: number;
}

export interface MultipublishOptions {
  /** ms (default: no limit): how long to wait for a connection to nsqd. */
  timeout?: number;
}

export interface CloseOptions {
  /** true: nsqd sends nothing more and the handlers finish what was received. */
  drain?: boolean;
  /** ms: with drain, after this long it goes on as close() without drain. */
  timeout?: number;
}

export interface HTTPClientOptions {
  /** s (default 60): bounds each request. */
  timeout?: Duration;
  /** The User-Agent header. */
  userAgent?: string;
  /** Default 'warn'. */
  logLevel?: LogLevel;
}

// ---- JSON answers -------------------------------------------------------------------

/** nsqd's answer to AUTH. */
export interface AuthResponse {
  identity: string;
  identity_url?: string;
  permission_count: number;
  [key: string]: unknown;
}

export interface NsqdInfo {
  version: string;
  broadcast_address: string;
  hostname: string;
  http_port: number;
  tcp_port: number;
  start_time: number;
  [key: string]: unknown;
}

export interface LookupdInfo {
  version: string;
  [key: string]: unknown;
}

export interface ClientStats {
  client_id: string;
  hostname: string;
  version: string;
  remote_address: string;
  state: number;
  ready_count: number;
  in_flight_count: number;
  message_count: number;
  finish_count: number;
  requeue_count: number;
  connect_ts: number;
  sample_rate: number;
  deflate: boolean;
  snappy: boolean;
  user_agent: string;
  tls: boolean;
  [key: string]: unknown;
}

export interface ChannelStats {
  channel_name: string;
  depth: number;
  backend_depth: number;
  in_flight_count: number;
  deferred_count: number;
  message_count: number;
  requeue_count: number;
  timeout_count: number;
  client_count: number;
  clients: ClientStats[];
  paused: boolean;
  [key: string]: unknown;
}

export interface TopicStats {
  topic_name: string;
  channels: ChannelStats[];
  depth: number;
  backend_depth: number;
  message_count: number;
  message_bytes: number;
  paused: boolean;
  [key: string]: unknown;
}

export interface NsqdStats {
  version: string;
  health: string;
  start_time: number;
  topics: TopicStats[];
  producers: ClientStats[];
  [key: string]: unknown;
}

export interface StatsOptions {
  topic?: string;
  channel?: string;
  /** true: nsqd's text form, a string. */
  text?: boolean;
}

/** An nsqd as nsqlookupd knows it. */
export interface LookupdProducer {
  remote_address: string;
  hostname: string;
  broadcast_address: string;
  tcp_port: number;
  http_port: number;
  version: string;
  [key: string]: unknown;
}

export interface LookupResult {
  channels: string[];
  producers: LookupdProducer[];
  [key: string]: unknown;
}

export interface LookupdNode extends LookupdProducer {
  tombstones: boolean[];
  topics: string[];
}

// ---- errors -----------------------------------------------------------------------

/** The library's codes (include/gnsq.h's GNSQ_E_* names). */
export type LibraryErrorCode =
  | 'GNSQ_E_INVALID_ARG' | 'GNSQ_E_INVALID_HANDLE' | 'GNSQ_E_CLOSED' | 'GNSQ_E_TIMEOUT'
  | 'GNSQ_E_NO_CONNECTIONS' | 'GNSQ_E_CONNECTION' | 'GNSQ_E_NSQ' | 'GNSQ_E_NSQ_NONFATAL'
  | 'GNSQ_E_PROTOCOL' | 'GNSQ_E_TLS' | 'GNSQ_E_AUTH' | 'GNSQ_E_HTTP' | 'GNSQ_E_NOT_RUNNING'
  | 'GNSQ_E_ALREADY_RESPONDED' | 'GNSQ_E_UNKNOWN_TOKEN' | 'GNSQ_E_IO' | 'GNSQ_E_INTERNAL'
  | 'GNSQ_E_IN_CALLBACK' | 'GNSQ_E_FORKED' | 'GNSQ_E_PENDING' | 'GNSQ_E_INTERRUPTED';

/** nsqd's E_* codes (v1.3.0); another nsqd may send others. */
export type NsqdErrorCode =
  | 'E_INVALID' | 'E_BAD_BODY' | 'E_BAD_TOPIC' | 'E_BAD_CHANNEL' | 'E_BAD_MESSAGE' | 'E_BAD_PROTOCOL'
  | 'E_PUB_FAILED' | 'E_MPUB_FAILED' | 'E_DPUB_FAILED' | 'E_FIN_FAILED' | 'E_REQ_FAILED'
  | 'E_TOUCH_FAILED' | 'E_SUB_FAILED' | 'E_IDENTIFY_FAILED' | 'E_AUTH_FIRST' | 'E_AUTH_FAILED'
  | 'E_AUTH_ERROR' | 'E_AUTH_DISABLED' | 'E_UNAUTHORIZED'
  | (string & {});

/** Every error of this package. */
export class NSQError extends Error {
  constructor(message: string, code: string, errno: number);
  /** nsqd's code ('E_BAD_TOPIC') for nsqd's errors, else the library's ('GNSQ_E_CLOSED'). */
  readonly code: string;
  /** The library's GNSQ_E_* number (negative). */
  readonly errno: number;
}

/** nsqd (or nsqlookupd) refused: code is its E_* code. */
export class NSQServerError extends NSQError {
  constructor(message: string, code: NsqdErrorCode, errno: number);
  readonly code: NsqdErrorCode;
}

/** No connection to any nsqd (within the wait). */
export class NoConnectionsError extends NSQError {
  constructor(message: string, code: 'GNSQ_E_NO_CONNECTIONS', errno: number);
  readonly code: 'GNSQ_E_NO_CONNECTIONS';
}

/** A connection failed, timed out, or TLS, the protocol or AUTH failed. */
export class ConnectionError extends NSQError {
  constructor(message: string, code: ConnectionError['code'], errno: number);
  readonly code: 'GNSQ_E_CONNECTION' | 'GNSQ_E_TIMEOUT' | 'GNSQ_E_IO' | 'GNSQ_E_TLS' | 'GNSQ_E_PROTOCOL' | 'GNSQ_E_AUTH';
}

/** The object is closed (or not started). */
export class ClosedError extends NSQError {
  constructor(message: string, code: ClosedError['code'], errno: number);
  readonly code: 'GNSQ_E_CLOSED' | 'GNSQ_E_NOT_RUNNING';
}

/** A bad argument, refused before anything was sent. */
export class InvalidArgumentError extends NSQError {
  constructor(message: string, code: 'GNSQ_E_INVALID_ARG', errno: number);
  readonly code: 'GNSQ_E_INVALID_ARG';
}

/** A non-2xx HTTP answer. code: nsqd's reason ('TOPIC_NOT_FOUND'), or
 * 'HTTP_<status>' when it gave none. */
export class HTTPError extends NSQError {
  constructor(message: string, code: string, errno: number, status: number);
  /** The HTTP status (404, ...). */
  readonly status: number;
}

// ---- Producer -----------------------------------------------------------------------

/** Publishes to one or more nsqd (gnsq's Producer). */
export class Producer extends EventEmitter {
  /** nsqdTcpAddresses: 'host[:port]', at least one (else TypeError). */
  constructor(nsqdTcpAddresses: Addresses, options?: ProducerOptions);

  readonly nsqdTcpAddresses: string[];
  readonly options: Readonly<ProducerOptions>;
  readonly isRunning: boolean;

  /** Connects to every nsqd; resolves after each first attempt (failures are
   * retried in the background and reported as 'error'). Rejects with
   * ClosedError after close(), InvalidArgumentError for a bad option. */
  start(): Promise<void>;

  /** Resolves once nsqd answered OK; rejects with NSQServerError (nsqd's
   * code), NoConnectionsError (after options.timeout), ClosedError,
   * InvalidArgumentError (bad topic, empty body) or TypeError (body type). */
  publish(topic: string, body: Body, options?: PublishOptions): Promise<void>;

  /** Publishes the bodies in one MPUB. */
  multipublish(topic: string, bodies: Bodies, options?: MultipublishOptions): Promise<void>;

  /** Closes; publishes still awaiting an answer reject with ClosedError. */
  close(): Promise<void>;

  on(event: 'error', listener: (error: NSQError) => void): this;
  on(event: 'response', listener: (text: string) => void): this;
  on(event: 'auth', listener: (response: AuthResponse) => void): this;
  on(event: 'connected' | 'disconnected', listener: (address: string) => void): this;
  on(event: 'close', listener: () => void): this;
  on(event: 'log', listener: (level: LogRecordLevel, component: string, text: string) => void): this;

  once(event: 'error', listener: (error: NSQError) => void): this;
  once(event: 'response', listener: (text: string) => void): this;
  once(event: 'auth', listener: (response: AuthResponse) => void): this;
  once(event: 'connected' | 'disconnected', listener: (address: string) => void): this;
  once(event: 'close', listener: () => void): this;
  once(event: 'log', listener: (level: LogRecordLevel, component: string, text: string) => void): this;

  off(event: 'error', listener: (error: NSQError) => void): this;
  off(event: 'response', listener: (text: string) => void): this;
  off(event: 'auth', listener: (response: AuthResponse) => void): this;
  off(event: 'connected' | 'disconnected', listener: (address: string) => void): this;
  off(event: 'close', listener: () => void): this;
  off(event: 'log', listener: (level: LogRecordLevel, component: string, text: string) => void): this;

  addListener(event: 'error', listener: (error: NSQError) => void): this;
  addListener(event: 'response', listener: (text: string) => void): this;
  addListener(event: 'auth', listener: (response: AuthResponse) => void): this;
  addListener(event: 'connected' | 'disconnected', listener: (address: string) => void): this;
  addListener(event: 'close', listener: () => void): this;
  addListener(event: 'log', listener: (level: LogRecordLevel, component: string, text: string) => void): this;

  removeListener(event: 'error', listener: (error: NSQError) => void): this;
  removeListener(event: 'response', listener: (text: string) => void): this;
  removeListener(event: 'auth', listener: (response: AuthResponse) => void): this;
  removeListener(event: 'connected' | 'disconnected', listener: (address: string) => void): this;
  removeListener(event: 'close', listener: () => void): this;
  removeListener(event: 'log', listener: (level: LogRecordLevel, component: string, text: string) => void): this;
}

// ---- Consumer -----------------------------------------------------------------------

/** One message from nsqd. */
export class Message {
  private constructor();
  /** nsqd's 16-byte message id. */
  readonly id: Buffer;
  readonly body: Buffer;
  /** nsqd's timestamp, ns since the epoch. */
  readonly timestamp: bigint;
  /** Delivery attempts, 1 for the first. */
  readonly attempts: number;
  /** enableAsync() was called. */
  readonly isAsync: boolean;
  /** finish() or requeue() was called, or the consumer answered it. */
  readonly hasResponded: boolean;

  /** The consumer will not answer this message when its handler returns (or
   * its Promise settles): call finish() or requeue() later. */
  enableAsync(): void;
  /** The body as UTF-8 text. */
  text(): string;
  /** The body parsed as JSON. */
  json<T = unknown>(): T;
  /** FIN. Throws NSQError 'GNSQ_E_ALREADY_RESPONDED' if already answered,
   * ClosedError once the consumer is closed. */
  finish(): void;
  /** REQ after delayMs (an integer >= 0, default 0, else TypeError);
   * backoff (default true) slows the consumer down as after a failure. */
  requeue(delayMs?: number, backoff?: boolean): void;
  /** TOUCH: more time; the message stays open. */
  touch(): void;
}

/** Thrown (or rejected) by a handler: requeue without it counting as a
 * failure (no 'exception'). backoff undefined: the consumer's backoffOnRequeue. */
export class RequeueMessage extends Error {
  constructor(backoff?: boolean);
  readonly name: 'RequeueMessage';
  readonly backoff: boolean | undefined;
}

/** A 'message' listener: returning (or the fulfilment of a returned
 * Promise or thenable) finishes the message, whatever the value; throwing
 * (or a rejection) requeues it. */
export type MessageHandler = (this: Consumer, message: Message) => unknown;

/** Consumes topic/channel from nsqd and/or nsqlookupd (gnsq's Consumer). */
export class Consumer extends EventEmitter {
  /** TypeError if topic or channel is not a string, or no address is given. */
  constructor(topic: string, channel: string, options: ConsumerOptions);

  readonly topic: string;
  readonly channel: string;
  readonly options: Readonly<ConsumerOptions>;
  readonly nsqdTcpAddresses: string[];
  readonly lookupdHttpAddresses: string[];
  readonly isRunning: boolean;
  /** Some connection has as many messages in flight as its RDY. */
  readonly isStarved: boolean;
  readonly totalReadyCount: number;
  readonly totalInFlight: number;

  /** Connects and starts handling messages; resolves once the first
   * connection attempts (and lookup) are done. Rejects with TypeError
   * without a 'message' listener, InvalidArgumentError for a bad name or
   * option, NSQError when started twice. */
  start(): Promise<void>;

  /** Stops; resolves once closed. Without drain, what was received and not
   * answered is requeued (handlers still running are abandoned). With
   * {drain: true}, the handlers finish what was received first. */
  close(options?: CloseOptions): Promise<void>;

  /** Changes maxInFlight while running (ClosedError otherwise). */
  setMaxInFlight(n: number): void;

  /** Adds a connection to nsqd ('host[:port]') while running. */
  connectToNsqd(address: string): void;

  on(event: 'message', listener: MessageHandler): this;
  on(event: 'finish', listener: (id: Buffer) => void): this;
  on(event: 'requeue', listener: (id: Buffer, delayMs: number) => void): this;
  on(event: 'givingUp', listener: (message: Message) => void): this;
  on(event: 'exception', listener: (message: Message, error: unknown) => void): this;
  on(event: 'error', listener: (error: NSQError) => void): this;
  on(event: 'response', listener: (text: string) => void): this;
  on(event: 'auth', listener: (response: AuthResponse) => void): this;
  on(event: 'connected' | 'disconnected', listener: (address: string) => void): this;
  on(event: 'close', listener: () => void): this;
  on(event: 'log', listener: (level: LogRecordLevel, component: string, text: string) => void): this;

  once(event: 'message', listener: MessageHandler): this;
  once(event: 'finish', listener: (id: Buffer) => void): this;
  once(event: 'requeue', listener: (id: Buffer, delayMs: number) => void): this;
  once(event: 'givingUp', listener: (message: Message) => void): this;
  once(event: 'exception', listener: (message: Message, error: unknown) => void): this;
  once(event: 'error', listener: (error: NSQError) => void): this;
  once(event: 'response', listener: (text: string) => void): this;
  once(event: 'auth', listener: (response: AuthResponse) => void): this;
  once(event: 'connected' | 'disconnected', listener: (address: string) => void): this;
  once(event: 'close', listener: () => void): this;
  once(event: 'log', listener: (level: LogRecordLevel, component: string, text: string) => void): this;

  off(event: 'message', listener: MessageHandler): this;
  off(event: 'finish', listener: (id: Buffer) => void): this;
  off(event: 'requeue', listener: (id: Buffer, delayMs: number) => void): this;
  off(event: 'givingUp', listener: (message: Message) => void): this;
  off(event: 'exception', listener: (message: Message, error: unknown) => void): this;
  off(event: 'error', listener: (error: NSQError) => void): this;
  off(event: 'response', listener: (text: string) => void): this;
  off(event: 'auth', listener: (response: AuthResponse) => void): this;
  off(event: 'connected' | 'disconnected', listener: (address: string) => void): this;
  off(event: 'close', listener: () => void): this;
  off(event: 'log', listener: (level: LogRecordLevel, component: string, text: string) => void): this;

  addListener(event: 'message', listener: MessageHandler): this;
  addListener(event: 'finish', listener: (id: Buffer) => void): this;
  addListener(event: 'requeue', listener: (id: Buffer, delayMs: number) => void): this;
  addListener(event: 'givingUp', listener: (message: Message) => void): this;
  addListener(event: 'exception', listener: (message: Message, error: unknown) => void): this;
  addListener(event: 'error', listener: (error: NSQError) => void): this;
  addListener(event: 'response', listener: (text: string) => void): this;
  addListener(event: 'auth', listener: (response: AuthResponse) => void): this;
  addListener(event: 'connected' | 'disconnected', listener: (address: string) => void): this;
  addListener(event: 'close', listener: () => void): this;
  addListener(event: 'log', listener: (level: LogRecordLevel, component: string, text: string) => void): this;

  removeListener(event: 'message', listener: MessageHandler): this;
  removeListener(event: 'finish', listener: (id: Buffer) => void): this;
  removeListener(event: 'requeue', listener: (id: Buffer, delayMs: number) => void): this;
  removeListener(event: 'givingUp', listener: (message: Message) => void): this;
  removeListener(event: 'exception', listener: (message: Message, error: unknown) => void): this;
  removeListener(event: 'error', listener: (error: NSQError) => void): this;
  removeListener(event: 'response', listener: (text: string) => void): this;
  removeListener(event: 'auth', listener: (response: AuthResponse) => void): this;
  removeListener(event: 'connected' | 'disconnected', listener: (address: string) => void): this;
  removeListener(event: 'close', listener: () => void): this;
  removeListener(event: 'log', listener: (level: LogRecordLevel, component: string, text: string) => void): this;
}

// ---- HTTP clients -------------------------------------------------------------------

/** nsqd's HTTP API. Requests resolve to parsed JSON for JSON answers, else
 * to the answer's text ('OK' or ''); non-2xx answers reject with HTTPError. */
export class NsqdHTTPClient {
  /** url: 'http://host:port' or 'host:port' (default 'http://127.0.0.1:4151'). */
  constructor(url?: string, options?: HTTPClientOptions);
  /** The URL, with 'http://' added when it had no scheme. */
  readonly url: string;

  /** 'OK'. */
  ping(): Promise<string>;
  info(): Promise<NsqdInfo>;
  /** nsqd's stats, of one topic or channel if given; {text: true}: the text form. */
  stats(options: StatsOptions & { text: true }): Promise<string>;
  stats(options?: StatsOptions & { text?: false }): Promise<NsqdStats>;
  stats(options: StatsOptions): Promise<NsqdStats | string>;
  /** 'OK'. */
  publish(topic: string, body: Body, options?: { defer?: number }): Promise<string>;
  /** 'OK'. {binary: true} allows '\n' in the bodies. */
  multipublish(topic: string, bodies: Bodies, options?: { binary?: boolean }): Promise<string>;
  createTopic(topic: string): Promise<string>;
  deleteTopic(topic: string): Promise<string>;
  emptyTopic(topic: string): Promise<string>;
  pauseTopic(topic: string): Promise<string>;
  unpauseTopic(topic: string): Promise<string>;
  createChannel(topic: string, channel: string): Promise<string>;
  deleteChannel(topic: string, channel: string): Promise<string>;
  emptyChannel(topic: string, channel: string): Promise<string>;
  pauseChannel(topic: string, channel: string): Promise<string>;
  unpauseChannel(topic: string, channel: string): Promise<string>;

  /** Ends pending requests (they reject with ClosedError). */
  close(): Promise<void>;
}

/** nsqlookupd's HTTP API. */
export class LookupdClient {
  /** url: 'http://host:port' or 'host:port' (default 'http://127.0.0.1:4161'). */
  constructor(url?: string, options?: HTTPClientOptions);
  readonly url: string;

  ping(): Promise<string>;
  info(): Promise<LookupdInfo>;
  lookup(topic: string): Promise<LookupResult>;
  topics(): Promise<{ topics: string[] }>;
  channels(topic: string): Promise<{ channels: string[] }>;
  nodes(): Promise<{ producers: LookupdNode[] }>;
  createTopic(topic: string): Promise<string>;
  deleteTopic(topic: string): Promise<string>;
  createChannel(topic: string, channel: string): Promise<string>;
  deleteChannel(topic: string, channel: string): Promise<string>;
  /** Tombstones the producer node ('host:httpPort') of topic. */
  tombstoneTopic(topic: string, node: string): Promise<string>;

  close(): Promise<void>;
}

/** The library's version ('0.1.0'). */
export function libraryVersion(): string;
