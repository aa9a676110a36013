// Type declarations of libgnsq/nsqjs: nsqjs 0.13's Reader, Writer and
// Message over libgnsq (nsqjs.js; nsqjs.mjs has the same named exports, and
// its default export is the whole module).
/// <reference types="node" />

import { EventEmitter } from 'node:events';
import type { NSQError } from './index.js';

/** Options of both Reader and Writer (nsqjs's names and units). Any other
 * key, including nsqjs's key, cert and ca, makes the constructor throw
 * 'unsupported option <key>'. null or undefined values are skipped. */
export interface ConnectionOptions {
  /** Sent with AUTH when nsqd requires it. */
  authSecret?: string | null;
  /** Sent in IDENTIFY. */
  clientId?: string | null;
  deflate?: boolean;
  /** 1-9. */
  deflateLevel?: number;
  /** s (default 30). */
  heartbeatInterval?: number;
  /** The Reader's messages in flight across its connections (default 1). */
  maxInFlight?: number;
  /** ms: nsqd's timeout of messages in flight to this client (the library's msgTimeout). */
  messageTimeout?: number | null;
  /** Bytes; -1 disables nsqd's output buffering. */
  outputBufferSize?: number | null;
  /** ms; -1 disables. */
  outputBufferTimeout?: number | null;
  /** ms (default 90000): the delay of Message.requeue() without an argument. */
  requeueDelay?: number;
  /** Percent of the channel's messages delivered (1-99). */
  sampleRate?: number | null;
  snappy?: boolean;
  /** Upgrade to TLS (certificates are verified). */
  tls?: boolean;
  /** false accepts any server certificate (the library's tlsInsecureSkipVerify). */
  tlsVerification?: boolean;
  /** PEM file of CA certificates (nsqjs's ca took the contents: not supported). */
  tlsCaFile?: string;
  /** PEM client certificate file (instead of nsqjs's cert). */
  tlsCertFile?: string;
  /** PEM key file (instead of nsqjs's key). */
  tlsKeyFile?: string;
  /** Accepted and ignored (nsqjs's socket idle timeout). */
  idleTimeout?: number;
}

export interface WriterOptions extends ConnectionOptions {}

export interface ReaderOptions extends ConnectionOptions {
  /** nsqd TCP addresses 'host:port' (this and/or lookupdHTTPAddresses). */
  nsqdTCPAddresses?: string | readonly string[];
  /** nsqlookupd HTTP addresses 'host:port' or 'http://host:port'. */
  lookupdHTTPAddresses?: string | readonly string[];
  /** s (default 60). */
  lookupdPollInterval?: number;
  /** 0-1 (default 0.3). */
  lookupdPollJitter?: number;
  /** Passed on as the library's lowReadyIdleTimeout (s). */
  lowRdyTimeout?: number;
  /** Attempts after which a message is finished and given to 'discard'
   * (or to 'message' without a 'discard' listener); 0 (default): no limit. */
  maxAttempts?: number;
  /** s (default 128). */
  maxBackoffDuration?: number;
  /** Accepted and ignored. */
  name?: string | null;
}

/** What Writer publishes: strings and Buffers as they are, anything else as JSON. */
export type WriterMessage = string | Buffer | number | boolean | object;

/** Called once per publish: without an argument on success. */
export type PublishCallback = (error?: Error) => void;

/** nsqjs's Message. The Reader never answers it: call finish() or requeue(). */
export class Message {
  private constructor();
  /** nsqd's message id as a string. */
  readonly id: string;
  readonly body: Buffer;
  /** nsqd's timestamp, ns since the epoch. */
  readonly timestamp: bigint;
  readonly attempts: number;
  readonly hasResponded: boolean;
  /** ms: the default delay of requeue() (the Reader's requeueDelay). */
  requeueDelay: number;

  /** The body parsed as JSON (cached). */
  json<T = unknown>(): T;
  /** FIN; nothing once the message was answered. */
  finish(): void;
  /** REQ after delay ms (default requeueDelay); backoff (default true) slows the Reader down. */
  requeue(delay?: number, backoff?: boolean): void;
  /** TOUCH: more time. */
  touch(): void;
}

