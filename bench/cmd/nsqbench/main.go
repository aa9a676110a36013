// Command nsqbench compares libgnsq's core against nsqd's own benchmark
// tools and go-nsq v1.1.0, on a real nsqd that it starts (and stops)
// itself: publishing (nsqd's bench_writer, go-nsq's Producer and our
// Producer: MPUB, synchronous PUB, asynchronous PUB) and consuming (nsqd's
// bench_reader, go-nsq's Consumer and our Consumer).
//
// Usage:
//
//	cd bench && go run ./cmd/nsqbench [-quick] [-rounds 5] [-n 200000] [-m 20000] [-sub-n 200000]
//
// Every measurement uses a fresh topic, is checked against nsqd's /stats
// and is repeated -rounds times, the clients taking turns within each
// round. The results are printed as Markdown tables, and a full run also
// writes them as a bar chart to the repository's docs/benchmarks.svg
// (-svg file to write it elsewhere, -svg none for no chart).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const (
	clientBenchWriter = "bench_writer"
	clientBenchReader = "bench_reader"
	clientGoNSQ       = "go-nsq"
	clientOurs        = "ours"
)

const (
	kindPub = "pub"
	kindSub = "sub"
)

type metric struct {
	key     string // short name, used in topics and profile names
	kind    string // kindPub or kindSub: which table it goes to
	title   string
	clients []string
	run     func(e *env, client, topic, profName string) (phaseResult, error)
	count   func(o *options) int
	// verify checks nsqd's /stats after a run; nil when run verifies
	// itself (the consume metric must check while connected).
	verify func(e *env, client, topic string, pr phaseResult) error
}

type options struct {
	nsqdBin, bwBin, brBin string
	n, m, subN, rounds    int
	warmup                int
	subRdy                int
	bwRunfor, brRunfor    time.Duration
	bwProcs, brProcs      int
	cpuProfile            string
	metrics               string
	timeout               time.Duration
	svg                   string
}

func main() {
	os.Exit(run())
}

