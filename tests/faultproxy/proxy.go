// Package faultproxy is a TCP proxy for tests that puts network faults
// between a client and a server (a real nsqd): latency and jitter, a
// bandwidth limit, a blackhole, RST, writes of a few bytes, a cut after N
// bytes, and the proxy going down and up. Faults change at run time and
// apply to open connections as well as new ones. Unreachable gives an
// address whose TCP connects never complete. cmd/faultproxy is the same
// proxy as a program, for tests in other languages.
package faultproxy

import (
	"context"
	"errors"
	"io"
	"math/rand"
	"net"
	"sync"
	"time"
)

// Faults are the faults applied to the traffic. The zero value forwards
// everything as it comes.
type Faults struct {
	// Latency delays every chunk read by this much in each direction;
	// Jitter varies it uniformly within ±Jitter. Order is kept.
	Latency time.Duration
	Jitter  time.Duration
	// Bandwidth caps each direction of each connection (bytes/s; 0: none).
	Bandwidth int
	// Blackhole: nothing is forwarded and no close is passed on, either
	// way, as in a network partition: open connections hold their data
	// (the senders' buffers fill up) and deliver it when it is turned
	// off, as TCP would after a partition heals. New connections are
	// accepted and never dialled through (they stay black holes).
	Blackhole bool
	// ChunkSize splits forwarded data into writes of at most this many
	// bytes (1: one byte per write); 0 forwards reads as they come.
	ChunkSize int
	// LimitUp and LimitDown cut a connection once that many bytes went
	// client->server (up) or server->client (down), counted on each
	// connection from its start or from the last Set, whichever is later;
	// 0: no limit. Both sides are closed, with RST if Reset, else FIN.
	LimitUp   int64
	LimitDown int64
	Reset     bool
}

// Direction of traffic.
type Direction int

const (
	Up   Direction = iota // client -> server
	Down                  // server -> client
)

// Proxy forwards connections from its address to a target.
type Proxy struct {
	target string
	addr   string

	mu       sync.Mutex
	ln       net.Listener
	faults   Faults
	gen      uint64        // incremented by Set
	changed  chan struct{} // closed and replaced by Set, Up, Down, Close
	links    map[*link]bool
	accepted int
	bytes    [2]int64
	writes   [2]int64
	closed   bool
	wg       sync.WaitGroup
}

// New starts a proxy on a free port of 127.0.0.1 forwarding to target.
func New(target string) (*Proxy, error) { return Listen("127.0.0.1:0", target) }

// Listen starts a proxy on addr forwarding to target ("host:port").
func Listen(addr, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: target, addr: ln.Addr().String(), ln: ln, changed: make(chan struct{}), links: map[*link]bool{}}
	p.wg.Add(1)
	go p.accept(ln)
	return p, nil
}

// Addr is the proxy's "host:port", also while it is down.
func (p *Proxy) Addr() string { return p.addr }

// Target is the forwarded-to "host:port".
func (p *Proxy) Target() string { return p.target }

// Set replaces the faults.
func (p *Proxy) Set(f Faults) {
	p.mu.Lock()
	p.faults = f
	p.gen++
	p.notifyLocked()
	p.mu.Unlock()
}

// Update changes the faults with fn (as Set does).
func (p *Proxy) Update(fn func(f *Faults)) {
	p.mu.Lock()
	f := p.faults
	p.mu.Unlock()
	fn(&f)
	p.Set(f)
}

// Faults returns the faults in force.
func (p *Proxy) Faults() Faults {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faults
}

func (p *Proxy) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Proxy) snapshot() (Faults, uint64, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faults, p.gen, p.changed
}

// Down closes the listener (connects are refused) and every open
// connection (FIN, or RST if reset). Up listens again on the same address.
func (p *Proxy) Down(reset bool) {
	p.mu.Lock()
	ln := p.ln
	p.ln = nil
	links := p.linksLocked()
	p.notifyLocked()
	p.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	for _, l := range links {
		l.close(reset)
	}
}

// Up listens again after Down (an error if the port was taken meanwhile).
func (p *Proxy) Up() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("faultproxy: closed")
	}
	if p.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return err
	}
	p.ln = ln
	p.notifyLocked()
	p.wg.Add(1)
	go p.accept(ln)
	return nil
}

// ResetAll closes every open connection with RST on both sides.
func (p *Proxy) ResetAll() { p.closeAll(true) }

// CloseAll closes every open connection with FIN on both sides.
func (p *Proxy) CloseAll() { p.closeAll(false) }

func (p *Proxy) closeAll(reset bool) {
	p.mu.Lock()
	links := p.linksLocked()
	p.mu.Unlock()
	for _, l := range links {
		l.close(reset)
	}
}

func (p *Proxy) linksLocked() []*link {
	out := make([]*link, 0, len(p.links))
	for l := range p.links {
		out = append(out, l)
	}
	return out
}

// Open is the number of client connections open now.
func (p *Proxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// Accepted is the number of client connections accepted so far.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Bytes is the number of bytes forwarded in direction d so far.
func (p *Proxy) Bytes(d Direction) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bytes[d]
}

// Writes is the number of writes that forwarded bytes in direction d.
func (p *Proxy) Writes(d Direction) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.writes[d]
}

