package gnsq_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gnsq "github.com/libgnsq/libgnsq/core"
	"github.com/libgnsq/libgnsq/internal/producerlink"
	"github.com/libgnsq/libgnsq/tests/nsqtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func startProducer(t testing.TB, addrs []string, cfg *gnsq.Config) *gnsq.Producer {
	t.Helper()
	p, err := gnsq.NewProducer(gnsq.WithNsqd(addrs...), gnsq.WithConfig(cfg))
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	t.Cleanup(p.Close)
	return p
}

func uniqueTopic(prefix string) string { return fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano()) }

// consume reads n messages of topic from nsqd at addr, finishing each.
func consume(t testing.TB, addr, topic string, n int) []*gnsq.Message {
	t.Helper()
	c, err := dial(t, addr, newConfig(t))
	require.NoError(t, err)
	require.NoError(t, c.Subscribe(topic, "check"))
	requireOK(t, c)
	require.NoError(t, c.Ready(n))
	var out []*gnsq.Message
	for len(out) < n {
		r := nextNonHeartbeat(t, c)
		require.Equal(t, gnsq.FrameTypeMessage, r.Type, "got %q", r.Data)
		out = append(out, r.Message)
		require.NoError(t, c.Finish(r.Message.ID))
	}
	c.CloseStream()
	return out
}

func bodies(ms []*gnsq.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, string(m.Body))
	}
	return out
}

func TestProducerPublishMethods(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	var responses atomic.Int32
	p, err := gnsq.NewProducer(gnsq.WithNsqd(nsqd.TCPAddr), gnsq.WithConfig(newConfig(t)),
		gnsq.WithProducerHooks(gnsq.ProducerHooks{OnResponse: func(uint32, []byte) { responses.Add(1) }}))
	require.NoError(t, err)
	assert.False(t, p.IsRunning())
	require.NoError(t, p.Start(context.Background()))
	defer p.Close()
	assert.True(t, p.IsRunning())
	topic := uniqueTopic("pub")
	ctx := ctxTimeout(t, 10*time.Second)

	require.NoError(t, p.Publish(ctx, topic, []byte("one")))
	require.NoError(t, p.MultiPublish(ctx, topic, [][]byte{[]byte("two"), []byte("three\x00\xff")}))
	start := time.Now()
	require.NoError(t, p.DeferredPublish(ctx, topic, 300*time.Millisecond, []byte("deferred")))

	var called atomic.Int32
	r, err := p.PublishAsync(ctx, topic, 0, []byte("async"), func(r *gnsq.Result) { called.Add(1) })
	require.NoError(t, err)
	<-r.Done()
	assert.NoError(t, r.Err())
	assert.Equal(t, "OK", string(r.Response()))
	r2, err := p.MultiPublishAsync(ctx, topic, [][]byte{[]byte("async-m")}, nil)
	require.NoError(t, err)
	_, err = r2.Wait(ctx)
	require.NoError(t, err)
	// A callback runs after Done is closed: Wait may return before it.
	nsqtest.WaitFor(t, 5*time.Second, "the PublishAsync callback", func() bool { return called.Load() == 1 })

	// The C ABI's path: a DPUB written at once, an MPUB left to the flusher.
	linked := make(chan error, 2)
	linkPublish := func(topic string, delay time.Duration, bodies [][]byte, multi, flushNow bool) error {
		cmd, err := producerlink.Command(topic, delay, bodies, multi)
		if err != nil {
			return err
		}
		return producerlink.Send(p, ctx, cmd, flushNow, func(err error) { linked <- err })
	}
	require.NoError(t, linkPublish(topic, 100*time.Millisecond, [][]byte{[]byte("sent")}, false, true))
	require.NoError(t, linkPublish(topic, 0, [][]byte{[]byte("sent-m1"), []byte("sent-m2")}, true, false))
	for i := 0; i < 2; i++ {
		select {
		case err := <-linked:
			require.NoError(t, err)
		case <-ctx.Done():
			t.Fatal("a publish through producerlink got no outcome")
		}
	}
	var badName *gnsq.InvalidNameError
	assert.ErrorAs(t, linkPublish("a b", 0, [][]byte{[]byte("x")}, true, false), &badName)
	var invalid *gnsq.InvalidArgumentError
	assert.ErrorAs(t, linkPublish(topic, -time.Second, [][]byte{[]byte("x")}, false, true), &invalid)
	assert.ErrorAs(t, linkPublish(topic, 0, [][]byte{{}}, false, true), &invalid, "an empty body is refused as by PublishAsync")
	assert.Equal(t, int32(7), responses.Load())

	got := consume(t, nsqd.TCPAddr, topic, 9)
	assert.ElementsMatch(t, []string{"one", "two", "three\x00\xff", "deferred", "async", "async-m", "sent", "sent-m1", "sent-m2"}, bodies(got))
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "the deferred message arrived after its delay")
}

