package gnsq_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gnsq "github.com/libgnsq/libgnsq/core"
	"github.com/libgnsq/libgnsq/tests/nsqtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// R9: an nsqd found through lookupd that stops (and leaves lookupd) is not
// reconnected directly: only lookupd can bring it back.
func TestR9DiscoveredNsqdGoneIsNotReconnectedDirectly(t *testing.T) {
	lookupd := nsqtest.StartLookupd(t)
	nsqd := nsqtest.StartNsqd(t, "--lookupd-tcp-address="+lookupd.TCPAddr)
	topic := uniqueTopic("r9")
	publishBodies(t, nsqd.TCPAddr, topic, "r9", 1)
	var got atomic.Int32
	startConsumer(t, topic, "ch", nil, []string{lookupd.HTTPAddr}, func(*gnsq.Message) error {
		got.Add(1)
		return nil
	}, gnsq.ConsumerHooks{}, "lookupd_poll_interval", "0.05", "max_backoff_duration", "1")
	nsqtest.WaitFor(t, 10*time.Second, "the message through lookupd", func() bool { return got.Load() == 1 })
	nsqd.Stop() // SIGTERM: nsqd leaves lookupd
	l, err := gnsq.LookupdClientFromURL(lookupd.HTTPAddr)
	require.NoError(t, err)
	nsqtest.WaitFor(t, 10*time.Second, "lookupd to forget the nsqd", func() bool {
		raw, err := l.Lookup(ctxTimeout(t, time.Second), topic)
		return err != nil || !strings.Contains(string(raw), nsqd.TCPAddr[len("127.0.0.1:"):])
	})
	// Listen where the nsqd was, counting connection attempts.
	ln, err := net.Listen("tcp", nsqd.TCPAddr)
	require.NoError(t, err)
	defer ln.Close()
	var attempts atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			attempts.Add(1)
			c.Close()
		}
	}()
	// Absence can only be watched: 20 lookupd polls and several reconnect
	// backoffs (max 1 s) pass without a direct attempt.
	time.Sleep(1500 * time.Millisecond)
	assert.Zero(t, attempts.Load(), "connection attempts to the nsqd lookupd no longer lists")
}

// R10: the first lookupd poll after Start waits U(0, interval x jitter),
// so consumers started together do not poll in lockstep.
func TestR10LookupdPollJitter(t *testing.T) {
	var mu sync.Mutex
	polls := map[string][]time.Time{} // topic -> request times
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		polls[r.URL.Query().Get("topic")] = append(polls[r.URL.Query().Get("topic")], time.Now())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"channels":[],"producers":[]}`))
	}))
	defer fake.Close()
	const interval, jitter, consumers = 200 * time.Millisecond, 0.5, 5
	topics := make([]string, consumers)
	for i := range topics {
		topics[i] = uniqueTopic("r10") + string(rune('a'+i))
		startConsumer(t, topics[i], "ch", nil, []string{fake.URL}, func(*gnsq.Message) error { return nil },
			gnsq.ConsumerHooks{}, "lookupd_poll_interval", "0.2", "lookupd_poll_jitter", "0.5")
	}
	nsqtest.WaitFor(t, 5*time.Second, "two polls per consumer", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, topic := range topics {
			if len(polls[topic]) < 2 {
				return false
			}
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	var first, last time.Duration
	for i, topic := range topics {
		delay := polls[topic][1].Sub(polls[topic][0]) // Start's query, then the first poll
		assert.LessOrEqual(t, delay, time.Duration(float64(interval)*jitter)+100*time.Millisecond, topic)
		if i == 0 || delay < first {
			first = delay
		}
		if delay > last {
			last = delay
		}
	}
	assert.Greater(t, last-first, time.Millisecond, "the first polls are spread, not in lockstep")
}