func run() int {
	var o options
	flag.StringVar(&o.nsqdBin, "nsqd-bin", "", "nsqd binary (default: build/bin/nsqd of the repository, found from the working directory upwards)")
	flag.StringVar(&o.bwBin, "bench-writer-bin", "", "bench_writer binary (default: build/bin/bench_writer next to nsqd)")
	flag.StringVar(&o.brBin, "bench-reader-bin", "", "bench_reader binary (default: build/bin/bench_reader next to nsqd)")
	flag.IntVar(&o.n, "n", 200000, "messages per MPUB measurement (batches of 100)")
	flag.IntVar(&o.m, "m", 20000, "messages per PUB measurement (sync and async)")
	flag.IntVar(&o.subN, "sub-n", 200000, "messages per consume measurement (go-nsq and ours; bench_reader runs for a time)")
	flag.IntVar(&o.subRdy, "sub-rdy", 2500, "consumers' max_in_flight / RDY (nsqd refuses more than its --max-rdy-count, 2500 by default)")
	flag.IntVar(&o.rounds, "rounds", 5, "rounds; each measures every client once per metric")
	flag.IntVar(&o.warmup, "warmup", 1, "extra rounds run first and not reported (nsqd and the Go runtimes settle)")
	flag.DurationVar(&o.bwRunfor, "bw-runfor", 0, "bench_writer -runfor (it runs for a time, not a count); 0: as long as go-nsq's and our MPUB runs took (median so far)")
	flag.IntVar(&o.bwProcs, "bw-conns", 1, "bench_writer connections (its GOMAXPROCS; 1 = one batch outstanding like the others)")
	flag.DurationVar(&o.brRunfor, "br-runfor", 0, "bench_reader -runfor (it runs for a time, not a count); 0: as long as our consume runs took (median so far)")
	flag.IntVar(&o.brProcs, "br-conns", 1, "bench_reader connections (its GOMAXPROCS; 1 = one connection like the others)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of each of OUR phases to `prefix`.<metric>.r<round>.pprof")
	flag.StringVar(&o.metrics, "metrics", "mpub,pub,pubasync,sub", "comma-separated metrics to run (mpub, pub, pubasync, sub)")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Minute, "abort (and stop nsqd) when the whole run takes longer")
	flag.StringVar(&o.svg, "svg", "auto", "write a bar chart of the results (SVG) to `file`; auto: the repository's docs/benchmarks.svg after a full run (all metrics, not -quick), none: no chart")
	quick := flag.Bool("quick", false, "smoke test: small -n/-m/-sub-n, 2 rounds, no warm-up (explicit flags still win)")
	flag.Parse()

	if *quick {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["n"] {
			o.n = 5000
		}
		if !set["m"] {
			o.m = 1000
		}
		if !set["sub-n"] {
			o.subN = 20000
		}
		if !set["rounds"] {
			o.rounds = 2
		}
		if !set["warmup"] {
			o.warmup = 0
		}
	}
	if o.n <= 0 || o.m <= 0 || o.subN <= 0 || o.subRdy <= 0 || o.rounds <= 0 || o.warmup < 0 ||
		o.bwProcs <= 0 || o.brProcs <= 0 || o.bwRunfor < 0 || o.brRunfor < 0 {
		fmt.Fprintln(os.Stderr, "nsqbench: -n, -m, -sub-n, -sub-rdy, -rounds, -bw-conns and -br-conns must be positive, -warmup, -bw-runfor and -br-runfor not negative")
		return 2
	}
	if o.subRdy > 2500 {
		fmt.Fprintln(os.Stderr, "nsqbench: -sub-rdy above 2500, the --max-rdy-count of the nsqd it starts")
		return 2
	}
	if err := resolveBinaries(&o); err != nil {
		fmt.Fprintln(os.Stderr, "nsqbench:", err)
		return 2
	}
	metrics, err := selectMetrics(&o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nsqbench:", err)
		return 2
	}
	// The chart's path is settled before the run, so a bad one fails fast.
	svgPath := o.svg
	switch svgPath {
	case "none", "":
		svgPath = ""
	case "auto":
		svgPath = ""
		if !*quick && len(metrics) == len(allMetrics(&o)) {
			if svgPath, err = defaultSVGPath(); err != nil {
				fmt.Fprintln(os.Stderr, "nsqbench:", err)
				return 2
			}
		}
	}

	nsqd, err := startNsqd(o.nsqdBin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nsqbench:", err)
		return 1
	}
	// nsqd is stopped exactly once: at the end, on error, on a signal or
	// when the watchdog fires.
	var stopOnce sync.Once
	stopNsqd := func() {
		stopOnce.Do(func() {
			if err := nsqd.stop(); err != nil {
				fmt.Fprintln(os.Stderr, "nsqbench:", err)
			}
		})
	}
	defer stopNsqd()
	sigs := make(chan os.Signal, 1)
	// SIGPIPE too: a closed stdout/stderr (| head) must not leave nsqd behind.
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	go func() {
		select {
		case s := <-sigs:
			fmt.Fprintf(os.Stderr, "nsqbench: %v: stopping nsqd\n", s)
		case <-time.After(o.timeout):
			fmt.Fprintf(os.Stderr, "nsqbench: run exceeded -timeout %v: stopping nsqd\n", o.timeout)
		}
		stopNsqd()
		os.Exit(1)
	}()

	fmt.Fprintf(os.Stderr, "nsqd %s (pid %d) tcp %s http %s\n", o.nsqdBin, nsqd.cmd.Process.Pid, nsqd.tcpAddr, nsqd.httpAddr)
	fmt.Fprintf(os.Stderr, "N=%d (MPUB) M=%d (PUB) sub-N=%d RDY %d (consume) rounds=%d (+%d warm-up) body=100 B batch=100\n",
		o.n, o.m, o.subN, o.subRdy, o.rounds, o.warmup)
	fmt.Fprintf(os.Stderr, "bench_writer: -runfor=%s, %d connection(s); bench_reader: -runfor=%s, %d connection(s)\n",
		o.bwRunforString(), o.bwProcs, o.brRunforString(), o.brProcs)

	e := &env{
		nsqd: nsqd, bwBin: o.bwBin, bwProcs: o.bwProcs,
		brBin: o.brBin, brProcs: o.brProcs, subRdy: o.subRdy,
		batchSize: 100, size: 100, cpuProfile: o.cpuProfile,
		asyncWait: 2 * time.Minute, consumeWait: 2 * time.Minute,
	}
	defer e.closeFiller()
	e.body = make([]byte, e.size)
	for i := range e.body {
		e.body[i] = 'a' + byte(i%26)
	}
	e.batches = make([][]byte, e.batchSize)
	for i := range e.batches {
		e.batches[i] = e.body
	}

	results, err := measure(e, &o, metrics)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nsqbench: FAILED:", err)
		return 1
	}
	info := collectRunInfo(o.nsqdBin)
	printReport(os.Stdout, &o, metrics, results, info)
	if svgPath != "" {
		if err := writeSVG(svgPath, &o, metrics, results, info); err != nil {
			fmt.Fprintln(os.Stderr, "nsqbench: chart:", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "chart written to %s\n", svgPath)
	}
	return 0
}

