package gnsq_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	gnsq "github.com/libgnsq/libgnsq/core"
	"github.com/libgnsq/libgnsq/internal/protocol"
	"github.com/libgnsq/libgnsq/tests/nsqtest"
)

// ---- helpers ----

func htCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func htSplitAddr(t *testing.T, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	n, err := strconv.Atoi(p)
	require.NoError(t, err)
	return h, n
}

func htNewNsqdHTTP(t *testing.T, s *nsqtest.Server) *gnsq.NsqdHTTPClient {
	t.Helper()
	h, p := htSplitAddr(t, s.HTTPAddr)
	return gnsq.NewNsqdHTTPClient(h, p)
}

type htChannelStats struct {
	ChannelName   string `json:"channel_name"`
	Depth         int64  `json:"depth"`
	DeferredCount int    `json:"deferred_count"`
	MessageCount  uint64 `json:"message_count"`
	Paused        bool   `json:"paused"`
}

type htTopicStats struct {
	TopicName    string           `json:"topic_name"`
	Depth        int64            `json:"depth"`
	MessageCount uint64           `json:"message_count"`
	Paused       bool             `json:"paused"`
	Channels     []htChannelStats `json:"channels"`
}

type htNsqdStats struct {
	Version string         `json:"version"`
	Health  string         `json:"health"`
	Topics  []htTopicStats `json:"topics"`
}

func htGetStats(t *testing.T, c *gnsq.NsqdHTTPClient, topic, channel string) htNsqdStats {
	t.Helper()
	raw, err := c.Stats(htCtx(t), topic, channel)
	require.NoError(t, err)
	var s htNsqdStats
	require.NoError(t, json.Unmarshal(raw, &s), string(raw))
	return s
}

func htFindTopic(s htNsqdStats, topic string) *htTopicStats {
	for i := range s.Topics {
		if s.Topics[i].TopicName == topic {
			return &s.Topics[i]
		}
	}
	return nil
}

func htFindChannel(ts *htTopicStats, channel string) *htChannelStats {
	if ts == nil {
		return nil
	}
	for i := range ts.Channels {
		if ts.Channels[i].ChannelName == channel {
			return &ts.Channels[i]
		}
	}
	return nil
}

func htMustTopic(t *testing.T, c *gnsq.NsqdHTTPClient, topic string) htTopicStats {
	t.Helper()
	ts := htFindTopic(htGetStats(t, c, topic, ""), topic)
	require.NotNil(t, ts, "topic %s not in stats", topic)
	return *ts
}

func htMustChannel(t *testing.T, c *gnsq.NsqdHTTPClient, topic, channel string) htChannelStats {
	t.Helper()
	cs := htFindChannel(htFindTopic(htGetStats(t, c, topic, channel), topic), channel)
	require.NotNil(t, cs, "channel %s/%s not in stats", topic, channel)
	return *cs
}

func htRequireHTTPError(t *testing.T, err error, code int, msg string) {
	t.Helper()
	var he *gnsq.HTTPError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, code, he.StatusCode)
	assert.Equal(t, msg, he.Message)
}

