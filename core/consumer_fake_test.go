package gnsq_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	gnsq "github.com/libgnsq/libgnsq/core"
	"github.com/libgnsq/libgnsq/internal/protocol"
	"github.com/libgnsq/libgnsq/tests/nsqtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scriptedNsqd is a fake nsqd that accepts IDENTIFY and SUB, then lets the
// test send frames on each connection while it records every command.
type scriptedNsqd struct {
	*nsqtest.FakeNsqd
	conns chan *nsqtest.FakeConn
}

func startScriptedNsqd(t *testing.T) *scriptedNsqd {
	s := &scriptedNsqd{conns: make(chan *nsqtest.FakeConn, 16)}
	s.FakeNsqd = nsqtest.StartFakeNsqd(t, func(c *nsqtest.FakeConn) {
		if c.Identify("") != nil {
			return
		}
		if _, err := c.ReadCommand(5 * time.Second); err != nil {
			return
		}
		c.Respond("OK")
		s.conns <- c
		c.WaitForEOF(time.Minute)
	})
	return s
}

func (s *scriptedNsqd) nextConn(t *testing.T) *nsqtest.FakeConn {
	select {
	case c := <-s.conns:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no connection to the fake nsqd")
		return nil
	}
}

// waitCommands waits until the fake nsqd recorded exactly want.
func (s *scriptedNsqd) waitCommands(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := s.Commands()
		if len(got) >= len(want) {
			require.Equal(t, want, got)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for commands %q, have %q", want, got)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testMessage(n int, attempts uint16, body string) []byte {
	var id gnsq.MessageID
	copy(id[:], fmt.Sprintf("%016d", n))
	return protocol.EncodeMessage(protocol.Message{ID: id, Attempts: attempts, Timestamp: time.Now().UnixNano(), Body: []byte(body)})
}

func msgID(n int) string { return fmt.Sprintf("%016d", n) }

// bodyHandler: "good" succeeds, "bad" fails, "requeue" asks for a requeue
// without backoff, "requeue-default" a requeue with the configured choice.
func bodyHandler(m *gnsq.Message) error {
	switch string(m.Body) {
	case "bad":
		return errors.New("handler failed")
	case "requeue":
		no := false
		return &gnsq.RequeueMessage{Backoff: &no}
	case "requeue-default":
		return &gnsq.RequeueMessage{}
	}
	return nil
}

func startFakeConsumer(t *testing.T, addr string, handler gnsq.Handler, hooks gnsq.ConsumerHooks, kv ...string) *gnsq.Consumer {
	c, err := gnsq.NewConsumer("topic", "ch", handler, gnsq.WithNsqd(addr), gnsq.WithConfig(newConfig(t, kv...)), gnsq.WithConsumerHooks(hooks))
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(c.Close)
	return c
}

// R14: the exact RDY sequence of gnsq's per-connection backoff.
func TestConsumerBackoffSequence(t *testing.T) {
	fake := startScriptedNsqd(t)
	startFakeConsumer(t, fake.Addr, bodyHandler, gnsq.ConsumerHooks{}, "max_in_flight", "5", "max_backoff_duration", "0.3")
	conn := fake.nextConn(t)
	fake.waitCommands(t, "IDENTIFY", "SUB topic ch", "RDY 1")

	seq := []string{"IDENTIFY", "SUB topic ch", "RDY 1"}
	step := func(n int, body string, then ...string) {
		t.Helper()
		require.NoError(t, conn.WriteFrame(nsqtest.FrameMessage, testMessage(n, 1, body)))
		seq = append(seq, then...)
		fake.waitCommands(t, seq...)
	}
	step(1, "good", "FIN "+msgID(1), "RDY 5") // first FIN: running, full RDY
	// RDY 0 goes before the REQ, so nsqd cannot hand the message straight back
	step(2, "bad", "RDY 0", "REQ "+msgID(2)+" 0", "RDY 1")             // level 1: back off, then probe
	step(3, "bad", "RDY 0", "REQ "+msgID(3)+" 0", "RDY 1")             // failing probe: level 2
	step(4, "good", "FIN "+msgID(4), "RDY 0", "RDY 1")                 // success: level 1, back off again
	step(5, "good", "FIN "+msgID(5), "RDY 5")                          // success: level 0, full RDY
	step(6, "requeue", "REQ "+msgID(6)+" 0")                           // requeue without backoff: neutral
	step(7, "requeue-default", "RDY 0", "REQ "+msgID(7)+" 0", "RDY 1") // backoff_on_requeue default true
	step(8, "good", "FIN "+msgID(8), "RDY 5")
}

func TestConsumerBackoffOnRequeueFalse(t *testing.T) {
	fake := startScriptedNsqd(t)
	startFakeConsumer(t, fake.Addr, bodyHandler, gnsq.ConsumerHooks{},
		"max_in_flight", "3", "backoff_on_requeue", "false", "requeue_delay", "1500")
	conn := fake.nextConn(t)
	require.NoError(t, conn.WriteFrame(nsqtest.FrameMessage, testMessage(1, 1, "good")))
	require.NoError(t, conn.WriteFrame(nsqtest.FrameMessage, testMessage(2, 1, "requeue-default")))
	require.NoError(t, conn.WriteFrame(nsqtest.FrameMessage, testMessage(3, 1, "good")))
	fake.waitCommands(t, "IDENTIFY", "SUB topic ch", "RDY 1", "FIN "+msgID(1), "RDY 3",
		"REQ "+msgID(2)+" 1500", "FIN "+msgID(3))
}

func TestConsumerBackoffDisabled(t *testing.T) {
	fake := startScriptedNsqd(t)
	var exceptions atomic.Int32
	startFakeConsumer(t, fake.Addr, bodyHandler, gnsq.ConsumerHooks{
		OnException: func(*gnsq.Message, error) { exceptions.Add(1) },
	}, "max_in_flight", "2", "max_backoff_duration", "0")
	conn := fake.nextConn(t)
	require.NoError(t, conn.WriteFrame(nsqtest.FrameMessage, testMessage(1, 1, "good")))
	fake.waitCommands(t, "IDENTIFY", "SUB topic ch", "RDY 1", "FIN "+msgID(1), "RDY 2")
	require.NoError(t, conn.WriteFrame(nsqtest.FrameMessage, testMessage(2, 1, "bad")))
	require.NoError(t, conn.WriteFrame(nsqtest.FrameMessage, testMessage(3, 1, "good")))
	fake.waitCommands(t, "IDENTIFY", "SUB topic ch", "RDY 1", "FIN "+msgID(1), "RDY 2",
		"REQ "+msgID(2)+" 0", "FIN "+msgID(3))
	assert.Equal(t, int32(1), exceptions.Load())
}

// With a cap of 0.2 s every backoff window is at most 0.2 s, however many
// failures came before.
func TestConsumerBackoffCap(t *testing.T) {
	fake := startScriptedNsqd(t)
	startFakeConsumer(t, fake.Addr, bodyHandler, gnsq.ConsumerHooks{}, "max_in_flight", "1", "max_backoff_duration", "0.2")
	conn := fake.nextConn(t)
	seq := []string{"IDENTIFY", "SUB topic ch", "RDY 1"}
	fake.waitCommands(t, seq...)
	for i := 1; i <= 8; i++ {
		start := time.Now()
		require.NoError(t, conn.WriteFrame(nsqtest.FrameMessage, testMessage(i, 1, "bad")))
		seq = append(seq, "RDY 0", "REQ "+msgID(i)+" 0", "RDY 1")
		fake.waitCommands(t, seq...)
		assert.Less(t, time.Since(start), 2*time.Second, "window %d capped", i)
	}
}

// R16: attempts > max_tries: finished, on_giving_up once, handler not called.
func TestConsumerGivingUp(t *testing.T) {
	fake := startScriptedNsqd(t)
	var handled, gaveUp atomic.Int32
	var gaveUpBody atomic.Value
	startFakeConsumer(t, fake.Addr, func(m *gnsq.Message) error { handled.Add(1); return nil }, gnsq.ConsumerHooks{
		OnGivingUp: func(m *gnsq.Message) { gaveUp.Add(1); gaveUpBody.Store(string(m.Body)) },
	}, "max_in_flight", "1", "max_tries", "5")
	conn := fake.nextConn(t)
	require.NoError(t, conn.WriteFrame(nsqtest.FrameMessage, testMessage(1, 5, "fifth try")))
	require.NoError(t, conn.WriteFrame(nsqtest.FrameMessage, testMessage(2, 6, "sixth try")))
	fake.waitCommands(t, "IDENTIFY", "SUB topic ch", "RDY 1", "FIN "+msgID(1), "FIN "+msgID(2))
	assert.Equal(t, int32(1), handled.Load(), "the handler sees attempts 1..max_tries only")
	assert.Equal(t, int32(1), gaveUp.Load())
	assert.Equal(t, "sixth try", gaveUpBody.Load())
}

// R17: a non-fatal error keeps the connection; a fatal one closes it and
// the consumer reconnects.
func TestConsumerFatalAndNonFatalErrors(t *testing.T) {
	fake := startScriptedNsqd(t)
	var errs atomic.Int32
	var handled atomic.Int32
	startFakeConsumer(t, fake.Addr, func(m *gnsq.Message) error { handled.Add(1); return nil }, gnsq.ConsumerHooks{
		OnError: func(uint32, error) { errs.Add(1) },
	}, "max_in_flight", "1", "max_backoff_duration", "1")
	conn := fake.nextConn(t)
	require.NoError(t, conn.WriteFrame(nsqtest.FrameError, []byte("E_FIN_FAILED FIN 0000000000000009 failed ID not in flight")))
	require.NoError(t, conn.WriteFrame(nsqtest.FrameMessage, testMessage(1, 1, "after non-fatal")))
	fake.waitCommands(t, "IDENTIFY", "SUB topic ch", "RDY 1", "FIN "+msgID(1))
	assert.Equal(t, int32(1), errs.Load())
	assert.Equal(t, 1, fake.Connections(), "non-fatal: same connection")

	require.NoError(t, conn.WriteFrame(nsqtest.FrameError, []byte("E_INVALID cannot do that")))
	second := fake.nextConn(t)
	require.NoError(t, second.WriteFrame(nsqtest.FrameMessage, testMessage(2, 1, "after reconnect")))
	fake.waitCommands(t, "IDENTIFY", "SUB topic ch", "RDY 1", "FIN "+msgID(1),
		"IDENTIFY", "SUB topic ch", "RDY 1", "FIN "+msgID(2))
	assert.Equal(t, 2, fake.Connections())
	assert.Equal(t, int32(2), handled.Load())
}

func TestConsumerMessageAnswers(t *testing.T) {
	fake := startScriptedNsqd(t)
	held := make(chan *gnsq.Message, 1)
	startFakeConsumer(t, fake.Addr, func(m *gnsq.Message) error {
		switch string(m.Body) {
		case "async":
			m.EnableAsync()
			held <- m
		case "touch-then-finish":
			require.NoError(t, m.Touch())
			require.NoError(t, m.Finish())
			assert.ErrorIs(t, m.Finish(), gnsq.ErrAlreadyResponded)
			assert.ErrorIs(t, m.Requeue(0, true), gnsq.ErrAlreadyResponded)
			assert.ErrorIs(t, m.Touch(), gnsq.ErrAlreadyResponded)
		case "requeue-delay":
			require.NoError(t, m.Requeue(2500*time.Millisecond, false))
		}
		return nil
	}, gnsq.ConsumerHooks{}, "max_in_flight", "4")
	conn := fake.nextConn(t)
	require.NoError(t, conn.WriteFrame(nsqtest.FrameMessage, testMessage(1, 1, "async")))
	m := <-held
	assert.True(t, m.IsAsync())
	assert.False(t, m.HasResponded())
	require.NoError(t, conn.WriteFrame(nsqtest.FrameMessage, testMessage(2, 1, "touch-then-finish")))
	fake.waitCommands(t, "IDENTIFY", "SUB topic ch", "RDY 1", "TOUCH "+msgID(2), "FIN "+msgID(2), "RDY 4")
	require.NoError(t, m.Finish(), "the async message is answered later")
	require.NoError(t, conn.WriteFrame(nsqtest.FrameMessage, testMessage(3, 1, "requeue-delay")))
	fake.waitCommands(t, "IDENTIFY", "SUB topic ch", "RDY 1", "TOUCH "+msgID(2), "FIN "+msgID(2), "RDY 4",
		"FIN "+msgID(1), "REQ "+msgID(3)+" 2500")
}

func TestConsumerHandlerPanicIsAnException(t *testing.T) {
	fake := startScriptedNsqd(t)
	var exception atomic.Value
	startFakeConsumer(t, fake.Addr, func(m *gnsq.Message) error { panic("boom") }, gnsq.ConsumerHooks{
		OnException: func(m *gnsq.Message, err error) { exception.Store(err.Error()) },
	}, "max_in_flight", "1", "max_backoff_duration", "0", "requeue_delay", "10")
	conn := fake.nextConn(t)
	require.NoError(t, conn.WriteFrame(nsqtest.FrameMessage, testMessage(1, 1, "x")))
	fake.waitCommands(t, "IDENTIFY", "SUB topic ch", "RDY 1", "REQ "+msgID(1)+" 10")
	assert.Contains(t, exception.Load(), "boom")
}

func TestConsumerConstructorErrors(t *testing.T) {
	h := func(*gnsq.Message) error { return nil }
	var ine *gnsq.InvalidNameError
	var iae *gnsq.InvalidArgumentError
	_, err := gnsq.NewConsumer("a b", "ch", h, gnsq.WithNsqd("x:1"))
	require.ErrorAs(t, err, &ine)
	_, err = gnsq.NewConsumer("t", "a\nSUB", h, gnsq.WithNsqd("x:1"))
	require.ErrorAs(t, err, &ine)
	_, err = gnsq.NewConsumer("t", "ch", h)
	require.ErrorAs(t, err, &iae)
	_, err = gnsq.NewConsumer("t", "ch", nil, gnsq.WithNsqd("x:1"))
	require.ErrorAs(t, err, &iae)
	_, err = gnsq.NewConsumer("t", "ch", h, gnsq.WithLookupd("ftp://x"))
	require.ErrorAs(t, err, &iae)

	c, err := gnsq.NewConsumer("t", "ch", h, gnsq.WithNsqd("127.0.0.1:1"))
	require.NoError(t, err)
	c.Close()
	require.ErrorIs(t, c.Start(context.Background()), gnsq.ErrClosed)
}

// An idle connection keeps only RDY 1 (low_ready_idle_timeout) and gets
// its share back once messages flow again.
func TestConsumerIdleConnectionGivesUpReady(t *testing.T) {
	fake := startScriptedNsqd(t)
	startFakeConsumer(t, fake.Addr, bodyHandler, gnsq.ConsumerHooks{},
		"max_in_flight", "5", "low_ready_idle_timeout", "0.3", "rdy_redistribute_interval", "0.05")
	conn := fake.nextConn(t)
	require.NoError(t, conn.WriteFrame(nsqtest.FrameMessage, testMessage(1, 1, "good")))
	fake.waitCommands(t, "IDENTIFY", "SUB topic ch", "RDY 1", "FIN "+msgID(1), "RDY 5", "RDY 1")
	require.NoError(t, conn.WriteFrame(nsqtest.FrameMessage, testMessage(2, 1, "good")))
	fake.waitCommands(t, "IDENTIFY", "SUB topic ch", "RDY 1", "FIN "+msgID(1), "RDY 5", "RDY 1", "FIN "+msgID(2), "RDY 5")
}

// RDY never exceeds nsqd's max_rdy_count, whatever max_in_flight says.
func TestConsumerRespectsMaxRdyCount(t *testing.T) {
	fake := nsqtest.StartFakeNsqd(t, func(c *nsqtest.FakeConn) {
		if c.Identify(`{"max_rdy_count": 3}`) != nil {
			return
		}
		if _, err := c.ReadCommand(5 * time.Second); err != nil {
			return
		}
		c.Respond("OK")
		c.WriteFrame(nsqtest.FrameMessage, testMessage(1, 1, "good"))
		c.WaitForEOF(time.Minute)
	})
	c := startFakeConsumer(t, fake.Addr, bodyHandler, gnsq.ConsumerHooks{}, "max_in_flight", "10")
	scripted := &scriptedNsqd{FakeNsqd: fake}
	scripted.waitCommands(t, "IDENTIFY", "SUB topic ch", "RDY 1", "FIN "+msgID(1), "RDY 3")
	assert.Equal(t, 3, c.TotalReadyCount())
}

// RDY is redistributed when connections come and go, and new ones start
// at RDY 1.
func TestConsumerRedistributesAcrossConnections(t *testing.T) {
	a, b := startScriptedNsqd(t), startScriptedNsqd(t)
	c, err := gnsq.NewConsumer("topic", "ch", bodyHandler, gnsq.WithNsqd(a.Addr, b.Addr), gnsq.WithConfig(newConfig(t, "max_in_flight", "4", "max_backoff_duration", "1")))
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background()))
	defer c.Close()
	connA, connB := a.nextConn(t), b.nextConn(t)
	a.waitCommands(t, "IDENTIFY", "SUB topic ch", "RDY 1")
	b.waitCommands(t, "IDENTIFY", "SUB topic ch", "RDY 1")
	require.NoError(t, connA.WriteFrame(nsqtest.FrameMessage, testMessage(1, 1, "good")))
	a.waitCommands(t, "IDENTIFY", "SUB topic ch", "RDY 1", "FIN "+msgID(1), "RDY 3") // B still new: 1 + 3
	require.NoError(t, connB.WriteFrame(nsqtest.FrameMessage, testMessage(2, 1, "good")))
	b.waitCommands(t, "IDENTIFY", "SUB topic ch", "RDY 1", "FIN "+msgID(2), "RDY 2")
	a.waitCommands(t, "IDENTIFY", "SUB topic ch", "RDY 1", "FIN "+msgID(1), "RDY 3", "RDY 2")
	assert.Equal(t, 4, c.TotalReadyCount())

	b.Close() // B goes away: A gets everything
	nsqtest.WaitFor(t, 10*time.Second, "A alone", func() bool { return len(c.Connections()) == 1 })
	a.waitCommands(t, "IDENTIFY", "SUB topic ch", "RDY 1", "FIN "+msgID(1), "RDY 3", "RDY 2", "RDY 4")
	assert.Equal(t, 4, c.TotalReadyCount())
}

