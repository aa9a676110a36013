// Package faults_test runs the client against a real nsqd through the
// fault proxy (tests/faultproxy): the network-fault items R18-R23 of the
// reliability list.
package faults_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	gnsq "github.com/libgnsq/libgnsq/core"
	"github.com/libgnsq/libgnsq/tests/faultproxy"
	"github.com/libgnsq/libgnsq/tests/nsqtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newConfig(t testing.TB, kv ...string) *gnsq.Config {
	t.Helper()
	cfg := gnsq.NewConfig()
	cfg.Logger = nsqtest.Logger(t)
	for i := 0; i < len(kv); i += 2 {
		require.NoError(t, cfg.Set(kv[i], kv[i+1]))
	}
	return cfg
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func uniqueTopic(prefix string) string { return fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano()) }

func startProxy(t testing.TB, target string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.New(target)
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	return p
}

func startProducer(t testing.TB, addr string, cfg *gnsq.Config, hooks gnsq.ProducerHooks) *gnsq.Producer {
	t.Helper()
	p, err := gnsq.NewProducer(gnsq.WithNsqd(addr), gnsq.WithConfig(cfg), gnsq.WithProducerHooks(hooks))
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	t.Cleanup(func() {
		p.Close()
		assert.True(t, p.Join(5*time.Second), "producer goroutines exit after Close")
	})
	return p
}

func startConsumer(t testing.TB, topic, addr string, h gnsq.Handler, hooks gnsq.ConsumerHooks, cfg *gnsq.Config) *gnsq.Consumer {
	t.Helper()
	c, err := gnsq.NewConsumer(topic, "ch", h, gnsq.WithNsqd(addr), gnsq.WithConfig(cfg), gnsq.WithConsumerHooks(hooks))
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(func() {
		c.Close()
		assert.True(t, c.Join(5*time.Second), "consumer goroutines exit after Close")
	})
	return c
}

// publish publishes bodies to nsqd directly (not through a proxy).
func publish(t testing.TB, nsqd *nsqtest.Server, topic string, bodies ...string) {
	t.Helper()
	p, err := gnsq.NewProducer(gnsq.WithNsqd(nsqd.TCPAddr))
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	defer p.Close()
	for _, b := range bodies {
		err := p.Publish(ctxTimeout(t, 10*time.Second), topic, []byte(b))
		require.NoError(t, err)
	}
}

// topicCount is nsqd's message_count of topic (0 if absent).
func topicCount(t testing.TB, nsqd *nsqtest.Server, topic string) int {
	t.Helper()
	c, err := gnsq.NsqdHTTPClientFromURL(nsqd.HTTPAddr)
	require.NoError(t, err)
	raw, err := c.Stats(ctxTimeout(t, 5*time.Second), topic, "")
	require.NoError(t, err)
	var s struct {
		Topics []struct {
			Name         string `json:"topic_name"`
			MessageCount int    `json:"message_count"`
		} `json:"topics"`
	}
	require.NoError(t, json.Unmarshal(raw, &s))
	for _, tp := range s.Topics {
		if tp.Name == topic {
			return tp.MessageCount
		}
	}
	return 0
}

// events collects a client's hook calls for the test to await.
type events struct {
	mu          sync.Mutex
	connects    int
	disconnects []error
	errs        []error
	bodies      []string
	changed     chan struct{}
}

func newEvents() *events { return &events{changed: make(chan struct{}, 1)} }

func (e *events) record(f func()) {
	e.mu.Lock()
	f()
	e.mu.Unlock()
	select {
	case e.changed <- struct{}{}:
	default:
	}
}

func (e *events) consumerHooks() gnsq.ConsumerHooks {
	return gnsq.ConsumerHooks{
		OnConnect:    func(uint32, string) { e.record(func() { e.connects++ }) },
		OnDisconnect: func(_ uint32, _ string, err error) { e.record(func() { e.disconnects = append(e.disconnects, err) }) },
		OnError:      func(_ uint32, err error) { e.record(func() { e.errs = append(e.errs, err) }) },
	}
}

func (e *events) producerHooks() gnsq.ProducerHooks {
	return gnsq.ProducerHooks{
		OnConnect:    func(uint32, string) { e.record(func() { e.connects++ }) },
		OnDisconnect: func(_ uint32, _ string, err error) { e.record(func() { e.disconnects = append(e.disconnects, err) }) },
		OnError:      func(_ uint32, err error) { e.record(func() { e.errs = append(e.errs, err) }) },
	}
}

func (e *events) handler(m *gnsq.Message) error {
	e.record(func() { e.bodies = append(e.bodies, string(m.Body)) })
	return nil
}

// await waits until cond (called under the lock) holds.
func (e *events) await(t testing.TB, timeout time.Duration, what string, cond func(e *events) bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		e.mu.Lock()
		ok := cond(e)
		e.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-e.changed:
		case <-deadline.C:
			e.mu.Lock()
			defer e.mu.Unlock()
			t.Fatalf("timed out after %v waiting for %s (connects %d, disconnects %v, errors %v, %d bodies)", timeout, what, e.connects, e.disconnects, e.errs, len(e.bodies))
		}
	}
}

func (e *events) snapshot() (connects int, disconnects, errs []error, bodies []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.connects, append([]error(nil), e.disconnects...), append([]error(nil), e.errs...), append([]string(nil), e.bodies...)
}

func (e *events) has(body string) bool {
	for _, b := range e.bodies {
		if b == body {
			return true
		}
	}
	return false
}