func TestProducerBinaryBodiesRoundTrip(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	p := startProducer(t, []string{nsqd.TCPAddr}, newConfig(t))
	topic := uniqueTopic("bin")
	want := []string{"\x00", "\xff\xfe\x00\x01", string(binaryBody(70000)), "\x00\x00\x00\x04"}
	for _, b := range want {
		err := p.Publish(ctxTimeout(t, 5*time.Second), topic, []byte(b))
		require.NoError(t, err)
	}
	assert.ElementsMatch(t, want, bodies(consume(t, nsqd.TCPAddr, topic, len(want))))
}

func TestProducerSeveralNsqdRoundRobin(t *testing.T) {
	a, b := nsqtest.StartNsqd(t), nsqtest.StartNsqd(t)
	p := startProducer(t, []string{a.TCPAddr, b.TCPAddr, a.TCPAddr}, newConfig(t))
	assert.Len(t, p.Addresses(), 2, "duplicates dropped")
	topic := uniqueTopic("rr")
	for i := 0; i < 10; i++ {
		err := p.Publish(ctxTimeout(t, 5*time.Second), topic, []byte{byte('0' + i)})
		require.NoError(t, err)
	}
	assert.Len(t, consume(t, a.TCPAddr, topic, 5), 5)
	assert.Len(t, consume(t, b.TCPAddr, topic, 5), 5)
}

func TestProducerLifecycleErrors(t *testing.T) {
	_, err := gnsq.NewProducer()
	var iae *gnsq.InvalidArgumentError
	require.ErrorAs(t, err, &iae)
	_, err = gnsq.NewProducer(gnsq.WithNsqd("host:notaport"))
	require.ErrorAs(t, err, &iae)

	_, err = gnsq.NewProducer(gnsq.WithNsqd("127.0.0.1:4150"), gnsq.WithLookupd("127.0.0.1:4161"))
	require.ErrorAs(t, err, &iae, "an option that does not apply is refused")
	assert.Contains(t, iae.Error(), "WithLookupd does not apply to a Producer")

	nsqd := nsqtest.StartNsqd(t)
	closes := 0
	p, err := gnsq.NewProducer(gnsq.WithNsqd(nsqd.TCPAddr), gnsq.WithProducerHooks(gnsq.ProducerHooks{OnClose: func() { closes++ }}))
	require.NoError(t, err)
	err = p.Publish(ctxTimeout(t, time.Second), "t", []byte("x"))
	require.ErrorIs(t, err, gnsq.ErrNotRunning)

	require.NoError(t, p.Start(context.Background()))
	require.NoError(t, p.Start(context.Background()), "a second Start only warns")
	p.Close()
	p.Close()
	assert.Equal(t, 1, closes)
	assert.False(t, p.IsRunning())
	assert.True(t, p.Join(5*time.Second))
	err = p.Publish(ctxTimeout(t, time.Second), "t", []byte("x"))
	require.ErrorIs(t, err, gnsq.ErrClosed)
	require.ErrorIs(t, p.Start(context.Background()), gnsq.ErrClosed)
}

