package faults_test

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	gnsq "github.com/libgnsq/libgnsq/core"
	"github.com/libgnsq/libgnsq/internal/protocol"
	"github.com/libgnsq/libgnsq/tests/faultproxy"
	"github.com/libgnsq/libgnsq/tests/nsqtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// R19: the connection is cut (RST, or FIN) in the middle of an MPUB. The
// MPUB ends in an error, never a false OK: nsqd holds none of its
// messages. After the reconnect, publishing works again.
func TestR19ResetMidMPUB(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	proxy := startProxy(t, nsqd.TCPAddr)
	topic := uniqueTopic("r19")
	p := startProducer(t, proxy.Addr(), newConfig(t, "max_backoff_duration", "1"), gnsq.ProducerHooks{})
	err := p.Publish(ctxTimeout(t, 10*time.Second), topic, []byte("warm"))
	require.NoError(t, err)
	want := 1

	var bodies [][]byte
	for i := 0; i < 50; i++ {
		bodies = append(bodies, []byte(strings.Repeat(fmt.Sprint(i%10), 1000)))
	}
	size := int64(len(protocol.MultiPublish(topic, bodies).Bytes()))
	cuts := []struct {
		at    int64
		reset bool
	}{{1, true}, {size / 4, true}, {size / 2, true}, {size - 1, true}, {size / 2, false}}
	for _, cut := range cuts {
		// Counted from now: the MPUB is the next thing sent.
		proxy.Set(faultproxy.Faults{LimitUp: cut.at, Reset: cut.reset})
		err := p.MultiPublish(ctxTimeout(t, 10*time.Second), topic, bodies)
		require.Error(t, err, "cut after %d of %d bytes (reset %v)", cut.at, size, cut.reset)
		assert.True(t, errors.Is(err, gnsq.ErrConnectionClosed) || errors.Is(err, gnsq.ErrNotConnected), "%v", err)
		proxy.Set(faultproxy.Faults{})
		err = p.Publish(ctxTimeout(t, 10*time.Second), topic, []byte("after"))
		require.NoError(t, err, "publishing after the reconnect")
		want++
	}
	assert.Equal(t, want, topicCount(t, nsqd, topic), "no message of a cut MPUB in nsqd")
}

// r20Outcome is what a client observes of one publish/consume run.
type r20Outcome struct {
	Responses []string // answers to each publish, in order
	Received  []string // bodies consumed, sorted
	Attempts  []int    // their attempts, sorted
}

// r20Run publishes a fixed workload through a proxy splitting both
// directions into chunk-byte writes, and consumes it through the same
// proxy.
func r20Run(t *testing.T, nsqd *nsqtest.Server, chunk int, kv ...string) (out r20Outcome) {
	proxy := startProxy(t, nsqd.TCPAddr)
	proxy.Set(faultproxy.Faults{ChunkSize: chunk})
	topic := uniqueTopic("r20")
	ev := newEvents()
	p := startProducer(t, proxy.Addr(), newConfig(t, kv...), ev.producerHooks())
	var published []string
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	// nsqd's answer itself, through the Result of an async publish.
	answer := func(r *gnsq.Result, err error) string {
		require.NoError(t, err)
		resp, err := r.Wait(ctxTimeout(t, 10*time.Second))
		require.NoError(t, err)
		return string(resp)
	}
	for i := 0; i < 10; i++ {
		b := fmt.Sprintf("pub-%d-%s", i, strings.Repeat("x", i*37))
		if i == 5 {
			b = string(binary)
		}
		out.Responses = append(out.Responses, answer(p.PublishAsync(ctxTimeout(t, 10*time.Second), topic, 0, []byte(b), nil)))
		published = append(published, b)
	}
	for i := 0; i < 3; i++ {
		var batch [][]byte
		for j := 0; j < 10; j++ {
			b := fmt.Sprintf("mpub-%d-%d", i, j)
			batch = append(batch, []byte(b))
			published = append(published, b)
		}
		out.Responses = append(out.Responses, answer(p.MultiPublishAsync(ctxTimeout(t, 10*time.Second), topic, batch, nil)))
	}
	attempts := map[string]int{}
	cev := newEvents()
	startConsumer(t, topic, proxy.Addr(), func(m *gnsq.Message) error {
		cev.record(func() {
			cev.bodies = append(cev.bodies, string(m.Body))
			attempts[string(m.Body)] = int(m.Attempts)
		})
		return nil
	}, cev.consumerHooks(), newConfig(t, append([]string{"max_in_flight", "7"}, kv...)...))
	cev.await(t, 20*time.Second, "every message", func(e *events) bool { return len(e.bodies) >= len(published) })
	_, pdisc, perrs, _ := ev.snapshot()
	_, cdisc, cerrs, received := cev.snapshot()
	assert.Empty(t, append(pdisc, cdisc...), "no disconnect")
	assert.Empty(t, append(perrs, cerrs...), "no error")
	sort.Strings(received)
	sort.Strings(published)
	assert.Equal(t, published, received)
	out.Received = received
	cev.mu.Lock()
	for _, b := range received {
		out.Attempts = append(out.Attempts, attempts[b])
	}
	cev.mu.Unlock()
	if chunk == 1 {
		assert.GreaterOrEqual(t, proxy.Writes(faultproxy.Down), proxy.Bytes(faultproxy.Down), "one byte per write")
		assert.Greater(t, proxy.Bytes(faultproxy.Down), int64(1000))
	}
	return out
}

// R20: a stream cut into 1-byte writes both ways gives the same results
// as a clean link, plain, compressed and over TLS.
func TestR20OneByteFragmentsGiveIdenticalResults(t *testing.T) {
	files := nsqtest.GenerateTLS(t)
	nsqd := nsqtest.StartNsqd(t, "--tls-cert="+files.ServerCertFile, "--tls-key="+files.ServerKeyFile)
	for name, kv := range map[string][]string{
		"plain":   nil,
		"snappy":  {"snappy", "true"},
		"deflate": {"deflate", "true"},
		"tls":     {"tls_v1", "true", "tls_ca_file", files.CAFile, "snappy", "true"},
	} {
		t.Run(name, func(t *testing.T) {
			clean := r20Run(t, nsqd, 0, kv...)
			fragmented := r20Run(t, nsqd, 1, kv...)
			assert.Equal(t, clean, fragmented)
			assert.Len(t, clean.Responses, 13)
			for _, r := range clean.Responses {
				assert.Equal(t, "OK", r)
			}
			for _, a := range clean.Attempts {
				assert.Equal(t, 1, a, "no redelivery")
			}
		})
	}
}