// htConsumeRaw subscribes over the raw TCP protocol and returns the bodies
// of the first n messages.
func htConsumeRaw(t *testing.T, tcpAddr, topic, channel string, n int) [][]byte {
	t.Helper()
	conn, err := net.DialTimeout("tcp", tcpAddr, 5*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	_, err = conn.Write(protocol.MagicV2)
	require.NoError(t, err)
	_, err = fmt.Fprintf(conn, "SUB %s %s\n", topic, channel)
	require.NoError(t, err)
	f, err := protocol.ReadFrame(conn, protocol.DefaultMaxFrameSize)
	require.NoError(t, err)
	require.Equal(t, protocol.FrameTypeResponse, f.Type, string(f.Data))
	require.Equal(t, "OK", string(f.Data))
	_, err = fmt.Fprintf(conn, "RDY %d\n", n)
	require.NoError(t, err)
	var bodies [][]byte
	for len(bodies) < n {
		f, err := protocol.ReadFrame(conn, protocol.DefaultMaxFrameSize)
		require.NoError(t, err)
		if f.Type != protocol.FrameTypeMessage {
			continue // heartbeat
		}
		m, err := protocol.DecodeMessage(f.Data)
		require.NoError(t, err)
		bodies = append(bodies, append([]byte(nil), m.Body...))
	}
	return bodies
}

// ---- NsqdHTTPClient against a live nsqd ----

func TestNsqdHTTPPingInfo(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	c := htNewNsqdHTTP(t, nsqd)
	ctx := htCtx(t)

	assert.Equal(t, "http://"+nsqd.HTTPAddr+"/", c.Address())
	assert.Equal(t, "<NsqdHTTPClient 'http://"+nsqd.HTTPAddr+"/'>", c.String())
	assert.Equal(t, gnsq.DefaultHTTPTimeout, c.Timeout)

	pong, err := c.Ping(ctx)
	require.NoError(t, err)
	assert.Equal(t, "OK", string(pong))

	raw, err := c.Info(ctx)
	require.NoError(t, err)
	var info struct {
		Version  string `json:"version"`
		TCPPort  int    `json:"tcp_port"`
		HTTPPort int    `json:"http_port"`
	}
	require.NoError(t, json.Unmarshal(raw, &info), string(raw))
	assert.Equal(t, "1.3.0", info.Version)
	_, tcpPort := htSplitAddr(t, nsqd.TCPAddr)
	assert.Equal(t, tcpPort, info.TCPPort)
	assert.Equal(t, c.Port(), info.HTTPPort)

	s := htGetStats(t, c, "", "")
	assert.Equal(t, "1.3.0", s.Version)
	assert.Equal(t, "OK", s.Health)
}

func TestNsqdHTTPPublishStats(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	c := htNewNsqdHTTP(t, nsqd)
	ctx := htCtx(t)

	for i := 0; i < 3; i++ {
		resp, err := c.Publish(ctx, "pub_topic", []byte("msg "+strconv.Itoa(i)), 0)
		require.NoError(t, err)
		assert.Equal(t, "OK", string(resp))
	}
	ts := htMustTopic(t, c, "pub_topic")
	assert.EqualValues(t, 3, ts.Depth)
	assert.EqualValues(t, 3, ts.MessageCount)

	// The messages are the ones published, in order.
	bodies := htConsumeRaw(t, nsqd.TCPAddr, "pub_topic", "reader", 3)
	assert.Equal(t, [][]byte{[]byte("msg 0"), []byte("msg 1"), []byte("msg 2")}, bodies)
}

func TestNsqdHTTPDeferredPublish(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	c := htNewNsqdHTTP(t, nsqd)
	ctx := htCtx(t)

	require.NoError(t, c.CreateTopic(ctx, "dpub"))
	require.NoError(t, c.CreateChannel(ctx, "dpub", "ch"))
	resp, err := c.Publish(ctx, "dpub", []byte("later"), 10*time.Minute)
	require.NoError(t, err)
	assert.Equal(t, "OK", string(resp))
	resp, err = c.Publish(ctx, "dpub", []byte("now"), 0)
	require.NoError(t, err)
	assert.Equal(t, "OK", string(resp))

	nsqtest.WaitFor(t, 5*time.Second, "deferred message in channel stats", func() bool {
		cs := htFindChannel(htFindTopic(htGetStats(t, c, "dpub", "ch"), "dpub"), "ch")
		return cs != nil && cs.DeferredCount == 1 && cs.Depth == 1
	})
	assert.EqualValues(t, 2, htMustTopic(t, c, "dpub").MessageCount)

	_, err = c.Publish(ctx, "dpub", []byte("x"), -time.Second)
	var ia *gnsq.InvalidArgumentError
	require.ErrorAs(t, err, &ia)
}

func TestNsqdHTTPMultiPublish(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	c := htNewNsqdHTTP(t, nsqd)
	ctx := htCtx(t)

	text := [][]byte{[]byte("one"), []byte("two"), []byte("three")}
	resp, err := c.MultiPublish(ctx, "mpub_text", text, false)
	require.NoError(t, err)
	assert.Equal(t, "OK", string(resp))
	ts := htMustTopic(t, c, "mpub_text")
	assert.EqualValues(t, 3, ts.Depth)
	assert.EqualValues(t, 3, ts.MessageCount)
	assert.Equal(t, text, htConsumeRaw(t, nsqd.TCPAddr, "mpub_text", "reader", 3))

	// Text mode cannot carry "\n": rejected locally, nothing published.
	_, err = c.MultiPublish(ctx, "mpub_text", [][]byte{[]byte("ok"), []byte("a\nb")}, false)
	var ia *gnsq.InvalidArgumentError
	require.ErrorAs(t, err, &ia)
	assert.EqualValues(t, 3, htMustTopic(t, c, "mpub_text").MessageCount)

	binary := [][]byte{
		[]byte("line1\nline2\n"),
		{'n', 'u', 'l', 0, 'x', 0},
		{0xff, 0xfe, 0x00, 0xff},
		[]byte("\n"),
	}
	resp, err = c.MultiPublish(ctx, "mpub_bin", binary, true)
	require.NoError(t, err)
	assert.Equal(t, "OK", string(resp))
	ts = htMustTopic(t, c, "mpub_bin")
	assert.EqualValues(t, 4, ts.Depth)
	assert.EqualValues(t, 4, ts.MessageCount)
	assert.Equal(t, binary, htConsumeRaw(t, nsqd.TCPAddr, "mpub_bin", "reader", 4))
}

func TestNsqdHTTPTopicLifecycle(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	c := htNewNsqdHTTP(t, nsqd)
	ctx := htCtx(t)
	const topic = "life_topic"

	require.Nil(t, htFindTopic(htGetStats(t, c, "", ""), topic))
	require.NoError(t, c.CreateTopic(ctx, topic))
	ts := htMustTopic(t, c, topic)
	assert.EqualValues(t, 0, ts.Depth)
	assert.False(t, ts.Paused)

	// Paused: messages stay at the topic even though a channel exists.
	require.NoError(t, c.CreateChannel(ctx, topic, "ch"))
	require.NoError(t, c.PauseTopic(ctx, topic))
	assert.True(t, htMustTopic(t, c, topic).Paused)
	for i := 0; i < 2; i++ {
		_, err := c.Publish(ctx, topic, []byte("m"), 0)
		require.NoError(t, err)
	}
	ts = htMustTopic(t, c, topic)
	assert.EqualValues(t, 2, ts.Depth)
	assert.EqualValues(t, 0, htFindChannel(&ts, "ch").Depth)

	// Unpaused: they flow to the channel.
	require.NoError(t, c.UnpauseTopic(ctx, topic))
	assert.False(t, htMustTopic(t, c, topic).Paused)
	nsqtest.WaitFor(t, 5*time.Second, "messages to reach the channel", func() bool {
		ts := htFindTopic(htGetStats(t, c, topic, ""), topic)
		cs := htFindChannel(ts, "ch")
		return ts != nil && cs != nil && ts.Depth == 0 && cs.Depth == 2
	})

	// Empty drops what is queued at the topic.
	require.NoError(t, c.PauseTopic(ctx, topic))
	for i := 0; i < 3; i++ {
		_, err := c.Publish(ctx, topic, []byte("m"), 0)
		require.NoError(t, err)
	}
	assert.EqualValues(t, 3, htMustTopic(t, c, topic).Depth)
	require.NoError(t, c.EmptyTopic(ctx, topic))
	ts = htMustTopic(t, c, topic)
	assert.EqualValues(t, 0, ts.Depth)
	assert.EqualValues(t, 5, ts.MessageCount)

	require.NoError(t, c.DeleteTopic(ctx, topic))
	assert.Empty(t, htGetStats(t, c, topic, "").Topics)
	assert.Nil(t, htFindTopic(htGetStats(t, c, "", ""), topic))

	htRequireHTTPError(t, c.DeleteTopic(ctx, topic), 404, "TOPIC_NOT_FOUND")
	htRequireHTTPError(t, c.EmptyTopic(ctx, topic), 404, "TOPIC_NOT_FOUND")
	htRequireHTTPError(t, c.PauseTopic(ctx, topic), 404, "TOPIC_NOT_FOUND")
	htRequireHTTPError(t, c.UnpauseTopic(ctx, topic), 404, "TOPIC_NOT_FOUND")
}

func TestNsqdHTTPChannelLifecycle(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	c := htNewNsqdHTTP(t, nsqd)
	ctx := htCtx(t)
	const topic, channel = "life_chan", "ch1"

	require.NoError(t, c.CreateTopic(ctx, topic))
	require.NoError(t, c.CreateChannel(ctx, topic, channel))
	cs := htMustChannel(t, c, topic, channel)
	assert.False(t, cs.Paused)
	assert.EqualValues(t, 0, cs.Depth)

	require.NoError(t, c.PauseChannel(ctx, topic, channel))
	assert.True(t, htMustChannel(t, c, topic, channel).Paused)
	for i := 0; i < 2; i++ {
		_, err := c.Publish(ctx, topic, []byte("m"), 0)
		require.NoError(t, err)
	}
	nsqtest.WaitFor(t, 5*time.Second, "messages queued at the paused channel", func() bool {
		cs := htFindChannel(htFindTopic(htGetStats(t, c, topic, channel), topic), channel)
		return cs != nil && cs.Depth == 2
	})
	require.NoError(t, c.UnpauseChannel(ctx, topic, channel))
	assert.False(t, htMustChannel(t, c, topic, channel).Paused)

	require.NoError(t, c.EmptyChannel(ctx, topic, channel))
	cs = htMustChannel(t, c, topic, channel)
	assert.EqualValues(t, 0, cs.Depth)
	assert.EqualValues(t, 2, cs.MessageCount)

	require.NoError(t, c.DeleteChannel(ctx, topic, channel))
	ts := htMustTopic(t, c, topic)
	assert.Nil(t, htFindChannel(&ts, channel))

	htRequireHTTPError(t, c.DeleteChannel(ctx, topic, channel), 404, "CHANNEL_NOT_FOUND")
	htRequireHTTPError(t, c.EmptyChannel(ctx, topic, channel), 404, "CHANNEL_NOT_FOUND")
	htRequireHTTPError(t, c.PauseChannel(ctx, topic, channel), 404, "CHANNEL_NOT_FOUND")
	htRequireHTTPError(t, c.UnpauseChannel(ctx, topic, channel), 404, "CHANNEL_NOT_FOUND")
	htRequireHTTPError(t, c.DeleteChannel(ctx, "no_such_topic", channel), 404, "TOPIC_NOT_FOUND")
	htRequireHTTPError(t, c.CreateChannel(ctx, "no_such_topic", channel), 404, "TOPIC_NOT_FOUND")
}

func TestNsqdHTTPStatsFilters(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	c := htNewNsqdHTTP(t, nsqd)
	ctx := htCtx(t)

	for _, tc := range [][2]string{{"filt_a", "c1"}, {"filt_a", "c2"}, {"filt_b", "c1"}} {
		require.NoError(t, c.CreateTopic(ctx, tc[0]))
		require.NoError(t, c.CreateChannel(ctx, tc[0], tc[1]))
	}

	all := htGetStats(t, c, "", "")
	assert.NotNil(t, htFindTopic(all, "filt_a"))
	assert.NotNil(t, htFindTopic(all, "filt_b"))

	onlyA := htGetStats(t, c, "filt_a", "")
	require.Len(t, onlyA.Topics, 1)
	assert.Equal(t, "filt_a", onlyA.Topics[0].TopicName)
	assert.Len(t, onlyA.Topics[0].Channels, 2)

	aC2 := htGetStats(t, c, "filt_a", "c2")
	require.Len(t, aC2.Topics, 1)
	require.Len(t, aC2.Topics[0].Channels, 1)
	assert.Equal(t, "c2", aC2.Topics[0].Channels[0].ChannelName)

	assert.Empty(t, htGetStats(t, c, "filt_missing", "").Topics)

	text, err := c.StatsText(ctx, "filt_a", "")
	require.NoError(t, err)
	assert.False(t, json.Valid(text))
	assert.Contains(t, string(text), "filt_a")
	assert.Contains(t, string(text), "c1")
	assert.NotContains(t, string(text), "filt_b")

	text, err = c.StatsText(ctx, "", "")
	require.NoError(t, err)
	assert.Contains(t, string(text), "nsqd v1.3.0")
	assert.Contains(t, string(text), "filt_b")

	text, err = c.StatsText(ctx, "filt_a", "c2")
	require.NoError(t, err)
	assert.Contains(t, string(text), "c2")
	assert.NotContains(t, string(text), "c1")
}

func TestNsqdHTTPErrors(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t, "--max-msg-size=100")
	c := htNewNsqdHTTP(t, nsqd)
	ctx := htCtx(t)

	err := c.DeleteTopic(ctx, "missing")
	htRequireHTTPError(t, err, 404, "TOPIC_NOT_FOUND")
	assert.Equal(t, "gnsq: http error 404: TOPIC_NOT_FOUND", err.Error())

	_, err = c.Publish(ctx, "errs", nil, 0)
	htRequireHTTPError(t, err, 400, "MSG_EMPTY")
	_, err = c.Publish(ctx, "errs", make([]byte, 101), 0)
	htRequireHTTPError(t, err, 413, "MSG_TOO_BIG")
	_, err = c.MultiPublish(ctx, "errs", [][]byte{{}}, true)
	htRequireHTTPError(t, err, 413, "BAD_MESSAGE")
}

