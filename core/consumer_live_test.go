package gnsq_test

import (
	"context"
	"encoding/json"
	"fmt"
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

// received records message bodies and how often each arrived.
type received struct {
	mu     sync.Mutex
	counts map[string]int
	total  int
}

func newReceived() *received { return &received{counts: map[string]int{}} }

func (r *received) add(body []byte) {
	r.mu.Lock()
	r.counts[string(body)]++
	r.total++
	r.mu.Unlock()
}

func (r *received) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.counts)
}

// missing returns the bodies of want never received.
func (r *received) missing(want []string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, w := range want {
		if r.counts[w] == 0 {
			out = append(out, w)
		}
	}
	return out
}

func (r *received) duplicates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total - len(r.counts)
}

// publishBodies MPUBs n distinct bodies "<prefix>-<i>" and returns them.
func publishBodies(t testing.TB, addr, topic, prefix string, n int) []string {
	t.Helper()
	p := startProducer(t, []string{addr}, newConfig(t))
	defer p.Close()
	var all []string
	for start := 0; start < n; start += 100 {
		var batch [][]byte
		for i := start; i < n && i < start+100; i++ {
			b := fmt.Sprintf("%s-%d", prefix, i)
			all = append(all, b)
			batch = append(batch, []byte(b))
		}
		err := p.MultiPublish(ctxTimeout(t, 10*time.Second), topic, batch)
		require.NoError(t, err)
	}
	return all
}

type channelStats struct {
	Depth        int `json:"depth"`
	InFlight     int `json:"in_flight_count"`
	TimeoutCount int `json:"timeout_count"`
	RequeueCount int `json:"requeue_count"`
	MessageCount int `json:"message_count"`
	Clients      []struct {
		ReadyCount int `json:"ready_count"`
		InFlight   int `json:"in_flight_count"`
	} `json:"clients"`
}

// statsOf returns nsqd's stats for topic/channel (zero if absent).
func statsOf(t testing.TB, nsqd *nsqtest.Server, topic, channel string) channelStats {
	t.Helper()
	c, err := gnsq.NsqdHTTPClientFromURL(nsqd.HTTPAddr)
	require.NoError(t, err)
	raw, err := c.Stats(ctxTimeout(t, 5*time.Second), topic, channel)
	require.NoError(t, err)
	var s struct {
		Topics []struct {
			Name     string `json:"topic_name"`
			Channels []struct {
				Name string `json:"channel_name"`
				channelStats
			} `json:"channels"`
		} `json:"topics"`
	}
	require.NoError(t, json.Unmarshal(raw, &s))
	for _, tp := range s.Topics {
		for _, ch := range tp.Channels {
			if tp.Name == topic && ch.Name == channel {
				return ch.channelStats
			}
		}
	}
	return channelStats{}
}

func startConsumer(t testing.TB, topic, channel string, nsqds, lookupds []string, h gnsq.Handler, hooks gnsq.ConsumerHooks, kv ...string) *gnsq.Consumer {
	t.Helper()
	c, err := gnsq.NewConsumer(topic, channel, h, gnsq.WithNsqd(nsqds...), gnsq.WithLookupd(lookupds...), gnsq.WithConfig(newConfig(t, kv...)), gnsq.WithConsumerHooks(hooks))
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background()))
	t.Cleanup(func() {
		c.Close()
		assert.True(t, c.Join(10*time.Second), "consumer goroutines exit after Close")
	})
	return c
}

