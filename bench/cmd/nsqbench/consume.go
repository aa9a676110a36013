package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	gnsq "github.com/libgnsq/libgnsq/core"
	nsq "github.com/nsqio/go-nsq"
)

// Every consume measurement reads its own fresh topic through this channel.
const benchChannel = "bench"

// ---- filling and checking a topic (never timed) ---------------------------

// fill creates topic and its channel, publishes n bodies with our producer
// (MPUBs of batchSize) and waits until nsqd has all n in the channel, so
// that the timed part only measures delivery to the consumer.
func (e *env) fill(topic string, n int) error {
	if err := e.nsqd.createChannel(topic, benchChannel); err != nil {
		return fmt.Errorf("create %s/%s: %w", topic, benchChannel, err)
	}
	if e.filler == nil {
		p, err := e.newOurs()
		if err != nil {
			return fmt.Errorf("filler: %w", err)
		}
		e.filler = p
	}
	err := e.batchesOf(n, func(bodies [][]byte) error {
		return e.filler.MultiPublish(context.Background(), topic, bodies)
	})
	if err != nil {
		return fmt.Errorf("fill %s: %w", topic, err)
	}
	return e.await(10*time.Second, func(t *topicStats, ch *channelStats) error {
		if t.MessageCount != uint64(n) || t.Depth != 0 || ch.Depth != int64(n) {
			return fmt.Errorf("fill: topic message_count %d depth %d, channel depth %d; want %d, 0, %d",
				t.MessageCount, t.Depth, ch.Depth, n, n)
		}
		return nil
	}, topic)
}

func (e *env) closeFiller() {
	if e.filler != nil {
		closeOurs(e.filler)
		e.filler = nil
	}
}

