package main

import (
	"bytes"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strings"
)

// The chart: one panel per metric, one horizontal bar per client (the
// median rate) with a whisker for the rounds' min–max, each panel on its own
// scale (synchronous PUB is ~50x slower than MPUB), and ours' ratios of the
// medians next to the panel's title. Plain SVG 1.1, no script, no external
// font or stylesheet, so it renders the same on GitHub and in a browser.

const (
	svgWidth    = 820
	svgLabelX   = 16  // client names
	svgBarX     = 200 // bars start
	svgBarMaxW  = 440 // longest whisker
	svgBarH     = 18
	svgBarGap   = 6
	svgPanelGap = 22
)

var svgColors = map[string]string{
	clientBenchWriter: "#9e9e9e",
	clientBenchReader: "#9e9e9e",
	clientGoNSQ:       "#6baed6",
	clientOurs:        "#e6550d",
}

func svgClientLabel(c string) string {
	switch c {
	case clientBenchWriter, clientBenchReader:
		return "nsqd " + c
	case clientGoNSQ:
		return "go-nsq " + goNSQVersion()
	default:
		return "ours (libgnsq core)"
	}
}

// defaultSVGPath is docs/benchmarks.svg of the repository (the directory
// holding both bench/ and docs/), found from the working directory upwards.
func defaultSVGPath() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isDir(filepath.Join(dir, "docs")) && isDir(filepath.Join(dir, "bench", "cmd", "nsqbench")) {
			return filepath.Join(dir, "docs", "benchmarks.svg"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no repository with docs/ and bench/ above the working directory; use -svg <file>")
		}
		dir = parent
	}
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// writeSVG writes the chart of res to path.
func writeSVG(path string, o *options, metrics []metric, res samples, info runInfo) error {
	var b bytes.Buffer
	esc := html.EscapeString
	text := func(x, y int, attrs, s string) {
		fmt.Fprintf(&b, `<text x="%d" y="%d"%s>%s</text>`+"\n", x, y, attrs, esc(s))
	}

	// Height: header, legend, panels, footer.
	const top = 92
	height := top
	for _, m := range metrics {
		height += 24 + len(m.clients)*(svgBarH+svgBarGap) + svgPanelGap
	}
	height += 30

	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?>`+"\n")
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="13">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(&b, `<title>nsqbench: libgnsq core vs go-nsq vs nsqd's bench tools</title>`+"\n")
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="#ffffff"/>`+"\n")
	text(svgLabelX, 26, ` font-size="17" font-weight="bold"`, "Throughput against one local nsqd, msg/s (higher is better)")
	text(svgLabelX, 46, ` fill="#444444"`, fmt.Sprintf("%s; %s", info.machine, info.versions))
	text(svgLabelX, 64, ` fill="#444444"`, fmt.Sprintf("median of %d rounds (+%d warm-up), whiskers min–max; 100 B bodies; %s", o.rounds, o.warmup, info.date))

	// Legend.
	x := svgLabelX
	for _, c := range []string{clientBenchWriter + "/" + clientBenchReader, clientGoNSQ, clientOurs} {
		key := strings.SplitN(c, "/", 2)[0]
		label := svgClientLabel(key)
		if key == clientBenchWriter {
			label = "nsqd's bench_writer / bench_reader"
		}
		fmt.Fprintf(&b, `<rect x="%d" y="74" width="12" height="12" fill="%s"/>`+"\n", x, svgColors[key])
		text(x+17, 85, "", label)
		x += 17 + 7*len(label) + 24
	}

	y := top
	for _, m := range metrics {
		r := res[m.key]
		y += 18
		text(svgLabelX, y, ` font-weight="bold"`, m.title)
		if ratios := svgRatios(m, r); ratios != "" {
			text(svgWidth-16, y, ` text-anchor="end" fill="#e6550d" font-weight="bold"`, ratios)
		}
		y += 6
		scale := 0.0
		for _, c := range m.clients {
			if len(r[c]) > 0 {
				scale = max(scale, spreadOf(rates(r[c])).max)
			}
		}
		for _, c := range m.clients {
			mid := y + svgBarH/2
			text(svgLabelX, mid+5, "", svgClientLabel(c))
			if len(r[c]) == 0 || scale <= 0 {
				text(svgBarX, mid+5, ` fill="#888888"`, "not run")
				y += svgBarH + svgBarGap
				continue
			}
			s := spreadOf(rates(r[c]))
			w := func(v float64) float64 { return v / scale * svgBarMaxW }
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", svgBarX, y, w(s.med), svgBarH, svgColors[c])
			x1, x2 := float64(svgBarX)+w(s.min), float64(svgBarX)+w(s.max)
			fmt.Fprintf(&b, `<path d="M%.1f %dH%.1fM%.1f %dV%dM%.1f %dV%d" stroke="#222222" stroke-width="1.2" fill="none"/>`+"\n",
				x1, mid, x2, x1, mid-5, mid+5, x2, mid-5, mid+5)
			text(int(x2)+8, mid+5, "", thousands(s.med))
			y += svgBarH + svgBarGap
		}
		y += svgPanelGap - svgBarGap
	}
	text(svgLabelX, height-12, ` fill="#666666" font-size="11"`,
		"Written by bench/cmd/nsqbench (./build.sh bench); method and all numbers in BENCHMARKS.md. Each panel has its own scale.")
	fmt.Fprintf(&b, "</svg>\n")

	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// svgRatios is "ours 1.01x bench_writer, 1.24x go-nsq" for a metric.
func svgRatios(m metric, r map[string][]phaseResult) string {
	var parts []string
	for _, c := range m.clients {
		if c == clientOurs {
			continue
		}
		if q, _, ok := ratio(r[clientOurs], r[c]); ok {
			parts = append(parts, fmt.Sprintf("%.2fx %s", q, c))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "ours: " + strings.Join(parts, ", ")
}
