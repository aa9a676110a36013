package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"time"
)

// runInfo describes the run for the report and the chart.
type runInfo struct {
	machine  string // CPUs, CPU model, OS/arch, GOMAXPROCS
	versions string // nsqd, go-nsq, Go
	date     string
}

func collectRunInfo(nsqdBin string) runInfo {
	machine := fmt.Sprintf("%d CPUs", runtime.NumCPU())
	if model := cpuModel(); model != "" {
		machine += " (" + model + ")"
	}
	machine += fmt.Sprintf(", %s/%s, GOMAXPROCS %d", runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0))
	nsqdVersion := "nsqd (version unknown)"
	if out, err := exec.Command(nsqdBin, "--version").Output(); err == nil {
		// "nsqd v1.3.0 (built w/go1.26.8)"
		if f := strings.Fields(string(out)); len(f) >= 2 && f[0] == "nsqd" {
			nsqdVersion = "nsqd " + f[1]
		}
	}
	return runInfo{
		machine:  machine,
		versions: fmt.Sprintf("%s, go-nsq %s, %s", nsqdVersion, goNSQVersion(), runtime.Version()),
		date:     time.Now().UTC().Format("2006-01-02 15:04 UTC"),
	}
}

// cpuModel is the first "model name" of /proc/cpuinfo, or "".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// goNSQVersion is the go-nsq version this program was built with.
func goNSQVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/nsqio/go-nsq" {
				if d.Replace != nil {
					d = d.Replace
				}
				return d.Version
			}
		}
	}
	return "v1.1.0" // bench/go.mod's
}

// spread is the median and range of a set of values.
type spread struct{ med, min, max float64 }

func spreadOf(v []float64) spread {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return spread{med: med, min: s[0], max: s[n-1]}
}

func rates(rs []phaseResult) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = r.rate
	}
	return out
}

// roundRatios are ours/other per round (both measured in the same round).
func roundRatios(ours, other []phaseResult) []float64 {
	out := make([]float64, 0, len(ours))
	for i := range ours {
		if i < len(other) {
			out = append(out, ours[i].rate/other[i].rate)
		}
	}
	return out
}

// thousands formats v rounded to an integer with comma separators.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func rateCell(rs []phaseResult) string {
	if len(rs) == 0 {
		return "–"
	}
	s := spreadOf(rates(rs))
	return fmt.Sprintf("**%s** (%s–%s)", thousands(s.med), thousands(s.min), thousands(s.max))
}

// ratio is the ratio of the medians, and the range of the per-round ratios.
func ratio(ours, other []phaseResult) (float64, spread, bool) {
	if len(ours) == 0 || len(other) == 0 {
		return 0, spread{}, false
	}
	r := spreadOf(rates(ours)).med / spreadOf(rates(other)).med
	return r, spreadOf(roundRatios(ours, other)), true
}

func ratioCell(ours, other []phaseResult) string {
	r, s, ok := ratio(ours, other)
	if !ok {
		return "–"
	}
	return fmt.Sprintf("**%.2fx** (%.2f–%.2f)", r, s.min, s.max)
}

func printReport(w io.Writer, o *options, metrics []metric, res samples, info runInfo) {
	var pubs, subs []metric
	for _, m := range metrics {
		if m.kind == kindSub {
			subs = append(subs, m)
		} else {
			pubs = append(pubs, m)
		}
	}
	header := fmt.Sprintf("%s; %s; %s; %d rounds (+%d warm-up)",
		info.date, info.machine, info.versions, o.rounds, o.warmup)
	if len(pubs) > 0 {
		fmt.Fprintf(w, "\n## Publish throughput (msg/s)\n\n")
		fmt.Fprintf(w, "%s; N=%d (MPUB), M=%d (PUB); bench_writer -runfor=%s with %d connection(s)\n\n",
			header, o.n, o.m, o.bwRunforString(), o.bwProcs)
		printTable(w, pubs, res, clientBenchWriter)
		fmt.Fprintf(w, "Every measurement used a fresh topic whose nsqd message_count was checked afterwards.\n\n")
		fmt.Fprintf(w, "Targets:\n")
		if r, _, ok := ratio(res["mpub"][clientOurs], res["mpub"][clientBenchWriter]); ok {
			fmt.Fprintf(w, "- MPUB >= 0.90x bench_writer: %.2fx — %s\n", r, verdict(r >= 0.9))
		}
		if r, _, ok := ratio(res["pub"][clientOurs], res["pub"][clientGoNSQ]); ok {
			fmt.Fprintf(w, "- sync PUB >= 1.00x go-nsq: %.2fx — %s\n", r, verdict(r >= 1.0))
		}
	}
	if len(subs) > 0 {
		fmt.Fprintf(w, "\n## Consume throughput (msg/s)\n\n")
		fmt.Fprintf(w, "%s; sub-N=%d (go-nsq, ours), RDY/max_in_flight %d; bench_reader -runfor=%s with %d connection(s)\n\n",
			header, o.subN, o.subRdy, o.brRunforString(), o.brProcs)
		printTable(w, subs, res, clientBenchReader)
		fmt.Fprintf(w, "Every measurement used a fresh topic and channel filled beforehand (not timed). go-nsq and ours: N + 2 x RDY messages, timed from connecting until the N-th reached the handler; then nsqd's /stats had to show every message delivered once and finished, none in flight, queued, deferred or requeued. bench_reader: runs for -runfor on a topic holding more than it reads; its count had to lie between nsqd's finished and delivered counts.\n\n")
		fmt.Fprintf(w, "Targets:\n")
		if r, _, ok := ratio(res["sub"][clientOurs], res["sub"][clientBenchReader]); ok {
			fmt.Fprintf(w, "- consume >= 0.80x bench_reader: %.2fx — %s\n", r, verdict(r >= 0.8))
		}
		if r, _, ok := ratio(res["sub"][clientOurs], res["sub"][clientGoNSQ]); ok {
			fmt.Fprintf(w, "- consume >= 3.00x go-nsq: %.2fx — %s\n", r, verdict(r >= 3.0))
		}
	}
}

// printTable prints one Markdown table of metrics, tool being nsqd's own
// benchmark program for them.
func printTable(w io.Writer, metrics []metric, res samples, tool string) {
	fmt.Fprintf(w, "| Metric | %s | go-nsq %s | ours | ours / %s | ours / go-nsq |\n", tool, goNSQVersion(), tool)
	fmt.Fprintf(w, "|---|---:|---:|---:|---:|---:|\n")
	for _, m := range metrics {
		r := res[m.key]
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", m.title,
			rateCell(r[tool]), rateCell(r[clientGoNSQ]), rateCell(r[clientOurs]),
			ratioCell(r[clientOurs], r[tool]), ratioCell(r[clientOurs], r[clientGoNSQ]))
	}
	fmt.Fprintf(w, "\nCells: **median** (min–max) over the rounds. Ratios: **ratio of the medians** (min–max of the per-round ratios).\n")
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