// ---- both clients, no nsqd needed ----

func TestHTTPInvalidNamesRejectedLocally(t *testing.T) {
	// Nothing listens on this port: only a local check can answer.
	closed := "127.0.0.1:" + strconv.Itoa(nsqtest.FreePort(t))
	nc, err := gnsq.NsqdHTTPClientFromURL("http://" + closed)
	require.NoError(t, err)
	lc, err := gnsq.LookupdClientFromURL("http://" + closed)
	require.NoError(t, err)
	ctx := htCtx(t)

	// Control: a real request fails with a connection error.
	_, err = nc.Ping(ctx)
	require.Error(t, err)
	var ine *gnsq.InvalidNameError
	require.False(t, errors.As(err, &ine))
	_, err = lc.Ping(ctx)
	require.Error(t, err)

	badTopics := []string{"", "bad topic", "a\nPUB x", "slash/topic", strings.Repeat("t", 65), "x#notephemeral"}
	for _, bt := range badTopics {
		calls := map[string]func() error{
			"Publish":        func() error { _, err := nc.Publish(ctx, bt, []byte("x"), 0); return err },
			"MultiPublish":   func() error { _, err := nc.MultiPublish(ctx, bt, [][]byte{[]byte("x")}, false); return err },
			"MultiPublishB":  func() error { _, err := nc.MultiPublish(ctx, bt, [][]byte{[]byte("x")}, true); return err },
			"CreateTopic":    func() error { return nc.CreateTopic(ctx, bt) },
			"DeleteTopic":    func() error { return nc.DeleteTopic(ctx, bt) },
			"EmptyTopic":     func() error { return nc.EmptyTopic(ctx, bt) },
			"PauseTopic":     func() error { return nc.PauseTopic(ctx, bt) },
			"UnpauseTopic":   func() error { return nc.UnpauseTopic(ctx, bt) },
			"CreateChannel":  func() error { return nc.CreateChannel(ctx, bt, "ok") },
			"DeleteChannel":  func() error { return nc.DeleteChannel(ctx, bt, "ok") },
			"EmptyChannel":   func() error { return nc.EmptyChannel(ctx, bt, "ok") },
			"PauseChannel":   func() error { return nc.PauseChannel(ctx, bt, "ok") },
			"UnpauseChannel": func() error { return nc.UnpauseChannel(ctx, bt, "ok") },
			"L.Lookup":       func() error { _, err := lc.Lookup(ctx, bt); return err },
			"L.Channels":     func() error { _, err := lc.Channels(ctx, bt); return err },
			"L.CreateTopic":  func() error { return lc.CreateTopic(ctx, bt) },
			"L.DeleteTopic":  func() error { return lc.DeleteTopic(ctx, bt) },
			"L.CreateChan":   func() error { return lc.CreateChannel(ctx, bt, "ok") },
			"L.DeleteChan":   func() error { return lc.DeleteChannel(ctx, bt, "ok") },
			"L.Tombstone":    func() error { return lc.TombstoneTopic(ctx, bt, "127.0.0.1:4151") },
		}
		if bt != "" { // an empty filter means "no filter"
			calls["Stats"] = func() error { _, err := nc.Stats(ctx, bt, ""); return err }
			calls["StatsText"] = func() error { _, err := nc.StatsText(ctx, bt, ""); return err }
		}
		for name, call := range calls {
			err := call()
			var ine *gnsq.InvalidNameError
			if assert.ErrorAs(t, err, &ine, "%s(%q)", name, bt) {
				assert.Equal(t, "topic", ine.Kind, name)
				assert.Equal(t, bt, ine.Name, name)
			}
		}
	}

	badChannels := []string{"", "bad chan", "ch\n", strings.Repeat("c", 65)}
	for _, bc := range badChannels {
		calls := map[string]func() error{
			"CreateChannel":  func() error { return nc.CreateChannel(ctx, "ok", bc) },
			"DeleteChannel":  func() error { return nc.DeleteChannel(ctx, "ok", bc) },
			"EmptyChannel":   func() error { return nc.EmptyChannel(ctx, "ok", bc) },
			"PauseChannel":   func() error { return nc.PauseChannel(ctx, "ok", bc) },
			"UnpauseChannel": func() error { return nc.UnpauseChannel(ctx, "ok", bc) },
			"L.CreateChan":   func() error { return lc.CreateChannel(ctx, "ok", bc) },
			"L.DeleteChan":   func() error { return lc.DeleteChannel(ctx, "ok", bc) },
		}
		if bc != "" {
			calls["Stats"] = func() error { _, err := nc.Stats(ctx, "ok", bc); return err }
			calls["StatsText"] = func() error { _, err := nc.StatsText(ctx, "", bc); return err }
		}
		for name, call := range calls {
			err := call()
			var ine *gnsq.InvalidNameError
			if assert.ErrorAs(t, err, &ine, "%s(%q)", name, bc) {
				assert.Equal(t, "channel", ine.Kind, name)
				assert.Equal(t, bc, ine.Name, name)
			}
		}
	}

	// Other local argument checks.
	var ia *gnsq.InvalidArgumentError
	_, err = nc.Publish(ctx, "ok", []byte("x"), -time.Millisecond)
	assert.ErrorAs(t, err, &ia)
	_, err = nc.MultiPublish(ctx, "ok", [][]byte{[]byte("a\n")}, false)
	assert.ErrorAs(t, err, &ia)
	for _, node := range []string{"", "nohostport", ":4151", "host:"} {
		assert.ErrorAs(t, lc.TombstoneTopic(ctx, "ok", node), &ia, node)
	}
}

