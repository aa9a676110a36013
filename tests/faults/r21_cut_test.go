package faults_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	gnsq "github.com/libgnsq/libgnsq/core"
	"github.com/libgnsq/libgnsq/tests/faultproxy"
	"github.com/libgnsq/libgnsq/tests/nsqtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const r21Body = 64

// r21Frame is the size of a MESSAGE frame with an r21Body-byte body:
// size, frame type, timestamp, attempts, id, body.
const r21Frame = 4 + 4 + 8 + 2 + 16 + r21Body

func r21Message(i int) string { return fmt.Sprintf("%-*s", r21Body, fmt.Sprintf("message-%d-", i)) }

// R21: the connection is cut (FIN or RST) after every possible number of
// bytes of a MESSAGE frame. The read always fails with the connection
// closed; it never returns a message, truncated or not. The last round,
// cut after the whole frame, is the control: the message arrives intact.
func TestR21CutAtEveryByteOfMessageFrame(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	proxy := startProxy(t, nsqd.TCPAddr)
	topic := uniqueTopic("r21")
	pub, err := gnsq.NewProducer(gnsq.WithNsqd(nsqd.TCPAddr))
	require.NoError(t, err)
	require.NoError(t, pub.Start(context.Background()))
	defer pub.Close()
	cfg := newConfig(t)
	for n := int64(1); n <= r21Frame; n++ {
		c, err := gnsq.NewNsqdTCPClient(proxy.Addr(), gnsq.WithConfig(cfg))
		require.NoError(t, err)
		require.NoError(t, c.Connect())
		_, err = c.Identify()
		require.NoError(t, err)
		require.NoError(t, c.Subscribe(topic, "ch"))
		r, err := c.ReadResponse()
		require.NoError(t, err)
		require.Equal(t, "OK", string(r.Data))
		// Earlier messages are in flight to closed connections: this one
		// is the only one nsqd can send.
		err = pub.Publish(ctxTimeout(t, 5*time.Second), topic, []byte(r21Message(int(n))))
		require.NoError(t, err)
		proxy.Set(faultproxy.Faults{LimitDown: n, Reset: n%2 == 0})
		require.NoError(t, c.Ready(1))
		var got []gnsq.Response
		for {
			r, err := c.ReadResponse()
			if err != nil {
				break
			}
			got = append(got, r)
		}
		if n == r21Frame {
			require.Len(t, got, 1)
			require.NotNil(t, got[0].Message)
			assert.Equal(t, r21Message(int(n)), string(got[0].Message.Body))
		} else {
			assert.Empty(t, got, "cut after %d of %d bytes", n, r21Frame)
		}
		assert.False(t, c.IsConnected())
		c.CloseStream()
		proxy.Set(faultproxy.Faults{})
	}
}

// R21 through a consumer: cuts inside MESSAGE frames never hand the
// handler a truncated body; the consumer reconnects after each and
// consumes what comes next.
func TestR21ConsumerNeverHandlesTruncatedMessage(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	proxy := startProxy(t, nsqd.TCPAddr)
	topic := uniqueTopic("r21c")
	ev := newEvents()
	startConsumer(t, topic, proxy.Addr(), ev.handler, ev.consumerHooks(), newConfig(t, "max_backoff_duration", "1"))
	ev.await(t, 5*time.Second, "connected", func(e *events) bool { return e.connects == 1 })
	published := map[string]bool{}
	cuts := []int64{1, 4, 8, 9, 34, r21Frame / 2, r21Frame - 1}
	for i, n := range cuts {
		proxy.Set(faultproxy.Faults{LimitDown: n, Reset: i%2 == 1})
		m := r21Message(i)
		published[m] = true
		publish(t, nsqd, topic, m)
		ev.await(t, 10*time.Second, fmt.Sprintf("the cut after %d bytes", n), func(e *events) bool { return len(e.disconnects) == i+1 })
		proxy.Set(faultproxy.Faults{})
		ev.await(t, 10*time.Second, "the reconnect", func(e *events) bool { return e.connects == i+2 })
	}
	last := r21Message(len(cuts))
	published[last] = true
	publish(t, nsqd, topic, last)
	ev.await(t, 10*time.Second, "the message after the cuts", func(e *events) bool { return e.has(last) })
	_, _, _, bodies := ev.snapshot()
	for _, b := range bodies {
		assert.True(t, published[b], "handled a body that was not published: %q", b)
		assert.Len(t, b, r21Body)
	}
	assert.Equal(t, 1, strings.Count(strings.Join(bodies, "|"), last))
}