func TestConsumerLiveRoundTrip(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	topic := uniqueTopic("live")
	want := publishBodies(t, nsqd.TCPAddr, topic, "m", 3000)
	got := newReceived()
	var finishes atomic.Int32
	c := startConsumer(t, topic, "ch", []string{nsqd.TCPAddr}, nil, func(m *gnsq.Message) error {
		got.add(m.Body)
		return nil
	}, gnsq.ConsumerHooks{OnFinish: func(uint32, gnsq.MessageID) { finishes.Add(1) }}, "max_in_flight", "200")
	assert.True(t, c.IsRunning())
	nsqtest.WaitFor(t, 30*time.Second, "every message", func() bool { return got.distinct() == len(want) })
	assert.Empty(t, got.missing(want))
	nsqtest.WaitFor(t, 10*time.Second, "everything finished on nsqd", func() bool {
		s := statsOf(t, nsqd, topic, "ch")
		return s.Depth == 0 && s.InFlight == 0 && finishes.Load() >= int32(len(want))
	})
	s := statsOf(t, nsqd, topic, "ch")
	require.Len(t, s.Clients, 1)
	assert.Equal(t, 200, s.Clients[0].ReadyCount)
	assert.Equal(t, 200, c.TotalReadyCount())
	assert.Equal(t, []string{nsqd.TCPAddr}, c.Connections())
}

// ensureTimeoutScanning waits until nsqd checks topic/channel for message
// timeouts. nsqd refreshes the list of channels it scans only every 5 s,
// so a brand-new channel's messages may outlive msg_timeout for a while: the
// channel is created first, then a probe message on a channel created
// after it is left to time out; once it has, the refresh included both.
func ensureTimeoutScanning(t *testing.T, nsqd *nsqtest.Server, topic, channel string) {
	t.Helper()
	http, err := gnsq.NsqdHTTPClientFromURL(nsqd.HTTPAddr)
	require.NoError(t, err)
	ctx := ctxTimeout(t, 5*time.Second)
	require.NoError(t, http.CreateTopic(ctx, topic))
	require.NoError(t, http.CreateChannel(ctx, topic, channel))
	probeTopic := topic + "_probe"
	publishBodies(t, nsqd.TCPAddr, probeTopic, "probe", 1)
	c, err := dial(t, nsqd.TCPAddr, newConfig(t, "msg_timeout", "1000"))
	require.NoError(t, err)
	require.NoError(t, c.Subscribe(probeTopic, "probe"))
	requireOK(t, c)
	require.NoError(t, c.Ready(1))
	require.Equal(t, gnsq.FrameTypeMessage, nextNonHeartbeat(t, c).Type)
	nsqtest.WaitFor(t, 15*time.Second, "nsqd scanning the new channels", func() bool {
		return statsOf(t, nsqd, probeTopic, "probe").TimeoutCount > 0
	})
	c.CloseStream()
}

// R11: a message held past msg_timeout is redelivered with attempts 2; the
// late FIN gets the non-fatal E_FIN_FAILED and the connection stays up.
func TestConsumerMessageTimeoutRedelivery(t *testing.T) {
	t.Parallel()
	nsqd := nsqtest.StartNsqd(t)
	topic := uniqueTopic("timeout")
	ensureTimeoutScanning(t, nsqd, topic, "ch")
	publishBodies(t, nsqd.TCPAddr, topic, "slow", 1)
	var attempts []uint16
	var mu sync.Mutex
	var finFailed, disconnects atomic.Int32
	startConsumer(t, topic, "ch", []string{nsqd.TCPAddr}, nil, func(m *gnsq.Message) error {
		mu.Lock()
		attempts = append(attempts, m.Attempts)
		mu.Unlock()
		if m.Attempts == 1 {
			// Hold the message until nsqd has timed it out.
			nsqtest.WaitFor(t, 10*time.Second, "nsqd timing the message out", func() bool {
				return statsOf(t, nsqd, topic, "ch").TimeoutCount == 1
			})
		}
		return nil
	}, gnsq.ConsumerHooks{
		OnError: func(_ uint32, err error) {
			if strings.Contains(err.Error(), "E_FIN_FAILED") {
				finFailed.Add(1)
			}
		},
		OnDisconnect: func(uint32, string, error) { disconnects.Add(1) },
	}, "max_in_flight", "1", "msg_timeout", "1000")
	nsqtest.WaitFor(t, 15*time.Second, "the late FIN's E_FIN_FAILED and the redelivery", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return finFailed.Load() == 1 && len(attempts) == 2
	})
	assert.Equal(t, []uint16{1, 2}, attempts)
	nsqtest.WaitFor(t, 5*time.Second, "the redelivery finished", func() bool {
		s := statsOf(t, nsqd, topic, "ch")
		return s.Depth == 0 && s.InFlight == 0
	})
	assert.Equal(t, int32(0), disconnects.Load(), "E_FIN_FAILED is not fatal")
	assert.Equal(t, 1, statsOf(t, nsqd, topic, "ch").TimeoutCount)
}

