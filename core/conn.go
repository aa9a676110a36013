package gnsq

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/snappy"
	"github.com/libgnsq/libgnsq/internal/protocol"
)

// ConnHooks are gnsq's NsqdTCPClient signals. Each runs on the goroutine
// that caused it (the reader for frames, the caller for FIN/REQ); hooks
// must not block for long. They are set at construction (WithConnHooks).
type ConnHooks struct {
	OnMessage  func(c *NsqdTCPClient, m *Message)
	OnResponse func(c *NsqdTCPClient, data []byte)
	OnError    func(c *NsqdTCPClient, err error)
	OnFinish   func(c *NsqdTCPClient, id MessageID)
	OnRequeue  func(c *NsqdTCPClient, id MessageID, delay time.Duration, backoff bool)
	OnAuth     func(c *NsqdTCPClient, resp *AuthResponse)
	OnClose    func(c *NsqdTCPClient)

	// beforeRequeue runs before a REQ is written: a consumer backing off
	// sends RDY 0 first, so nsqd cannot hand the message straight back.
	beforeRequeue func(backoff bool)
}

// IdentifyResponse is nsqd's answer to IDENTIFY with feature negotiation.
type IdentifyResponse struct {
	MaxRdyCount         int    `json:"max_rdy_count"`
	Version             string `json:"version"`
	MaxMsgTimeout       int64  `json:"max_msg_timeout"`
	MsgTimeout          int64  `json:"msg_timeout"`
	TLSv1               bool   `json:"tls_v1"`
	Deflate             bool   `json:"deflate"`
	DeflateLevel        int    `json:"deflate_level"`
	MaxDeflateLevel     int    `json:"max_deflate_level"`
	Snappy              bool   `json:"snappy"`
	SampleRate          int    `json:"sample_rate"`
	AuthRequired        bool   `json:"auth_required"`
	OutputBufferSize    int    `json:"output_buffer_size"`
	OutputBufferTimeout int64  `json:"output_buffer_timeout"`

	Raw []byte `json:"-"` // the answer as nsqd sent it (fields not above too)
}

// AuthResponse is nsqd's answer to AUTH.
type AuthResponse struct {
	Identity        string `json:"identity"`
	IdentityURL     string `json:"identity_url"`
	PermissionCount int    `json:"permission_count"`

	Raw []byte `json:"-"` // the answer as nsqd sent it
}

// Response is one frame read by ReadResponse, decoded.
type Response struct {
	Type    int32
	Data    []byte       // the frame's payload
	Message *Message     // for FrameTypeMessage
	Err     *ServerError // for FrameTypeError
}

const (
	stateInit int32 = iota
	stateConnected
	stateClosed
)

// DefaultMaxRdyCount is assumed until IDENTIFY says otherwise.
const DefaultMaxRdyCount = 2500

// NsqdTCPClient is one TCP connection to nsqd (gnsq's NsqdTCPClient). The
// low-level flow is Connect, Identify (which upgrades TLS/compression and
// authenticates), then commands, with one goroutine calling ReadResponse or
// Listen. Writes are safe from any goroutine. A client is single-use: once
// closed it cannot reconnect.
type NsqdTCPClient struct {
	hooks ConnHooks // fixed at construction

	id   uint32
	addr string
	cfg  *Config

	state atomic.Int32

	rawConn net.Conn      // the TCP socket, set once by Connect
	conn    net.Conn      // the transport: rawConn, or TLS over it
	r       *bufio.Reader // top of the read stack

	framesSinceDeadline int // reader goroutine only

	// Setup (Connect up to the first ReadResponse) has one read deadline,
	// handshakeTimeout after the TCP connect; abort (see closeOn) and
	// setupDone end Connect's watcher. Set by Connect, then reader only.
	inSetup   bool
	setupDone chan struct{}
	abort     <-chan struct{}

	wmu            sync.Mutex
	w              *bufio.Writer
	flushStack     func() error // flushes the compressor below w, if any
	writersWaiting atomic.Int32
	writeFailed    atomic.Bool   // no more writes; the reader drains and closes
	flushKick      chan struct{} // wakes flushLoop after sendBuffered
	closed         chan struct{} // closed by CloseStream

	identify    atomic.Pointer[IdentifyResponse]
	maxRdyCount atomic.Int64
	readyCount  atomic.Int64
	inFlight    atomic.Int64

	closeOnce sync.Once
}

