package gnsq

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/libgnsq/libgnsq/internal/producerlink"
	"github.com/libgnsq/libgnsq/internal/protocol"
	"github.com/libgnsq/libgnsq/internal/syncutil"
)

// ProducerHooks are gnsq's Producer signals plus connection up/down. They
// run on the producer's goroutines and must not block for long. connID
// is the NsqdTCPClient.ID of the connection the event came from, as in
// ConsumerHooks (a failed connection attempt reports its error with the
// id of the client that tried).
type ProducerHooks struct {
	OnResponse   func(connID uint32, data []byte)
	OnError      func(connID uint32, err error)
	OnAuth       func(conn *NsqdTCPClient, resp *AuthResponse)
	OnClose      func()
	OnConnect    func(connID uint32, addr string)
	OnDisconnect func(connID uint32, addr string, err error)
}

// Result is the outcome of one publish. It completes exactly once, with
// nsqd's response (normally "OK") or an error.
type Result struct {
	done     chan struct{}
	resp     []byte
	err      error
	callback func(*Result)
}

// Done is closed when the result is complete.
func (r *Result) Done() <-chan struct{} { return r.done }

// Response is nsqd's answer; valid once Done is closed.
func (r *Result) Response() []byte { return r.resp }

// Err is the publish's error; valid once Done is closed.
func (r *Result) Err() error { return r.err }

// Wait blocks until the result completes or ctx ends. When ctx ends first
// the publish's outcome is unknown (it may still succeed).
func (r *Result) Wait(ctx context.Context) ([]byte, error) {
	select {
	case <-r.done:
		return r.resp, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("gnsq: publish outcome unknown: %w", ctx.Err())
	}
}

func (r *Result) complete(resp []byte, err error) {
	r.resp, r.err = resp, err
	close(r.done)
	if r.callback != nil {
		r.callback(r)
	}
}

const (
	producerInit = iota
	producerRunning
	producerClosed
)

// Producer publishes to one or more nsqd over TCP (gnsq's Producer).
// Publishes go round-robin to the connected nsqd and are pipelined: many
// may be outstanding on one connection, answered in order. Every publish
// ends exactly once, in nsqd's OK or an error, also when its connection
// dies or the producer closes. Lost connections are re-established with
// capped, jittered backoff. All methods are safe for concurrent use.
type Producer struct {
	hooks ProducerHooks // fixed at construction

	addrs []string
	cfg   *Config
	log   *slog.Logger

	mu        sync.Mutex
	state     int
	conns     []*producerConn // connected, in connection order
	next      int             // round-robin cursor
	connAdded chan struct{}   // closed (and replaced) when a connection is added
	stop      chan struct{}   // closed by Close
	wg        sync.WaitGroup
}

// producerConn is one live connection and its FIFO of outstanding publishes.
type producerConn struct {
	client  *NsqdTCPClient
	mu      sync.Mutex
	pending []*Result
	dead    bool // set once pending was failed; nothing may be queued after
}

// NewProducer returns a producer for the nsqd given with WithNsqd (at
// least one). The other options are WithConfig and WithProducerHooks.
func NewProducer(opts ...Option) (*Producer, error) {
	s, err := collect("a Producer", []string{"WithConfig", "WithNsqd", "WithProducerHooks"}, opts)
	if err != nil {
		return nil, err
	}
	norm, err := normalizeAddresses(s.nsqd, 4150)
	if err != nil {
		return nil, err
	}
	if len(norm) == 0 {
		return nil, &InvalidArgumentError{Reason: "must specify at least one nsqd address (WithNsqd)"}
	}
	p := &Producer{
		addrs: norm, cfg: s.cfg, log: s.cfg.logger().With("component", "gnsq.producer"),
		connAdded: make(chan struct{}), stop: make(chan struct{}),
	}
	if s.producerHooks != nil {
		p.hooks = *s.producerHooks
	}
	return p, nil
}

// normalizeAddresses turns "host[:port]" into "host:port", dropping duplicates.
func normalizeAddresses(addrs []string, defaultPort int) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			host, port = a, strconv.Itoa(defaultPort)
		}
		// a host with a colon must be an IPv6 address ("::::" is not)
		badHost := host == "" || (strings.Contains(host, ":") && net.ParseIP(host) == nil)
		if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 || badHost {
			return nil, &InvalidArgumentError{Reason: fmt.Sprintf("invalid nsqd address %q", a)}
		}
		hp := net.JoinHostPort(host, port)
		if !seen[hp] {
			seen[hp] = true
			out = append(out, hp)
		}
	}
	return out, nil
}