// R12: touching every 500 ms keeps a 3 s job alive under a 1 s msg_timeout.
func TestConsumerTouchKeepsMessageAlive(t *testing.T) {
	t.Parallel()
	nsqd := nsqtest.StartNsqd(t)
	topic := uniqueTopic("touch")
	ensureTimeoutScanning(t, nsqd, topic, "ch")
	publishBodies(t, nsqd.TCPAddr, topic, "long", 1)
	var deliveries atomic.Int32
	startConsumer(t, topic, "ch", []string{nsqd.TCPAddr}, nil, func(m *gnsq.Message) error {
		deliveries.Add(1)
		for i := 0; i < 6; i++ {
			time.Sleep(500 * time.Millisecond) // the slow job being simulated
			assert.NoError(t, m.Touch())
		}
		return nil
	}, gnsq.ConsumerHooks{}, "max_in_flight", "1", "msg_timeout", "1000")
	nsqtest.WaitFor(t, 15*time.Second, "the message finished", func() bool {
		s := statsOf(t, nsqd, topic, "ch")
		return deliveries.Load() == 1 && s.Depth == 0 && s.InFlight == 0
	})
	s := statsOf(t, nsqd, topic, "ch")
	assert.Equal(t, 0, s.TimeoutCount, "never timed out")
	assert.Equal(t, int32(1), deliveries.Load(), "delivered once")
}

// R13: a slow consumer never has more than max_in_flight in flight.
func TestConsumerSlowStaysBounded(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	topic := uniqueTopic("slow")
	want := publishBodies(t, nsqd.TCPAddr, topic, "s", 400)
	got := newReceived()
	c := startConsumer(t, topic, "ch", []string{nsqd.TCPAddr}, nil, func(m *gnsq.Message) error {
		time.Sleep(5 * time.Millisecond) // a slow handler
		got.add(m.Body)
		return nil
	}, gnsq.ConsumerHooks{}, "max_in_flight", "10")
	maxSeen, maxClient := 0, 0
	for got.distinct() < len(want) {
		s := statsOf(t, nsqd, topic, "ch")
		maxSeen = max(maxSeen, s.InFlight)
		maxClient = max(maxClient, c.TotalInFlight(), c.TotalReadyCount())
		time.Sleep(10 * time.Millisecond) // sampling period
	}
	assert.LessOrEqual(t, maxSeen, 10, "nsqd's in-flight count")
	assert.LessOrEqual(t, maxClient, 10, "the client's in-flight and RDY")
	assert.Greater(t, maxSeen, 0)
}