export class Reader extends EventEmitter {
  static readonly ERROR: 'error';
  static readonly MESSAGE: 'message';
  static readonly READY: 'ready';
  static readonly NOT_READY: 'not_ready';
  static readonly DISCARD: 'discard';
  static readonly NSQD_CONNECTED: 'nsqd_connected';
  static readonly NSQD_CLOSED: 'nsqd_closed';

  /** Throws if neither nsqdTCPAddresses nor lookupdHTTPAddresses is given,
   * or for an unsupported option. */
  constructor(topic: string, channel: string, options?: ReaderOptions);

  readonly topic: string;
  readonly channel: string;
  readonly requeueDelay: number;

  /** Starts consuming; again after close(). The Promise resolves once the
   * first connection attempts are done (failures go to 'error'). */
  connect(): Promise<void>;
  /** Stops; messages not answered are requeued. */
  close(): Promise<void>;
  pause(): void;
  unpause(): void;
  isPaused(): boolean;

  on(event: 'message' | 'discard', listener: (message: Message) => void): this;
  on(event: 'ready' | 'not_ready', listener: () => void): this;
  on(event: 'nsqd_connected' | 'nsqd_closed', listener: (host: string, port: number) => void): this;
  on(event: 'error', listener: (error: NSQError) => void): this;

  once(event: 'message' | 'discard', listener: (message: Message) => void): this;
  once(event: 'ready' | 'not_ready', listener: () => void): this;
  once(event: 'nsqd_connected' | 'nsqd_closed', listener: (host: string, port: number) => void): this;
  once(event: 'error', listener: (error: NSQError) => void): this;

  off(event: 'message' | 'discard', listener: (message: Message) => void): this;
  off(event: 'ready' | 'not_ready', listener: () => void): this;
  off(event: 'nsqd_connected' | 'nsqd_closed', listener: (host: string, port: number) => void): this;
  off(event: 'error', listener: (error: NSQError) => void): this;

  addListener(event: 'message' | 'discard', listener: (message: Message) => void): this;
  addListener(event: 'ready' | 'not_ready', listener: () => void): this;
  addListener(event: 'nsqd_connected' | 'nsqd_closed', listener: (host: string, port: number) => void): this;
  addListener(event: 'error', listener: (error: NSQError) => void): this;

  removeListener(event: 'message' | 'discard', listener: (message: Message) => void): this;
  removeListener(event: 'ready' | 'not_ready', listener: () => void): this;
  removeListener(event: 'nsqd_connected' | 'nsqd_closed', listener: (host: string, port: number) => void): this;
  removeListener(event: 'error', listener: (error: NSQError) => void): this;
}

export class Writer extends EventEmitter {
  static readonly READY: 'ready';
  static readonly CLOSED: 'closed';
  static readonly ERROR: 'error';

  /** Throws for an unsupported option. */
  constructor(nsqdHost: string, nsqdPort: number | string, options?: WriterOptions);

  readonly nsqdHost: string;
  readonly nsqdPort: number | string;
  /** Connected to nsqd now. */
  readonly ready: boolean;

  /** Connects, and reconnects whenever the connection is lost; 'ready' on each connection. */
  connect(): Promise<void>;
  /** One message (PUB) or an array of them (one MPUB); callback and the
   * Promise report the same outcome. */
  publish(topic: string, msgs: WriterMessage | readonly WriterMessage[], callback?: PublishCallback): Promise<void>;
  /** DPUB: delivered after timeMs. */
  deferPublish(topic: string, msg: WriterMessage, timeMs: number, callback?: PublishCallback): Promise<void>;
  /** Closes ('closed'); publishes awaiting an answer fail. */
  close(): Promise<void>;

  on(event: 'ready' | 'closed', listener: () => void): this;
  on(event: 'error', listener: (error: NSQError) => void): this;

  once(event: 'ready' | 'closed', listener: () => void): this;
  once(event: 'error', listener: (error: NSQError) => void): this;

  off(event: 'ready' | 'closed', listener: () => void): this;
  off(event: 'error', listener: (error: NSQError) => void): this;

  addListener(event: 'ready' | 'closed', listener: () => void): this;
  addListener(event: 'error', listener: (error: NSQError) => void): this;

  removeListener(event: 'ready' | 'closed', listener: () => void): this;
  removeListener(event: 'error', listener: (error: NSQError) => void): this;
}