// nsqd may write a message it had already taken for the connection after
// its CLOSE_WAIT answer to CLS. Drain must still handle (and answer) it,
// not close under it: closed, it would stay in flight until msg_timeout.
func TestDrainHandlesAMessageArrivingJustAfterCloseWait(t *testing.T) {
	fake := startScriptedNsqd(t)
	c := startFakeConsumer(t, fake.Addr, bodyHandler, gnsq.ConsumerHooks{}, "max_in_flight", "1")
	conn := fake.nextConn(t)
	fake.waitCommands(t, "IDENTIFY", "SUB topic ch", "RDY 1")

	drained := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		drained <- c.Drain(ctx)
	}()
	fake.waitCommands(t, "IDENTIFY", "SUB topic ch", "RDY 1", "CLS")
	require.NoError(t, conn.Respond("CLOSE_WAIT"))
	time.Sleep(5 * time.Millisecond) // the point: the message comes a moment after CLOSE_WAIT
	require.NoError(t, conn.WriteFrame(nsqtest.FrameMessage, testMessage(1, 1, "good")))
	require.NoError(t, <-drained)
	assert.Equal(t, []string{"IDENTIFY", "SUB topic ch", "RDY 1", "CLS", "FIN " + msgID(1)}, fake.Commands())
}
