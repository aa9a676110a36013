/*
Package gnsq is the pure-Go core of libgnsq: a client for NSQ
(https://nsq.io) with the semantics of the Python gnsq library, which the
C ABI (capi/) and the language bindings are built on. The package lives in
the core/ directory; import it as

	import gnsq "github.com/libgnsq/libgnsq/core"

# Producing

A Producer publishes to one or more nsqd over TCP. Publishes go
round-robin to the connected nsqd and are pipelined; each one ends exactly
once, in nsqd's OK or an error, also when its connection dies or the
producer closes. Lost connections are re-established with capped, jittered
backoff.

	producer, err := gnsq.NewProducer(gnsq.WithNsqd("127.0.0.1:4150"))
	if err != nil {
		return err
	}
	if err := producer.Start(ctx); err != nil {
		return err
	}
	defer producer.Close()
	if err := producer.Publish(ctx, "topic", []byte("hello")); err != nil {
		return err
	}

Constructors take named options: WithNsqd and WithLookupd for addresses,
WithConfig for the settings, WithProducerHooks, WithConsumerHooks or
WithConnHooks for the signals. MultiPublish sends several bodies in one
MPUB and DeferredPublish delays delivery. PublishAsync and
MultiPublishAsync return at once with a *Result, completed (and its
callback run) when nsqd answers; Result.Wait also gives nsqd's answer
itself.

# Consuming

A Consumer reads a topic/channel from nsqd given directly and/or found
through nsqlookupd. Each message is passed to a Handler, with gnsq's rules
for answering it:

  - the handler returns nil: the message is finished (FIN);
  - it returns a *RequeueMessage: the message is requeued, backing off
    per backoff_on_requeue (or the error's own Backoff);
  - it returns any other error, or panics: the message is requeued with
    backoff and the OnException hook fires;
  - it calls Message.EnableAsync: nothing is sent when it returns, and the
    application answers later, from any goroutine, with Message.Finish,
    Message.Requeue (and Message.Touch to keep it alive), or with
    Consumer.Complete to apply the rules above.

A message delivered more than max_tries times is finished without being
handled and reported through OnGivingUp. RDY is spread within
max_in_flight across the connections, each connection backs off on its
own after failures, and lookupd is polled with jitter.

Start connects and returns; Run starts and blocks until Close, or drains
the consumer when its context ends (signal.NotifyContext makes Ctrl-C a
graceful stop). Close stops at once: messages received and not yet answered are abandoned and
nsqd redelivers them after its msg_timeout. Drain is the graceful close:
it tells every nsqd to send no more, lets the handlers (including
asynchronous answers) finish what was received, writes the answers out,
then closes; if its context ends first, what no handler took is requeued.

# Lower-level clients

NsqdTCPClient is one TCP connection to nsqd (Connect, Identify, then
commands such as Subscribe, Ready, Finish), for programs that manage
connections themselves. NsqdHTTPClient covers nsqd's HTTP API (publish,
topic and channel administration, stats) and LookupdClient nsqlookupd's
(lookup, topics, channels, nodes, tombstones); both take a
context.Context on every call.

# Configuration

Config holds every option, with gnsq's names, defaults and units, set by
name with Config.Set the same way the C ABI and the bindings do:

	cfg := gnsq.NewConfig()
	if err := cfg.Set("max_in_flight", "200"); err != nil {
		return err
	}
	if err := cfg.Set("max_backoff_duration", "30"); err != nil { // seconds
		return err
	}

Durations take a bare number in the option's unit or a Go duration string
such as "1500ms". The full list is in docs/config.md. A few fields are
Go-only and set directly: Logger (a *slog.Logger) and TLSConfig. TLS
verifies certificates by default.

# Hooks

ProducerHooks and ConsumerHooks carry gnsq's signals (OnResponse,
OnError, OnAuth, OnClose, and for consumers OnFinish, OnRequeue,
OnGivingUp, OnException) plus OnConnect and OnDisconnect; ConnHooks those
of one NsqdTCPClient. They are given to the constructor and fixed for the
client's life; they run on the client's goroutines and must not block for
long.

# Errors

Errors are typed and compared with errors.Is and errors.As: nsqd's E_*
codes are *ServerError values matching ErrBadMessage and the other Err*
codes (ServerError.Fatal tells whether nsqd closes the connection);
*InvalidNameError is a topic or channel rejected before any byte is sent;
ErrNoConnections, ErrConnectionClosed, ErrClosed and ErrNotConnected
report the client's own state; *ProtocolError a malformed frame; and
*HTTPError a non-2xx answer of the HTTP API.
*/
package gnsq