// R15: three nsqd and max_in_flight 1: all deliver, the RDY sum stays <= 1.
func TestConsumerMaxInFlightBelowConnections(t *testing.T) {
	var nsqds []*nsqtest.Server
	var addrs, want []string
	topic := uniqueTopic("rotate")
	for i := 0; i < 3; i++ {
		n := nsqtest.StartNsqd(t)
		nsqds = append(nsqds, n)
		addrs = append(addrs, n.TCPAddr)
		want = append(want, publishBodies(t, n.TCPAddr, topic, fmt.Sprintf("n%d", i), 5)...)
	}
	got := newReceived()
	c := startConsumer(t, topic, "ch", addrs, nil, func(m *gnsq.Message) error {
		got.add(m.Body)
		return nil
	}, gnsq.ConsumerHooks{}, "max_in_flight", "1", "rdy_redistribute_interval", "0.1")
	var over atomic.Int32
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if c.TotalReadyCount() > 1 {
				over.Add(1)
			}
			time.Sleep(200 * time.Microsecond) // sampling period
		}
	}()
	nsqtest.WaitFor(t, 30*time.Second, "messages from all three nsqd", func() bool { return got.distinct() == len(want) })
	close(stop)
	<-sampled
	assert.Empty(t, got.missing(want))
	assert.Equal(t, int32(0), over.Load(), "total RDY exceeded max_in_flight")
	for _, n := range nsqds {
		s := statsOf(t, n, topic, "ch")
		assert.Equal(t, 0, s.Depth)
	}
}

// R1: nsqd stopped with SIGTERM mid-consume and restarted on the same data:
// every message arrives at least once.
func TestConsumerNsqdSigtermRestart(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	topic := uniqueTopic("sigterm")
	want := publishBodies(t, nsqd.TCPAddr, topic, "r1", 5000)
	got := newReceived()
	var disconnects atomic.Int32
	c := startConsumer(t, topic, "ch", []string{nsqd.TCPAddr}, nil, func(m *gnsq.Message) error {
		got.add(m.Body)
		if got.distinct() < 2000 {
			time.Sleep(100 * time.Microsecond) // keep the first part slow enough to stop in the middle
		}
		return nil
	}, gnsq.ConsumerHooks{OnDisconnect: func(uint32, string, error) { disconnects.Add(1) }},
		"max_in_flight", "100", "max_backoff_duration", "1")
	nsqtest.WaitFor(t, 30*time.Second, "a part consumed", func() bool { return got.distinct() >= 1000 })
	nsqd.Stop()
	before := got.distinct()
	nsqd.Start()
	nsqtest.WaitFor(t, 60*time.Second, "every message after the restart", func() bool { return got.distinct() == len(want) })
	assert.Empty(t, got.missing(want))
	assert.Less(t, before, len(want), "nsqd was stopped mid-consume")
	assert.GreaterOrEqual(t, disconnects.Load(), int32(1))
	assert.Equal(t, []string{nsqd.TCPAddr}, c.Connections())
	t.Logf("stopped after %d of %d; %d duplicates", before, len(want), got.duplicates())
}

// R2: nsqd SIGKILLed and restarted: the consumer reconnects and receives
// what is published afterwards.
func TestConsumerNsqdSigkillRestart(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	topic := uniqueTopic("sigkill")
	publishBodies(t, nsqd.TCPAddr, topic, "before", 500)
	got := newReceived()
	var disconnects atomic.Int32
	startConsumer(t, topic, "ch", []string{nsqd.TCPAddr}, nil, func(m *gnsq.Message) error {
		got.add(m.Body)
		return nil
	}, gnsq.ConsumerHooks{OnDisconnect: func(uint32, string, error) { disconnects.Add(1) }},
		"max_in_flight", "50", "max_backoff_duration", "1")
	nsqtest.WaitFor(t, 30*time.Second, "some consumed", func() bool { return got.distinct() >= 100 })
	nsqd.Kill()
	nsqtest.WaitFor(t, 10*time.Second, "the disconnect", func() bool { return disconnects.Load() == 1 })
	nsqd.Start()
	want := publishBodies(t, nsqd.TCPAddr, topic, "after", 300)
	nsqtest.WaitFor(t, 30*time.Second, "what was published after the restart", func() bool {
		return len(got.missing(want)) == 0
	})
	assert.Equal(t, int32(1), disconnects.Load(), "one disconnect signal")
}