// await polls /stats of topic (every 5 ms) until cond accepts the topic and
// benchChannel, or returns cond's last complaint after timeout.
func (e *env) await(timeout time.Duration, cond func(t *topicStats, ch *channelStats) error, topic string) error {
	deadline := time.Now().Add(timeout)
	for {
		t, err := e.nsqd.stats(topic)
		if err == nil {
			var ch *channelStats
			if ch, err = t.channel(benchChannel); err == nil {
				if err = cond(t, ch); err == nil {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %w", timeout, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkConsumed is the state nsqd must reach once a consumer that is still
// connected has received and finished all n messages of its topic: nothing
// left or in flight, every message delivered exactly once and finished.
func checkConsumed(n int) func(t *topicStats, ch *channelStats) error {
	return func(t *topicStats, ch *channelStats) error {
		if err := checkDrained(n)(t, ch); err != nil {
			return err
		}
		if len(ch.Clients) != 1 {
			return fmt.Errorf("channel has %d clients, want 1", len(ch.Clients))
		}
		c := ch.Clients[0]
		if c.MessageCount != uint64(n) || c.FinishCount != uint64(n) || c.RequeueCount != 0 || c.InFlightCount != 0 {
			return fmt.Errorf("client %q: message_count %d finish_count %d requeue_count %d in_flight_count %d; want %d, %d, 0, 0",
				c.UserAgent, c.MessageCount, c.FinishCount, c.RequeueCount, c.InFlightCount, n, n)
		}
		return nil
	}
}

// checkDrained: all n messages went through the channel, none is left,
// in flight, deferred, requeued or timed out.
func checkDrained(n int) func(t *topicStats, ch *channelStats) error {
	return func(t *topicStats, ch *channelStats) error {
		if t.MessageCount != uint64(n) || ch.MessageCount != uint64(n) {
			return fmt.Errorf("message_count: topic %d, channel %d; want %d", t.MessageCount, ch.MessageCount, n)
		}
		if ch.Depth != 0 || ch.InFlightCount != 0 || ch.DeferredCount != 0 || ch.RequeueCount != 0 || ch.TimeoutCount != 0 {
			return fmt.Errorf("channel depth %d in_flight_count %d deferred_count %d requeue_count %d timeout_count %d; want all 0",
				ch.Depth, ch.InFlightCount, ch.DeferredCount, ch.RequeueCount, ch.TimeoutCount)
		}
		return nil
	}
}

// counter counts handled messages and notes when the n-th arrived.
type counter struct {
	n     int64
	count atomic.Int64
	end   time.Time // written before done is closed
	done  chan struct{}
}

func newCounter(n int) *counter { return &counter{n: int64(n), done: make(chan struct{})} }

func (c *counter) add() {
	if c.count.Add(1) == c.n {
		c.end = time.Now()
		close(c.done)
	}
}

// wait waits for the n-th message.
func (c *counter) wait(timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.done:
		return nil
	case <-t.C:
		return fmt.Errorf("only %d of %d messages received within %v", c.count.Load(), c.n, timeout)
	}
}

// firstError keeps the first error reported through a hook.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) set(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// ---- bench_reader ----------------------------------------------------------

// bench_reader (nsq v1.3.0 bench/bench_reader) connects one worker per
// GOMAXPROCS, each sending IDENTIFY and SUB, and, once all are connected,
// RDY -rdy. Each worker FINs every message it reads (its buffered writer
// reaches the socket when full and on every message in the last quarter
// of each RDY window) until -runfor has passed and it closes its
// connection. At the end it logs, like bench_writer,
//
//	[bench_reader] <date> <time> duration: <d> - <x>mb/s - <y>ops/s - <z>us/op
//
// where <y> = messages read by all workers / <d>, <d> spanning from the
// release of the workers to the last worker's end. It runs for a time, not
// a count: its topic is filled with more messages than it can read in
// -runfor, and a run that emptied the channel is repeated with more.
var benchReaderLine = regexp.MustCompile(`duration: (\S+) - ([0-9.]+)mb/s - ([0-9.]+)ops/s - ([0-9.]+)us/op`)

func (e *env) runBenchReader(topic string) (phaseResult, error) {
	rate := e.brRate
	for attempt := 1; ; attempt++ {
		fill := int(1.5*rate*e.brRunfor.Seconds()) + 2*e.subRdy*e.brProcs
		fill = max(fill, e.count)
		pr, starved, err := e.benchReaderOnce(topic, fill)
		if err != nil || !starved {
			return pr, err
		}
		if attempt == 4 {
			return phaseResult{}, fmt.Errorf("bench_reader emptied its channel (%d messages) %d times", fill, attempt)
		}
		fmt.Fprintf(os.Stderr, "bench_reader read all %d messages within -runfor %v: again with more\n", fill, e.brRunfor)
		if err := e.nsqd.deleteTopic(topic); err != nil {
			return phaseResult{}, fmt.Errorf("delete topic %s: %w", topic, err)
		}
		// Its rate is an underestimate when it ran dry: grow fast.
		rate = 4 * max(rate, pr.rate)
	}
}

// benchReaderOnce fills topic with fill messages, runs bench_reader on it
// and checks its count against nsqd. starved means the channel ran empty,
// so the rate is too low and the run must be repeated.
func (e *env) benchReaderOnce(topic string, fill int) (pr phaseResult, starved bool, err error) {
	if err := e.fill(topic, fill); err != nil {
		return phaseResult{}, false, err
	}
	runtime.GC() // the fill allocated: start the timed part from a collected heap
	cmd := exec.Command(e.brBin,
		"-nsqd-tcp-address="+e.nsqd.tcpAddr,
		"-topic="+topic,
		"-channel="+benchChannel,
		"-size="+strconv.Itoa(e.size),
		"-rdy="+strconv.Itoa(e.subRdy),
		"-runfor="+e.brRunfor.String(),
	)
	// One worker per GOMAXPROCS: GOMAXPROCS=1 gives a single connection
	// with RDY -rdy, like the other two clients.
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(e.brProcs))
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		return phaseResult{}, false, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return phaseResult{}, false, fmt.Errorf("bench_reader failed: %v; output:\n%s", err, out.String())
		}
	case <-time.After(e.brRunfor + 60*time.Second):
		_ = cmd.Process.Kill()
		<-done
		return phaseResult{}, false, fmt.Errorf("bench_reader did not finish; output:\n%s", out.String())
	}
	m := benchReaderLine.FindStringSubmatch(out.String())
	if m == nil {
		return phaseResult{}, false, fmt.Errorf("no throughput line in bench_reader output:\n%s", out.String())
	}
	d, err := time.ParseDuration(m[1])
	if err != nil {
		return phaseResult{}, false, fmt.Errorf("bench_reader duration %q: %v", m[1], err)
	}
	ops, err := strconv.ParseFloat(m[3], 64)
	if err != nil {
		return phaseResult{}, false, fmt.Errorf("bench_reader ops/s %q: %v", m[3], err)
	}
	// ops is printed with 3 decimals, d to the nanosecond: this is its count.
	read := int64(ops*d.Seconds() + 0.5)
	pr = phaseResult{msgs: read, elapsed: d, rate: ops}

	// bench_reader closes without finishing what it read last (its FINs
	// may still sit in its buffer) and what nsqd had sent but it had not
	// read: those stay in flight on nsqd. So, once nsqd has seen the
	// disconnect: every message was either delivered (in flight, or
	// finished) or is still queued (depth); what bench_reader read lies
	// between what nsqd saw finished and what nsqd delivered.
	var ch *channelStats
	err = e.await(10*time.Second, func(t *topicStats, c *channelStats) error {
		if c.ClientCount != 0 {
			return fmt.Errorf("channel still has %d client(s)", c.ClientCount)
		}
		ch = c
		if t.MessageCount != uint64(fill) || c.MessageCount != uint64(fill) {
			return fmt.Errorf("message_count: topic %d, channel %d; want %d", t.MessageCount, c.MessageCount, fill)
		}
		if c.DeferredCount != 0 || c.RequeueCount != 0 || c.TimeoutCount != 0 {
			return fmt.Errorf("channel deferred_count %d requeue_count %d timeout_count %d; want 0",
				c.DeferredCount, c.RequeueCount, c.TimeoutCount)
		}
		return nil
	}, topic)
	if err != nil {
		return pr, false, fmt.Errorf("verify: %w", err)
	}
	delivered := int64(fill) - ch.Depth
	finished := delivered - ch.InFlightCount
	if read < finished-1 || read > delivered+1 {
		return pr, false, fmt.Errorf("verify: bench_reader read %d; nsqd delivered %d of which %d were finished (%d left in the channel, %d in flight)",
			read, delivered, finished, ch.Depth, ch.InFlightCount)
	}
	if read <= 0 {
		return pr, false, errors.New("verify: bench_reader read nothing")
	}
	return pr, ch.Depth == 0, nil
}

// ---- go-nsq v1.1.0 ---------------------------------------------------------

// consumeFill is how many messages go-nsq's and our topics get: n, timed
// until the n-th reaches the handler, plus 2 x RDY more, read afterwards
// (not timed). Without them the channel would run empty with the last
// messages still in nsqd's output buffer for the client, which nsqd
// writes out only on its next output_buffer_timeout tick (250 ms): the
// measurement would end on that timer instead of on the client. With them
// nsqd keeps writing (its buffer fills, or RDY is used up) until after the
// n-th message, as it does for bench_reader, which never sees its channel
// run dry.
func (e *env) consumeFill(n int) int { return n + 2*e.subRdy }

func (e *env) goNSQConsume(topic string, n int) (phaseResult, error) {
	total := e.consumeFill(n)
	if err := e.fill(topic, total); err != nil {
		return phaseResult{}, err
	}
	runtime.GC() // the fill allocated: start the timed part from a collected heap
	cfg := nsq.NewConfig()
	cfg.MaxInFlight = e.subRdy
	c, err := nsq.NewConsumer(topic, benchChannel, cfg)
	if err != nil {
		return phaseResult{}, err
	}
	// Error level: at Warning, Stop logs "there are 0 connections left alive".
	c.SetLogger(log.New(os.Stderr, "[go-nsq] ", log.LstdFlags), nsq.LogLevelError)
	cnt := newCounter(n)
	c.AddHandler(nsq.HandlerFunc(func(*nsq.Message) error {
		cnt.add()
		return nil
	}))
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		c.Stop()
		select {
		case <-c.StopChan:
			return nil
		case <-time.After(40 * time.Second):
			return errors.New("go-nsq consumer did not stop within 40s")
		}
	}
	defer stop()

	start := time.Now()
	if err := c.ConnectToNSQD(e.nsqd.tcpAddr); err != nil {
		return phaseResult{}, fmt.Errorf("go-nsq connect: %w", err)
	}
	if err := cnt.wait(e.consumeWait); err != nil {
		return phaseResult{}, fmt.Errorf("go-nsq: %w", err)
	}
	res := newResult(int64(n), cnt.end.Sub(start))

	if err := e.await(10*time.Second, checkConsumed(total), topic); err != nil {
		return phaseResult{}, fmt.Errorf("verify: %w", err)
	}
	if err := stop(); err != nil {
		return phaseResult{}, err
	}
	if err := e.await(10*time.Second, checkDrained(total), topic); err != nil {
		return phaseResult{}, fmt.Errorf("verify after Stop: %w", err)
	}
	if got := cnt.count.Load(); got != int64(total) {
		return phaseResult{}, fmt.Errorf("verify: handler ran %d times for %d messages", got, total)
	}
	return res, nil
}