// The fake nsqd records everything: invalid names must put zero bytes on
// the wire, and a valid publish afterwards must be the only command.
func TestProducerInvalidTopicSendsNothing(t *testing.T) {
	fake := nsqtest.StartFakeNsqd(t, func(c *nsqtest.FakeConn) {
		if c.Identify("") != nil {
			return
		}
		for {
			if _, err := c.ReadCommand(10 * time.Second); err != nil {
				return
			}
			c.Respond("OK")
		}
	})
	p := startProducer(t, []string{fake.Addr}, newConfig(t))
	ctx := ctxTimeout(t, 5*time.Second)
	for _, bad := range []string{"", strings.Repeat("x", 65), "a b", "a\nPUB x", "ä", "x#ephemeralx"} {
		var ine *gnsq.InvalidNameError
		err := p.Publish(ctx, bad, []byte("x"))
		require.ErrorAs(t, err, &ine, "%q", bad)
		err = p.MultiPublish(ctx, bad, [][]byte{[]byte("x")})
		require.ErrorAs(t, err, &ine, "%q", bad)
		err = p.DeferredPublish(ctx, bad, time.Second, []byte("x"))
		require.ErrorAs(t, err, &ine, "%q", bad)
		_, err = p.PublishAsync(ctx, bad, 0, []byte("x"), nil)
		require.ErrorAs(t, err, &ine, "%q", bad)
	}
	err := p.DeferredPublish(ctx, "good", -time.Second, []byte("x"))
	var iae *gnsq.InvalidArgumentError
	require.ErrorAs(t, err, &iae)
	err = p.Publish(ctx, "good", []byte("x"))
	require.NoError(t, err)
	assert.Equal(t, []string{"IDENTIFY", "PUB good"}, fake.Commands())
}

func TestProducerOversizeBodies(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t, "--max-msg-size=1024", "--max-body-size=4096")
	cfg := newConfig(t, "max_backoff_duration", "1")
	var errs atomic.Int32
	p, err := gnsq.NewProducer(gnsq.WithNsqd(nsqd.TCPAddr), gnsq.WithConfig(cfg),
		gnsq.WithProducerHooks(gnsq.ProducerHooks{OnError: func(uint32, error) { errs.Add(1) }}))
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	defer p.Close()
	topic := uniqueTopic("size")

	for _, tc := range []struct {
		name    string
		publish func(ctx context.Context) error
		want    error
		detail  string
	}{
		{"oversize PUB", func(ctx context.Context) error {
			err := p.Publish(ctx, topic, make([]byte, 1025))
			return err
		}, gnsq.ErrBadMessage, "too big 1025 > 1024"},
		{"oversize MPUB", func(ctx context.Context) error {
			err := p.MultiPublish(ctx, topic, [][]byte{make([]byte, 1000), make([]byte, 1000), make([]byte, 1000), make([]byte, 1000), make([]byte, 1000)})
			return err
		}, gnsq.ErrBadBody, "too big"},
	} {
		// Each error is fatal for the connection: the producer must
		// reconnect and the next publish must succeed.
		err := tc.publish(ctxTimeout(t, 10*time.Second))
		require.ErrorIs(t, err, tc.want, tc.name)
		assert.Contains(t, err.Error(), tc.detail, tc.name)
		err = p.Publish(ctxTimeout(t, 10*time.Second), topic, []byte("fine"))
		require.NoError(t, err, "producer recovers after %s", tc.name)
	}
	assert.GreaterOrEqual(t, errs.Load(), int32(2))
	assert.Len(t, consume(t, nsqd.TCPAddr, topic, 2), 2) // empty bodies: TestProducerRefusesEmptyBodiesLocally
}