// R4: Close during reconnect backoff ends every reconnect attempt.
func TestConsumerCloseStopsReconnecting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var accepts atomic.Int32
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepts.Add(1)
			conn.Close() // a dying nsqd: every attempt fails
		}
	}()
	c, err := gnsq.NewConsumer("t", "c", func(*gnsq.Message) error { return nil }, gnsq.WithNsqd(ln.Addr().String()), gnsq.WithConfig(newConfig(t, "max_backoff_duration", "0.3")))
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background()))
	nsqtest.WaitFor(t, 10*time.Second, "several reconnect attempts", func() bool { return accepts.Load() >= 3 })
	start := time.Now()
	c.Close()
	assert.Less(t, time.Since(start), time.Second)
	require.True(t, c.Join(5*time.Second))
	after := accepts.Load()
	time.Sleep(2 * time.Second) // observation window: any surviving loop would reconnect within 1 s
	assert.Equal(t, after, accepts.Load(), "no connection attempt after Close")
}

// R6: lookupd down at start, then up: start succeeds, errors are reported,
// consumption begins after lookupd appears.
func TestConsumerLookupdDownThenUp(t *testing.T) {
	lookupdHTTP := fmt.Sprintf("127.0.0.1:%d", nsqtest.FreePort(t))
	var errs atomic.Int32
	got := newReceived()
	topic := uniqueTopic("lookupd_late")
	startConsumer(t, topic, "ch", nil, []string{lookupdHTTP}, func(m *gnsq.Message) error {
		got.add(m.Body)
		return nil
	}, gnsq.ConsumerHooks{OnError: func(uint32, error) { errs.Add(1) }},
		"lookupd_poll_interval", "0.2", "lookupd_request_timeout", "1")
	nsqtest.WaitFor(t, 10*time.Second, "poll errors reported", func() bool { return errs.Load() >= 2 })
	lookupd := nsqtest.StartLookupdAt(t, lookupdHTTP)
	nsqd := nsqtest.StartNsqd(t, "--lookupd-tcp-address="+lookupd.TCPAddr)
	want := publishBodies(t, nsqd.TCPAddr, topic, "late", 50)
	nsqtest.WaitFor(t, 20*time.Second, "messages through lookupd", func() bool { return got.distinct() == len(want) })
}

// R7: a blackholed lookupd (accepts, never answers) costs one timeout per
// poll and does not disturb an existing nsqd connection.
func TestConsumerLookupdBlackholed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, conn) // never answered
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	nsqd := nsqtest.StartNsqd(t)
	topic := uniqueTopic("blackhole")
	var timeouts atomic.Int32
	got := newReceived()
	startConsumer(t, topic, "ch", []string{nsqd.TCPAddr}, []string{ln.Addr().String()}, func(m *gnsq.Message) error {
		got.add(m.Body)
		return nil
	}, gnsq.ConsumerHooks{OnError: func(_ uint32, err error) {
		if strings.Contains(err.Error(), "deadline exceeded") {
			timeouts.Add(1)
		}
	}}, "lookupd_poll_interval", "0.1", "lookupd_request_timeout", "0.3", "max_in_flight", "10")
	want := publishBodies(t, nsqd.TCPAddr, topic, "bh", 200)
	nsqtest.WaitFor(t, 20*time.Second, "messages while lookupd hangs", func() bool { return got.distinct() == len(want) })
	nsqtest.WaitFor(t, 10*time.Second, "polls timing out", func() bool { return timeouts.Load() >= 3 })
}