// htHangingListener accepts TCP connections and never answers.
func htHangingListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go io.Copy(io.Discard, c) // read the request, never reply
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return l.Addr().String()
}

func TestHTTPTimeout(t *testing.T) {
	addr := htHangingListener(t)
	nc, err := gnsq.NsqdHTTPClientFromURL(addr)
	require.NoError(t, err)
	lc, err := gnsq.LookupdClientFromURL(addr)
	require.NoError(t, err)
	const timeout = 300 * time.Millisecond
	nc.Timeout, lc.Timeout = timeout, timeout

	check := func(name string, call func(context.Context) error, ctx context.Context) {
		t.Helper()
		start := time.Now()
		err := call(ctx)
		elapsed := time.Since(start)
		require.Error(t, err, name)
		assert.ErrorIs(t, err, context.DeadlineExceeded, name)
		var ne net.Error
		if assert.ErrorAs(t, err, &ne, name) {
			assert.True(t, ne.Timeout(), name)
		}
		assert.GreaterOrEqual(t, elapsed, timeout-50*time.Millisecond, name)
		assert.Less(t, elapsed, timeout+2*time.Second, name)
	}
	bg := context.Background()
	check("nsqd ping", func(ctx context.Context) error { _, err := nc.Ping(ctx); return err }, bg)
	check("nsqd publish", func(ctx context.Context) error { _, err := nc.Publish(ctx, "t", []byte("x"), 0); return err }, bg)
	check("lookupd lookup", func(ctx context.Context) error { _, err := lc.Lookup(ctx, "t"); return err }, bg)

	// The caller's context bounds the request too.
	nc.Timeout = 0
	ctx, cancel := context.WithTimeout(bg, timeout)
	defer cancel()
	check("nsqd ctx", func(ctx context.Context) error { _, err := nc.Stats(ctx, "", ""); return err }, ctx)
}