// Addresses returns the normalised nsqd addresses.
func (p *Producer) Addresses() []string { return append([]string(nil), p.addrs...) }

// Start connects to every nsqd. It waits for each first attempt to end;
// failures are reported through OnError and retried in the background, not
// returned. If ctx ends first, Start returns its error at once; the
// producer is started all the same and goes on connecting (Close it to
// give up). Start on a closed producer returns ErrClosed; a second Start
// does nothing.
func (p *Producer) Start(ctx context.Context) error {
	p.mu.Lock()
	switch p.state {
	case producerClosed:
		p.mu.Unlock()
		return fmt.Errorf("%w: producer already closed", ErrClosed)
	case producerRunning:
		p.mu.Unlock()
		p.log.Warn("producer already running")
		return nil
	}
	p.state = producerRunning
	firstAttempts := sync.WaitGroup{}
	for _, addr := range p.addrs {
		firstAttempts.Add(1)
		p.wg.Add(1)
		go p.maintain(addr, firstAttempts.Done)
	}
	p.mu.Unlock()
	return waitWithin(ctx, &firstAttempts)
}

// IsRunning reports whether the producer was started and not closed.
func (p *Producer) IsRunning() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state == producerRunning
}

// Close closes every connection, including those still connecting, and
// stops reconnecting. Every publish still outstanding ends with ErrClosed
// before Close returns; later publishes return ErrClosed. OnClose fires
// once. Idempotent.
func (p *Producer) Close() {
	p.mu.Lock()
	if p.state == producerClosed {
		p.mu.Unlock()
		return
	}
	p.state = producerClosed
	close(p.stop)
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, pc := range conns {
		pc.failAll(fmt.Errorf("%w: producer closed", ErrClosed))
		pc.client.CloseStream()
	}
	if h := p.hooks.OnClose; h != nil {
		h()
	}
}

// Join waits until every goroutine of the producer has exited (after
// Close), or timeout passes (0: wait forever). It reports whether they exited.
func (p *Producer) Join(timeout time.Duration) bool { return syncutil.WaitGroupWithin(&p.wg, timeout) }

// Publish sends PUB and waits for nsqd's OK. ctx bounds the whole call:
// the wait for a connection (ErrNoConnections) and the wait for the
// answer (then the outcome is unknown: it may still succeed). For nsqd's
// answer itself, use PublishAsync and Result.Wait.
func (p *Producer) Publish(ctx context.Context, topic string, body []byte) error {
	return p.DeferredPublish(ctx, topic, 0, body)
}

// DeferredPublish sends DPUB (PUB when delay is 0) and waits for nsqd's OK.
func (p *Producer) DeferredPublish(ctx context.Context, topic string, delay time.Duration, body []byte) error {
	cmd, err := publishCommand(topic, delay, body)
	if err != nil {
		return err
	}
	return p.sendAndWait(ctx, cmd)
}

// MultiPublish sends MPUB and waits for nsqd's OK.
func (p *Producer) MultiPublish(ctx context.Context, topic string, bodies [][]byte) error {
	cmd, err := multiPublishCommand(topic, bodies)
	if err != nil {
		return err
	}
	return p.sendAndWait(ctx, cmd)
}

func (p *Producer) sendAndWait(ctx context.Context, cmd *protocol.Command) error {
	r, err := p.send(ctx, cmd, nil, true)
	if err != nil {
		return err
	}
	_, err = r.Wait(ctx)
	return err
}

// PublishAsync queues PUB (DPUB when delay is not 0) on a connection and returns
// without waiting for the answer. ctx bounds only the wait for a
// connection; a ctx that is already done means "do not wait" (gnsq's
// block=False). An error return means nothing was sent. Otherwise the
// Result completes exactly once, and done (if not nil) is then called on
// the goroutine that completed it; done must not block.
func (p *Producer) PublishAsync(ctx context.Context, topic string, delay time.Duration, body []byte, done func(*Result)) (*Result, error) {
	cmd, err := publishCommand(topic, delay, body)
	if err != nil {
		return nil, err
	}
	return p.send(ctx, cmd, done, false)
}

// MultiPublishAsync queues MPUB; see PublishAsync.
func (p *Producer) MultiPublishAsync(ctx context.Context, topic string, bodies [][]byte, done func(*Result)) (*Result, error) {
	cmd, err := multiPublishCommand(topic, bodies)
	if err != nil {
		return nil, err
	}
	return p.send(ctx, cmd, done, false)
}