// R8: lookupd answering garbage: an error per poll, no crash, the nsqd
// connection kept.
func TestConsumerLookupdGarbage(t *testing.T) {
	answers := []func(w http.ResponseWriter){
		func(w http.ResponseWriter) { http.Error(w, "boom", 500) },
		func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte("{not json"))
		},
		func(w http.ResponseWriter) { w.Write([]byte("plain text")) },
		func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"channels": []}`))
		},
		func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"producers": [{"broadcast_address": "127.0.0.1", "tcp_port": 99999}]}`))
		},
	}
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answers[int(n.Add(1)-1)%len(answers)](w)
	}))
	defer srv.Close()
	nsqd := nsqtest.StartNsqd(t)
	topic := uniqueTopic("garbage")
	var errs atomic.Int32
	got := newReceived()
	c := startConsumer(t, topic, "ch", []string{nsqd.TCPAddr}, []string{srv.URL}, func(m *gnsq.Message) error {
		got.add(m.Body)
		return nil
	}, gnsq.ConsumerHooks{OnError: func(uint32, error) { errs.Add(1) }}, "lookupd_poll_interval", "0.05", "max_in_flight", "10")
	nsqtest.WaitFor(t, 10*time.Second, "every kind of garbage served twice", func() bool { return n.Load() >= 10 })
	want := publishBodies(t, nsqd.TCPAddr, topic, "g", 100)
	nsqtest.WaitFor(t, 20*time.Second, "messages despite the garbage", func() bool { return got.distinct() == len(want) })
	assert.GreaterOrEqual(t, errs.Load(), int32(6), "500, bad JSON, text and a bad port are errors")
	assert.Equal(t, []string{nsqd.TCPAddr}, c.Connections())
}

// A cluster on loopback: 3 nsqd and 2 nsqlookupd; one consumer through
// lookupd gets every message; a stopped nsqd and a new one are handled.
func TestConsumerClusterThroughLookupd(t *testing.T) {
	l1, l2 := nsqtest.StartLookupd(t), nsqtest.StartLookupd(t)
	flags := []string{"--lookupd-tcp-address=" + l1.TCPAddr, "--lookupd-tcp-address=" + l2.TCPAddr}
	topic := uniqueTopic("cluster")
	var nsqds []*nsqtest.Server
	var want []string
	for i := 0; i < 3; i++ {
		n := nsqtest.StartNsqd(t, flags...)
		nsqds = append(nsqds, n)
		want = append(want, publishBodies(t, n.TCPAddr, topic, fmt.Sprintf("c%d", i), 300)...)
	}
	got := newReceived()
	c := startConsumer(t, topic, "ch", nil, []string{"http://" + l1.HTTPAddr, l2.HTTPAddr}, func(m *gnsq.Message) error {
		got.add(m.Body)
		return nil
	}, gnsq.ConsumerHooks{}, "lookupd_poll_interval", "0.2", "max_in_flight", "60")
	nsqtest.WaitFor(t, 30*time.Second, "every message of the three nsqd", func() bool { return got.distinct() == len(want) })
	assert.Empty(t, got.missing(want))
	assert.Len(t, c.Connections(), 3)

	nsqds[0].Stop()
	nsqtest.WaitFor(t, 10*time.Second, "the stopped nsqd dropped", func() bool { return len(c.Connections()) == 2 })
	fourth := nsqtest.StartNsqd(t, flags...)
	more := publishBodies(t, fourth.TCPAddr, topic, "c3", 100)
	nsqtest.WaitFor(t, 30*time.Second, "messages of the new nsqd", func() bool { return len(got.missing(more)) == 0 })
	assert.Len(t, c.Connections(), 3)
	assert.NotContains(t, c.Connections(), nsqds[0].TCPAddr)
}

// Close writes out the FINs of messages already handled: nothing handled
// before Close comes back. Close is called from OnFinish of the last
// message, while its FIN sits in the output buffer.
func TestConsumerCloseKeepsAnswersGiven(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	topic := uniqueTopic("closefin")
	publishBodies(t, nsqd.TCPAddr, topic, "f", 500)
	var finished atomic.Int32
	var c *gnsq.Consumer
	c, err := gnsq.NewConsumer(topic, "ch", func(m *gnsq.Message) error {
		return nil
	}, gnsq.WithNsqd(nsqd.TCPAddr), gnsq.WithConfig(newConfig(t, "max_in_flight", "1000")),
		gnsq.WithConsumerHooks(gnsq.ConsumerHooks{OnFinish: func(uint32, gnsq.MessageID) {
			if finished.Add(1) == 500 {
				c.Close()
			}
		}}))
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background()))
	require.True(t, c.Join(20*time.Second))
	require.Equal(t, int32(500), finished.Load())
	nsqtest.WaitFor(t, 5*time.Second, "nsqd to see every FIN", func() bool {
		s := statsOf(t, nsqd, topic, "ch")
		return s.Depth == 0 && s.InFlight == 0
	})
}

