package gnsq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libgnsq/libgnsq/internal/syncutil"
)

// Handler processes one message. When it returns nil the consumer
// finishes the message, unless the handler called EnableAsync or already
// answered it. A *RequeueMessage error requeues it (backing off per
// backoff_on_requeue or the error's own choice); any other error, or a
// panic, requeues it with backoff and fires OnException.
//
// Each nsqd connection has its own handler goroutine: with several nsqd
// the handler runs concurrently and must be safe for that.
type Handler func(m *Message) error

// RequeueMessage is gnsq's NSQRequeueMessage: return it from a Handler to
// requeue the message without it counting as an exception.
type RequeueMessage struct {
	// Backoff, when set, overrides backoff_on_requeue.
	Backoff *bool
}

func (e *RequeueMessage) Error() string { return "gnsq: requeue message" }

// ConsumerHooks are gnsq's Consumer signals plus connection up/down. They
// run on the consumer's goroutines and must not block for long.
//
// Every hook tells which connection the event came from: connID is the
// connection's NsqdTCPClient.ID (0 for an error of no connection, such as
// a failed lookupd query); the others reach it through Message.ConnID or
// conn.ID. A failed connection attempt reports its error with the id of
// the client that tried, which never appears in OnConnect.
type ConsumerHooks struct {
	OnResponse   func(connID uint32, data []byte)
	OnError      func(connID uint32, err error)
	OnFinish     func(connID uint32, id MessageID)
	OnRequeue    func(connID uint32, id MessageID, delay time.Duration)
	OnGivingUp   func(m *Message)
	OnAuth       func(conn *NsqdTCPClient, resp *AuthResponse)
	OnException  func(m *Message, err error)
	OnClose      func()
	OnConnect    func(connID uint32, addr string)
	OnDisconnect func(connID uint32, addr string, err error)
}

// Connection states of gnsq's per-connection RDY and backoff logic.
const (
	connInit      int32 = iota // new: RDY 1 until its first message is finished
	connRunning                // full share of max_in_flight
	connBackoff                // RDY 0 until the backoff timer fires
	connThrottled              // RDY 1 to test the waters after a backoff
)

const (
	consumerInit = iota
	consumerRunning
	consumerDraining // Drain: no new messages; handlers finish what was received
	consumerClosed
)

// Consumer reads a topic/channel from nsqd found directly and/or through
// nsqlookupd (gnsq's Consumer): RDY distributed within max_in_flight,
// per-connection backoff, giving up after max_tries, reconnects.
type Consumer struct {
	hooks ConsumerHooks // fixed at construction

	topic, channel string
	nsqdAddrs      []string // given or added by ConnectToNsqd; guarded by mu
	lookupds       []*LookupdClient
	handler        Handler
	cfg            *Config
	log            *slog.Logger

	mu          sync.Mutex
	state       int
	maxInFlight int
	conns       map[string]*consumerConn // connected, by "host:port"
	connecting  map[string]bool          // discovered nsqd being connected
	intake      chan struct{}            // closed by Drain or Close: no new connections, RDY or lookups
	stop        chan struct{}            // closed by Close
	gate        sync.RWMutex             // handlers start under RLock; Close takes it once after closing stop
	wg          sync.WaitGroup
}

// consumerConn is one nsqd connection of a consumer.
type consumerConn struct {
	client      *NsqdTCPClient
	addr        string
	state       atomic.Int32
	lastMessage atomic.Int64 // unix nanoseconds of the last message batch
	queue       messageQueue
	done        chan struct{} // closed once the connection is gone
	closeWait   atomic.Bool   // nsqd answered CLS (Drain): it sends no more messages

	// Guarded by Consumer.mu.
	backoff     BackoffTimer
	throttle    *time.Timer
	lastRdyTurn time.Time // when it last got RDY in rotation
}

