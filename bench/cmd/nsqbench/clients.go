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
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	gnsq "github.com/libgnsq/libgnsq/core"
	nsq "github.com/nsqio/go-nsq"
)

// phaseResult is one measurement: msgs messages acknowledged by nsqd in
// elapsed, i.e. rate msg/s.
type phaseResult struct {
	msgs    int64
	elapsed time.Duration
	rate    float64
}

func newResult(msgs int64, elapsed time.Duration) phaseResult {
	return phaseResult{msgs: msgs, elapsed: elapsed, rate: float64(msgs) / elapsed.Seconds()}
}

// env is what every phase needs.
type env struct {
	nsqd        *nsqdProc
	bwBin       string
	bwRunfor    time.Duration
	bwProcs     int
	brBin       string
	brRunfor    time.Duration
	brProcs     int
	brRate      float64 // expected bench_reader msg/s, to size its topic
	subRdy      int     // consumers' max_in_flight (RDY)
	batchSize   int
	size        int
	cpuProfile  string // prefix of our CPU profiles; "" for none
	body        []byte
	batches     [][]byte // one MPUB batch: batchSize times body
	asyncWait   time.Duration
	consumeWait time.Duration
	count       int            // messages of the current metric (N, M or sub-N)
	filler      *gnsq.Producer // fills the consume topics (not timed)
}

// batchesOf calls fn with the bodies of consecutive MPUBs totalling n
// messages (the last one may be short).
func (e *env) batchesOf(n int, fn func(bodies [][]byte) error) error {
	for sent := 0; sent < n; {
		k := e.batchSize
		if n-sent < k {
			k = n - sent
		}
		if err := fn(e.batches[:k]); err != nil {
			return err
		}
		sent += k
	}
	return nil
}

// ---- bench_writer ----------------------------------------------------------

// bench_writer (nsq v1.3.0 bench/bench_writer) logs, through the standard
// log package on stderr, once at the end:
//
//	[bench_writer] <date> <time> duration: <d> - <x>mb/s - <y>ops/s - <z>us/op
//
// where <y> = messages acknowledged by all workers / <d>. It runs one
// worker (connection) per GOMAXPROCS, each with one MPUB outstanding, until
// -runfor has passed; <d> spans from the release of the workers (after
// their connects, including the IDENTIFY round trip) to the last worker's
// end. Every counted batch was answered OK (an error frame panics).
var benchWriterLine = regexp.MustCompile(`duration: (\S+) - ([0-9.]+)mb/s - ([0-9.]+)ops/s - ([0-9.]+)us/op`)

func (e *env) runBenchWriter(topic string) (phaseResult, error) {
	cmd := exec.Command(e.bwBin,
		"-nsqd-tcp-address="+e.nsqd.tcpAddr,
		"-topic="+topic,
		"-size="+strconv.Itoa(e.size),
		"-batch-size="+strconv.Itoa(e.batchSize),
		"-runfor="+e.bwRunfor.String(),
	)
	// One worker per GOMAXPROCS: GOMAXPROCS=1 gives a single connection
	// with one batch outstanding, like the other two clients.
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(e.bwProcs))
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		return phaseResult{}, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return phaseResult{}, fmt.Errorf("bench_writer failed: %v; output:\n%s", err, out.String())
		}
	case <-time.After(e.bwRunfor + 60*time.Second):
		_ = cmd.Process.Kill()
		<-done
		return phaseResult{}, fmt.Errorf("bench_writer did not finish; output:\n%s", out.String())
	}
	m := benchWriterLine.FindStringSubmatch(out.String())
	if m == nil {
		return phaseResult{}, fmt.Errorf("no throughput line in bench_writer output:\n%s", out.String())
	}
	d, err := time.ParseDuration(m[1])
	if err != nil {
		return phaseResult{}, fmt.Errorf("bench_writer duration %q: %v", m[1], err)
	}
	ops, err := strconv.ParseFloat(m[3], 64)
	if err != nil {
		return phaseResult{}, fmt.Errorf("bench_writer ops/s %q: %v", m[3], err)
	}
	// Its message count is ops*duration (ops is printed with 3 decimals,
	// duration to the nanosecond, so this rounds to the exact count).
	msgs := int64(ops*d.Seconds() + 0.5)
	return phaseResult{msgs: msgs, elapsed: d, rate: ops}, nil
}