// A fatal error with other publishes pipelined behind it: the bad one
// fails, each other one ends exactly once (OK if nsqd took it
// before, or a connection error), and none hangs.
func TestProducerPipelinedPublishesAroundFatalError(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t, "--max-msg-size=1024")
	p := startProducer(t, []string{nsqd.TCPAddr}, newConfig(t, "max_backoff_duration", "1"))
	topic := uniqueTopic("pipe")
	ctx := ctxTimeout(t, 10*time.Second)
	var completions sync.Map
	var results []*gnsq.Result
	for i := 0; i < 200; i++ {
		body := []byte("ok")
		if i == 100 {
			body = make([]byte, 2000)
		}
		r, err := p.PublishAsync(ctx, topic, 0, body, func(r *gnsq.Result) {
			_, dup := completions.LoadOrStore(r, true)
			assert.False(t, dup, "completed twice")
		})
		if err != nil {
			break // the connection died under us and no other is up yet
		}
		results = append(results, r)
	}
	require.Greater(t, len(results), 100)
	ok, failed := 0, 0
	for i, r := range results {
		_, err := r.Wait(ctx)
		switch {
		case i == 100:
			// nsqd sends E_BAD_MESSAGE and closes; if it had unread
			// pipelined bytes the close is a TCP reset, which can
			// discard the error frame: then it is a connection error.
			require.Error(t, err)
			if !errors.Is(err, gnsq.ErrBadMessage) {
				require.ErrorIs(t, err, gnsq.ErrConnectionClosed)
			}
		case err == nil:
			ok++
		default:
			require.ErrorIs(t, err, gnsq.ErrConnectionClosed)
			failed++
		}
	}
	// nsqd answered the first 100 before the bad one, but when its close is
	// a reset the kernel may drop those answers: they then fail too.
	t.Logf("%d OK, %d connection errors", ok, failed)
	n := 0
	completions.Range(func(any, any) bool { n++; return true })
	assert.Equal(t, len(results), n)
}

// R3: fail fast while nsqd is down, resolve everything outstanding exactly
// once, resume after restart.
func TestProducerThroughNsqdOutage(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	p := startProducer(t, []string{nsqd.TCPAddr}, newConfig(t, "max_backoff_duration", "1"))
	topic := uniqueTopic("outage")
	err := p.Publish(ctxTimeout(t, 5*time.Second), topic, []byte("before"))
	require.NoError(t, err)

	var accepted, completed, okCount atomic.Int64
	var twice atomic.Bool
	stopPublishing := make(chan struct{})
	publisherDone := make(chan struct{})
	go func() {
		defer close(publisherDone)
		for {
			select {
			case <-stopPublishing:
				return
			default:
			}
			var once atomic.Bool
			_, err := p.PublishAsync(ctxTimeout(t, 50*time.Millisecond), topic, 0, []byte("during"), func(r *gnsq.Result) {
				if once.Swap(true) {
					twice.Store(true)
				}
				if r.Err() == nil {
					okCount.Add(1)
				}
				completed.Add(1)
			})
			if err == nil {
				accepted.Add(1)
			}
		}
	}()
	nsqtest.WaitFor(t, 5*time.Second, "publishes in flight", func() bool { return accepted.Load() > 1000 })
	nsqd.Kill()

	// While down: a publish fails fast within its own timeout.
	nsqtest.WaitFor(t, 5*time.Second, "the producer to notice", func() bool {
		err := p.Publish(ctxTimeout(t, 100*time.Millisecond), topic, []byte("x"))
		return errors.Is(err, gnsq.ErrNoConnections)
	})
	start := time.Now()
	err = p.Publish(ctxTimeout(t, 300*time.Millisecond), topic, []byte("down"))
	require.ErrorIs(t, err, gnsq.ErrNoConnections)
	assert.Less(t, time.Since(start), 2*time.Second)
	close(stopPublishing)
	<-publisherDone
	nsqtest.WaitFor(t, 5*time.Second, "every accepted publish to complete", func() bool {
		return completed.Load() == accepted.Load()
	})
	assert.False(t, twice.Load(), "a publish completed twice")

	nsqd.Start()
	err = p.Publish(ctxTimeout(t, 10*time.Second), topic, []byte("after"))
	require.NoError(t, err, "publishing resumes after restart")
	t.Logf("accepted %d, ok %d before the kill", accepted.Load(), okCount.Load())
}