// NewConsumer returns a consumer of topic/channel that hands each message
// to handler. It needs at least one address: WithNsqd for nsqd read
// directly, WithLookupd for nsqlookupd to discover them through. The other
// options are WithConfig and WithConsumerHooks.
func NewConsumer(topic, channel string, handler Handler, opts ...Option) (*Consumer, error) {
	if err := checkTopic(topic); err != nil {
		return nil, err
	}
	if err := checkChannel(channel); err != nil {
		return nil, err
	}
	if handler == nil {
		return nil, &InvalidArgumentError{Reason: "a message handler is required"}
	}
	s, err := collect("a Consumer", []string{"WithConfig", "WithNsqd", "WithLookupd", "WithConsumerHooks"}, opts)
	if err != nil {
		return nil, err
	}
	if len(s.nsqd) == 0 && len(s.lookupd) == 0 {
		return nil, &InvalidArgumentError{Reason: "must specify at least one nsqd or lookupd (WithNsqd, WithLookupd)"}
	}
	nsqds, err := normalizeAddresses(s.nsqd, 4150)
	if err != nil {
		return nil, err
	}
	c := &Consumer{
		topic: topic, channel: channel, nsqdAddrs: nsqds, handler: handler,
		cfg: s.cfg, maxInFlight: s.cfg.MaxInFlight,
		conns: map[string]*consumerConn{}, connecting: map[string]bool{},
		intake: make(chan struct{}), stop: make(chan struct{}),
	}
	if s.consumerHooks != nil {
		c.hooks = *s.consumerHooks
	}
	c.log = c.cfg.logger().With("component", "gnsq.consumer."+topic+"."+channel)
	for _, a := range s.lookupd {
		l, err := LookupdClientFromURL(a)
		if err != nil {
			return nil, err
		}
		l.Timeout = c.cfg.LookupdRequestTimeout
		c.lookupds = append(c.lookupds, l)
	}
	return c, nil
}

// Start connects to the nsqd given directly (waiting for each first
// attempt), queries lookupd once, and starts the lookupd poll and RDY
// loops. Connection failures are reported through OnError and retried,
// never returned. If ctx ends before the first attempts and the lookupd
// query have finished, Start returns its error at once; the consumer is
// started all the same and goes on connecting (Close it to give up). Start on a
// running consumer does nothing; on a closed one it returns ErrClosed.
func (c *Consumer) Start(ctx context.Context) error {
	c.mu.Lock()
	switch c.state {
	case consumerClosed, consumerDraining:
		c.mu.Unlock()
		return fmt.Errorf("%w: consumer already closed", ErrClosed)
	case consumerRunning:
		c.mu.Unlock()
		c.log.Warn("consumer already started")
		return nil
	}
	c.state = consumerRunning
	var first sync.WaitGroup
	for _, addr := range c.nsqdAddrs {
		first.Add(1)
		c.wg.Add(1)
		go c.maintainDirect(addr, first.Done)
	}
	// The rest waits for the direct connections' first attempts (so that
	// lookupd's answer finds them connected) on a goroutine of its own,
	// which Start waits for unless ctx ends first.
	var started sync.WaitGroup
	started.Add(1)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer started.Done()
		first.Wait()
		if len(c.lookupds) > 0 {
			c.queryLookupd()
			c.wg.Add(1)
			go c.pollLookupd()
		}
		c.wg.Add(1)
		go c.rdyLoop()
	}()
	c.mu.Unlock()
	return waitWithin(ctx, &started)
}

// Run is Start followed by waiting until the consumer is closed (gnsq's
// start(block=True)) and its goroutines ended. When ctx ends first, Run
// drains the consumer (Drain) for at most its msg_timeout, after which
// nsqd redelivers what is still unanswered anyway, and returns ctx's error.
func (c *Consumer) Run(ctx context.Context) error {
	if err := c.Start(ctx); err != nil {
		c.Close()
		c.Join(0)
		return err
	}
	select {
	case <-c.stop:
		c.Join(0)
		return nil
	case <-ctx.Done():
	}
	drainCtx, cancel := context.WithTimeout(context.Background(), c.drainLimit())
	defer cancel()
	_ = c.Drain(drainCtx)
	c.Join(0)
	return ctx.Err()
}

// nsqdDefaultMsgTimeout is nsqd's --msg-timeout default.
const nsqdDefaultMsgTimeout = 60 * time.Second

// drainLimit is how long Run drains: the message timeout nsqd applies.
func (c *Consumer) drainLimit() time.Duration {
	if c.cfg.MsgTimeout > 0 {
		return c.cfg.MsgTimeout
	}
	return nsqdDefaultMsgTimeout
}

// Close closes every connection at once (after writing out answers
// already given) and stops reconnecting and polling. It abandons what is
// in flight: messages received and not yet handled are dropped, and a
// handler already running finishes on its own (Join waits for it) but its
// answer is not sent; nsqd redelivers all of them after its msg_timeout.
// No handler starts after Close returned. Drain is the graceful close.
// OnClose fires once. Safe to call from a handler or a hook.
func (c *Consumer) Close() {
	c.mu.Lock()
	if c.state != consumerRunning && c.state != consumerDraining {
		c.state = consumerClosed
		c.mu.Unlock()
		return
	}
	c.state = consumerClosed
	if !isClosed(c.intake) {
		close(c.intake)
	}
	close(c.stop)
	conns := make([]*consumerConn, 0, len(c.conns))
	for _, cc := range c.conns {
		conns = append(conns, cc)
		if cc.throttle != nil {
			cc.throttle.Stop()
		}
	}
	c.mu.Unlock()
	// A handler whose start was decided before stop closed has started;
	// after this no handleLoop starts one.
	c.gate.Lock()
	c.gate.Unlock() //nolint:staticcheck // an empty critical section: a barrier
	for _, cc := range conns {
		cc.queue.close()
		cc.client.CloseStreamAfterFlush()
	}
	if h := c.hooks.OnClose; h != nil {
		h()
	}
}

