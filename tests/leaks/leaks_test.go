// Package leaks checks that Producer and Consumer give back everything
// they take (R39 of the reliability list, issue 11): goroutines, OS
// threads and file descriptors return to their baseline after 100
// create/start/publish/consume/close cycles against a real nsqd; and that
// consuming 1,000,000 messages keeps RSS flat (GNSQ_LEAKS_1M=1 only: it
// takes a while). The C ABI's counterpart is tests/c/src/leaks_test.c.
package leaks

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gnsq "github.com/libgnsq/libgnsq/core"
	"github.com/libgnsq/libgnsq/tests/nsqtest"
)

// counts is what the process holds at one moment.
type counts struct{ goroutines, threads, fds int }

func (c counts) String() string {
	return fmt.Sprintf("%d goroutines, %d threads, %d fds", c.goroutines, c.threads, c.fds)
}

// procStatus returns a field of /proc/self/status in kB or units.
func procStatus(t testing.TB, field string) int {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

func snapshot(t testing.TB) counts {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd") // its own fd is counted every time alike
	if err != nil {
		t.Fatal(err)
	}
	return counts{goroutines: runtime.NumGoroutine(), threads: procStatus(t, "Threads"), fds: len(fds)}
}

// threadSlack is how many OS threads more than the baseline are accepted.
// The Go runtime never ends an idle thread (only one whose locked
// goroutine exits), so the count only rises, to the most threads ever
// busy at once (goroutines in blocking syscalls, GC workers): a cycle that
// happens to block a few more at once than the warm-up did leaves a few
// more behind. That is bounded by concurrency, not by the number of
// cycles; a thread leaked per cycle would show as 100 or more.
const threadSlack = 6

// leaks compares now with base: goroutines and fds must be back to the
// baseline (or below), threads within threadSlack.
func leaks(base, now counts) []string {
	var out []string
	if now.goroutines > base.goroutines {
		out = append(out, fmt.Sprintf("%d goroutines more than the baseline", now.goroutines-base.goroutines))
	}
	if now.fds > base.fds {
		out = append(out, fmt.Sprintf("%d fds more than the baseline", now.fds-base.fds))
	}
	if now.threads > base.threads+threadSlack {
		out = append(out, fmt.Sprintf("%d threads more than the baseline (slack %d)", now.threads-base.threads, threadSlack))
	}
	return out
}

// settle waits up to timeout for leaks(base, now) to be empty (goroutines
// end and sockets close a moment after Join) and returns the last count.
func settle(t testing.TB, base counts, timeout time.Duration) (counts, []string) {
	deadline := time.Now().Add(timeout)
	for {
		now := snapshot(t)
		l := leaks(base, now)
		if len(l) == 0 || time.Now().After(deadline) {
			return now, l
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// quiet waits (up to 2 s) until goroutines and fds hold still for 100 ms,
// so that a baseline does not count what is about to end, and returns it.
func quiet(t testing.TB) counts {
	prev := snapshot(t)
	stable := 0
	for deadline := time.Now().Add(2 * time.Second); stable < 5 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		now := snapshot(t)
		if now.goroutines == prev.goroutines && now.fds == prev.fds {
			stable++
		} else {
			stable = 0
		}
		prev = now
	}
	return prev
}

func goroutineDump() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

func fdList(t testing.TB) string {
	entries, _ := os.ReadDir("/proc/self/fd")
	var b strings.Builder
	for _, e := range entries {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		fmt.Fprintf(&b, "%s -> %s\n", e.Name(), target)
	}
	return b.String()
}

func config(t testing.TB, kv ...string) *gnsq.Config {
	t.Helper()
	cfg := gnsq.NewConfig()
	kv = append([]string{"log_level", "off"}, kv...)
	for i := 0; i < len(kv); i += 2 {
		if err := cfg.Set(kv[i], kv[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	return cfg
}

func ctxTimeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

var topicSeq atomic.Int64

func uniqueTopic(prefix string) string {
	return fmt.Sprintf("%s_%d_%d", prefix, time.Now().UnixNano(), topicSeq.Add(1))
}

// cycle creates, starts, uses and closes one Producer and one Consumer:
// a PUB, an MPUB and an async PUB, then the consumer receives all 10
// messages, finishes them, and both close and join.
func cycle(t testing.TB, addr string) {
	t.Helper()
	topic := uniqueTopic("leaks")
	p, err := gnsq.NewProducer(gnsq.WithNsqd(addr), gnsq.WithConfig(config(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(ctxTimeout(t, 10*time.Second), topic, []byte("pub")); err != nil {
		t.Fatal(err)
	}
	bodies := make([][]byte, 8)
	for i := range bodies {
		bodies[i] = []byte("mpub-" + strconv.Itoa(i))
	}
	if err := p.MultiPublish(ctxTimeout(t, 10*time.Second), topic, bodies); err != nil {
		t.Fatal(err)
	}
	r, err := p.PublishAsync(ctxTimeout(t, 10*time.Second), topic, 0, []byte("async"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Wait(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}

	got := make(chan struct{}, 10)
	c, err := gnsq.NewConsumer(topic, "ch", func(*gnsq.Message) error {
		got <- struct{}{}
		return nil
	}, gnsq.WithNsqd(addr), gnsq.WithConfig(config(t, "max_in_flight", "4", "output_buffer_size", "-1"))) // unbuffered: no 250 ms flush wait per cycle
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	for i := 0; i < 10; i++ {
		select {
		case <-got:
		case <-timeout:
			t.Fatalf("received %d of 10 messages in 10 s", i)
		}
	}
	c.Close()
	if !c.Join(10 * time.Second) {
		t.Fatal("consumer did not join within 10 s of Close")
	}
	p.Close()
	if !p.Join(10 * time.Second) {
		t.Fatal("producer did not join within 10 s of Close")
	}
}

// R39: 100 cycles of Producer and Consumer leave no goroutine, fd or
// thread behind.
func TestProducerConsumerCyclesLeakNothing(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	cycle(t, nsqd.TCPAddr) // warm-up: lazily started runtime and package state
	base := quiet(t)       // once the warm-up's goroutines ended
	for i := 0; i < 100; i++ {
		cycle(t, nsqd.TCPAddr)
	}
	now, l := settle(t, base, 5*time.Second)
	t.Logf("baseline: %v; after 100 cycles: %v", base, now)
	if len(l) > 0 {
		t.Errorf("after 100 cycles: %s\nbaseline %v, now %v\nfds:\n%s\ngoroutines:\n%s",
			strings.Join(l, ", "), base, now, fdList(t), goroutineDump())
	}
}

// The checks above can fail: a goroutine and an fd left behind on purpose
// are both reported, and a thread leak beyond the slack too.
func TestLeakCheckDetectsLeaks(t *testing.T) {
	base := quiet(t)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); <-stop }()
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	_, l := settle(t, base, 100*time.Millisecond)
	close(stop)
	wg.Wait()
	f.Close()
	joined := strings.Join(l, ", ")
	if !strings.Contains(joined, "1 goroutines more") || !strings.Contains(joined, "1 fds more") {
		t.Fatalf("a leaked goroutine and fd were reported as %q", joined)
	}
	if len(leaks(base, counts{base.goroutines, base.threads + threadSlack + 1, base.fds})) != 1 {
		t.Fatal("a thread count beyond the slack was not reported")
	}
	if _, l := settle(t, base, 5*time.Second); len(l) > 0 {
		t.Fatalf("released, still reported: %v", l)
	}
}

// rssKB is the process's resident set (VmRSS) in KiB.
func rssKB(t testing.TB) int { return procStatus(t, "VmRSS") }

// R39/R13: consuming 1,000,000 messages of 100 bytes keeps RSS flat: the
// consumer holds at most max_in_flight messages, and nothing accumulates
// per message. Publishing is done first (its memory given back before the
// baseline); RSS is sampled every 50 ms during the consume and at every
// 100,000 messages. Run with GNSQ_LEAKS_1M=1 (and -v for the figures).
func TestConsumeMillionMessagesRSSFlat(t *testing.T) {
	if os.Getenv("GNSQ_LEAKS_1M") != "1" {
		t.Skip("set GNSQ_LEAKS_1M=1 to consume 1,000,000 messages and report RSS")
	}
	const total, bodySize, batch = 1_000_000, 100, 1000
	nsqd := nsqtest.StartNsqd(t, "--mem-queue-size=100000")
	topic := uniqueTopic("rss")

	start := time.Now()
	p, err := gnsq.NewProducer(gnsq.WithNsqd(nsqd.TCPAddr), gnsq.WithConfig(config(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	results := make([]*gnsq.Result, 0, total/batch)
	for i := 0; i < total; i += batch {
		bodies := make([][]byte, batch)
		for j := range bodies {
			b := []byte(fmt.Sprintf("%010d", i+j))
			bodies[j] = append(b, bytes.Repeat([]byte{'x'}, bodySize-len(b))...)
		}
		r, err := p.MultiPublishAsync(ctxTimeout(t, time.Minute), topic, bodies, nil)
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, r)
	}
	for _, r := range results {
		if _, err := r.Wait(ctxTimeout(t, time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	p.Join(10 * time.Second)
	results = nil
	t.Logf("published %d messages of %d bytes in %v", total, bodySize, time.Since(start).Round(time.Millisecond))

	seen := make([]bool, total)
	var received, duplicates atomic.Int64
	var seenMu sync.Mutex
	done := make(chan struct{})
	runtime.GC()
	debug.FreeOSMemory()
	before := rssKB(t)
	var peak atomic.Int64
	peak.Store(int64(before))
	stopSampling := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
				if r := int64(rssKB(t)); r > peak.Load() {
					peak.Store(r)
				}
			}
		}
	}()
	checkpoints := make([]int, 0, 10)
	var cpMu sync.Mutex
	start = time.Now()
	c, err := gnsq.NewConsumer(topic, "ch", func(m *gnsq.Message) error {
		i, err := strconv.Atoi(string(m.Body[:10]))
		if err != nil || i < 0 || i >= total || len(m.Body) != bodySize {
			return fmt.Errorf("bad body %q", m.Body)
		}
		seenMu.Lock()
		dup := seen[i]
		seen[i] = true
		seenMu.Unlock()
		if dup {
			duplicates.Add(1)
			return nil
		}
		n := received.Add(1)
		if n%100_000 == 0 {
			cpMu.Lock()
			checkpoints = append(checkpoints, rssKB(t))
			cpMu.Unlock()
		}
		if n == total {
			close(done)
		}
		return nil
	}, gnsq.WithNsqd(nsqd.TCPAddr), gnsq.WithConfig(config(t, "max_in_flight", "2500")))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		t.Fatalf("received %d of %d messages in 5 min", received.Load(), total)
	}
	elapsed := time.Since(start)
	c.Close()
	if !c.Join(10 * time.Second) {
		t.Fatal("consumer did not join")
	}
	close(stopSampling)
	sampler.Wait()
	runtime.GC()
	debug.FreeOSMemory()
	after := rssKB(t)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	cpMu.Lock()
	defer cpMu.Unlock()
	t.Logf("consumed %d messages (%d duplicates) in %v (%.0f msg/s)", total, duplicates.Load(),
		elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds())
	t.Logf("RSS before %d KiB, peak %d KiB (+%d), after %d KiB (+%d); at each 100,000: %v KiB; Go heap in use after %d KiB, Go sys %d KiB",
		before, peak.Load(), peak.Load()-int64(before), after, after-before, checkpoints, ms.HeapInuse>>10, ms.Sys>>10)
	// Flat: no growth with the number of messages. A per-message leak of
	// even 32 bytes would add 31 MiB over the million; the whole
	// million's bodies alone are 95 MiB.
	if len(checkpoints) == 10 && checkpoints[9]-checkpoints[0] > 24<<10 {
		t.Errorf("RSS grew %d KiB between 100,000 and 1,000,000 messages", checkpoints[9]-checkpoints[0])
	}
	if peak.Load()-int64(before) > 64<<10 {
		t.Errorf("RSS peaked %d KiB above the baseline", peak.Load()-int64(before))
	}
	if after-before > 16<<10 {
		t.Errorf("RSS %d KiB above the baseline after the consumer closed", after-before)
	}
}