// Run blocks until its context ends, then drains: what was received is
// handled and finished, nothing stays in flight, and the rest stays queued.
// Closed instead, Run returns nil.
func TestConsumerRunDrainsWhenItsContextEnds(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	topic := uniqueTopic("run")
	publishBodies(t, nsqd.TCPAddr, topic, "r", 500)
	ctx, cancel := context.WithCancel(context.Background())
	var handled atomic.Int32
	c, err := gnsq.NewConsumer(topic, "ch", func(*gnsq.Message) error {
		if handled.Add(1) == 100 {
			cancel()
		}
		time.Sleep(time.Millisecond) // still handling what was received when ctx ends
		return nil
	}, gnsq.WithNsqd(nsqd.TCPAddr), gnsq.WithConfig(newConfig(t, "max_in_flight", "50")))
	require.NoError(t, err)
	ran := make(chan error, 1)
	go func() { ran <- c.Run(ctx) }()
	select {
	case err := <-ran:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	assert.False(t, c.IsRunning())
	s := statsOf(t, nsqd, topic, "ch")
	assert.Zero(t, s.InFlight, "drained: nothing left in flight")
	assert.Equal(t, 500, s.Depth+int(handled.Load()), "every message handled or still queued, once")
	assert.Zero(t, s.RequeueCount)

	c2, err := gnsq.NewConsumer(topic, "ch", func(*gnsq.Message) error { return nil }, gnsq.WithNsqd(nsqd.TCPAddr))
	require.NoError(t, err)
	go func() { ran <- c2.Run(context.Background()) }()
	nsqtest.WaitFor(t, 10*time.Second, "c2 connected", func() bool { return len(c2.Connections()) == 1 })
	c2.Close()
	select {
	case err := <-ran:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after Close")
	}
}

func TestConstructorOptionsAreChecked(t *testing.T) {
	h := func(*gnsq.Message) error { return nil }
	var iae *gnsq.InvalidArgumentError
	_, err := gnsq.NewConsumer("t", "ch", h, gnsq.WithNsqd("127.0.0.1:4150"), gnsq.WithProducerHooks(gnsq.ProducerHooks{}))
	require.ErrorAs(t, err, &iae)
	assert.Contains(t, err.Error(), "WithProducerHooks does not apply to a Consumer")
	_, err = gnsq.NewNsqdTCPClient("127.0.0.1:4150", gnsq.WithNsqd("127.0.0.1:4151"))
	require.ErrorAs(t, err, &iae)
	_, err = gnsq.NewProducer(gnsq.WithNsqd("127.0.0.1:4150"), gnsq.Option{})
	require.ErrorAs(t, err, &iae)
	_, err = gnsq.NewProducer()
	require.ErrorAs(t, err, &iae)
	assert.Contains(t, err.Error(), "WithNsqd")
	bad := gnsq.NewConfig()
	bad.MaxInFlight = -1
	_, err = gnsq.NewConsumer("t", "ch", h, gnsq.WithNsqd("127.0.0.1:4150"), gnsq.WithConfig(bad))
	require.Error(t, err, "WithConfig's Config is validated")
	c, err := gnsq.NewConsumer("t", "ch", h, gnsq.WithNsqd("127.0.0.1:4150", "127.0.0.1:4150"), gnsq.WithNsqd("127.0.0.1:4152"))
	require.NoError(t, err, "WithNsqd adds up")
	c.Close()
}