// Drain closes the consumer gracefully: it stops taking messages (CLS to
// every nsqd, which then sends no more; no reconnects, RDY changes or
// lookups), lets the handlers finish every message already received,
// including asynchronous ones answered later (and one nsqd sends just
// after its CLOSE_WAIT), writes their answers out, then closes as Close does. If ctx ends first, the messages received but
// not yet handed to a handler are requeued at once (without backoff), and
// the consumer is closed with any handler still running abandoned (its
// message is redelivered by nsqd after msg_timeout); Drain then returns
// ctx's error. A consumer not running (or already draining) is closed.
func (c *Consumer) Drain(ctx context.Context) error {
	c.mu.Lock()
	if c.state != consumerRunning {
		c.mu.Unlock()
		c.Close()
		return nil
	}
	c.state = consumerDraining
	close(c.intake)
	for _, cc := range c.conns {
		if cc.throttle != nil {
			cc.throttle.Stop()
		}
	}
	c.mu.Unlock()
	for _, cc := range c.connections() {
		if err := cc.client.Close(); err != nil { // CLS; a dead connection has nothing to drain
			c.log.Debug("drain: CLS failed", "addr", cc.addr, "error", err)
		}
	}
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	var err error
	var quietSince time.Time // when every connection last started to look drained
	for {
		if !c.drained() {
			quietSince = time.Time{}
		} else if quietSince.IsZero() {
			quietSince = time.Now()
		} else if time.Since(quietSince) >= drainSettle {
			break
		}
		select {
		case <-ctx.Done():
			err = ctx.Err()
			c.requeueUnhandled()
		case <-t.C:
			continue
		}
		break
	}
	c.Close()
	return err
}

// drainSettle is how long a drain waits, once every connection looks
// drained, for a message nsqd had already taken for a connection when it
// answered CLS: nsqd writes it after CLOSE_WAIT, on the same stream,
// moments later; closed under it, it would stay in flight until nsqd's
// msg_timeout.
const drainSettle = 25 * time.Millisecond

// drained reports whether every connection has nothing left to answer:
// nsqd acknowledged CLS and no message received on it is unanswered.
func (c *Consumer) drained() bool {
	for _, cc := range c.connections() {
		if !isClosed(cc.done) && (!cc.closeWait.Load() || cc.client.InFlight() > 0) {
			return false
		}
	}
	return true
}

// requeueUnhandled requeues, without backoff, the messages received but
// not yet taken by a connection's handler goroutine.
func (c *Consumer) requeueUnhandled() {
	for _, cc := range c.connections() {
		cc.queue.mu.Lock()
		unhandled := append(slices.Clone(cc.queue.inHand), cc.queue.items...)
		cc.queue.mu.Unlock()
		for _, m := range unhandled {
			if m.take() {
				c.answer(m, m.Requeue(0, false))
			}
		}
	}
}

// Join waits until every goroutine of the consumer (connections, handlers,
// loops) has exited after Close, or timeout passes (0: forever). It
// reports whether they exited.
func (c *Consumer) Join(timeout time.Duration) bool { return syncutil.WaitGroupWithin(&c.wg, timeout) }

// IsRunning reports whether the consumer was started and not closed.
func (c *Consumer) IsRunning() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == consumerRunning
}

func (c *Consumer) running() bool { return !isClosed(c.stop) }

// accepting reports whether the consumer takes new work: connections,
// RDY, lookups (not once Drain or Close began).
func (c *Consumer) accepting() bool { return !isClosed(c.intake) }

// IsStarved reports whether any connection has in-flight messages at 85%
// of its RDY: a batching handler should process what it holds now.
func (c *Consumer) IsStarved() bool {
	for _, cc := range c.connections() {
		if cc.client.IsStarved() {
			return true
		}
	}
	return false
}

// TotalReadyCount is the sum of the RDY counts sent to every connection
// (a consistent snapshot: RDY changes happen under the same lock).
func (c *Consumer) TotalReadyCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, cc := range c.conns {
		n += cc.client.ReadyCount()
	}
	return n
}

