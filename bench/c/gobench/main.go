// Command gobench is the Go side of bench/c/run.sh: the Go Consumer and
// Producer doing exactly what consume_bench.c and publish_bench.c do
// through the C ABI, printing the same one-line reports, so that the C
// overhead is measured against the same nsqd, fill and round.
//
//	gobench consume <nsqd host:port> <topic> <channel> <N> <max_in_flight>
//	gobench publish <nsqd host:port> <topic> <M>
//
// consume: a Consumer with max_in_flight whose handler returns nil (the
// Consumer finishes the message, like GNSQ_RESP_HANDLER_OK), timed from
// Start until the handler sees the N-th message; it closes once N FINs
// were sent and reports how many were sent as "answered". publish: a connected
// Producer making M synchronous 100-byte publishes, timed from the first
// call to the last answer.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	gnsq "github.com/libgnsq/libgnsq/core"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "consume":
		err = consume(os.Args[2:])
	case "publish":
		err = publish(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gobench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: gobench consume <nsqd> <topic> <channel> <N> <max_in_flight>\n       gobench publish <nsqd> <topic> <M>")
	os.Exit(2)
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func consume(args []string) error {
	if len(args) != 5 {
		usage()
	}
	addr, topic, channel := args[0], args[1], args[2]
	n, err := strconv.ParseInt(args[3], 10, 64)
	if err != nil || n <= 0 {
		return fmt.Errorf("N must be a positive integer")
	}
	cfg := gnsq.NewConfig()
	if err := cfg.Set("max_in_flight", args[4]); err != nil {
		return err
	}
	var got, finished atomic.Int64
	reached, allFinished := make(chan struct{}), make(chan struct{})
	var tEnd time.Time
	var cpuEnd float64
	handler := func(*gnsq.Message) error {
		if got.Add(1) == n {
			tEnd, cpuEnd = time.Now(), cpuSeconds()
			close(reached)
		}
		return nil
	}
	// FINs are counted as the Consumer sends them: a handler still running
	// when Close starts loses its FIN, so "answered" is what was finished.
	countFinish := func(uint32, gnsq.MessageID) {
		if finished.Add(1) == n {
			close(allFinished)
		}
	}
	c, err := gnsq.NewConsumer(topic, channel, handler, gnsq.WithNsqd(addr), gnsq.WithConfig(cfg),
		gnsq.WithConsumerHooks(gnsq.ConsumerHooks{OnFinish: countFinish}))
	if err != nil {
		return err
	}
	cpu0, t0 := cpuSeconds(), time.Now()
	if err := c.Start(context.Background()); err != nil {
		return err
	}
	timeout := time.After(time.Minute)
	for _, ch := range []chan struct{}{reached, allFinished} {
		select {
		case <-ch:
		case <-timeout:
			c.Close()
			return fmt.Errorf("only %d of %d messages handled, %d finished, within a minute", got.Load(), n, finished.Load())
		}
	}
	c.Close()
	if !c.Join(10 * time.Second) {
		return fmt.Errorf("consumer did not stop within 10 s")
	}
	secs := tEnd.Sub(t0).Seconds()
	fmt.Printf("mode=go wait=go n=%d answered=%d seconds=%.6f msg_per_s=%.0f cpu_us_per_msg=%.3f\n",
		n, finished.Load(), secs, float64(n)/secs, (cpuEnd-cpu0)*1e6/float64(n))
	return nil
}

func publish(args []string) error {
	if len(args) != 3 {
		usage()
	}
	addr, topic := args[0], args[1]
	m, err := strconv.Atoi(args[2])
	if err != nil || m <= 0 {
		return fmt.Errorf("M must be a positive integer")
	}
	connected := make(chan struct{}, 1)
	p, err := gnsq.NewProducer(gnsq.WithNsqd(addr), gnsq.WithProducerHooks(gnsq.ProducerHooks{OnConnect: func(uint32, string) {
		select {
		case connected <- struct{}{}:
		default:
		}
	}}))
	if err != nil {
		return err
	}
	if err := p.Start(context.Background()); err != nil {
		return err
	}
	defer p.Close()
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("not connected to %s within 10 s", addr)
	}
	body := make([]byte, 100)
	for i := range body {
		body[i] = 'x'
	}
	lat := make([]time.Duration, m)
	cpu0 := cpuSeconds()
	t0 := time.Now()
	prev := t0
	for i := 0; i < m; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := p.Publish(ctx, topic, body)
		cancel()
		if err != nil {
			return err
		}
		t := time.Now()
		lat[i], prev = t.Sub(prev), t
	}
	cpu1 := cpuSeconds()
	total := prev.Sub(t0)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	fmt.Printf("method=go n=%d seconds=%.6f msg_per_s=%.0f us_per_call=%.2f p50_us=%.2f p99_us=%.2f cpu_us_per_call=%.2f\n",
		m, total.Seconds(), float64(m)/total.Seconds(), us(total)/float64(m), us(lat[m/2]), us(lat[m*99/100]), (cpu1-cpu0)*1e6/float64(m))
	return nil
}