// NewNsqdTCPClient returns an unconnected client for addr ("host:port").
// Options: WithConfig, WithConnHooks.
func NewNsqdTCPClient(addr string, opts ...Option) (*NsqdTCPClient, error) {
	s, err := collect("an NsqdTCPClient", []string{"WithConfig", "WithConnHooks"}, opts)
	if err != nil {
		return nil, err
	}
	c, err := newNsqdTCPClient(addr, s.cfg)
	if err != nil {
		return nil, err
	}
	if s.connHooks != nil {
		c.hooks = *s.connHooks
	}
	return c, nil
}

// newNsqdTCPClient is NewNsqdTCPClient for a consumer's or producer's
// connection: cfg is validated and shared, read only.
func newNsqdTCPClient(addr string, cfg *Config) (*NsqdTCPClient, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, &InvalidArgumentError{Reason: fmt.Sprintf("nsqd address %q: %v", addr, err)}
	}
	c := &NsqdTCPClient{id: nextConnID(), addr: addr, cfg: cfg, flushKick: make(chan struct{}, 1), closed: make(chan struct{})}
	c.maxRdyCount.Store(DefaultMaxRdyCount)
	return c, nil
}

// lastConnID is the id of the newest NsqdTCPClient.
var lastConnID atomic.Uint32

// nextConnID returns the next connection id, skipping 0 if the counter
// ever wraps.
func nextConnID() uint32 {
	for {
		if id := lastConnID.Add(1); id != 0 {
			return id
		}
	}
}

// ID identifies the client within the process: ids come from one counter
// starting at 1, so they are never 0 (0 means "no connection" wherever an
// id is reported) and are not reused before 2^32-1 clients were made. A
// uint32 so it survives any binding's integer type, even a JS number.
func (c *NsqdTCPClient) ID() uint32 { return c.id }

// ConnState is a snapshot of one connection's state.
type ConnState struct {
	ID            uint32
	Address       string // "host:port"
	Connected     bool
	ReadyCount    int // the last RDY sent (gnsq 1.0's ready_count)
	InFlight      int // messages received and not yet finished or requeued
	MaxReadyCount int // nsqd's max_rdy_count
	// LastReady is gnsq 0.x's last_ready, the last RDY sent. gnsq 1.0 and
	// this client keep ReadyCount at that value too (nsqd 1.x does not
	// count RDY down per message), so the two are always equal.
	LastReady int
	Starved   bool // see IsStarved
}

// State returns a snapshot of the connection's state.
func (c *NsqdTCPClient) State() ConnState {
	ready, inFlight := c.readyCount.Load(), c.inFlight.Load()
	return ConnState{
		ID: c.id, Address: c.addr, Connected: c.IsConnected(),
		ReadyCount: int(ready), InFlight: int(inFlight), MaxReadyCount: c.MaxReadyCount(),
		LastReady: int(ready), Starved: starved(ready, inFlight),
	}
}

// String returns "host:port".
func (c *NsqdTCPClient) String() string { return c.addr }

// Address returns "host:port".
func (c *NsqdTCPClient) Address() string { return c.addr }

// IsConnected reports whether the socket is open.
func (c *NsqdTCPClient) IsConnected() bool { return c.state.Load() == stateConnected }

// IdentifyResponse returns nsqd's IDENTIFY answer (nil before Identify).
func (c *NsqdTCPClient) IdentifyResponse() *IdentifyResponse { return c.identify.Load() }

// MaxReadyCount is nsqd's max_rdy_count for this connection.
func (c *NsqdTCPClient) MaxReadyCount() int { return int(c.maxRdyCount.Load()) }

// ReadyCount is the last RDY sent.
func (c *NsqdTCPClient) ReadyCount() int { return int(c.readyCount.Load()) }

// InFlight is the number of messages received and not yet finished or requeued.
func (c *NsqdTCPClient) InFlight() int { return int(c.inFlight.Load()) }

