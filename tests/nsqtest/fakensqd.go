package nsqtest

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Frame types, as on the wire.
const (
	FrameResponse = 0
	FrameError    = 1
	FrameMessage  = 2
)

// FakeNsqd is a scripted nsqd: it accepts connections on 127.0.0.1 and
// runs a script for each one. It records every command any client sent,
// so tests can assert exact command sequences, and it can send anything,
// including malformed frames.
type FakeNsqd struct {
	Addr string

	t        testing.TB
	ln       net.Listener
	script   func(c *FakeConn)
	mu       sync.Mutex
	commands []string
	conns    int
	open     map[net.Conn]bool
	wg       sync.WaitGroup
}

// FakeConn is one client connection seen by the fake nsqd.
type FakeConn struct {
	Index int // 1 for the first connection accepted, 2 for the next...

	f    *FakeNsqd
	conn net.Conn
	r    *bufio.Reader
}

// Command is one command received from the client.
type Command struct {
	Line string // e.g. "PUB topic" (no newline)
	Body []byte // for IDENTIFY, AUTH, PUB, DPUB, MPUB
}

// StartFakeNsqd listens on a free port and runs script for every
// connection (after the client's magic was read and checked).
func StartFakeNsqd(t testing.TB, script func(c *FakeConn)) *FakeNsqd {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &FakeNsqd{Addr: ln.Addr().String(), t: t, ln: ln, script: script, open: map[net.Conn]bool{}}
	f.wg.Add(1)
	go f.accept()
	t.Cleanup(f.Close)
	return f
}

func (f *FakeNsqd) accept() {
	defer f.wg.Done()
	for {
		conn, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.conns++
		index := f.conns
		f.open[conn] = true
		f.mu.Unlock()
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer func() {
				conn.Close()
				f.mu.Lock()
				delete(f.open, conn)
				f.mu.Unlock()
			}()
			c := &FakeConn{Index: index, f: f, conn: conn, r: bufio.NewReader(conn)}
			magic := make([]byte, 4)
			if _, err := io.ReadFull(c.r, magic); err != nil || string(magic) != "  V2" {
				return
			}
			f.script(c)
		}()
	}
}

// Close stops listening, closes every connection (as a dying nsqd would)
// and waits for every script to return.
func (f *FakeNsqd) Close() {
	f.ln.Close()
	f.mu.Lock()
	for conn := range f.open {
		conn.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

// Commands returns every command line received so far, in order.
func (f *FakeNsqd) Commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.commands...)
}

// Connections returns how many connections were accepted.
func (f *FakeNsqd) Connections() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns
}

// ReadCommand reads one command; it fails on EOF or after timeout.
func (c *FakeConn) ReadCommand(timeout time.Duration) (Command, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	line, err := c.r.ReadString('\n')
	if err != nil {
		return Command{}, err
	}
	cmd := Command{Line: strings.TrimSuffix(line, "\n")}
	name, _, _ := strings.Cut(cmd.Line, " ")
	switch name {
	case "IDENTIFY", "AUTH", "PUB", "DPUB", "MPUB":
		var size [4]byte
		if _, err := io.ReadFull(c.r, size[:]); err != nil {
			return cmd, err
		}
		n := binary.BigEndian.Uint32(size[:])
		if n > 64<<20 {
			return cmd, fmt.Errorf("fake nsqd: body of %d bytes", n)
		}
		cmd.Body = make([]byte, n)
		if _, err := io.ReadFull(c.r, cmd.Body); err != nil {
			return cmd, err
		}
	}
	c.f.mu.Lock()
	c.f.commands = append(c.f.commands, cmd.Line)
	c.f.mu.Unlock()
	return cmd, nil
}

// WriteFrame sends one well-formed frame.
func (c *FakeConn) WriteFrame(frameType int32, data []byte) error {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)+4))
	b = binary.BigEndian.AppendUint32(b, uint32(frameType))
	return c.WriteRaw(append(b, data...))
}

// WriteRaw sends bytes as they are (for malformed frames).
func (c *FakeConn) WriteRaw(b []byte) error {
	_, err := c.conn.Write(b)
	return err
}

// Respond sends a response frame.
func (c *FakeConn) Respond(s string) error { return c.WriteFrame(FrameResponse, []byte(s)) }

// Identify reads IDENTIFY and answers with the given JSON (feature
// negotiation), or a default one when json is "".
func (c *FakeConn) Identify(json string) error {
	cmd, err := c.ReadCommand(5 * time.Second)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(cmd.Line, "IDENTIFY") {
		return fmt.Errorf("fake nsqd: expected IDENTIFY, got %q", cmd.Line)
	}
	if json == "" {
		json = `{"max_rdy_count":2500,"version":"1.3.0","max_msg_timeout":900000,"msg_timeout":60000,"tls_v1":false,"deflate":false,"deflate_level":0,"max_deflate_level":6,"snappy":false,"sample_rate":0,"auth_required":false,"output_buffer_size":16384,"output_buffer_timeout":250}`
	}
	return c.Respond(json)
}

// WaitForEOF reads (and records) commands until the client closes the
// connection or timeout passes; it reports whether the client closed.
func (c *FakeConn) WaitForEOF(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, err := c.ReadCommand(time.Until(deadline)); err != nil {
			return err == io.EOF || strings.Contains(err.Error(), "connection reset")
		}
	}
	return false
}