// ---- ours (libgnsq core) ---------------------------------------------------

func (e *env) oursConsume(topic string, n int, profName string) (phaseResult, error) {
	total := e.consumeFill(n)
	if err := e.fill(topic, total); err != nil {
		return phaseResult{}, err
	}
	runtime.GC() // the fill allocated: start the timed part from a collected heap
	cfg := gnsq.NewConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := cfg.Set("max_in_flight", strconv.Itoa(e.subRdy)); err != nil {
		return phaseResult{}, err
	}
	cnt := newCounter(n)
	var hookErr firstError
	var closing atomic.Bool
	c, err := gnsq.NewConsumer(topic, benchChannel, func(*gnsq.Message) error {
		cnt.add()
		return nil
	}, gnsq.WithNsqd(e.nsqd.tcpAddr), gnsq.WithConfig(cfg), gnsq.WithConsumerHooks(gnsq.ConsumerHooks{
		OnError: func(_ uint32, err error) {
			if !closing.Load() {
				hookErr.set(err)
			}
		},
	}))
	if err != nil {
		return phaseResult{}, err
	}
	closed := false
	closeConsumer := func() error {
		if closed {
			return nil
		}
		closed = true
		closing.Store(true)
		c.Close()
		if !c.Join(10 * time.Second) {
			return errors.New("our consumer's goroutines did not exit within 10s of Close")
		}
		return nil
	}
	defer closeConsumer()

	var res phaseResult
	err = e.profile(profName, func() error {
		start := time.Now()
		if err := c.Start(context.Background()); err != nil {
			return err
		}
		if len(c.Connections()) != 1 {
			return fmt.Errorf("not connected after Start (%v)", hookErr.get())
		}
		if err := cnt.wait(e.consumeWait); err != nil {
			return err
		}
		res = newResult(int64(n), cnt.end.Sub(start))
		return nil
	})
	if err != nil {
		return phaseResult{}, fmt.Errorf("ours: %w", err)
	}

	// Close does not wait for the FINs still buffered; check while
	// connected that nsqd got them all.
	if err := e.await(10*time.Second, checkConsumed(total), topic); err != nil {
		return phaseResult{}, fmt.Errorf("verify: %w", err)
	}
	if err := closeConsumer(); err != nil {
		return phaseResult{}, err
	}
	if err := e.await(10*time.Second, checkDrained(total), topic); err != nil {
		return phaseResult{}, fmt.Errorf("verify after Close: %w", err)
	}
	if got := cnt.count.Load(); got != int64(total) {
		return phaseResult{}, fmt.Errorf("verify: handler ran %d times for %d messages", got, total)
	}
	if err := hookErr.get(); err != nil {
		return phaseResult{}, fmt.Errorf("ours: OnError: %w", err)
	}
	return res, nil
}