// TotalInFlight is the number of messages received and not yet answered.
func (c *Consumer) TotalInFlight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, cc := range c.conns {
		n += cc.client.InFlight()
	}
	return n
}

// Connections returns the addresses of the connected nsqd.
func (c *Consumer) Connections() []string {
	var out []string
	for _, cc := range c.connections() {
		out = append(out, cc.addr)
	}
	sort.Strings(out)
	return out
}

// ConnectionStates returns a snapshot of every connection, sorted by
// address. RDY changes under the same lock, so the RDY counts add up to
// what TotalReadyCount says.
func (c *Consumer) ConnectionStates() []ConnState {
	c.mu.Lock()
	out := make([]ConnState, 0, len(c.conns))
	for _, cc := range c.conns {
		out = append(out, cc.client.State())
	}
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}

// ConnectionByID returns the current connection with that ID, if any.
func (c *Consumer) ConnectionByID(id uint32) (*NsqdTCPClient, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cc := range c.conns {
		if cc.client.id == id {
			return cc.client, true
		}
	}
	return nil, false
}

// ConnectToNsqd adds nsqd at addr ("host[:port]", port 4150 by default)
// to a running consumer (gnsq's connect_to_nsqd): like an address given to
// NewConsumer, it is connected now (ConnectToNsqd waits for that first
// attempt) and kept connected until Close. Unlike gnsq, which reconnects
// only the addresses given at construction, an address added here is
// reconnected too. A failed attempt is reported through OnError and
// retried, not returned. An address already given or added is left
// alone; one connected through lookupd is kept and reconnected from then
// on. It returns ErrNotRunning before Start and ErrClosed after Close.
func (c *Consumer) ConnectToNsqd(addr string) error {
	norm, err := normalizeAddresses([]string{addr}, 4150)
	if err != nil {
		return err
	}
	addr = norm[0]
	c.mu.Lock()
	switch {
	case c.state == consumerInit:
		c.mu.Unlock()
		return fmt.Errorf("%w: consumer not started", ErrNotRunning)
	case c.state == consumerClosed || c.state == consumerDraining:
		c.mu.Unlock()
		return fmt.Errorf("%w: consumer closed", ErrClosed)
	case slices.Contains(c.nsqdAddrs, addr):
		c.mu.Unlock()
		return nil
	}
	c.nsqdAddrs = append(c.nsqdAddrs, addr)
	var first sync.WaitGroup
	first.Add(1)
	c.wg.Add(1)
	go c.maintainDirect(addr, first.Done)
	c.mu.Unlock()
	first.Wait()
	return nil
}

func (c *Consumer) connections() []*consumerConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*consumerConn, 0, len(c.conns))
	for _, cc := range c.conns {
		out = append(out, cc)
	}
	return out
}

// MaxInFlight is the current max_in_flight (see ChangeMaxInFlight).
func (c *Consumer) MaxInFlight() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.maxInFlight
}