func TestHTTPFromURL(t *testing.T) {
	type want struct {
		scheme, host string
		port         int
		address      string
	}
	cases := []struct {
		in         string
		nsqd, lkpd want
	}{
		{"http://10.0.0.1:1234", want{"http", "10.0.0.1", 1234, "http://10.0.0.1:1234/"}, want{"http", "10.0.0.1", 1234, "http://10.0.0.1:1234/"}},
		{"10.0.0.1:1234", want{"http", "10.0.0.1", 1234, "http://10.0.0.1:1234/"}, want{"http", "10.0.0.1", 1234, "http://10.0.0.1:1234/"}},
		{"https://nsq.example.com", want{"https", "nsq.example.com", 4151, "https://nsq.example.com:4151/"}, want{"https", "nsq.example.com", 4161, "https://nsq.example.com:4161/"}},
		{"http://h:99/some/path?x=1#frag", want{"http", "h", 99, "http://h:99/"}, want{"http", "h", 99, "http://h:99/"}},
		{"somehost", want{"http", "somehost", 4151, "http://somehost:4151/"}, want{"http", "somehost", 4161, "http://somehost:4161/"}},
		{"HTTP://[::1]:5000/", want{"http", "::1", 5000, "http://[::1]:5000/"}, want{"http", "::1", 5000, "http://[::1]:5000/"}},
	}
	for _, tc := range cases {
		nc, err := gnsq.NsqdHTTPClientFromURL(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.nsqd, want{nc.Scheme(), nc.Host(), nc.Port(), nc.Address()}, tc.in)
		assert.Equal(t, gnsq.DefaultHTTPTimeout, nc.Timeout)
		lc, err := gnsq.LookupdClientFromURL(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.lkpd, want{lc.Scheme(), lc.Host(), lc.Port(), lc.Address()}, tc.in)
		assert.Equal(t, gnsq.DefaultHTTPTimeout, lc.Timeout)
	}

	for _, bad := range []string{"", "   ", "ftp://h:1", "http://", "http://:4151", "http://h:port", "http://h:0", "http://h:70000", "http://h:", "h:-1"} {
		_, err := gnsq.NsqdHTTPClientFromURL(bad)
		var ia *gnsq.InvalidArgumentError
		assert.ErrorAs(t, err, &ia, "nsqd %q", bad)
		_, err = gnsq.LookupdClientFromURL(bad)
		assert.ErrorAs(t, err, &ia, "lookupd %q", bad)
	}

	// Constructor defaults mirror gnsq.
	nc := gnsq.NewNsqdHTTPClient("", 0)
	assert.Equal(t, "http://localhost:4151/", nc.Address())
	lc := gnsq.NewLookupdClient("", 0)
	assert.Equal(t, "http://localhost:4161/", lc.Address())
	assert.Equal(t, "<LookupdClient 'http://localhost:4161/'>", lc.String())

	// A URL with a path still reaches live servers.
	nsqd := nsqtest.StartNsqd(t)
	lookupd := nsqtest.StartLookupd(t)
	ctx := htCtx(t)
	nc, err := gnsq.NsqdHTTPClientFromURL("http://" + nsqd.HTTPAddr + "/ignored/path?x=1")
	require.NoError(t, err)
	pong, err := nc.Ping(ctx)
	require.NoError(t, err)
	assert.Equal(t, "OK", string(pong))
	lc, err = gnsq.LookupdClientFromURL(lookupd.HTTPAddr)
	require.NoError(t, err)
	pong, err = lc.Ping(ctx)
	require.NoError(t, err)
	assert.Equal(t, "OK", string(pong))
}