func TestProducerCloseFailsOutstanding(t *testing.T) {
	// An nsqd that never answers PUB: everything stays outstanding.
	fake := nsqtest.StartFakeNsqd(t, func(c *nsqtest.FakeConn) {
		if c.Identify("") != nil {
			return
		}
		c.WaitForEOF(30 * time.Second)
	})
	p := startProducer(t, []string{fake.Addr}, newConfig(t))
	var results []*gnsq.Result
	for i := 0; i < 10; i++ {
		r, err := p.PublishAsync(ctxTimeout(t, 5*time.Second), "t", 0, []byte("x"), nil)
		require.NoError(t, err)
		results = append(results, r)
	}
	err := p.Publish(ctxTimeout(t, 100*time.Millisecond), "t", []byte("x"))
	require.ErrorIs(t, err, context.DeadlineExceeded, "the answer never came: outcome unknown")
	p.Close()
	for _, r := range results {
		select {
		case <-r.Done():
			assert.ErrorIs(t, r.Err(), gnsq.ErrClosed)
		default:
			t.Fatal("Close returned with a publish outstanding")
		}
	}
	assert.True(t, p.Join(5*time.Second))
}

func TestProducerNoConnectionsNoWait(t *testing.T) {
	p := startProducer(t, []string{"127.0.0.1:" + fmt.Sprint(nsqtest.FreePort(t))}, newConfig(t))
	done, cancel := context.WithCancel(context.Background())
	cancel() // gnsq's block=False
	err := p.Publish(done, "t", []byte("x"))
	require.ErrorIs(t, err, gnsq.ErrNoConnections)
}

func TestProducerAuthHook(t *testing.T) {
	auth := nsqtest.StartAuthServer(t, "good", "bob")
	nsqd := nsqtest.StartNsqd(t, "--auth-http-address="+auth.Addr)
	var identity atomic.Value
	p, err := gnsq.NewProducer(gnsq.WithNsqd(nsqd.TCPAddr), gnsq.WithConfig(newConfig(t, "auth_secret", "good")),
		gnsq.WithProducerHooks(gnsq.ProducerHooks{OnAuth: func(_ *gnsq.NsqdTCPClient, r *gnsq.AuthResponse) { identity.Store(r.Identity) }}))
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	defer p.Close()
	assert.Equal(t, "bob", identity.Load())
	err = p.Publish(ctxTimeout(t, 5*time.Second), "authed", []byte("x"))
	require.NoError(t, err)
}

func TestProducerTLSAndCompression(t *testing.T) {
	files := nsqtest.GenerateTLS(t)
	nsqd := startTLSNsqd(t, files)
	for _, extra := range [][]string{{}, {"snappy", "true"}, {"deflate", "true"}} {
		kv := append([]string{"tls_v1", "true", "tls_ca_file", files.CAFile}, extra...)
		p := startProducer(t, []string{nsqd.TCPAddr}, newConfig(t, kv...))
		err := p.MultiPublish(ctxTimeout(t, 5*time.Second), "tls", [][]byte{[]byte("a"), []byte("b")})
		require.NoError(t, err, "%v", extra)
		p.Close()
	}
}

// Empty bodies and MPUBs nsqd would refuse with a fatal error (closing the
// connection under every other publish queued on it) are refused locally
// (issue 11, defect 3).
func TestProducerRefusesEmptyBodiesLocally(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	p := startProducer(t, []string{nsqd.TCPAddr}, newConfig(t))
	topic := uniqueTopic("empty")
	ctx := ctxTimeout(t, 10*time.Second)
	pending, err := p.PublishAsync(ctx, topic, 0, []byte("queued before"), nil)
	require.NoError(t, err)
	for _, publish := range []func() error{
		func() error { err := p.Publish(ctx, topic, nil); return err },
		func() error { err := p.Publish(ctx, topic, []byte{}); return err },
		func() error { err := p.DeferredPublish(ctx, topic, time.Second, nil); return err },
		func() error { err := p.MultiPublish(ctx, topic, nil); return err },
		func() error { err := p.MultiPublish(ctx, topic, [][]byte{[]byte("a"), {}}); return err },
		func() error { _, err := p.MultiPublishAsync(ctx, topic, [][]byte{}, nil); return err },
	} {
		var invalid *gnsq.InvalidArgumentError
		require.ErrorAs(t, publish(), &invalid)
	}
	_, err = pending.Wait(ctx)
	require.NoError(t, err, "the publish queued before is unaffected")
	err = p.Publish(ctx, topic, []byte("after"))
	require.NoError(t, err)
}