// ChangeMaxInFlight sets max_in_flight and redistributes RDY (0 pauses).
func (c *Consumer) ChangeMaxInFlight(n int) error {
	if n < 0 {
		return &InvalidArgumentError{Reason: "max_in_flight must be >= 0"}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.maxInFlight = n
	c.redistributeLocked(false)
	return nil
}

func (c *Consumer) reportError(connID uint32, err error) {
	if h := c.hooks.OnError; h != nil && err != nil {
		h(connID, err)
	}
}

// maintainDirect keeps one directly given nsqd connected until Close,
// reconnecting with capped, jittered backoff.
func (c *Consumer) maintainDirect(addr string, firstAttemptDone func()) {
	defer c.wg.Done()
	retry := reconnectBackoff(c.cfg)
	for c.accepting() {
		cc, err := c.connect(addr)
		if firstAttemptDone != nil {
			firstAttemptDone()
			firstAttemptDone = nil
		}
		if err == nil {
			retry.Reset()
			select {
			case <-cc.done:
			case <-c.intake:
				return
			}
		}
		t := time.NewTimer(retry.Failure().Interval())
		select {
		case <-c.intake:
			t.Stop()
			return
		case <-t.C:
		}
	}
	if firstAttemptDone != nil {
		firstAttemptDone()
	}
}

// reconnectBackoff is the reconnect delay policy shared by Producer and
// Consumer: full jitter growing to max_backoff_duration (at least 1 s, so
// 0 never makes a tight loop), never under 50 ms.
func reconnectBackoff(cfg *Config) *BackoffTimer {
	maxDelay := cfg.MaxBackoffDuration
	if maxDelay < time.Second {
		maxDelay = time.Second
	}
	return &BackoffTimer{Ratio: time.Second, Min: 50 * time.Millisecond, Max: maxDelay}
}

// connect opens, identifies and subscribes one connection, registers it
// and starts its goroutines. If addr is connected already (found through
// lookupd before ConnectToNsqd added it), the new connection is dropped
// and the existing one returned, for maintainDirect to watch. A failure is
// logged and reported through OnError unless the consumer is closing.
func (c *Consumer) connect(addr string) (*consumerConn, error) {
	client, err := newNsqdTCPClient(addr, c.cfg)
	if err != nil {
		return nil, c.connectFailed(0, addr, err)
	}
	client.closeOn(c.intake) // Close or Drain ends a dial or handshake in progress
	var reported atomic.Bool // the connection's OnError reported the failure already
	cc := &consumerConn{client: client, addr: addr, done: make(chan struct{})}
	cc.queue.ready = make(chan struct{}, 1)
	cc.backoff = BackoffTimer{Ratio: time.Second, Max: c.cfg.MaxBackoffDuration}
	cc.lastMessage.Store(time.Now().UnixNano())
	client.hooks = ConnHooks{
		OnResponse: func(cl *NsqdTCPClient, data []byte) {
			if h := c.hooks.OnResponse; h != nil {
				h(cl.id, data)
			}
		},
		OnError: func(cl *NsqdTCPClient, err error) {
			reported.Store(true)
			c.reportError(cl.id, err)
		},
		OnFinish: func(cl *NsqdTCPClient, id MessageID) {
			c.messageAnswered(cc, false)
			if h := c.hooks.OnFinish; h != nil {
				h(cl.id, id)
			}
		},
		beforeRequeue: func(backoff bool) {
			if backoff {
				c.messageAnswered(cc, true) // RDY 0 before the REQ (issue 11, defect 6)
			}
		},
		OnRequeue: func(cl *NsqdTCPClient, id MessageID, delay time.Duration, backoff bool) {
			if !backoff {
				c.messageAnswered(cc, false)
			}
			if h := c.hooks.OnRequeue; h != nil {
				h(cl.id, id, delay)
			}
		},
		OnAuth: c.hooks.OnAuth,
	}
	if err := c.setUp(client); err != nil {
		client.CloseStream()
		if reported.Load() { // an error frame or a read failure: OnError had it
			c.log.Warn("nsqd connection failed", "addr", addr, "conn_id", client.id, "error", err)
			return nil, err
		}
		return nil, c.connectFailed(client.id, addr, err)
	}
	c.mu.Lock()
	if c.state != consumerRunning {
		c.mu.Unlock()
		client.CloseStream()
		return nil, fmt.Errorf("%w: consumer closed", ErrClosed)
	}
	if existing := c.conns[addr]; existing != nil {
		c.mu.Unlock()
		client.CloseStream()
		return existing, nil
	}
	c.conns[addr] = cc
	c.wg.Add(2)
	go c.readLoop(cc)
	go c.handleLoop(cc)
	c.redistributeLocked(false)
	c.mu.Unlock()
	c.log.Info("connected", "addr", addr, "conn_id", client.id)
	if h := c.hooks.OnConnect; h != nil {
		h(client.id, addr)
	}
	return cc, nil
}

// connectFailed logs and reports a failed connection attempt, unless the
// consumer is closing, and returns err.
func (c *Consumer) connectFailed(connID uint32, addr string, err error) error {
	if c.running() {
		c.log.Warn("nsqd connection failed", "addr", addr, "conn_id", connID, "error", err)
		c.reportError(connID, err)
	}
	return err
}

func (c *Consumer) setUp(client *NsqdTCPClient) error {
	if err := client.Connect(); err != nil {
		return err
	}
	if _, err := client.Identify(); err != nil {
		return err
	}
	if err := client.Subscribe(c.topic, c.channel); err != nil {
		return err
	}
	return client.expectOK("SUB")
}

// readLoop reads frames and hands messages to the handler goroutine in
// batches: everything already read from the socket goes at once.
func (c *Consumer) readLoop(cc *consumerConn) {
	defer c.wg.Done()
	var err error
	for {
		var resp Response
		resp, err = cc.client.ReadResponse()
		if err != nil {
			break
		}
		if resp.Message == nil {
			if resp.Type == FrameTypeResponse && string(resp.Data) == "CLOSE_WAIT" {
				cc.closeWait.Store(true)
			}
		} else {
			more := cc.client.hasBufferedInput()
			cc.queue.push(resp.Message, !more)
			if !more {
				cc.lastMessage.Store(time.Now().UnixNano())
			}
		}
	}
	c.removeConn(cc, err)
}

// handleLoop runs the handler over each batch of messages.
func (c *Consumer) handleLoop(cc *consumerConn) {
	defer c.wg.Done()
	var batch []*Message
	for {
		var ok bool
		batch, ok = cc.queue.take(batch[:0])
		if !ok {
			return
		}
		cc.queue.setInHand(batch)
		for _, m := range batch {
			c.gate.RLock()
			ok := c.running()
			c.gate.RUnlock()
			if !ok {
				return // closed: the rest of the batch is abandoned (nsqd redelivers it)
			}
			if m.take() { // else Drain requeued it
				c.handle(m)
			}
		}
		cc.queue.setInHand(nil)
		clear(batch)
	}
}

// handle applies gnsq's rules to one message.
func (c *Consumer) handle(m *Message) {
	if max := c.cfg.MaxTries; max > 0 && int(m.Attempts) > max {
		c.log.Warn("giving up on message after max tries", "id", string(m.ID[:]), "max_tries", max)
		if h := c.hooks.OnGivingUp; h != nil {
			h(m)
		}
		c.answer(m, m.Finish())
		return
	}
	err := c.callHandler(m)
	if err == nil && m.IsAsync() {
		return
	}
	c.Complete(m, err)
}

// Complete applies gnsq's rules for a handler that returned err for m:
// nil finishes the message, a *RequeueMessage requeues it per
// backoff_on_requeue, any other error requeues it with backoff and fires
// OnException. A message already answered, or a closed consumer, is left
// alone. The consumer calls it when the Handler returns; a host that
// handles messages elsewhere (the C ABI's event queue: its Handler calls
// EnableAsync) calls it when its own handler is done.
func (c *Consumer) Complete(m *Message, err error) {
	if !c.running() || m.HasResponded() {
		return
	}
	if err == nil {
		c.answer(m, m.Finish())
		return
	}
	backoff := true
	var rq *RequeueMessage
	if errors.As(err, &rq) {
		backoff = c.cfg.BackoffOnRequeue
		if rq.Backoff != nil {
			backoff = *rq.Backoff
		}
	} else {
		c.log.Warn("message handler failed", "id", string(m.ID[:]), "error", err)
		if h := c.hooks.OnException; h != nil {
			h(m, err)
		}
	}
	c.answer(m, m.Requeue(c.cfg.RequeueDelay, backoff))
}

// callHandler runs the handler, turning a panic into an error.
func (c *Consumer) callHandler(m *Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("gnsq: message handler panicked: %v", r)
		}
	}()
	return c.handler(m)
}

