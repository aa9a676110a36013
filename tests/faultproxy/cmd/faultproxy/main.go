// Command faultproxy runs the fault proxy of package faultproxy between
// clients and a server, for tests in any language.
//
//	faultproxy -target 127.0.0.1:4150 [-listen 127.0.0.1:0] [fault flags]
//
// It prints the address it listens on as the first line of stdout, then
// reads commands from stdin, one a line, each answered on stdout with a
// line starting "ok" or "error:":
//
//	set <fault flags>   change the faults named (e.g. set -latency=200ms -blackhole)
//	clear               no faults
//	reset               RST every open connection
//	close               FIN every open connection
//	down [-reset]       refuse connects and close every open connection
//	up                  listen again
//	stats               ok open=N accepted=N up=BYTES down=BYTES
//	quit                exit
//
// It exits when stdin ends (so a dead test leaves nothing running) unless
// -stdin=false, and on SIGINT/SIGTERM.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/libgnsq/libgnsq/tests/faultproxy"
)

// faultFlags binds the fault flags to f; used for the command line and
// for "set".
func faultFlags(fs *flag.FlagSet, f *faultproxy.Faults) {
	fs.DurationVar(&f.Latency, "latency", f.Latency, "delay added to every chunk, each direction")
	fs.DurationVar(&f.Jitter, "jitter", f.Jitter, "latency varies within ±jitter")
	fs.IntVar(&f.Bandwidth, "bandwidth", f.Bandwidth, "bytes/s per direction and connection (0: unlimited)")
	fs.BoolVar(&f.Blackhole, "blackhole", f.Blackhole, "forward nothing, pass no close; new connections accepted, never forwarded")
	fs.IntVar(&f.ChunkSize, "chunk", f.ChunkSize, "forward in writes of at most this many bytes (1: byte by byte)")
	fs.Int64Var(&f.LimitUp, "limit-up", f.LimitUp, "cut a connection after this many bytes client->server (0: none)")
	fs.Int64Var(&f.LimitDown, "limit-down", f.LimitDown, "cut a connection after this many bytes server->client (0: none)")
	fs.BoolVar(&f.Reset, "reset", f.Reset, "a limit cut sends RST instead of FIN")
}

func main() {
	var f faultproxy.Faults
	fs := flag.NewFlagSet("faultproxy", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	target := fs.String("target", "", "server address (host:port), required")
	useStdin := fs.Bool("stdin", true, "read commands from stdin and exit when it ends")
	faultFlags(fs, &f)
	fs.Parse(os.Args[1:])
	if *target == "" {
		fmt.Fprintln(os.Stderr, "faultproxy: -target is required")
		fs.Usage()
		os.Exit(2)
	}
	p, err := faultproxy.Listen(*listen, *target)
	if err != nil {
		fmt.Fprintln(os.Stderr, "faultproxy:", err)
		os.Exit(1)
	}
	defer p.Close()
	p.Set(f)
	fmt.Println(p.Addr())

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	if *useStdin {
		go func() {
			defer close(done)
			serve(p, os.Stdin, os.Stdout)
		}()
	}
	select {
	case <-sigs:
	case <-done:
	}
}

// serve runs commands from in until EOF or quit.
func serve(p *faultproxy.Proxy, in io.Reader, out io.Writer) {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		args := strings.Fields(sc.Text())
		if len(args) == 0 {
			continue
		}
		reply, quit := run(p, args)
		fmt.Fprintln(out, reply)
		if quit {
			return
		}
	}
}

func run(p *faultproxy.Proxy, args []string) (reply string, quit bool) {
	switch args[0] {
	case "set":
		f := p.Faults()
		fs := flag.NewFlagSet("set", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		faultFlags(fs, &f)
		if err := fs.Parse(args[1:]); err != nil {
			return "error: " + err.Error(), false
		}
		if fs.NArg() > 0 {
			return "error: unexpected " + fs.Arg(0), false
		}
		p.Set(f)
	case "clear":
		p.Set(faultproxy.Faults{})
	case "reset":
		p.ResetAll()
	case "close":
		p.CloseAll()
	case "down":
		p.Down(len(args) > 1 && args[1] == "-reset")
	case "up":
		if err := p.Up(); err != nil {
			return "error: " + err.Error(), false
		}
	case "stats":
		return fmt.Sprintf("ok open=%d accepted=%d up=%d down=%d", p.Open(), p.Accepted(), p.Bytes(faultproxy.Up), p.Bytes(faultproxy.Down)), false
	case "quit":
		return "ok", true
	default:
		return "error: unknown command " + args[0], false
	}
	return "ok", false
}