// ---- go-nsq v1.1.0 ---------------------------------------------------------

func (e *env) newGoNSQ() (*nsq.Producer, error) {
	p, err := nsq.NewProducer(e.nsqd.tcpAddr, nsq.NewConfig())
	if err != nil {
		return nil, err
	}
	p.SetLogger(log.New(os.Stderr, "[go-nsq] ", log.LstdFlags), nsq.LogLevelWarning)
	// Connect now (go-nsq connects lazily), outside the timed part.
	if err := p.Ping(); err != nil {
		p.Stop()
		return nil, fmt.Errorf("go-nsq connect: %w", err)
	}
	return p, nil
}

func (e *env) goNSQMultiPublish(topic string, n int) (phaseResult, error) {
	p, err := e.newGoNSQ()
	if err != nil {
		return phaseResult{}, err
	}
	defer p.Stop()
	start := time.Now()
	err = e.batchesOf(n, func(bodies [][]byte) error { return p.MultiPublish(topic, bodies) })
	elapsed := time.Since(start)
	if err != nil {
		return phaseResult{}, fmt.Errorf("go-nsq MultiPublish: %w", err)
	}
	return newResult(int64(n), elapsed), nil
}

func (e *env) goNSQPublish(topic string, m int) (phaseResult, error) {
	p, err := e.newGoNSQ()
	if err != nil {
		return phaseResult{}, err
	}
	defer p.Stop()
	start := time.Now()
	for i := 0; i < m; i++ {
		if err := p.Publish(topic, e.body); err != nil {
			return phaseResult{}, fmt.Errorf("go-nsq Publish #%d: %w", i, err)
		}
	}
	return newResult(int64(m), time.Since(start)), nil
}

func (e *env) goNSQPublishAsync(topic string, m int) (phaseResult, error) {
	p, err := e.newGoNSQ()
	if err != nil {
		return phaseResult{}, err
	}
	defer p.Stop()
	// Buffered for all m so go-nsq's router never waits on the drainer
	// (as our callback never waits either).
	doneChan := make(chan *nsq.ProducerTransaction, m)
	var completed atomic.Int64
	var firstErr error
	drained := make(chan struct{})
	start := time.Now()
	var end time.Time
	go func() {
		defer close(drained)
		for i := 0; i < m; i++ {
			t := <-doneChan
			if t.Error != nil && firstErr == nil {
				firstErr = t.Error
			}
			completed.Add(1)
		}
		end = time.Now()
	}()
	for i := 0; i < m; i++ {
		if err := p.PublishAsync(topic, e.body, doneChan); err != nil {
			return phaseResult{}, fmt.Errorf("go-nsq PublishAsync #%d: %w", i, err)
		}
	}
	select {
	case <-drained:
	case <-time.After(e.asyncWait):
		return phaseResult{}, fmt.Errorf("go-nsq PublishAsync: only %d of %d completed", completed.Load(), m)
	}
	if firstErr != nil {
		return phaseResult{}, fmt.Errorf("go-nsq PublishAsync result: %w", firstErr)
	}
	return newResult(int64(m), end.Sub(start)), nil
}

// ---- ours (libgnsq core) ---------------------------------------------------

func (e *env) newOurs() (*gnsq.Producer, error) {
	cfg := gnsq.NewConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// Start reports connect failures only through hooks; wait for the
	// connection so that the timed part never includes connecting.
	connected := make(chan struct{}, 1)
	p, err := gnsq.NewProducer(gnsq.WithNsqd(e.nsqd.tcpAddr), gnsq.WithConfig(cfg),
		gnsq.WithProducerHooks(gnsq.ProducerHooks{OnConnect: func(uint32, string) {
			select {
			case connected <- struct{}{}:
			default:
			}
		}}))
	if err != nil {
		return nil, err
	}
	if err := p.Start(context.Background()); err != nil {
		return nil, err
	}
	select {
	case <-connected:
		return p, nil
	case <-time.After(10 * time.Second):
		closeOurs(p)
		return nil, errors.New("ours: not connected to nsqd within 10s")
	}
}