// Close stops the proxy, closes every connection and waits for its
// goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.Down(false)
	p.wg.Wait()
	return nil
}

func (p *Proxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		l := &link{p: p, client: c.(*net.TCPConn), done: make(chan struct{})}
		p.mu.Lock()
		if p.ln != ln { // went down meanwhile
			p.mu.Unlock()
			c.Close()
			return
		}
		p.accepted++
		p.links[l] = true
		blackhole := p.faults.Blackhole
		p.wg.Add(1)
		p.mu.Unlock()
		go l.run(blackhole)
	}
}

// link is one proxied connection.
type link struct {
	p      *Proxy
	client *net.TCPConn

	mu     sync.Mutex
	server *net.TCPConn
	once   sync.Once
	done   chan struct{} // closed by close
}

// close shuts both sides (RST if reset); idempotent.
func (l *link) close(reset bool) {
	l.once.Do(func() {
		l.mu.Lock()
		server := l.server
		close(l.done)
		l.mu.Unlock()
		for _, c := range []*net.TCPConn{l.client, server} {
			if c == nil {
				continue
			}
			if reset {
				_ = c.SetLinger(0)
			}
			c.Close()
		}
	})
}

func (l *link) run(blackhole bool) {
	defer l.p.wg.Done()
	defer func() {
		l.p.mu.Lock()
		delete(l.p.links, l)
		l.p.mu.Unlock()
	}()
	if blackhole {
		// Accepted, never forwarded: read and drop until closed.
		io.Copy(io.Discard, l.client)
		l.close(false)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	go func() {
		select {
		case <-l.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", l.p.target)
	cancel()
	if err != nil {
		l.close(true)
		return
	}
	l.mu.Lock()
	select {
	case <-l.done:
		l.mu.Unlock()
		c.Close()
		return
	default:
	}
	l.server = c.(*net.TCPConn)
	l.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); l.pipe(Up, l.client, l.server) }()
	go func() { defer wg.Done(); l.pipe(Down, l.server, l.client) }()
	wg.Wait()
}

type chunk struct {
	data []byte
	at   time.Time
}

// pipe forwards src to dst: a reader queues what it reads, stamped with
// the time, and the writer applies the faults in force when it sends.
func (l *link) pipe(dir Direction, src, dst *net.TCPConn) {
	queue := make(chan chunk, 64)
	readerDone := make(chan struct{})
	defer func() { <-readerDone }()
	go func() {
		defer close(readerDone)
		defer close(queue)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				select {
				case queue <- chunk{buf[:n], time.Now()}:
				case <-l.done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	var (
		gen, counted uint64
		lastDue      time.Time
		nextSend     time.Time // bandwidth: when the next byte may go
	)
	for {
		if !l.waitVisible() {
			return
		}
		var ch chunk
		var ok bool
		select {
		case ch, ok = <-queue:
		case <-l.done:
			return
		}
		if !l.waitVisible() {
			return
		}
		if !ok {
			l.close(false)
			return
		}
		f, g, _ := l.p.snapshot()
		if f.Latency > 0 || f.Jitter > 0 {
			d := f.Latency
			if f.Jitter > 0 {
				d += time.Duration(rand.Int63n(int64(2*f.Jitter)+1)) - f.Jitter
			}
			due := ch.at.Add(max(d, 0))
			if due.Before(lastDue) {
				due = lastDue
			}
			lastDue = due
			if !l.sleepUntil(due) {
				return
			}
		}
		data := ch.data
		for len(data) > 0 {
			if !l.waitVisible() {
				return
			}
			f, g, _ = l.p.snapshot()
			if g != gen {
				gen, counted = g, 0
			}
			n := len(data)
			if f.ChunkSize > 0 && n > f.ChunkSize {
				n = f.ChunkSize
			}
			if f.Bandwidth > 0 && n > max(f.Bandwidth/20, 1) {
				n = max(f.Bandwidth/20, 1) // sends every ~50 ms, not in bursts
			}
			limit := f.LimitUp
			if dir == Down {
				limit = f.LimitDown
			}
			cut := false
			if limit > 0 && counted+uint64(n) >= uint64(limit) {
				n = int(uint64(limit) - counted)
				cut = true
			}
			if n > 0 {
				if f.Bandwidth > 0 {
					now := time.Now()
					if nextSend.Before(now) {
						nextSend = now
					}
					if !l.sleepUntil(nextSend) {
						return
					}
					nextSend = nextSend.Add(time.Duration(n) * time.Second / time.Duration(f.Bandwidth))
				}
				if _, err := dst.Write(data[:n]); err != nil {
					l.close(false)
					return
				}
				counted += uint64(n)
				l.p.mu.Lock()
				l.p.bytes[dir] += int64(n)
				l.p.writes[dir]++
				l.p.mu.Unlock()
				data = data[n:]
			}
			if cut {
				l.close(f.Reset)
				return
			}
		}
	}
}

// waitVisible waits while the blackhole is on; false if the link closed.
func (l *link) waitVisible() bool {
	for {
		f, _, changed := l.p.snapshot()
		if !f.Blackhole {
			return true
		}
		select {
		case <-changed:
		case <-l.done:
			return false
		}
	}
}

// sleepUntil waits until t; false if the link closed meanwhile.
func (l *link) sleepUntil(t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-l.done:
		return false
	}
}