// answer logs a failed FIN/REQ (the connection died: nsqd will redeliver).
func (c *Consumer) answer(m *Message, err error) {
	if err != nil && !errors.Is(err, ErrAlreadyResponded) && c.running() {
		c.log.Warn("could not answer message", "id", string(m.ID[:]), "error", err)
	}
}

// messageAnswered is gnsq's per-connection backoff state machine, fed by
// every FIN (backoff false) and REQ.
func (c *Consumer) messageAnswered(cc *consumerConn, backoff bool) {
	if !backoff && cc.state.Load() == connRunning {
		return // the common case, without the lock
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != consumerRunning || c.conns[cc.addr] != cc {
		return
	}
	backoffEnabled := c.cfg.MaxBackoffDuration > 0
	switch state := cc.state.Load(); {
	case state == connBackoff:
	case backoff && backoffEnabled:
		cc.backoff.Failure()
		c.startBackoffLocked(cc)
	case backoff:
	case state == connThrottled:
		cc.backoff.Success()
		if cc.backoff.IsReset() {
			cc.state.Store(connRunning)
			c.redistributeLocked(false)
		} else {
			c.startBackoffLocked(cc)
		}
	case state == connInit:
		cc.state.Store(connRunning)
		c.redistributeLocked(false)
	}
}

func (c *Consumer) startBackoffLocked(cc *consumerConn) {
	cc.state.Store(connBackoff)
	interval := cc.backoff.Interval()
	c.log.Info("backing off", "addr", cc.addr, "interval", interval)
	if cc.throttle != nil {
		cc.throttle.Stop()
	}
	cc.throttle = time.AfterFunc(interval, func() { c.endBackoff(cc) })
	c.redistributeLocked(false)
}

// endBackoff moves a connection from backoff to RDY 1 ("test the waters").
func (c *Consumer) endBackoff(cc *consumerConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != consumerRunning || c.conns[cc.addr] != cc || cc.state.Load() != connBackoff {
		return
	}
	cc.state.Store(connThrottled)
	c.redistributeLocked(false)
}

// removeConn forgets a connection that ended and releases its RDY.
func (c *Consumer) removeConn(cc *consumerConn, err error) {
	cc.queue.close()
	cc.client.CloseStream()
	c.mu.Lock()
	removed := c.conns[cc.addr] == cc
	if removed {
		delete(c.conns, cc.addr)
		if cc.throttle != nil {
			cc.throttle.Stop()
		}
		c.redistributeLocked(false)
	}
	closing := c.state != consumerRunning
	c.mu.Unlock()
	close(cc.done)
	if !removed || closing {
		return
	}
	c.log.Warn("nsqd connection lost", "addr", cc.addr, "conn_id", cc.client.id, "error", err)
	if h := c.hooks.OnDisconnect; h != nil {
		h(cc.client.id, cc.addr, err)
	}
}

// rdyLoop redistributes RDY periodically: it rotates RDY among
// connections when there are more than max_in_flight, and takes the share
// of connections that went idle.
func (c *Consumer) rdyLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.cfg.RdyRedistributeInterval)
	defer t.Stop()
	for {
		select {
		case <-c.intake:
			return
		case <-t.C:
		}
		c.mu.Lock()
		c.redistributeLocked(true)
		c.mu.Unlock()
	}
}