func closeOurs(p *gnsq.Producer) {
	p.Close()
	if !p.Join(10 * time.Second) {
		fmt.Fprintln(os.Stderr, "warning: our producer's goroutines did not exit within 10s")
	}
}

// profile runs fn under a CPU profile written to <prefix>.<name>.pprof when
// a prefix was given.
func (e *env) profile(name string, fn func() error) error {
	if e.cpuProfile == "" {
		return fn()
	}
	path := e.cpuProfile + "." + name + ".pprof"
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	err = fn()
	pprof.StopCPUProfile()
	return err
}

func checkOK(what string, resp []byte) error {
	if string(resp) != "OK" {
		return fmt.Errorf("%s: response %q, want OK", what, resp)
	}
	return nil
}

func (e *env) oursMultiPublish(topic string, n int, profName string) (phaseResult, error) {
	p, err := e.newOurs()
	if err != nil {
		return phaseResult{}, err
	}
	defer closeOurs(p)
	ctx := context.Background()
	var res phaseResult
	err = e.profile(profName, func() error {
		start := time.Now()
		err := e.batchesOf(n, func(bodies [][]byte) error {
			return p.MultiPublish(ctx, topic, bodies)
		})
		res = newResult(int64(n), time.Since(start))
		return err
	})
	if err != nil {
		return phaseResult{}, fmt.Errorf("ours MultiPublish: %w", err)
	}
	return res, nil
}

func (e *env) oursPublish(topic string, m int, profName string) (phaseResult, error) {
	p, err := e.newOurs()
	if err != nil {
		return phaseResult{}, err
	}
	defer closeOurs(p)
	ctx := context.Background()
	var res phaseResult
	err = e.profile(profName, func() error {
		start := time.Now()
		for i := 0; i < m; i++ {
			if err := p.Publish(ctx, topic, e.body); err != nil {
				return fmt.Errorf("#%d: %w", i, err)
			}
		}
		res = newResult(int64(m), time.Since(start))
		return nil
	})
	if err != nil {
		return phaseResult{}, fmt.Errorf("ours Publish: %w", err)
	}
	return res, nil
}

func (e *env) oursPublishAsync(topic string, m int, profName string) (phaseResult, error) {
	p, err := e.newOurs()
	if err != nil {
		return phaseResult{}, err
	}
	defer closeOurs(p)
	ctx := context.Background()
	var res phaseResult
	err = e.profile(profName, func() error {
		var completed atomic.Int64
		var errMu sync.Mutex
		var firstErr error
		all := make(chan struct{})
		var end time.Time
		done := func(r *gnsq.Result) {
			err := r.Err()
			if err == nil {
				err = checkOK("ours PublishAsync", r.Response())
			}
			if err != nil {
				errMu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				errMu.Unlock()
			}
			if completed.Add(1) == int64(m) {
				end = time.Now()
				close(all)
			}
		}
		start := time.Now()
		for i := 0; i < m; i++ {
			if _, err := p.PublishAsync(ctx, topic, 0, e.body, done); err != nil {
				return fmt.Errorf("#%d: %w", i, err)
			}
		}
		select {
		case <-all:
		case <-time.After(e.asyncWait):
			return fmt.Errorf("only %d of %d completed", completed.Load(), m)
		}
		errMu.Lock()
		err := firstErr
		errMu.Unlock()
		if err != nil {
			return fmt.Errorf("result: %w", err)
		}
		res = newResult(int64(m), end.Sub(start))
		return nil
	})
	if err != nil {
		return phaseResult{}, fmt.Errorf("ours PublishAsync: %w", err)
	}
	return res, nil
}