// TestHTTPRequestShape checks, with a recording server, what goes on the
// wire (headers, query string on POST) and how legacy and odd answers are
// read; also https through a caller-supplied HTTPClient.
func TestHTTPRequestShape(t *testing.T) {
	type seen struct {
		method, path, query, ua, accept string
		body                            []byte
	}
	var mu sync.Mutex
	var reqs []seen
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("User-Agent"), r.Header.Get("Accept"), body})
		mu.Unlock()
		switch r.URL.Path {
		case "/info": // legacy 0.x envelope
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"status_code":200,"status_txt":"OK","data":{"version":"0.3.8"}}`)
		case "/stats": // has "data" but no "status_code": not an envelope
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			io.WriteString(w, ` {"data":1,"topics":[]} `)
		case "/topics": // legacy error inside a 200
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"status_code":500,"status_txt":"INTERNAL_ERROR","data":null}`)
		case "/lookup": // legacy error body
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(404)
			io.WriteString(w, `{"status_code":404,"status_txt":"TOPIC_NOT_FOUND","data":null}`)
		case "/nodes": // not JSON
			w.WriteHeader(502)
			io.WriteString(w, "  bad gateway\n")
		case "/channels": // JSON content type, broken JSON
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"channels":[`)
		default:
			io.WriteString(w, "OK")
		}
	})
	srv := httptest.NewServer(handler)
	defer srv.Close()
	ctx := htCtx(t)

	nc, err := gnsq.NsqdHTTPClientFromURL(srv.URL)
	require.NoError(t, err)
	_, err = nc.Publish(ctx, "t1", []byte("hello"), 1500*time.Millisecond)
	require.NoError(t, err)
	nc.UserAgent = "custom/1.0"
	_, err = nc.MultiPublish(ctx, "t1", [][]byte{[]byte("a"), []byte("b")}, true)
	require.NoError(t, err)
	require.NoError(t, nc.PauseChannel(ctx, "t1", "c1"))
	_, err = nc.MultiPublish(ctx, "t1", [][]byte{[]byte("a"), []byte("b")}, false)
	require.NoError(t, err)

	mu.Lock()
	got := append([]seen(nil), reqs...)
	mu.Unlock()
	require.Len(t, got, 4)
	assert.Equal(t, seen{"POST", "/pub", "defer=1500&topic=t1", gnsq.DefaultUserAgent, "application/vnd.nsq; version=1.0", []byte("hello")}, got[0])
	assert.Equal(t, seen{"POST", "/mpub", "binary=true&topic=t1", "custom/1.0", "application/vnd.nsq; version=1.0", protocol.MultiPublishBody([][]byte{[]byte("a"), []byte("b")})}, got[1])
	assert.Equal(t, "POST", got[2].method)
	assert.Equal(t, "/channel/pause", got[2].path)
	assert.Equal(t, "channel=c1&topic=t1", got[2].query)
	assert.Empty(t, got[2].body)
	assert.Equal(t, "topic=t1", got[3].query)
	assert.Equal(t, []byte("a\nb"), got[3].body)

	info, err := nc.Info(ctx)
	require.NoError(t, err)
	assert.JSONEq(t, `{"version":"0.3.8"}`, string(info))
	stats, err := nc.Stats(ctx, "", "")
	require.NoError(t, err)
	assert.Equal(t, `{"data":1,"topics":[]}`, string(stats))

	lc, err := gnsq.LookupdClientFromURL(srv.URL)
	require.NoError(t, err)
	_, err = lc.Topics(ctx)
	htRequireHTTPError(t, err, 500, "INTERNAL_ERROR")
	_, err = lc.Lookup(ctx, "t1")
	htRequireHTTPError(t, err, 404, "TOPIC_NOT_FOUND")
	_, err = lc.Nodes(ctx)
	htRequireHTTPError(t, err, 502, "bad gateway")
	_, err = lc.Channels(ctx, "t1")
	var pe *gnsq.ProtocolError
	assert.ErrorAs(t, err, &pe)
	_, err = lc.Ping(ctx)
	require.NoError(t, err)
	mu.Lock()
	last := reqs[len(reqs)-1]
	mu.Unlock()
	assert.Equal(t, gnsq.DefaultUserAgent, last.ua)
	assert.Equal(t, "application/vnd.nsq; version=1.0", last.accept)

	// https:// selects TLS.
	tlsSrv := httptest.NewUnstartedServer(handler)
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	require.True(t, strings.HasPrefix(tlsSrv.URL, "https://"))
	tc, err := gnsq.NsqdHTTPClientFromURL(tlsSrv.URL)
	require.NoError(t, err)
	assert.Equal(t, "https", tc.Scheme())
	_, err = tc.Ping(ctx)
	require.Error(t, err, "an unknown CA must be refused by default")
	tc.HTTPClient = tlsSrv.Client()
	pong, err := tc.Ping(ctx)
	require.NoError(t, err)
	assert.Equal(t, "OK", string(pong))
}

// ---- LookupdClient against live nsqlookupd + nsqd ----

type htLookupResult struct {
	Channels  []string `json:"channels"`
	Producers []struct {
		BroadcastAddress string `json:"broadcast_address"`
		Hostname         string `json:"hostname"`
		RemoteAddress    string `json:"remote_address"`
		TCPPort          int    `json:"tcp_port"`
		HTTPPort         int    `json:"http_port"`
		Version          string `json:"version"`
	} `json:"producers"`
}

type htLookupdNode struct {
	BroadcastAddress string   `json:"broadcast_address"`
	TCPPort          int      `json:"tcp_port"`
	HTTPPort         int      `json:"http_port"`
	Version          string   `json:"version"`
	Tombstones       []bool   `json:"tombstones"`
	Topics           []string `json:"topics"`
}

func htLookupTopics(t *testing.T, lc *gnsq.LookupdClient) []string {
	t.Helper()
	raw, err := lc.Topics(htCtx(t))
	require.NoError(t, err)
	var v struct {
		Topics []string `json:"topics"`
	}
	require.NoError(t, json.Unmarshal(raw, &v), string(raw))
	return v.Topics
}

func htLookupChannels(t *testing.T, lc *gnsq.LookupdClient, topic string) []string {
	t.Helper()
	raw, err := lc.Channels(htCtx(t), topic)
	require.NoError(t, err)
	var v struct {
		Channels []string `json:"channels"`
	}
	require.NoError(t, json.Unmarshal(raw, &v), string(raw))
	return v.Channels
}

func htLookupNodes(t *testing.T, lc *gnsq.LookupdClient) []htLookupdNode {
	t.Helper()
	raw, err := lc.Nodes(htCtx(t))
	require.NoError(t, err)
	var v struct {
		Producers []htLookupdNode `json:"producers"`
	}
	require.NoError(t, json.Unmarshal(raw, &v), string(raw))
	return v.Producers
}

func htLookup(t *testing.T, lc *gnsq.LookupdClient, topic string) (htLookupResult, error) {
	t.Helper()
	var v htLookupResult
	raw, err := lc.Lookup(htCtx(t), topic)
	if err != nil {
		return v, err
	}
	require.NoError(t, json.Unmarshal(raw, &v), string(raw))
	return v, nil
}

func htStartLookupdPair(t *testing.T) (*gnsq.LookupdClient, *gnsq.NsqdHTTPClient, *nsqtest.Server) {
	t.Helper()
	lookupd := nsqtest.StartLookupd(t)
	nsqd := nsqtest.StartNsqd(t, "--lookupd-tcp-address="+lookupd.TCPAddr)
	h, p := htSplitAddr(t, lookupd.HTTPAddr)
	return gnsq.NewLookupdClient(h, p), htNewNsqdHTTP(t, nsqd), nsqd
}

func TestLookupdClient(t *testing.T) {
	lc, nc, nsqd := htStartLookupdPair(t)
	ctx := htCtx(t)
	_, tcpPort := htSplitAddr(t, nsqd.TCPAddr)
	_, httpPort := htSplitAddr(t, nsqd.HTTPAddr)

	pong, err := lc.Ping(ctx)
	require.NoError(t, err)
	assert.Equal(t, "OK", string(pong))
	raw, err := lc.Info(ctx)
	require.NoError(t, err)
	var info struct {
		Version string `json:"version"`
	}
	require.NoError(t, json.Unmarshal(raw, &info))
	assert.Equal(t, "1.3.0", info.Version)

	const topic = "lk_topic"
	require.NoError(t, nc.CreateTopic(ctx, topic))
	require.NoError(t, nc.CreateChannel(ctx, topic, "lk_chan"))

	var res htLookupResult
	nsqtest.WaitFor(t, 10*time.Second, "lookupd to list the nsqd for "+topic, func() bool {
		r, err := htLookup(t, lc, topic)
		if err != nil {
			return false
		}
		res = r
		return len(r.Producers) == 1 && len(r.Channels) == 1
	})
	p := res.Producers[0]
	assert.Equal(t, "127.0.0.1", p.BroadcastAddress)
	assert.Equal(t, tcpPort, p.TCPPort)
	assert.Equal(t, httpPort, p.HTTPPort)
	assert.Equal(t, "1.3.0", p.Version)
	assert.Equal(t, []string{"lk_chan"}, res.Channels)

	assert.Contains(t, htLookupTopics(t, lc), topic)
	assert.Equal(t, []string{"lk_chan"}, htLookupChannels(t, lc, topic))
	assert.Empty(t, htLookupChannels(t, lc, "lk_unknown"))

	nodes := htLookupNodes(t, lc)
	require.Len(t, nodes, 1)
	assert.Equal(t, "127.0.0.1", nodes[0].BroadcastAddress)
	assert.Equal(t, tcpPort, nodes[0].TCPPort)
	assert.Equal(t, httpPort, nodes[0].HTTPPort)
	assert.Equal(t, []string{topic}, nodes[0].Topics)
	assert.Equal(t, []bool{false}, nodes[0].Tombstones)

	_, err = lc.Lookup(ctx, "lk_unknown")
	htRequireHTTPError(t, err, 404, "TOPIC_NOT_FOUND")
}

func TestLookupdRegistry(t *testing.T) {
	lookupd := nsqtest.StartLookupd(t)
	lc, err := gnsq.LookupdClientFromURL("http://" + lookupd.HTTPAddr)
	require.NoError(t, err)
	ctx := htCtx(t)

	assert.Empty(t, htLookupTopics(t, lc))
	require.NoError(t, lc.CreateTopic(ctx, "reg_t"))
	assert.Equal(t, []string{"reg_t"}, htLookupTopics(t, lc))
	res, err := htLookup(t, lc, "reg_t")
	require.NoError(t, err)
	assert.Empty(t, res.Producers)

	require.NoError(t, lc.CreateChannel(ctx, "reg_t", "reg_c"))
	require.NoError(t, lc.CreateChannel(ctx, "reg_t2", "reg_c2")) // also adds the topic
	assert.ElementsMatch(t, []string{"reg_t", "reg_t2"}, htLookupTopics(t, lc))
	assert.Equal(t, []string{"reg_c"}, htLookupChannels(t, lc, "reg_t"))

	require.NoError(t, lc.DeleteChannel(ctx, "reg_t", "reg_c"))
	assert.Empty(t, htLookupChannels(t, lc, "reg_t"))
	htRequireHTTPError(t, lc.DeleteChannel(ctx, "reg_t", "reg_c"), 404, "CHANNEL_NOT_FOUND")

	require.NoError(t, lc.DeleteTopic(ctx, "reg_t2"))
	assert.Equal(t, []string{"reg_t"}, htLookupTopics(t, lc))
	assert.Empty(t, htLookupChannels(t, lc, "reg_t2"))
	_, err = lc.Lookup(ctx, "reg_t2")
	htRequireHTTPError(t, err, 404, "TOPIC_NOT_FOUND")

	require.NoError(t, lc.DeleteTopic(ctx, "reg_t"))
	assert.Empty(t, htLookupTopics(t, lc))
}

func TestLookupdTombstone(t *testing.T) {
	lc, nc, nsqd := htStartLookupdPair(t)
	ctx := htCtx(t)
	const topic = "tomb_topic"

	require.NoError(t, nc.CreateTopic(ctx, topic))
	nsqtest.WaitFor(t, 10*time.Second, "lookupd to list the producer", func() bool {
		r, err := htLookup(t, lc, topic)
		return err == nil && len(r.Producers) == 1
	})

	// node is "broadcast_address:http_port".
	require.NoError(t, lc.TombstoneTopic(ctx, topic, "127.0.0.1:"+strconv.Itoa(nc.Port())))
	res, err := htLookup(t, lc, topic)
	require.NoError(t, err)
	assert.Empty(t, res.Producers, "a tombstoned producer is hidden from lookup")

	nodes := htLookupNodes(t, lc)
	require.Len(t, nodes, 1)
	_, tcpPort := htSplitAddr(t, nsqd.TCPAddr)
	assert.Equal(t, tcpPort, nodes[0].TCPPort)
	require.Equal(t, []string{topic}, nodes[0].Topics)
	assert.Equal(t, []bool{true}, nodes[0].Tombstones)

	// Tombstoning an unknown node is accepted and changes nothing.
	require.NoError(t, lc.TombstoneTopic(ctx, "other_topic", "127.0.0.1:1"))
}