// IsStarved reports whether in-flight messages reached 85% of RDY (gnsq's
// rule): a batching handler should process what it holds now.
func (c *NsqdTCPClient) IsStarved() bool { return starved(c.readyCount.Load(), c.inFlight.Load()) }

func starved(ready, inFlight int64) bool {
	return float64(inFlight) >= max(float64(ready)*0.85, 1)
}

// handshakeTimeout bounds a connection's setup after the TCP connect
// (IDENTIFY, TLS, compression, AUTH, SUB), whatever heartbeat_interval:
// dial_timeout, at least 1 s, at most timeout.
func handshakeTimeout(cfg *Config) time.Duration {
	return min(max(cfg.DialTimeout, time.Second), cfg.Timeout)
}

// closeOn makes the client close itself (CloseStream) when stop is closed
// during Connect or the setup that follows, until the first ReadResponse:
// an owner's Close then ends a dial or handshake in progress at once.
// Call before Connect.
func (c *NsqdTCPClient) closeOn(stop <-chan struct{}) { c.abort = stop }

// Connect dials nsqd within dial_timeout and sends the protocol magic. The
// setup that follows, up to the first ReadResponse (Identify, Auth, the
// answer to SUB), must end within max(dial_timeout, 1 s), capped at
// timeout: a server that accepts and stays silent fails it. CloseStream
// interrupts a dial or a setup in progress.
func (c *NsqdTCPClient) Connect() error {
	switch c.state.Load() {
	case stateConnected:
		return nil
	case stateClosed:
		return fmt.Errorf("%w: connection to %s already closed", ErrClosed, c.addr)
	}
	setupDone := make(chan struct{})
	ctx, cancelDial := context.WithCancel(context.Background())
	go c.watchSetup(setupDone, cancelDial)
	d := net.Dialer{Timeout: c.cfg.DialTimeout}
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		close(setupDone)
		if c.state.Load() == stateClosed {
			return fmt.Errorf("%w: connection to %s closed during connect", ErrClosed, c.addr)
		}
		return fmt.Errorf("gnsq: connect to %s: %w", c.addr, err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(handshakeTimeout(c.cfg)))
	c.rawConn, c.conn = conn, conn
	c.r = bufio.NewReaderSize(conn, 64<<10)
	c.w = bufio.NewWriterSize(conn, 64<<10)
	c.flushStack = func() error { return nil }
	c.inSetup, c.setupDone = true, setupDone
	if !c.state.CompareAndSwap(stateInit, stateConnected) {
		conn.Close()
		close(setupDone)
		return fmt.Errorf("%w: connection to %s closed during connect", ErrClosed, c.addr)
	}
	go c.flushLoop()
	return c.writeRaw(protocol.MagicV2)
}

// watchSetup runs during Connect and setup: it cancels the dial and
// closes the client when the owner's abort channel or CloseStream ends
// them, and exits when the setup is over.
func (c *NsqdTCPClient) watchSetup(setupDone <-chan struct{}, cancelDial func()) {
	defer cancelDial()
	select {
	case <-c.abort:
		c.CloseStream()
	case <-c.closed:
	case <-setupDone:
	}
}

// endSetup is the first ReadResponse's: the handshake deadline gives way
// to the heartbeat-driven one (or none, without heartbeats).
func (c *NsqdTCPClient) endSetup() {
	c.inSetup = false
	close(c.setupDone)
	if c.cfg.HeartbeatInterval < 0 {
		_ = c.conn.SetReadDeadline(time.Time{})
	}
	c.framesSinceDeadline = 256 // renew the deadline on this read
}

// Identify sends IDENTIFY with feature negotiation, then performs the
// upgrades nsqd agreed to (TLS, then Snappy or Deflate) and AUTH when nsqd
// requires it. It returns nsqd's answer (nil if nsqd answered a plain OK).
// Any failure closes the connection.
func (c *NsqdTCPClient) Identify() (*IdentifyResponse, error) {
	resp, err := c.identifyAndUpgrade()
	if err != nil {
		c.CloseStream()
		return nil, err
	}
	return resp, nil
}

