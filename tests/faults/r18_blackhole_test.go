package faults_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	gnsq "github.com/libgnsq/libgnsq/core"
	"github.com/libgnsq/libgnsq/tests/faultproxy"
	"github.com/libgnsq/libgnsq/tests/nsqtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// R18: a partition (nothing passes, no close either) of an established
// consumer connection is detected through missed heartbeats within about
// 2 x heartbeat_interval; reconnects into the partition fail within the
// handshake bound; once it heals the consumer is back and consuming.
func TestR18BlackholeDetectedByHeartbeatsAndReconnected(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	proxy := startProxy(t, nsqd.TCPAddr)
	topic := uniqueTopic("r18")
	ev := newEvents()
	const hb = time.Second
	startConsumer(t, topic, proxy.Addr(), ev.handler, ev.consumerHooks(),
		newConfig(t, "heartbeat_interval", "1", "timeout", "2", "dial_timeout", "1", "max_backoff_duration", "1"))
	ev.await(t, 5*time.Second, "connected", func(e *events) bool { return e.connects == 1 })
	publish(t, nsqd, topic, "before")
	ev.await(t, 10*time.Second, "the message before", func(e *events) bool { return e.has("before") })

	start := time.Now()
	proxy.Set(faultproxy.Faults{Blackhole: true})
	ev.await(t, 10*time.Second, "the disconnect", func(e *events) bool { return len(e.disconnects) == 1 })
	took := time.Since(start)
	assert.GreaterOrEqual(t, took, 900*time.Millisecond, "not a close passed on: the partition hides closes")
	assert.LessOrEqual(t, took, 2*hb+1500*time.Millisecond, "detected within ~2 x heartbeat_interval")
	_, disc, _, _ := ev.snapshot()
	var ne net.Error
	if assert.ErrorAs(t, disc[0], &ne, "%v", disc[0]) {
		assert.True(t, ne.Timeout(), "a read timeout: %v", disc[0])
	}

	// Reconnects land in the partition too: accepted, never answered.
	ev.await(t, 10*time.Second, "a reconnect failing its handshake", func(e *events) bool {
		for _, err := range e.errs {
			if strings.Contains(err.Error(), "handshake") {
				return true
			}
		}
		return false
	})
	connects, _, _, _ := ev.snapshot()
	assert.Equal(t, 1, connects, "no connection made through a partition")

	proxy.Set(faultproxy.Faults{})
	ev.await(t, 10*time.Second, "reconnected after the partition healed", func(e *events) bool { return e.connects == 2 })
	publish(t, nsqd, topic, "after")
	ev.await(t, 10*time.Second, "the message after", func(e *events) bool { return e.has("after") })
}

// R18: with a partition, a publish bounded by a context returns when the
// context ends (outcome unknown), never later; once the partition heals,
// the held publishes reach nsqd and new ones succeed. No OK is ever given
// for a message nsqd does not have.
func TestR18PublishWithTimeoutNeverHangs(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	proxy := startProxy(t, nsqd.TCPAddr)
	topic := uniqueTopic("r18p")
	// Heartbeats and timeout left long: only the context bounds the calls.
	p := startProducer(t, proxy.Addr(), newConfig(t), gnsq.ProducerHooks{})
	oks := 0
	err := p.Publish(ctxTimeout(t, 10*time.Second), topic, []byte("warm"))
	require.NoError(t, err)
	oks++

	proxy.Set(faultproxy.Faults{Blackhole: true})
	calls := map[string]func(ctx context.Context) error{
		"Publish": func(ctx context.Context) error {
			err := p.Publish(ctx, topic, []byte("held"))
			return err
		},
		"MultiPublish": func(ctx context.Context) error {
			err := p.MultiPublish(ctx, topic, [][]byte{[]byte("held-1"), []byte("held-2")})
			return err
		},
		"PublishAsync+Wait": func(ctx context.Context) error {
			r, err := p.PublishAsync(ctx, topic, 0, []byte("held-async"), nil)
			if err != nil {
				return err
			}
			_, err = r.Wait(ctx)
			return err
		},
	}
	for name, call := range calls {
		var err error
		took := nsqtest.Within(t, 5*time.Second, name, func() { err = call(ctxTimeout(t, 700*time.Millisecond)) })
		assert.ErrorIs(t, err, context.DeadlineExceeded, name)
		assert.GreaterOrEqual(t, took, 650*time.Millisecond, name)
		assert.Less(t, took, 2500*time.Millisecond, name)
	}

	proxy.Set(faultproxy.Faults{})
	err = p.Publish(ctxTimeout(t, 10*time.Second), topic, []byte("after"))
	require.NoError(t, err)
	oks++
	// The partition held the bytes, as TCP would: they arrive after it.
	assert.Equal(t, oks+4, topicCount(t, nsqd, topic))
}

// R18: while every connect lands in a partition, a publish with a context
// ends with ErrNoConnections when the context does.
func TestR18PublishTimeoutWhileReconnectingIntoBlackhole(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	proxy := startProxy(t, nsqd.TCPAddr)
	topic := uniqueTopic("r18r")
	ev := newEvents()
	p := startProducer(t, proxy.Addr(), newConfig(t, "dial_timeout", "1"), ev.producerHooks())
	err := p.Publish(ctxTimeout(t, 10*time.Second), topic, []byte("warm"))
	require.NoError(t, err)

	proxy.Set(faultproxy.Faults{Blackhole: true})
	proxy.CloseAll() // the connection drops; reconnects go into the partition
	ev.await(t, 5*time.Second, "the disconnect", func(e *events) bool { return len(e.disconnects) == 1 })
	took := nsqtest.Within(t, 5*time.Second, "Publish", func() {
		err = p.Publish(ctxTimeout(t, 700*time.Millisecond), topic, []byte("x"))
	})
	assert.True(t, errors.Is(err, gnsq.ErrNoConnections) || errors.Is(err, context.DeadlineExceeded), "%v", err)
	assert.GreaterOrEqual(t, took, 650*time.Millisecond)
	assert.Less(t, took, 2500*time.Millisecond)

	proxy.Set(faultproxy.Faults{})
	err = p.Publish(ctxTimeout(t, 10*time.Second), topic, []byte("after"))
	require.NoError(t, err)
}