// redistributeLocked computes every connection's RDY (gnsq's rules) and
// sends the changes, lowering before raising so the sum sent never exceeds
// max_in_flight. rotate moves RDY on to the connections that waited longest
// when there are more connections than max_in_flight.
func (c *Consumer) redistributeLocked(rotate bool) {
	if c.state != consumerRunning || len(c.conns) == 0 {
		return
	}
	conns := make([]*consumerConn, 0, len(c.conns))
	for _, cc := range c.conns {
		conns = append(conns, cc)
	}
	sort.Slice(conns, func(i, j int) bool { return conns[i].addr < conns[j].addr })
	target := make(map[*consumerConn]int, len(conns))
	if len(conns) > c.maxInFlight {
		c.unsaturatedReady(conns, target, rotate)
	} else {
		c.saturatedReady(conns, target)
	}
	for _, raise := range []bool{false, true} {
		for _, cc := range conns {
			n := min(target[cc], cc.client.MaxReadyCount())
			cur := cc.client.ReadyCount()
			if n == cur || (n > cur) != raise {
				continue
			}
			if err := cc.client.Ready(n); err != nil {
				c.log.Warn("RDY failed", "addr", cc.addr, "count", n, "error", err)
			}
		}
	}
}

// unsaturatedReady: more connections than max_in_flight. Connections in
// backoff get 0; max_in_flight others get RDY 1: the current holders, or
// on rotation those that waited longest.
func (c *Consumer) unsaturatedReady(conns []*consumerConn, target map[*consumerConn]int, rotate bool) {
	var candidates []*consumerConn
	for _, cc := range conns {
		if cc.state.Load() != connBackoff {
			candidates = append(candidates, cc)
		}
	}
	holds := func(cc *consumerConn) bool { return cc.client.ReadyCount() > 0 && !rotate }
	sort.SliceStable(candidates, func(i, j int) bool {
		a, b := candidates[i], candidates[j]
		if holds(a) != holds(b) {
			return holds(a)
		}
		return a.lastRdyTurn.Before(b.lastRdyTurn)
	})
	now := time.Now()
	for i, cc := range candidates {
		if i >= c.maxInFlight {
			break
		}
		target[cc] = 1
		if !holds(cc) {
			cc.lastRdyTurn = now
		}
	}
}

// saturatedReady: max_in_flight covers every connection. Backoff gets 0;
// new, throttled and idle connections 1; the running ones share the rest,
// the remainder going +1 to random ones.
func (c *Consumer) saturatedReady(conns []*consumerConn, target map[*consumerConn]int) {
	idleSince := time.Now().Add(-c.cfg.LowReadyIdleTimeout).UnixNano()
	var active []*consumerConn
	assigned := 0
	for _, cc := range conns {
		switch state := cc.state.Load(); {
		case state == connBackoff:
			target[cc] = 0
		case state == connInit, state == connThrottled, cc.lastMessage.Load() < idleSince:
			target[cc] = 1
			assigned++
		default:
			active = append(active, cc)
		}
	}
	if len(active) == 0 {
		return
	}
	available := c.maxInFlight - assigned
	share := available / len(active)
	for _, cc := range active {
		target[cc] = share
	}
	for _, i := range rand.Perm(len(active))[:available%len(active)] {
		target[active[i]]++
	}
}