func (c *NsqdTCPClient) identifyAndUpgrade() (*IdentifyResponse, error) {
	cmd, err := protocol.Identify(c.identifyRequest())
	if err != nil {
		return nil, err
	}
	if err := c.send(cmd); err != nil {
		return nil, err
	}
	data, err := c.readExpectingResponse("IDENTIFY")
	if err != nil {
		return nil, err
	}
	if bytes.Equal(data, protocol.ResponseOK) {
		if c.cfg.TLSv1 {
			return nil, ErrTLSNotSupported
		}
		return nil, nil
	}
	resp := &IdentifyResponse{Raw: data}
	if err := json.Unmarshal(data, resp); err != nil {
		return nil, &ProtocolError{Reason: fmt.Sprintf("IDENTIFY response is not JSON: %.64q", data)}
	}
	c.identify.Store(resp)
	if resp.MaxRdyCount > 0 {
		c.maxRdyCount.Store(int64(resp.MaxRdyCount))
	}
	if c.cfg.TLSv1 && !resp.TLSv1 {
		return nil, ErrTLSNotSupported
	}
	if resp.TLSv1 {
		if err := c.upgradeTLS(); err != nil {
			return nil, err
		}
	}
	switch {
	case resp.Snappy:
		if err := c.upgradeSnappy(); err != nil {
			return nil, err
		}
	case resp.Deflate:
		if err := c.upgradeDeflate(resp.DeflateLevel); err != nil {
			return nil, err
		}
	}
	if resp.AuthRequired {
		if c.cfg.AuthSecret == "" {
			return nil, ErrAuthRequired
		}
		if _, err := c.Auth(); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

func (c *NsqdTCPClient) identifyRequest() *protocol.IdentifyRequest {
	cfg := c.cfg
	req := &protocol.IdentifyRequest{
		ClientID:           cfg.clientID(),
		Hostname:           cfg.hostname(),
		UserAgent:          cfg.userAgent(),
		FeatureNegotiation: true,
		HeartbeatInterval:  cfg.HeartbeatInterval.Milliseconds(),
		OutputBufferSize:   int64(cfg.OutputBufferSize),
		TLSv1:              cfg.TLSv1,
		Snappy:             cfg.Snappy,
		Deflate:            cfg.Deflate,
		SampleRate:         cfg.SampleRate,
		MsgTimeout:         cfg.MsgTimeout.Milliseconds(),
	}
	if cfg.HeartbeatInterval < 0 {
		req.HeartbeatInterval = -1
	}
	req.OutputBufferTimeout = cfg.OutputBufferTimeout.Milliseconds()
	if cfg.OutputBufferTimeout < 0 {
		req.OutputBufferTimeout = -1
	}
	req.DeflateLevel = cfg.DeflateLevel // sent always, like gnsq; nsqd reads it only with deflate
	return req
}

// readExpectingResponse reads one frame during setup and returns a
// response payload; an error frame becomes its *ServerError.
func (c *NsqdTCPClient) readExpectingResponse(what string) ([]byte, error) {
	for {
		resp, err := c.readResponse()
		if err != nil {
			return nil, err
		}
		switch resp.Type {
		case FrameTypeError:
			return nil, resp.Err
		case FrameTypeResponse:
			if bytes.Equal(resp.Data, protocol.ResponseHeartbeat) {
				continue // already answered with NOP
			}
			return resp.Data, nil
		default:
			return nil, &ProtocolError{Reason: "message frame while waiting for the " + what + " response"}
		}
	}
}

func (c *NsqdTCPClient) expectOK(what string) error {
	data, err := c.readExpectingResponse(what)
	if err != nil {
		return err
	}
	if !bytes.Equal(data, protocol.ResponseOK) {
		return &ProtocolError{Reason: fmt.Sprintf("expected OK after %s, got %.64q", what, data)}
	}
	return nil
}

// tlsClientConfig builds the *tls.Config for addr from cfg's tls_* options
// (verification on unless tls_insecure_skip_verify).
func tlsClientConfig(cfg *Config, addr string) (*tls.Config, error) {
	var tc *tls.Config
	if cfg.TLSConfig != nil {
		tc = cfg.TLSConfig.Clone()
	} else {
		tc = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.TLSInsecure}
		if cfg.TLSCAFile != "" {
			pem, err := os.ReadFile(cfg.TLSCAFile)
			if err != nil {
				return nil, fmt.Errorf("gnsq: tls_ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, &InvalidArgumentError{Reason: "tls_ca_file " + cfg.TLSCAFile + " holds no PEM certificate"}
			}
			tc.RootCAs = pool
		}
		if cfg.TLSCertFile != "" {
			cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
			if err != nil {
				return nil, fmt.Errorf("gnsq: tls_cert_file/tls_key_file: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		tc.ServerName = cfg.TLSServerName
	}
	if tc.ServerName == "" {
		host, _, _ := net.SplitHostPort(addr)
		tc.ServerName = host
	}
	return tc, nil
}

// bufferedConn reads through the bufio.Reader that may already hold bytes
// sent after the IDENTIFY response, so an upgrade never loses them.
type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

func (c *NsqdTCPClient) upgradeTLS() error {
	tc, err := tlsClientConfig(c.cfg, c.addr)
	if err != nil {
		return err
	}
	tlsConn := tls.Client(&bufferedConn{Conn: c.conn, r: c.r}, tc)
	// Reads keep the setup deadline (set by Connect); writes get one too.
	_ = tlsConn.SetWriteDeadline(time.Now().Add(handshakeTimeout(c.cfg)))
	if err := tlsConn.Handshake(); err != nil {
		return fmt.Errorf("gnsq: TLS handshake with %s: %w", c.addr, err)
	}
	_ = tlsConn.SetWriteDeadline(time.Time{})
	c.wmu.Lock()
	c.conn = tlsConn
	c.r = bufio.NewReaderSize(tlsConn, 64<<10)
	c.w = bufio.NewWriterSize(tlsConn, 64<<10)
	c.wmu.Unlock()
	return c.expectOK("TLS upgrade")
}

func (c *NsqdTCPClient) upgradeSnappy() error {
	sw := snappy.NewBufferedWriter(c.conn)
	c.wmu.Lock()
	c.r = bufio.NewReaderSize(snappy.NewReader(c.r), 64<<10)
	c.w = bufio.NewWriterSize(sw, 64<<10)
	c.flushStack = sw.Flush
	c.wmu.Unlock()
	return c.expectOK("Snappy upgrade")
}

func (c *NsqdTCPClient) upgradeDeflate(level int) error {
	if level < flate.BestSpeed || level > flate.BestCompression {
		level = c.cfg.DeflateLevel
	}
	fw, err := flate.NewWriter(c.conn, level)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	c.r = bufio.NewReaderSize(flate.NewReader(c.r), 64<<10)
	c.w = bufio.NewWriterSize(fw, 64<<10)
	c.flushStack = fw.Flush
	c.wmu.Unlock()
	return c.expectOK("Deflate upgrade")
}

// Auth sends AUTH with auth_secret and returns nsqd's answer; OnAuth fires.
// The secret never appears in the returned error.
func (c *NsqdTCPClient) Auth() (*AuthResponse, error) {
	secret := c.cfg.AuthSecret
	if err := c.send(protocol.Auth(secret)); err != nil {
		return nil, err
	}
	data, err := c.readExpectingResponse("AUTH")
	if err != nil {
		var se *ServerError
		if errors.As(err, &se) && secret != "" {
			se.Detail = strings.ReplaceAll(se.Detail, secret, "<secret>")
		}
		return nil, err
	}
	resp := &AuthResponse{Raw: data}
	if err := json.Unmarshal(data, resp); err != nil {
		return nil, &ProtocolError{Reason: "AUTH response is not JSON"}
	}
	if h := c.hooks.OnAuth; h != nil {
		h(c, resp)
	}
	return resp, nil
}

// ReadResponse reads and decodes one frame. Heartbeats are answered with
// NOP. Hooks fire: OnResponse, OnError (a fatal error frame also closes the
// connection), OnMessage. A non-nil error means the connection is closed
// (I/O error, timeout or *ProtocolError). The first call ends the setup
// (see Connect).
func (c *NsqdTCPClient) ReadResponse() (Response, error) {
	if c.inSetup && c.state.Load() == stateConnected {
		c.endSetup()
	}
	return c.readResponse()
}

// readResponse is ReadResponse without ending the setup (for the setup's
// own reads, which keep its deadline).
func (c *NsqdTCPClient) readResponse() (Response, error) {
	if c.state.Load() != stateConnected {
		return Response{}, ErrNotConnected
	}
	// With heartbeats on, a silent nsqd is a dead one. The deadline is
	// renewed before reads that may block (nothing buffered), or every 256
	// frames, not on every frame.
	if !c.inSetup && c.cfg.HeartbeatInterval >= 0 && (c.r.Buffered() == 0 || c.framesSinceDeadline >= 256) {
		_ = c.conn.SetReadDeadline(time.Now().Add(c.cfg.Timeout))
		c.framesSinceDeadline = 0
	}
	c.framesSinceDeadline++
	frame, err := protocol.ReadFrame(c.r, c.cfg.MaxFrameSize)
	if err != nil {
		var ne net.Error
		if c.inSetup && errors.As(err, &ne) && ne.Timeout() {
			err = fmt.Errorf("gnsq: %s did not complete the handshake within %v: %w", c.addr, handshakeTimeout(c.cfg), err)
		}
		return Response{}, c.failRead(err)
	}
	resp := Response{Type: frame.Type, Data: frame.Data}
	switch frame.Type {
	case FrameTypeResponse:
		if bytes.Equal(frame.Data, protocol.ResponseHeartbeat) {
			if err := c.send(protocol.Nop()); err != nil {
				return resp, err
			}
		}
		if h := c.hooks.OnResponse; h != nil {
			h(c, frame.Data)
		}
	case FrameTypeError:
		resp.Err = parseServerError(frame.Data)
		if h := c.hooks.OnError; h != nil {
			h(c, resp.Err)
		}
		if resp.Err.Fatal() {
			c.CloseStream()
		}
	case FrameTypeMessage:
		pm, err := protocol.DecodeMessage(frame.Data)
		if err != nil {
			return resp, c.failRead(err)
		}
		m := &Message{ID: pm.ID, Body: pm.Body, Timestamp: pm.Timestamp, Attempts: pm.Attempts, conn: c}
		resp.Message = m
		c.inFlight.Add(1)
		if h := c.hooks.OnMessage; h != nil {
			h(c, m)
		}
	}
	return resp, nil
}

// hasBufferedInput reports whether a whole MESSAGE frame is already read
// from the socket, so the next ReadResponse returns a message without
// waiting: the consumer's reader batches it with the messages before
// instead of waking the handler (reader goroutine only). Any other frame,
// or part of one, does not count: the handler must not wait for it.
func (c *NsqdTCPClient) hasBufferedInput() bool {
	n := c.r.Buffered()
	if n < 8 {
		return false
	}
	head, _ := c.r.Peek(8) // buffered: no read
	size := int(binary.BigEndian.Uint32(head))
	return int32(binary.BigEndian.Uint32(head[4:])) == FrameTypeMessage && size <= n-4
}

// failRead reports a read failure through OnError (unless the connection
// was closed on purpose) and closes the connection. Bytes that break the
// protocol are a *ProtocolError from here on.
func (c *NsqdTCPClient) failRead(err error) error {
	if c.state.Load() == stateClosed {
		return ErrNotConnected
	}
	if fe, ok := err.(*protocol.FormatError); ok {
		err = &ProtocolError{Reason: fe.Reason}
	}
	if errors.Is(err, io.EOF) {
		err = fmt.Errorf("%w: %s closed the connection", ErrConnectionClosed, c.addr)
	}
	if h := c.hooks.OnError; h != nil {
		h(c, err)
	}
	c.CloseStream()
	return err
}

// Listen reads frames until the connection closes. It returns nil when
// the connection was closed by CloseStream, else the error that ended it.
func (c *NsqdTCPClient) Listen() error {
	for {
		if _, err := c.ReadResponse(); err != nil {
			if errors.Is(err, ErrNotConnected) {
				return nil
			}
			return err
		}
	}
}

// send writes one command and flushes it (concurrent senders share a
// flush). A write failure closes the connection.
func (c *NsqdTCPClient) send(cmd *protocol.Command) error {
	return c.write(func(w *bufio.Writer) { cmd.Encode(w) }, true)
}

// sendBuffered writes one command without waiting for it to reach the
// socket: a background flusher sends everything buffered soon after, so a
// burst of commands costs one write(2). Errors surface as the connection
// closing (OnError, ReadResponse failing).
func (c *NsqdTCPClient) sendBuffered(cmd *protocol.Command) error {
	return c.write(func(w *bufio.Writer) { cmd.Encode(w) }, false)
}

func (c *NsqdTCPClient) writeRaw(b []byte) error {
	return c.write(func(w *bufio.Writer) { w.Write(b) }, true)
}

// write appends to the buffered writer under the write lock. With now it
// flushes, unless another writer is already queued for the lock (that
// one, or the last of the queue, flushes); otherwise it leaves the flush
// to the flusher goroutine.
func (c *NsqdTCPClient) write(fill func(w *bufio.Writer), now bool) error {
	c.writersWaiting.Add(1)
	c.wmu.Lock()
	c.writersWaiting.Add(-1)
	if c.state.Load() != stateConnected || c.writeFailed.Load() {
		c.wmu.Unlock()
		return ErrNotConnected
	}
	fill(c.w)
	var err error
	switch {
	case c.writersWaiting.Load() > 0:
	case now:
		err = c.flushLocked()
	default:
		select {
		case c.flushKick <- struct{}{}:
		default: // a flush is already due
		}
	}
	c.wmu.Unlock()
	if err != nil {
		return c.failWrite(err)
	}
	return nil
}

// failWrite reports a write failure, closes the connection and returns
// the error for the writer.
//
// A write usually fails because nsqd closed the connection after an error
// frame that may still be unread: then only the write side is shut and the
// reader drains what nsqd sent (so a publish learns E_BAD_MESSAGE rather
// than "connection closed") before it sees the end. A timeout closes at once.
func (c *NsqdTCPClient) failWrite(err error) error {
	if c.writeFailed.Swap(true) {
		return fmt.Errorf("%w: write to %s: %v", ErrNotConnected, c.addr, err)
	}
	if h := c.hooks.OnError; h != nil && c.state.Load() == stateConnected {
		h(c, err)
	}
	var ne net.Error
	tcp, isTCP := c.rawConn.(*net.TCPConn)
	if (errors.As(err, &ne) && ne.Timeout()) || !isTCP || tcp.CloseWrite() != nil {
		c.CloseStream()
	}
	return fmt.Errorf("%w: write to %s: %v", ErrNotConnected, c.addr, err)
}

// flushLoop flushes what sendBuffered left in the buffer, until the
// connection closes.
func (c *NsqdTCPClient) flushLoop() {
	for {
		select {
		case <-c.closed:
			return
		case <-c.flushKick:
		}
		c.wmu.Lock()
		var err error
		if c.state.Load() == stateConnected && !c.writeFailed.Load() && c.w.Buffered() > 0 {
			err = c.flushLocked()
		}
		c.wmu.Unlock()
		if err != nil {
			c.failWrite(err)
		}
	}
}

func (c *NsqdTCPClient) flushLocked() error {
	return c.flushWithin(c.cfg.Timeout)
}

func (c *NsqdTCPClient) flushWithin(timeout time.Duration) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(timeout))
	if err := c.w.Flush(); err != nil {
		return err
	}
	return c.flushStack()
}

// Subscribe sends SUB (nsqd answers OK through ReadResponse).
func (c *NsqdTCPClient) Subscribe(topic, channel string) error {
	cmd, err := subscribeCommand(topic, channel)
	if err != nil {
		return err
	}
	return c.send(cmd)
}

// Publish sends PUB, or DPUB when delay is not 0. Fire and forget: the answer
// arrives through ReadResponse.
func (c *NsqdTCPClient) Publish(topic string, body []byte, delay time.Duration) error {
	cmd, err := publishCommand(topic, delay, body)
	if err != nil {
		return err
	}
	return c.send(cmd)
}

// MultiPublish sends MPUB (fire and forget, like Publish).
func (c *NsqdTCPClient) MultiPublish(topic string, bodies [][]byte) error {
	cmd, err := multiPublishCommand(topic, bodies)
	if err != nil {
		return err
	}
	return c.send(cmd)
}

// RDY, FIN, REQ and TOUCH get no answer from nsqd, so they go through
// sendBuffered: commands issued together share one write.

// Ready sends RDY count. A count above nsqd's max_rdy_count is refused
// locally (nsqd would close the connection).
func (c *NsqdTCPClient) Ready(count int) error {
	if max := c.MaxReadyCount(); count > max {
		return &InvalidArgumentError{Reason: "RDY " + strconv.Itoa(count) + " exceeds nsqd's max_rdy_count " + strconv.Itoa(max)}
	}
	cmd, err := readyCommand(count)
	if err != nil {
		return err
	}
	if err := c.sendBuffered(cmd); err != nil {
		return err
	}
	c.readyCount.Store(int64(count))
	return nil
}

// Finish sends FIN and fires OnFinish.
func (c *NsqdTCPClient) Finish(id MessageID) error {
	if err := c.write(func(w *bufio.Writer) { protocol.WriteFinish(w, (*[16]byte)(&id)) }, false); err != nil {
		return err
	}
	c.inFlight.Add(-1)
	if h := c.hooks.OnFinish; h != nil {
		h(c, id)
	}
	return nil
}

// Requeue sends REQ with delay and fires OnRequeue (backoff is passed
// through to the hook for the consumer's backoff logic).
func (c *NsqdTCPClient) Requeue(id MessageID, delay time.Duration, backoff bool) error {
	cmd, err := requeueCommand(id, delay)
	if err != nil {
		return err
	}
	if h := c.hooks.beforeRequeue; h != nil {
		h(backoff)
	}
	if err := c.sendBuffered(cmd); err != nil {
		return err
	}
	c.inFlight.Add(-1)
	if h := c.hooks.OnRequeue; h != nil {
		h(c, id, delay, backoff)
	}
	return nil
}

// Touch sends TOUCH, resetting the message's server-side timeout.
func (c *NsqdTCPClient) Touch(id MessageID) error { return c.sendBuffered(protocol.Touch(id)) }

// Nop sends NOP.
func (c *NsqdTCPClient) Nop() error { return c.send(protocol.Nop()) }

// Close sends CLS: nsqd stops sending messages and answers CLOSE_WAIT.
// Use CloseStream to close the socket.
func (c *NsqdTCPClient) Close() error { return c.send(protocol.StartClose()) }

// CloseStreamAfterFlush writes out what sendBuffered left (FINs of
// handled messages), then closes the socket. It waits at most a second,
// also for a writer in progress: closing under the flusher would drop
// the answers it is writing.
func (c *NsqdTCPClient) CloseStreamAfterFlush() {
	if c.state.Load() == stateConnected && !c.writeFailed.Load() {
		deadline := time.Now().Add(time.Second)
		if c.lockWriterWithin(time.Second) {
			if c.state.Load() == stateConnected {
				_ = c.flushWithin(time.Until(deadline))
			}
			c.wmu.Unlock()
		}
	}
	c.CloseStream()
}

// lockWriterWithin takes wmu unless a writer keeps it for longer than d
// (stuck on a socket nsqd does not read): then it gives up, and the lock
// is released as soon as that writer lets go.
func (c *NsqdTCPClient) lockWriterWithin(d time.Duration) bool {
	if c.wmu.TryLock() {
		return true
	}
	locked := make(chan struct{})
	go func() {
		c.wmu.Lock()
		close(locked)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-locked:
		return true
	case <-t.C:
		go func() {
			<-locked
			c.wmu.Unlock()
		}()
		return false
	}
}

// CloseStream closes the socket (idempotent) and fires OnClose once.
func (c *NsqdTCPClient) CloseStream() {
	prev := c.state.Swap(stateClosed)
	if prev == stateClosed {
		return
	}
	if prev == stateConnected {
		c.rawConn.Close()
	}
	c.closeOnce.Do(func() {
		close(c.closed)
		if h := c.hooks.OnClose; h != nil {
			h(c)
		}
	})
}
