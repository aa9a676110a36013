package gnsq_test

// Defect 1 of issue 11: a server that accepts TCP and never answers must
// not hang a connection's setup, and Close must cut it short.

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gnsq "github.com/libgnsq/libgnsq/core"
	"github.com/libgnsq/libgnsq/tests/faultproxy"
	"github.com/libgnsq/libgnsq/tests/nsqtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// silentNsqd accepts, reads what the client sends and never answers; a
// connection the client closed is sent on eof.
func silentNsqd(t *testing.T) (*nsqtest.FakeNsqd, <-chan struct{}) {
	eof := make(chan struct{}, 100)
	return nsqtest.StartFakeNsqd(t, func(c *nsqtest.FakeConn) {
		if c.WaitForEOF(time.Minute) {
			eof <- struct{}{}
		}
	}), eof
}

func waitForIdentify(t *testing.T, fake *nsqtest.FakeNsqd) {
	t.Helper()
	nsqtest.WaitFor(t, 5*time.Second, "IDENTIFY at the fake nsqd", func() bool {
		for _, c := range fake.Commands() {
			if c == "IDENTIFY" {
				return true
			}
		}
		return false
	})
}

// Without heartbeats there was no read deadline at all during IDENTIFY.
func TestHandshakeSilentServerWithoutHeartbeats(t *testing.T) {
	fake, _ := silentNsqd(t)
	c, err := gnsq.NewNsqdTCPClient(fake.Addr, gnsq.WithConfig(newConfig(t, "heartbeat_interval", "-1", "dial_timeout", "0.2")))
	require.NoError(t, err)
	t.Cleanup(c.CloseStream)
	require.NoError(t, c.Connect())
	var idErr error
	took := nsqtest.Within(t, 5*time.Second, "Identify", func() { _, idErr = c.Identify() })
	require.Error(t, idErr)
	assert.Contains(t, idErr.Error(), "handshake")
	assert.GreaterOrEqual(t, took, 900*time.Millisecond, "the bound is max(dial_timeout, 1 s)")
	assert.False(t, c.IsConnected())
}

// With heartbeats the handshake took the whole timeout, not dial_timeout.
func TestHandshakeBoundIsDialTimeoutNotTimeout(t *testing.T) {
	fake, _ := silentNsqd(t)
	c, err := gnsq.NewNsqdTCPClient(fake.Addr, gnsq.WithConfig(newConfig(t, "timeout", "40", "dial_timeout", "1.5")))
	require.NoError(t, err)
	t.Cleanup(c.CloseStream)
	require.NoError(t, c.Connect())
	var idErr error
	took := nsqtest.Within(t, 5*time.Second, "Identify", func() { _, idErr = c.Identify() })
	require.Error(t, idErr)
	assert.GreaterOrEqual(t, took, 1400*time.Millisecond)
}

// The setup deadline must not outlive the setup: without heartbeats an
// established connection may stay silent for longer than the bound.
func TestSetupDeadlineEndsWithSetup(t *testing.T) {
	answered := make(chan struct{})
	fake := nsqtest.StartFakeNsqd(t, func(c *nsqtest.FakeConn) {
		if c.Identify("") != nil {
			return
		}
		<-answered
		c.Respond("late")
		c.WaitForEOF(5 * time.Second)
	})
	c, err := dial(t, fake.Addr, newConfig(t, "heartbeat_interval", "-1", "dial_timeout", "0.1"))
	require.NoError(t, err)
	read := make(chan error, 1)
	go func() {
		r, err := c.ReadResponse()
		if err == nil && string(r.Data) != "late" {
			err = assert.AnError
		}
		read <- err
	}()
	time.Sleep(1500 * time.Millisecond) // longer than the 1 s setup bound: nothing to await
	close(answered)
	require.NoError(t, <-read)
}

// CloseStream from another goroutine ends a handshake in progress.
func TestCloseStreamInterruptsHandshake(t *testing.T) {
	fake, _ := silentNsqd(t)
	c, err := gnsq.NewNsqdTCPClient(fake.Addr, gnsq.WithConfig(newConfig(t, "heartbeat_interval", "-1", "dial_timeout", "30")))
	require.NoError(t, err)
	require.NoError(t, c.Connect())
	idErr := make(chan error, 1)
	go func() { _, err := c.Identify(); idErr <- err }()
	waitForIdentify(t, fake)
	c.CloseStream()
	select {
	case err := <-idErr:
		assert.Error(t, err)
	case <-time.After(2 * time.Second):
		t.Fatal("Identify went on after CloseStream")
	}
}

// Producer.Close did not interrupt a connection still handshaking: Start
// and Join hung for good (no heartbeats) and a goroutine and an fd leaked.
func TestProducerCloseInterruptsHandshake(t *testing.T) {
	fake, eof := silentNsqd(t)
	p, err := gnsq.NewProducer(gnsq.WithNsqd(fake.Addr), gnsq.WithConfig(newConfig(t, "heartbeat_interval", "-1", "dial_timeout", "30")))
	require.NoError(t, err)
	t.Cleanup(p.Close)
	started := make(chan error, 1)
	go func() { started <- p.Start(context.Background()) }()
	waitForIdentify(t, fake)
	nsqtest.Within(t, 2*time.Second, "Close", p.Close)
	select {
	case err := <-started:
		assert.NoError(t, err)
	case <-time.After(2 * time.Second):
		t.Fatal("Start still waits for the handshake after Close")
	}
	assert.True(t, p.Join(2*time.Second), "Join after Close")
	select {
	case <-eof:
	case <-time.After(2 * time.Second):
		t.Fatal("the connection was not closed")
	}
}

