// ESM entry point: the CommonJS module's exports.
import gnsq from './index.js';

export const {
  Producer, Consumer, Message, RequeueMessage, NsqdHTTPClient, LookupdClient, NSQError, NSQServerError,
  NoConnectionsError, ConnectionError, ClosedError, InvalidArgumentError, HTTPError, libraryVersion,
} = gnsq;
export default gnsq;