// resolveBinaries fills in the default paths of nsqd, bench_writer and
// bench_reader.
func resolveBinaries(o *options) error {
	if o.nsqdBin == "" {
		dir, err := os.Getwd()
		if err != nil {
			return err
		}
		for {
			cand := filepath.Join(dir, "build", "bin", "nsqd")
			if _, err := os.Stat(cand); err == nil {
				o.nsqdBin = cand
				break
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				return errors.New("build/bin/nsqd not found from the working directory upwards; use -nsqd-bin")
			}
			dir = parent
		}
	}
	if o.bwBin == "" {
		o.bwBin = filepath.Join(filepath.Dir(o.nsqdBin), "bench_writer")
	}
	if o.brBin == "" {
		o.brBin = filepath.Join(filepath.Dir(o.nsqdBin), "bench_reader")
	}
	for _, b := range []string{o.nsqdBin, o.bwBin, o.brBin} {
		if _, err := os.Stat(b); err != nil {
			return err
		}
	}
	return nil
}

func allMetrics(o *options) []metric {
	return []metric{
		{
			key:     "mpub",
			kind:    kindPub,
			verify:  verifyPublished,
			title:   "MPUB, 100 x 100 B per batch, 1 batch outstanding",
			clients: []string{clientBenchWriter, clientGoNSQ, clientOurs},
			count:   func(o *options) int { return o.n },
			run: func(e *env, client, topic, prof string) (phaseResult, error) {
				switch client {
				case clientBenchWriter:
					return e.runBenchWriter(topic)
				case clientGoNSQ:
					return e.goNSQMultiPublish(topic, e.count)
				default:
					return e.oursMultiPublish(topic, e.count, prof)
				}
			},
		},
		{
			key:     "pub",
			kind:    kindPub,
			verify:  verifyPublished,
			title:   "PUB 100 B, synchronous",
			clients: []string{clientGoNSQ, clientOurs},
			count:   func(o *options) int { return o.m },
			run: func(e *env, client, topic, prof string) (phaseResult, error) {
				if client == clientGoNSQ {
					return e.goNSQPublish(topic, e.count)
				}
				return e.oursPublish(topic, e.count, prof)
			},
		},
		{
			key:     "pubasync",
			kind:    kindPub,
			verify:  verifyPublished,
			title:   "PUB 100 B, async (all outstanding)",
			clients: []string{clientGoNSQ, clientOurs},
			count:   func(o *options) int { return o.m },
			run: func(e *env, client, topic, prof string) (phaseResult, error) {
				if client == clientGoNSQ {
					return e.goNSQPublishAsync(topic, e.count)
				}
				return e.oursPublishAsync(topic, e.count, prof)
			},
		},
		{
			key:     "sub",
			kind:    kindSub,
			title:   "consume 100 B, 1 connection, RDY/max_in_flight " + strconv.Itoa(o.subRdy),
			clients: []string{clientBenchReader, clientGoNSQ, clientOurs},
			count:   func(o *options) int { return o.subN },
			run: func(e *env, client, topic, prof string) (phaseResult, error) {
				switch client {
				case clientBenchReader:
					return e.runBenchReader(topic)
				case clientGoNSQ:
					return e.goNSQConsume(topic, e.count)
				default:
					return e.oursConsume(topic, e.count, prof)
				}
			},
		},
	}
}

func selectMetrics(o *options) ([]metric, error) {
	list := o.metrics
	want := map[string]bool{}
	for _, k := range strings.Split(list, ",") {
		if k = strings.TrimSpace(k); k != "" {
			want[k] = true
		}
	}
	var out []metric
	for _, m := range allMetrics(o) {
		if want[m.key] {
			out = append(out, m)
			delete(want, m.key)
		}
	}
	for k := range want {
		return nil, fmt.Errorf("unknown metric %q (want mpub, pub, pubasync, sub)", k)
	}
	if len(out) == 0 {
		return nil, errors.New("no metric selected")
	}
	return out, nil
}

// samples[metricKey][client] holds one phaseResult per round, in order.
type samples map[string]map[string][]phaseResult