// Producer.Close did not interrupt a dial either: it waited for dial_timeout.
func TestProducerCloseInterruptsDial(t *testing.T) {
	u, err := faultproxy.NewUnreachable()
	require.NoError(t, err)
	defer u.Close()
	p, err := gnsq.NewProducer(gnsq.WithNsqd(u.Addr()), gnsq.WithConfig(newConfig(t, "dial_timeout", "30")))
	require.NoError(t, err)
	t.Cleanup(p.Close)
	started := make(chan error, 1)
	go func() { started <- p.Start(context.Background()) }()
	nsqtest.WaitFor(t, 5*time.Second, "a dial in progress", func() bool { return u.Pending() > 0 })
	p.Close()
	select {
	case <-started:
	case <-time.After(2 * time.Second):
		t.Fatal("Start still waits for the dial after Close")
	}
	assert.True(t, p.Join(2*time.Second), "Join after Close")
}

// A producer against a silent server: Start returns after the handshake
// bound, with the failure reported, not after timeout.
func TestProducerStartBoundedBySilentServer(t *testing.T) {
	fake, _ := silentNsqd(t)
	errs := make(chan error, 10)
	p, err := gnsq.NewProducer(gnsq.WithNsqd(fake.Addr), gnsq.WithConfig(newConfig(t, "heartbeat_interval", "-1", "dial_timeout", "0.5")),
		gnsq.WithProducerHooks(gnsq.ProducerHooks{OnError: func(_ uint32, err error) { errs <- err }}))
	require.NoError(t, err)
	nsqtest.Within(t, 5*time.Second, "Start", func() { require.NoError(t, p.Start(context.Background())) })
	select {
	case err := <-errs:
		assert.Contains(t, err.Error(), "handshake")
	default:
		t.Fatal("the failed attempt was not reported")
	}
	p.Close()
	assert.True(t, p.Join(2*time.Second))
}

// R38: publishers on one producer while another goroutine closes it:
// every call ends in OK or ErrClosed, none hangs, also for publishers
// still waiting for a connection that is handshaking.
func TestProducerConcurrentPublishAndClose(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	silent, _ := silentNsqd(t)
	for name, addr := range map[string]string{"connected": nsqd.TCPAddr, "handshaking": silent.Addr} {
		t.Run(name, func(t *testing.T) {
			p, err := gnsq.NewProducer(gnsq.WithNsqd(addr), gnsq.WithConfig(newConfig(t, "dial_timeout", "30")))
			require.NoError(t, err)
			go p.Start(context.Background())
			nsqtest.WaitFor(t, 5*time.Second, "Start under way", p.IsRunning)
			var wg sync.WaitGroup
			var oks, closed atomic.Int32
			for i := 0; i < 8; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						err := p.Publish(context.Background(), "r38", []byte("x"))
						if err == nil {
							oks.Add(1)
							continue
						}
						if assert.ErrorIs(t, err, gnsq.ErrClosed) {
							closed.Add(1)
						}
						return
					}
				}()
			}
			if name == "connected" {
				nsqtest.WaitFor(t, 5*time.Second, "publishes flowing", func() bool { return oks.Load() >= 50 })
			} else {
				waitForIdentify(t, silent)
			}
			p.Close()
			nsqtest.Within(t, 5*time.Second, "the publishers", wg.Wait)
			assert.Equal(t, int32(8), closed.Load())
			assert.True(t, p.Join(2*time.Second))
		})
	}
}

// A context given to Start bounds its wait for the first attempts: with
// nsqd silent in the handshake (dial_timeout 30 s) Start returns the
// context's error at once, the producer goes on connecting, and Close
// ends that.
func TestStartReturnsWhenItsContextEnds(t *testing.T) {
	fake, _ := silentNsqd(t)
	p, err := gnsq.NewProducer(gnsq.WithNsqd(fake.Addr), gnsq.WithConfig(newConfig(t, "heartbeat_interval", "-1", "dial_timeout", "30")))
	require.NoError(t, err)
	t.Cleanup(p.Close)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan error, 1)
	go func() { started <- p.Start(ctx) }()
	waitForIdentify(t, fake)
	cancel()
	select {
	case err := <-started:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(2 * time.Second):
		t.Fatal("Start still waits for the handshake after its context ended")
	}
	assert.True(t, p.IsRunning(), "started all the same")
	nsqtest.Within(t, 2*time.Second, "Close", p.Close)
	assert.True(t, p.Join(2*time.Second))

	c, err := gnsq.NewConsumer("t", "ch", func(*gnsq.Message) error { return nil }, gnsq.WithNsqd(fake.Addr),
		gnsq.WithConfig(newConfig(t, "heartbeat_interval", "-1", "dial_timeout", "30")))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	nsqtest.Within(t, 2*time.Second, "Consumer.Start", func() { require.ErrorIs(t, c.Start(ctx), context.DeadlineExceeded) })
	assert.True(t, c.IsRunning())
	nsqtest.Within(t, 2*time.Second, "Close", c.Close)
	assert.True(t, c.Join(2*time.Second))
}
