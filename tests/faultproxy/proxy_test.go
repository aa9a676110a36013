package faultproxy_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/libgnsq/libgnsq/tests/faultproxy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// server accepts connections and hands each to handle.
type server struct {
	ln    net.Listener
	conns chan net.Conn
}

func startServer(t *testing.T) *server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &server{ln: ln, conns: make(chan net.Conn, 16)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns <- c
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return s
}

func (s *server) next(t *testing.T) net.Conn {
	t.Helper()
	select {
	case c := <-s.conns:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no connection reached the server")
		return nil
	}
}

func startProxy(t *testing.T, target string) *faultproxy.Proxy {
	p, err := faultproxy.New(target)
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, addr string) net.Conn {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// readN reads n bytes within 5 s.
func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, n)
	_, err := io.ReadFull(c, b)
	require.NoError(t, err)
	return b
}

func TestForwardBothWays(t *testing.T) {
	s := startServer(t)
	p := startProxy(t, s.ln.Addr().String())
	c := dial(t, p.Addr())
	sc := s.next(t)
	c.Write([]byte("hello"))
	assert.Equal(t, "hello", string(readN(t, sc, 5)))
	sc.Write([]byte("world!"))
	assert.Equal(t, "world!", string(readN(t, c, 6)))
	// Counted once the write returned, which may be after the read.
	require.Eventually(t, func() bool { return p.Bytes(faultproxy.Up) == 5 && p.Bytes(faultproxy.Down) == 6 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, 1, p.Accepted())
	sc.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF, "the server's close is passed on")
}

func TestLatencyAndJitterKeepOrder(t *testing.T) {
	s := startServer(t)
	p := startProxy(t, s.ln.Addr().String())
	p.Set(faultproxy.Faults{Latency: 150 * time.Millisecond, Jitter: 50 * time.Millisecond})
	c := dial(t, p.Addr())
	sc := s.next(t)
	start := time.Now()
	var want []byte
	for i := 0; i < 20; i++ {
		c.Write([]byte{byte(i)})
		want = append(want, byte(i))
		time.Sleep(time.Millisecond) // separate chunks, each with its own delay
	}
	got := readN(t, sc, 20)
	assert.Equal(t, want, got, "order kept")
	assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
}

func TestBandwidth(t *testing.T) {
	s := startServer(t)
	p := startProxy(t, s.ln.Addr().String())
	p.Set(faultproxy.Faults{Bandwidth: 40 << 10})
	c := dial(t, p.Addr())
	sc := s.next(t)
	data := bytes.Repeat([]byte("x"), 20<<10)
	start := time.Now()
	go c.Write(data)
	assert.Equal(t, data, readN(t, sc, len(data)))
	assert.GreaterOrEqual(t, time.Since(start), 400*time.Millisecond, "20 KiB at 40 KiB/s")
}

func TestChunkSizeOne(t *testing.T) {
	s := startServer(t)
	p := startProxy(t, s.ln.Addr().String())
	p.Set(faultproxy.Faults{ChunkSize: 1})
	c := dial(t, p.Addr())
	sc := s.next(t)
	data := []byte("fragmented stream")
	c.Write(data)
	assert.Equal(t, data, readN(t, sc, len(data)))
	require.Eventually(t, func() bool { return p.Writes(faultproxy.Up) == int64(len(data)) }, 5*time.Second, time.Millisecond, "one write per byte")
}

func TestBlackhole(t *testing.T) {
	s := startServer(t)
	p := startProxy(t, s.ln.Addr().String())
	c := dial(t, p.Addr())
	sc := s.next(t)
	p.Set(faultproxy.Faults{Blackhole: true})
	c.Write([]byte("held"))
	sc.Write([]byte("held too"))
	sc.Close()
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout(), "nothing arrives, not even the close: %v", err)
	assert.Equal(t, int64(0), p.Bytes(faultproxy.Up)+p.Bytes(faultproxy.Down))

	// A new connection is accepted and never reaches the server.
	c2 := dial(t, p.Addr())
	c2.Write([]byte("hello?"))
	select {
	case <-s.conns:
		t.Fatal("a blackholed connection was dialled through")
	case <-time.After(200 * time.Millisecond):
	}

	// Healing delivers what was held, then the close.
	p.Set(faultproxy.Faults{})
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	assert.NoError(t, err)
	assert.Equal(t, "held too", string(got))
}

func TestLimitCuts(t *testing.T) {
	for _, reset := range []bool{false, true} {
		s := startServer(t)
		p := startProxy(t, s.ln.Addr().String())
		c := dial(t, p.Addr())
		sc := s.next(t)
		p.Set(faultproxy.Faults{LimitDown: 10, Reset: reset})
		sc.Write([]byte("0123456789abcdef"))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(c)
		assert.Equal(t, "0123456789", string(got), "reset=%v", reset)
		if reset {
			assert.True(t, errors.Is(err, syscall.ECONNRESET), "RST: %v", err)
		} else {
			assert.NoError(t, err, "FIN")
		}
		// The server side is cut too.
		sc.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = sc.Read(make([]byte, 1))
		assert.Error(t, err)
	}
}

func TestResetAll(t *testing.T) {
	s := startServer(t)
	p := startProxy(t, s.ln.Addr().String())
	c := dial(t, p.Addr())
	s.next(t)
	c.Write([]byte("x"))
	require.Eventually(t, func() bool { return p.Bytes(faultproxy.Up) == 1 }, 5*time.Second, time.Millisecond)
	p.ResetAll()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	assert.ErrorIs(t, err, syscall.ECONNRESET)
}

func TestDownUp(t *testing.T) {
	s := startServer(t)
	p := startProxy(t, s.ln.Addr().String())
	c := dial(t, p.Addr())
	s.next(t)
	p.Down(false)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF, "open connections closed")
	_, err = net.DialTimeout("tcp", p.Addr(), time.Second)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED)
	require.NoError(t, p.Up())
	c2 := dial(t, p.Addr())
	sc2 := s.next(t)
	c2.Write([]byte("back"))
	assert.Equal(t, "back", string(readN(t, sc2, 4)))
}

func TestUnreachable(t *testing.T) {
	u, err := faultproxy.NewUnreachable()
	require.NoError(t, err)
	defer u.Close()
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			_, err := net.DialTimeout("tcp", u.Addr(), 200*time.Millisecond)
			var ne net.Error
			if assert.ErrorAs(t, err, &ne) {
				assert.True(t, ne.Timeout(), "%v", err)
			}
			assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)
		}()
	}
	wg.Wait()
}

func TestUnreachablePending(t *testing.T) {
	u, err := faultproxy.NewUnreachable()
	require.NoError(t, err)
	defer u.Close()
	assert.Equal(t, 0, u.Pending())
	done := make(chan struct{})
	go func() {
		defer close(done)
		net.DialTimeout("tcp", u.Addr(), 500*time.Millisecond)
	}()
	require.Eventually(t, func() bool { return u.Pending() == 1 }, time.Second, time.Millisecond)
	<-done
	assert.Equal(t, 0, u.Pending())
}