// pollLookupd queries lookupd after a random part of the interval, then
// every interval plus jitter.
func (c *Consumer) pollLookupd() {
	defer c.wg.Done()
	interval := c.cfg.LookupdPollInterval
	jitter := func() time.Duration {
		return time.Duration(rand.Float64() * c.cfg.LookupdPollJitter * float64(interval))
	}
	delay := jitter()
	for {
		t := time.NewTimer(delay)
		select {
		case <-c.intake:
			t.Stop()
			return
		case <-t.C:
		}
		c.queryLookupd()
		delay = interval + jitter()
	}
}

// lookupResponse is the part of nsqlookupd's /lookup answer the consumer uses.
type lookupResponse struct {
	Producers []struct {
		BroadcastAddress string `json:"broadcast_address"`
		TCPPort          int    `json:"tcp_port"`
	} `json:"producers"`
}

// queryLookupd asks every lookupd (concurrently) for the topic's nsqd and
// connects to those not yet connected. Failures are reported, not fatal.
func (c *Consumer) queryLookupd() {
	results := make([][]string, len(c.lookupds))
	var wg sync.WaitGroup
	for i, l := range c.lookupds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addrs, err := c.lookup(l)
			if err != nil {
				c.log.Warn("lookupd query failed", "lookupd", l.Address(), "error", err)
				c.reportError(0, err)
			}
			results[i] = addrs
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, addrs := range results {
		for _, addr := range addrs {
			if !seen[addr] {
				seen[addr] = true
				c.connectDiscovered(addr)
			}
		}
	}
}

// lookup returns the "host:port" of the topic's producers on one lookupd.
// An unknown topic (404) means no producers yet, not an error.
func (c *Consumer) lookup(l *LookupdClient) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.LookupdRequestTimeout)
	defer cancel()
	go func() {
		select {
		case <-c.intake:
			cancel()
		case <-ctx.Done():
		}
	}()
	raw, err := l.Lookup(ctx, c.topic)
	var he *HTTPError
	if errors.As(err, &he) && he.StatusCode == 404 {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("gnsq: lookupd %s: %w", l.Address(), err)
	}
	var resp lookupResponse
	if err := json.Unmarshal(raw, &resp); err != nil {
		return nil, &ProtocolError{Reason: fmt.Sprintf("lookupd %s: bad /lookup answer: %v", l.Address(), err)}
	}
	var addrs []string
	for _, p := range resp.Producers {
		if p.BroadcastAddress == "" || p.TCPPort <= 0 || p.TCPPort > 65535 {
			return addrs, &ProtocolError{Reason: fmt.Sprintf("lookupd %s: producer without a valid address (%q, %d)", l.Address(), p.BroadcastAddress, p.TCPPort)}
		}
		addrs = append(addrs, net.JoinHostPort(p.BroadcastAddress, strconv.Itoa(p.TCPPort)))
	}
	return addrs, nil
}

// connectDiscovered connects (in the background) to an nsqd found through
// lookupd, unless it is connected, being connected, or given directly. It
// is not reconnected when it drops: a later poll that still lists it does.
func (c *Consumer) connectDiscovered(addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != consumerRunning || c.conns[addr] != nil || c.connecting[addr] {
		return
	}
	if slices.Contains(c.nsqdAddrs, addr) {
		return
	}
	c.connecting[addr] = true
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.connect(addr)
		c.mu.Lock()
		delete(c.connecting, addr)
		c.mu.Unlock()
	}()
}

// messageQueue hands messages from a connection's reader to its handler
// goroutine: the reader appends, and wakes the handler once per batch.
type messageQueue struct {
	mu     sync.Mutex
	items  []*Message
	inHand []*Message // the batch the handler goroutine is working through
	closed bool
	ready  chan struct{} // capacity 1
}

// setInHand records the batch being handled (nil: done with it).
func (q *messageQueue) setInHand(batch []*Message) {
	q.mu.Lock()
	q.inHand = batch
	q.mu.Unlock()
}

// push appends m; wake signals the end of a batch.
func (q *messageQueue) push(m *Message, wake bool) {
	q.mu.Lock()
	if !q.closed {
		q.items = append(q.items, m)
	}
	q.mu.Unlock()
	if wake {
		select {
		case q.ready <- struct{}{}:
		default:
		}
	}
}

// take waits for messages and returns them, reusing spare's storage; ok is
// false once the queue is closed (queued messages are then dropped: their
// connection is gone, nsqd redelivers them).
func (q *messageQueue) take(spare []*Message) (batch []*Message, ok bool) {
	for {
		q.mu.Lock()
		if q.closed {
			q.mu.Unlock()
			return nil, false
		}
		if len(q.items) > 0 {
			batch, q.items = q.items, spare
			q.mu.Unlock()
			return batch, true
		}
		q.mu.Unlock()
		<-q.ready
	}
}

func (q *messageQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.items = nil
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}