// For the C ABI: PublishAsync and MultiPublishAsync in two steps, with the
// choice of flushing at once and the outcome as an error.
func init() {
	producerlink.Command = func(topic string, delay time.Duration, bodies [][]byte, multi bool) (*protocol.Command, error) {
		if multi {
			return multiPublishCommand(topic, bodies)
		}
		return publishCommand(topic, delay, bodies[0])
	}
	producerlink.Send = func(p any, ctx context.Context, cmd *protocol.Command, flushNow bool, done func(error)) error {
		_, err := p.(*Producer).send(ctx, cmd, func(r *Result) { done(r.Err()) }, flushNow)
		return err
	}
}

// checkPublishable refuses what nsqd would answer with a fatal error,
// closing the connection under every other publish queued on it: an empty
// body, an MPUB of no messages or with an empty one.
func checkPublishable(cmd *protocol.Command) error {
	if cmd.Name != "MPUB" {
		if len(cmd.Body) == 0 {
			return &InvalidArgumentError{Reason: "empty message body (nsqd refuses it)"}
		}
		return nil
	}
	if len(cmd.Messages) == 0 {
		return &InvalidArgumentError{Reason: "MPUB of no messages (nsqd refuses it)"}
	}
	for i, m := range cmd.Messages {
		if len(m) == 0 {
			return &InvalidArgumentError{Reason: fmt.Sprintf("MPUB message %d is empty (nsqd refuses it)", i)}
		}
	}
	return nil
}

// send queues cmd on a connection. A caller about to wait for the answer
// (flushNow) flushes at once; asynchronous publishes leave the flush to the
// connection's flusher, so a burst of them shares one write(2).
func (p *Producer) send(ctx context.Context, cmd *protocol.Command, done func(*Result), flushNow bool) (*Result, error) {
	if err := checkPublishable(cmd); err != nil {
		return nil, err
	}
	r := &Result{done: make(chan struct{}), callback: done}
	for {
		pc, err := p.pickConn(ctx)
		if err != nil {
			return nil, err
		}
		if pc.queueAndWrite(r, cmd, flushNow) {
			return r, nil
		}
		// The connection died before r was queued: nothing was sent.
		p.removeConn(pc)
	}
}

// pickConn returns the next connected nsqd, waiting while ctx allows.
func (p *Producer) pickConn(ctx context.Context) (*producerConn, error) {
	for {
		p.mu.Lock()
		switch {
		case p.state == producerInit:
			p.mu.Unlock()
			return nil, fmt.Errorf("%w: producer not started", ErrNotRunning)
		case p.state == producerClosed:
			p.mu.Unlock()
			return nil, fmt.Errorf("%w: producer closed", ErrClosed)
		case len(p.conns) > 0:
			pc := p.conns[p.next%len(p.conns)]
			p.next++
			p.mu.Unlock()
			return pc, nil
		}
		added := p.connAdded
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: none of %v connected (%v)", ErrNoConnections, p.addrs, ctx.Err())
		case <-p.stop:
		case <-added:
		}
	}
}

// queueAndWrite appends r to the FIFO and writes cmd under the
// connection's write lock, so FIFO order is wire order. It reports false
// if the connection was already dead (r not queued, nothing sent). Once r
// is queued it is completed by the reader or by failAll, never here.
func (pc *producerConn) queueAndWrite(r *Result, cmd *protocol.Command, flushNow bool) bool {
	queued := false
	_ = pc.client.write(func(w *bufio.Writer) {
		pc.mu.Lock()
		if !pc.dead {
			pc.pending = append(pc.pending, r)
			queued = true
		}
		pc.mu.Unlock()
		if queued {
			cmd.Encode(w)
		}
	}, flushNow)
	return queued
}

// pop removes the oldest outstanding publish (nil if none).
func (pc *producerConn) pop() *Result {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if len(pc.pending) == 0 {
		return nil
	}
	r := pc.pending[0]
	pc.pending[0] = nil
	pc.pending = pc.pending[1:]
	return r
}

// failAll completes every outstanding publish with err and marks the
// connection dead so nothing more is queued on it.
func (pc *producerConn) failAll(err error) {
	pc.mu.Lock()
	pending := pc.pending
	pc.pending = nil
	pc.dead = true
	pc.mu.Unlock()
	for _, r := range pending {
		r.complete(nil, err)
	}
}

