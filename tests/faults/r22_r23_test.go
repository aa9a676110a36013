package faults_test

import (
	"context"
	"errors"
	"fmt"
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

// R22: a slow link (200 ± 50 ms each way, 64 KB/s) with timeout 3 s and
// heartbeats every second: no spurious timeout, disconnect or error;
// everything published is consumed once; the transfer takes the time the
// bandwidth implies, not much more.
func TestR22SlowLinkNoSpuriousTimeouts(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	proxy := startProxy(t, nsqd.TCPAddr)
	const bandwidth = 64 << 10
	proxy.Set(faultproxy.Faults{Latency: 200 * time.Millisecond, Jitter: 50 * time.Millisecond, Bandwidth: bandwidth})
	topic := uniqueTopic("r22")
	kv := []string{"heartbeat_interval", "1", "timeout", "3", "dial_timeout", "2"}
	cev := newEvents()
	heartbeats := 0
	hooks := cev.consumerHooks()
	hooks.OnResponse = func(_ uint32, data []byte) {
		if string(data) == "_heartbeat_" {
			cev.record(func() { heartbeats++ })
		}
	}
	attempts := map[string]uint16{}
	startConsumer(t, topic, proxy.Addr(), func(m *gnsq.Message) error {
		cev.record(func() {
			cev.bodies = append(cev.bodies, string(m.Body))
			attempts[string(m.Body)] = m.Attempts
		})
		return nil
	}, hooks, newConfig(t, append(kv, "max_in_flight", "10")...))
	pev := newEvents()
	p := startProducer(t, proxy.Addr(), newConfig(t, kv...), pev.producerHooks())

	start := time.Now()
	total := 0
	var published []string
	var results []*gnsq.Result
	for batch := 0; batch < 4; batch++ {
		var bodies [][]byte
		for i := 0; i < 6; i++ {
			b := fmt.Sprintf("%d-%d-%s", batch, i, strings.Repeat("s", 4<<10))
			bodies = append(bodies, []byte(b))
			published = append(published, b)
			total += len(b)
		}
		r, err := p.MultiPublishAsync(ctxTimeout(t, 20*time.Second), topic, bodies, nil)
		require.NoError(t, err)
		results = append(results, r)
	}
	for _, r := range results {
		_, err := r.Wait(ctxTimeout(t, 20*time.Second))
		require.NoError(t, err)
	}
	published4 := time.Since(start)
	cev.await(t, 30*time.Second, "every message", func(e *events) bool { return len(e.bodies) >= len(published) })
	took := time.Since(start)
	ideal := time.Duration(total) * time.Second / bandwidth
	t.Logf("%d bytes: published in %v, consumed in %v (bandwidth alone: %v)", total, published4, took, ideal)
	assert.GreaterOrEqual(t, published4, ideal*8/10, "the link was slow")
	assert.Less(t, took, 4*ideal+3*time.Second, "no stall")

	// Idle: heartbeats keep arriving and being answered in time.
	cev.mu.Lock()
	seen := heartbeats
	cev.mu.Unlock()
	cev.await(t, 10*time.Second, "two more heartbeats", func(e *events) bool { return heartbeats >= seen+2 })
	_, cdisc, cerrs, bodies := cev.snapshot()
	_, pdisc, perrs, _ := pev.snapshot()
	assert.Empty(t, append(cdisc, pdisc...), "no disconnect")
	assert.Empty(t, append(cerrs, perrs...), "no error")
	assert.ElementsMatch(t, published, bodies, "each message once")
	cev.mu.Lock()
	for b, a := range attempts {
		assert.Equal(t, uint16(1), a, "no redelivery of %.8s", b)
	}
	cev.mu.Unlock()
}

// R23: connecting to an address that drops SYNs is bounded by
// dial_timeout: the connection, a producer's Start and a consumer's Start.
func TestR23ConnectToBlackholedAddressBoundedByDialTimeout(t *testing.T) {
	u, err := faultproxy.NewUnreachable()
	require.NoError(t, err)
	defer u.Close()
	cfg := newConfig(t, "dial_timeout", "0.3")
	bounded := func(what string, took time.Duration, err error) {
		t.Helper()
		assert.GreaterOrEqual(t, took, 250*time.Millisecond, what)
		assert.Less(t, took, 2500*time.Millisecond, what)
		var ne net.Error
		if assert.ErrorAs(t, err, &ne, "%s: %v", what, err) {
			assert.True(t, ne.Timeout(), "%s: %v", what, err)
		}
	}

	c, err := gnsq.NewNsqdTCPClient(u.Addr(), gnsq.WithConfig(cfg))
	require.NoError(t, err)
	var connErr error
	took := nsqtest.Within(t, 10*time.Second, "Connect", func() { connErr = c.Connect() })
	bounded("Connect", took, connErr)

	pev := newEvents()
	p, err := gnsq.NewProducer(gnsq.WithNsqd(u.Addr()), gnsq.WithConfig(cfg), gnsq.WithProducerHooks(pev.producerHooks()))
	require.NoError(t, err)
	took = nsqtest.Within(t, 10*time.Second, "Producer.Start", func() { assert.NoError(t, p.Start(context.Background())) })
	_, _, perrs, _ := pev.snapshot()
	require.NotEmpty(t, perrs, "the failed attempt is reported")
	bounded("Producer.Start", took, perrs[0])
	p.Close()
	assert.True(t, p.Join(5*time.Second))

	cev := newEvents()
	cons, err := gnsq.NewConsumer("r23", "ch", cev.handler, gnsq.WithNsqd(u.Addr()), gnsq.WithConfig(cfg), gnsq.WithConsumerHooks(cev.consumerHooks()))
	require.NoError(t, err)
	took = nsqtest.Within(t, 10*time.Second, "Consumer.Start", func() { assert.NoError(t, cons.Start(context.Background())) })
	_, _, cerrs, _ := cev.snapshot()
	require.NotEmpty(t, cerrs, "the failed attempt is reported")
	bounded("Consumer.Start", took, cerrs[0])
	cons.Close()
	assert.True(t, cons.Join(5*time.Second))
}

// R23: Close ends a dial in progress at once, whatever dial_timeout.
func TestR23CloseCutsShortADial(t *testing.T) {
	u, err := faultproxy.NewUnreachable()
	require.NoError(t, err)
	defer u.Close()
	p, err := gnsq.NewProducer(gnsq.WithNsqd(u.Addr()), gnsq.WithConfig(newConfig(t, "dial_timeout", "30")))
	require.NoError(t, err)
	started := make(chan struct{})
	go func() { defer close(started); p.Start(context.Background()) }()
	nsqtest.WaitFor(t, 5*time.Second, "the dial in progress", func() bool { return u.Pending() > 0 })
	nsqtest.Within(t, 2*time.Second, "Close", p.Close)
	nsqtest.Within(t, 2*time.Second, "Start after Close", func() { <-started })
	assert.True(t, p.Join(2*time.Second), "Join after Close")
	assert.Equal(t, 0, u.Pending(), "the dial was abandoned")
}

// A server that accepts and never answers IDENTIFY (the proxy in
// blackhole mode before a real nsqd): the setup fails within the
// handshake bound, max(dial_timeout, 1 s), also without heartbeats, and
// the failure is reported.
func TestR23SilentServerDuringIdentifyBoundedByHandshake(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	proxy := startProxy(t, nsqd.TCPAddr)
	proxy.Set(faultproxy.Faults{Blackhole: true})
	cfg := newConfig(t, "heartbeat_interval", "-1", "dial_timeout", "0.5")
	handshakeFailure := func(errs []error) error {
		for _, err := range errs {
			if strings.Contains(err.Error(), "handshake") {
				return err
			}
		}
		return errors.New("none")
	}

	pev := newEvents()
	p, err := gnsq.NewProducer(gnsq.WithNsqd(proxy.Addr()), gnsq.WithConfig(cfg), gnsq.WithProducerHooks(pev.producerHooks()))
	require.NoError(t, err)
	took := nsqtest.Within(t, 10*time.Second, "Producer.Start", func() { assert.NoError(t, p.Start(context.Background())) })
	assert.GreaterOrEqual(t, took, 900*time.Millisecond)
	assert.Less(t, took, 3*time.Second)
	_, _, perrs, _ := pev.snapshot()
	assert.NotEqual(t, "none", handshakeFailure(perrs).Error(), "%v", perrs)
	p.Close()
	assert.True(t, p.Join(5*time.Second))

	cev := newEvents()
	cons, err := gnsq.NewConsumer("r23", "ch", cev.handler, gnsq.WithNsqd(proxy.Addr()), gnsq.WithConfig(cfg), gnsq.WithConsumerHooks(cev.consumerHooks()))
	require.NoError(t, err)
	took = nsqtest.Within(t, 10*time.Second, "Consumer.Start", func() { assert.NoError(t, cons.Start(context.Background())) })
	assert.GreaterOrEqual(t, took, 900*time.Millisecond)
	assert.Less(t, took, 3*time.Second)
	_, _, cerrs, _ := cev.snapshot()
	assert.NotEqual(t, "none", handshakeFailure(cerrs).Error(), "%v", cerrs)
	cons.Close()
	assert.True(t, cons.Join(5*time.Second))
}

// A silent server during IDENTIFY with a long handshake bound: Close
// ends the handshake in progress at once, Start returns and Join is true.
func TestR23CloseCutsShortASilentHandshake(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	proxy := startProxy(t, nsqd.TCPAddr)
	proxy.Set(faultproxy.Faults{Blackhole: true})
	cfg := newConfig(t, "heartbeat_interval", "-1", "dial_timeout", "30")

	t.Run("producer", func(t *testing.T) {
		p, err := gnsq.NewProducer(gnsq.WithNsqd(proxy.Addr()), gnsq.WithConfig(cfg))
		require.NoError(t, err)
		accepted := proxy.Accepted()
		started := make(chan struct{})
		go func() { defer close(started); p.Start(context.Background()) }()
		nsqtest.WaitFor(t, 5*time.Second, "the connection at the proxy", func() bool { return proxy.Accepted() > accepted })
		nsqtest.Within(t, 2*time.Second, "Close", p.Close)
		nsqtest.Within(t, 2*time.Second, "Start after Close", func() { <-started })
		assert.True(t, p.Join(2*time.Second), "Join after Close")
		nsqtest.WaitFor(t, 5*time.Second, "the connection closed", func() bool { return proxy.Open() == 0 })
	})
	t.Run("consumer", func(t *testing.T) {
		c, err := gnsq.NewConsumer("r23", "ch", func(*gnsq.Message) error { return nil }, gnsq.WithNsqd(proxy.Addr()), gnsq.WithConfig(cfg))
		require.NoError(t, err)
		accepted := proxy.Accepted()
		started := make(chan struct{})
		go func() { defer close(started); c.Start(context.Background()) }()
		nsqtest.WaitFor(t, 5*time.Second, "the connection at the proxy", func() bool { return proxy.Accepted() > accepted })
		nsqtest.Within(t, 2*time.Second, "Close", c.Close)
		nsqtest.Within(t, 2*time.Second, "Start after Close", func() { <-started })
		assert.True(t, c.Join(2*time.Second), "Join after Close")
		nsqtest.WaitFor(t, 5*time.Second, "the connection closed", func() bool { return proxy.Open() == 0 })
	})
}
