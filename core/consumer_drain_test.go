package gnsq_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	gnsq "github.com/libgnsq/libgnsq/core"
	"github.com/libgnsq/libgnsq/tests/nsqtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// No handler starts after Close returned: the rest of a batch already
// taken by a connection's handler goroutine is abandoned (issue 11, 2).
func TestConsumerNoHandlerStartsAfterClose(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	topic := uniqueTopic("noafter")
	publishBodies(t, nsqd.TCPAddr, topic, "n", 50)
	var calls atomic.Int32
	entered, release := make(chan struct{}), make(chan struct{})
	c := startConsumer(t, topic, "ch", []string{nsqd.TCPAddr}, nil, func(m *gnsq.Message) error {
		if calls.Add(1) == 2 { // the first message comes alone (RDY 1); the second is in a batch
			close(entered)
			<-release
		}
		return nil
	}, gnsq.ConsumerHooks{}, "max_in_flight", "50")
	<-entered
	c.Close()
	after := calls.Load()
	close(release)
	require.True(t, c.Join(10*time.Second))
	assert.Equal(t, after, calls.Load(), "handlers started after Close returned")
}

// Drain lets the handlers finish what was received, sends their FINs and
// takes nothing more: nothing is in flight at nsqd afterwards, and what
// was not received is still in the channel (issue 11, graceful close).
func TestConsumerDrainFinishesWhatWasReceived(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	topic := uniqueTopic("drain")
	publishBodies(t, nsqd.TCPAddr, topic, "d", 500)
	var handled atomic.Int32
	var finished atomic.Int32
	c := startConsumer(t, topic, "ch", []string{nsqd.TCPAddr}, nil, func(m *gnsq.Message) error {
		time.Sleep(time.Millisecond)
		handled.Add(1)
		return nil
	}, gnsq.ConsumerHooks{OnFinish: func(uint32, gnsq.MessageID) { finished.Add(1) }}, "max_in_flight", "100")
	nsqtest.WaitFor(t, 10*time.Second, "some messages handled", func() bool { return handled.Load() >= 20 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, c.Drain(ctx))
	n := handled.Load()
	assert.False(t, c.IsRunning())
	assert.Equal(t, n, finished.Load(), "every handled message was finished")
	s := statsOf(t, nsqd, topic, "ch")
	assert.Equal(t, 0, s.InFlight, "nothing left in flight")
	assert.Equal(t, 500-int(n), s.Depth, "the rest waits in the channel")
	assert.Zero(t, s.TimeoutCount)
	require.True(t, c.Join(10*time.Second))
	assert.Equal(t, n, handled.Load(), "no handler after Drain returned")
}

// A Drain whose context ends requeues at once what no handler took and
// returns the context's error.
func TestConsumerDrainTimeoutRequeuesUnhandled(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	topic := uniqueTopic("draintimeout")
	publishBodies(t, nsqd.TCPAddr, topic, "s", 30)
	var calls atomic.Int32
	stuck, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	c := startConsumer(t, topic, "ch", []string{nsqd.TCPAddr}, nil, func(m *gnsq.Message) error {
		if calls.Add(1) == 2 {
			close(stuck)
			<-release // a handler that never finishes in time
		}
		return nil
	}, gnsq.ConsumerHooks{}, "max_in_flight", "30")
	<-stuck
	nsqtest.WaitFor(t, 10*time.Second, "the rest received", func() bool {
		return statsOf(t, nsqd, topic, "ch").InFlight == 29
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, c.Drain(ctx), context.DeadlineExceeded)
	// 28 queued behind the stuck handler are requeued at once; the stuck
	// one stays in flight until nsqd's msg_timeout.
	nsqtest.WaitFor(t, 5*time.Second, "the unhandled messages requeued", func() bool {
		s := statsOf(t, nsqd, topic, "ch")
		return s.Depth == 28 && s.RequeueCount == 28
	})
	assert.Equal(t, int32(2), calls.Load())
}