func (p *Producer) addConn(pc *producerConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != producerRunning {
		return false
	}
	p.conns = append(p.conns, pc)
	close(p.connAdded)
	p.connAdded = make(chan struct{})
	return true
}

func (p *Producer) removeConn(pc *producerConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, c := range p.conns {
		if c == pc {
			p.conns = append(p.conns[:i], p.conns[i+1:]...)
			return
		}
	}
}

func (p *Producer) closed() bool { return isClosed(p.stop) }

// isClosed reports whether ch is closed (for stop channels).
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// maintain keeps one nsqd connected until Close, reconnecting with capped,
// jittered backoff. firstAttemptDone is called once the first attempt ended.
func (p *Producer) maintain(addr string, firstAttemptDone func()) {
	defer p.wg.Done()
	retry := reconnectBackoff(p.cfg)
	// Start waits for the first attempt, including its hooks.
	firstAttempt := func() {
		if firstAttemptDone != nil {
			firstAttemptDone()
			firstAttemptDone = nil
		}
	}
	defer firstAttempt()
	for !p.closed() {
		pc, err := p.connect(addr)
		if err == nil {
			retry.Reset()
			id := pc.client.id
			if h := p.hooks.OnConnect; h != nil {
				h(id, addr)
			}
			firstAttempt()
			err = p.readLoop(pc)
			p.removeConn(pc)
			cause := err
			if !errors.Is(err, ErrConnectionClosed) {
				cause = fmt.Errorf("%w: %s: %v", ErrConnectionClosed, addr, err)
			}
			if p.closed() {
				cause = fmt.Errorf("%w: producer closed", ErrClosed)
			}
			pc.failAll(cause)
			pc.client.CloseStream()
			if h := p.hooks.OnDisconnect; h != nil {
				h(id, addr, err)
			}
			if p.closed() {
				return
			}
			p.log.Warn("nsqd connection lost; reconnecting", "addr", addr, "conn_id", id, "error", err)
			var se *ServerError
			if !errors.As(err, &se) { // readLoop reported nsqd's error frame already
				p.reportError(id, err)
			}
		}
		firstAttempt()
		t := time.NewTimer(retry.Failure().Interval())
		select {
		case <-p.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (p *Producer) reportError(connID uint32, err error) {
	if h := p.hooks.OnError; h != nil && err != nil {
		h(connID, err)
	}
}

// connect opens, identifies and registers one connection. A failure is
// logged and reported through OnError unless the producer is closing.
func (p *Producer) connect(addr string) (*producerConn, error) {
	client, err := newNsqdTCPClient(addr, p.cfg)
	if err != nil {
		return nil, p.connectFailed(0, addr, err)
	}
	client.hooks.OnAuth = p.hooks.OnAuth
	client.closeOn(p.stop) // Close ends a dial or handshake in progress
	if err := client.Connect(); err != nil {
		return nil, p.connectFailed(client.id, addr, err)
	}
	if _, err := client.Identify(); err != nil {
		return nil, p.connectFailed(client.id, addr, err)
	}
	pc := &producerConn{client: client}
	if !p.addConn(pc) {
		client.CloseStream()
		return nil, fmt.Errorf("%w: producer closed", ErrClosed)
	}
	return pc, nil
}

func (p *Producer) connectFailed(connID uint32, addr string, err error) error {
	if !p.closed() {
		p.log.Warn("nsqd connection failed; reconnecting", "addr", addr, "conn_id", connID, "error", err)
		p.reportError(connID, err)
	}
	return err
}

// readLoop matches nsqd's answers to outstanding publishes, in order, until
// the connection ends; it returns why it ended.
func (p *Producer) readLoop(pc *producerConn) error {
	for {
		resp, err := pc.client.ReadResponse()
		if err != nil {
			return err
		}
		switch resp.Type {
		case FrameTypeResponse:
			if bytes.Equal(resp.Data, protocol.ResponseHeartbeat) {
				continue
			}
			if h := p.hooks.OnResponse; h != nil {
				h(pc.client.id, resp.Data)
			}
			r := pc.pop()
			if r == nil {
				return &ProtocolError{Reason: fmt.Sprintf("response %.32q with no publish outstanding", resp.Data)}
			}
			r.complete(resp.Data, nil)
		case FrameTypeError:
			p.reportError(pc.client.id, resp.Err)
			if r := pc.pop(); r != nil {
				r.complete(nil, resp.Err)
			}
			if resp.Err.Fatal() {
				return resp.Err
			}
		default:
			return &ProtocolError{Reason: "message frame on a producer connection"}
		}
	}
}