// measure runs the publish metrics, then the consume metric, each group
// with its own warm-up rounds and rounds (consuming leaves nsqd with a
// larger heap, which must not shift the publish numbers from round to
// round). Within a round each metric is measured for every client, the
// clients' order rotating from round to round. Warm-up results are
// verified but not kept.
func measure(e *env, o *options, metrics []metric) (samples, error) {
	res := samples{}
	all := samples{} // warm-up included: for the automatic -runfor and fill
	runID := time.Now().Format("150405")
	for _, kind := range []string{kindPub, kindSub} {
		var group []metric
		for _, m := range metrics {
			if m.kind == kind {
				group = append(group, m)
			}
		}
		if err := measureGroup(e, o, group, runID, res, all); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func measureGroup(e *env, o *options, metrics []metric, runID string, res, all samples) error {
	if len(metrics) == 0 {
		return nil
	}
	for r := 1 - o.warmup; r <= o.rounds; r++ {
		label := fmt.Sprintf("round %d/%d", r, o.rounds)
		if r < 1 {
			label = fmt.Sprintf("warm-up %d/%d", r+o.warmup, o.warmup)
		}
		for _, m := range metrics {
			if res[m.key] == nil {
				res[m.key] = map[string][]phaseResult{}
				all[m.key] = map[string][]phaseResult{}
			}
			e.count = m.count(o)
			k := len(m.clients)
			for i := 0; i < k; i++ {
				// The first round ends with nsqd's tool, so an
				// automatic -runfor has the other clients' times to go by.
				client := m.clients[(i+r+o.warmup)%k]
				switch client {
				case clientBenchWriter:
					e.bwRunfor = o.bwRunfor
					if e.bwRunfor == 0 {
						e.bwRunfor = autoRunfor(all[m.key], clientGoNSQ, clientOurs)
					}
				case clientBenchReader:
					e.brRunfor = o.brRunfor
					if e.brRunfor == 0 {
						e.brRunfor = autoRunfor(all[m.key], clientOurs)
					}
					e.brRate = expectedReaderRate(all[m.key])
				}
				topic := fmt.Sprintf("nsqbench-%s-%s-%s-r%d", runID, m.key, strings.ReplaceAll(client, "_", "-"), r+o.warmup)
				// Start every phase from a collected heap.
				runtime.GC()
				prof := fmt.Sprintf("%s.r%d", m.key, r)
				if r < 1 {
					prof = fmt.Sprintf("%s.warmup%d", m.key, r+o.warmup)
				}
				pr, err := m.run(e, client, topic, prof)
				if err != nil {
					return fmt.Errorf("%s, %s, %s: %w", label, m.key, client, err)
				}
				if m.verify != nil {
					if err := m.verify(e, client, topic, pr); err != nil {
						return fmt.Errorf("%s, %s, %s: %w", label, m.key, client, err)
					}
				}
				if err := e.nsqd.deleteTopic(topic); err != nil {
					return fmt.Errorf("delete topic %s: %w", topic, err)
				}
				all[m.key][client] = append(all[m.key][client], pr)
				if r >= 1 {
					res[m.key][client] = append(res[m.key][client], pr)
				}
				fmt.Fprintf(os.Stderr, "%-11s %-8s %-12s %8d msgs in %-12v %10.0f msg/s (verified)\n",
					label, m.key, client, pr.msgs, pr.elapsed.Round(time.Microsecond), pr.rate)
			}
		}
	}
	return nil
}

// autoRunfor is the median duration of the clients' runs so far (300 ms
// if there are none), rounded to the millisecond, at least 50 ms.
func autoRunfor(byClient map[string][]phaseResult, clients ...string) time.Duration {
	var ds []float64
	for _, c := range clients {
		for _, pr := range byClient[c] {
			ds = append(ds, float64(pr.elapsed))
		}
	}
	if len(ds) == 0 {
		return 300 * time.Millisecond
	}
	d := time.Duration(spreadOf(ds).med).Round(time.Millisecond)
	if d < 50*time.Millisecond {
		d = 50 * time.Millisecond
	}
	return d
}

// expectedReaderRate guesses bench_reader's rate (msg/s), to fill its
// topic: the fastest bench_reader run so far, else twice our median, else
// 1,000,000.
func expectedReaderRate(byClient map[string][]phaseResult) float64 {
	best := 0.0
	for _, pr := range byClient[clientBenchReader] {
		best = max(best, pr.rate)
	}
	if best > 0 {
		return best
	}
	if ours := byClient[clientOurs]; len(ours) > 0 {
		return 2 * spreadOf(rates(ours)).med
	}
	return 1e6
}

func (o *options) bwRunforString() string {
	if o.bwRunfor == 0 {
		return "auto (median duration of the go-nsq and ours MPUB runs)"
	}
	return o.bwRunfor.String()
}

func (o *options) brRunforString() string {
	if o.brRunfor == 0 {
		return "auto (median duration of our consume runs)"
	}
	return o.brRunfor.String()
}

// verifyPublished checks nsqd's message_count of the phase's topic against
// what the client reported as published.
func verifyPublished(e *env, client, topic string, pr phaseResult) error {
	got, err := e.nsqd.messageCount(topic)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if client == clientBenchWriter {
		// bench_writer prints a rate, not a count: its count is derived
		// from rate x duration and must be whole batches.
		if got == 0 || got%uint64(e.batchSize) != 0 {
			return fmt.Errorf("verify: nsqd has %d messages, not a positive multiple of %d", got, e.batchSize)
		}
		if d := int64(got) - pr.msgs; d < -1 || d > 1 {
			return fmt.Errorf("verify: nsqd has %d messages, bench_writer reported %d", got, pr.msgs)
		}
		return nil
	}
	if got != uint64(pr.msgs) {
		return fmt.Errorf("verify: nsqd has %d messages, %s published %d", got, client, pr.msgs)
	}
	return nil
}
