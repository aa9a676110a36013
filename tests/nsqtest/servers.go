// Package nsqtest runs real nsqd/nsqlookupd v1.3.0 (built into build/bin
// by ./build.sh) for tests: on 127.0.0.1, ports chosen free at start, data
// in a temporary directory, stopped by pid, and killed with the test
// process however it ends (see spawner). It also provides TLS material
// generated at test time, a fake auth server and a scripted fake nsqd.
package nsqtest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BinDir returns the directory holding nsqd and nsqlookupd: $GNSQ_BIN_DIR,
// else build/bin at the repository root.
func BinDir(t testing.TB) string {
	if d := os.Getenv("GNSQ_BIN_DIR"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "build.sh")); err == nil {
			return filepath.Join(dir, "build", "bin")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("nsqtest: repository root (build.sh) not found; set GNSQ_BIN_DIR")
		}
		dir = parent
	}
}

func serverBinary(t testing.TB, name string) string {
	p := filepath.Join(BinDir(t), name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("nsqtest: %s not found (%v): run ./build.sh first", p, err)
	}
	return p
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Server is one running nsqd or nsqlookupd process.
type Server struct {
	t        testing.TB
	name     string
	args     []string
	DataDir  string
	TCPAddr  string // "127.0.0.1:port"
	HTTPAddr string // "127.0.0.1:port"
	Log      *lockedBuffer

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd was reaped
}

// StartNsqd starts nsqd with extra flags (e.g. "--max-msg-size=1024").
func StartNsqd(t testing.TB, flags ...string) *Server {
	data := t.TempDir()
	s := startServer(t, "nsqd", "127.0.0.1:"+strconv.Itoa(FreePort(t)), append([]string{"--data-path=" + data}, flags...))
	s.DataDir = data
	return s
}

// StartLookupd starts nsqlookupd.
func StartLookupd(t testing.TB, flags ...string) *Server {
	return startServer(t, "nsqlookupd", "127.0.0.1:"+strconv.Itoa(FreePort(t)), flags)
}

// StartLookupdAt starts nsqlookupd with its HTTP API on httpAddr (for
// tests where a client knows the address before the server is up).
func StartLookupdAt(t testing.TB, httpAddr string, flags ...string) *Server {
	return startServer(t, "nsqlookupd", httpAddr, flags)
}

// startServer runs name on loopback, HTTP on http and TCP on a free port;
// it stops with the test.
func startServer(t testing.TB, name, http string, flags []string) *Server {
	tcp := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	args := append([]string{
		"--tcp-address=" + tcp,
		"--http-address=" + http,
		"--broadcast-address=127.0.0.1",
		"--log-level=warn",
	}, flags...)
	s := &Server{t: t, name: name, args: args, TCPAddr: tcp, HTTPAddr: http, Log: &lockedBuffer{}}
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// Start (re)starts the process with the same flags, ports and data
// directory, and waits until its HTTP /ping answers OK.
func (s *Server) Start() {
	s.t.Helper()
	cmd := exec.Command(serverBinary(s.t, s.name), s.args...)
	cmd.Stdout, cmd.Stderr = s.Log, s.Log
	// The server must not outlive the test process: t.Cleanup does not run
	// when the test binary is killed by a signal or exits on -timeout.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := startProcess(cmd); err != nil {
		s.t.Fatalf("nsqtest: start %s: %v", s.name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-exited:
			s.t.Fatalf("nsqtest: %s exited at start:\n%s", s.name, s.Log.String())
		default:
		}
		if s.ping() == nil {
			return
		}
		if time.Now().After(deadline) {
			s.Stop()
			s.t.Fatalf("nsqtest: %s did not come up:\n%s", s.name, s.Log.String())
		}
		time.Sleep(20 * time.Millisecond) // polling a process we cannot get a signal from
	}
}

// Pdeathsig is sent to the child when the OS *thread* that forked it
// exits, not when the process does. A Go thread exits while the process
// lives on whenever a goroutine locked to it (runtime.LockOSThread, by any
// test or library) returns without unlocking; a server forked from such a
// thread would be killed in the middle of a test. So every server is
// started from spawner, one goroutine locked to its thread that never
// returns: that thread lives exactly as long as the process, and no other
// goroutine can run on it. (Locking the caller's thread around cmd.Start
// instead would not do: the caller's goroutine ends with its test.)
type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

var (
	spawnOnce     sync.Once
	spawnRequests = make(chan spawnRequest)
)

func spawner() {
	runtime.LockOSThread() // for good: never unlocked, never returns
	for r := range spawnRequests {
		r.done <- r.cmd.Start()
	}
}

// startProcess runs cmd.Start on spawner's thread.
func startProcess(cmd *exec.Cmd) error {
	spawnOnce.Do(func() { go spawner() })
	r := spawnRequest{cmd: cmd, done: make(chan error, 1)}
	spawnRequests <- r
	return <-r.done
}

func (s *Server) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+s.HTTPAddr+"/ping", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "OK" {
		return fmt.Errorf("ping: %d %s", resp.StatusCode, body)
	}
	return nil
}

// Pid returns the running process id (0 when stopped).
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Stop sends SIGTERM (nsqd persists its queues) and waits for the exit,
// escalating to SIGKILL after 10 s. Safe to call twice.
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

// Kill sends SIGKILL (an unclean shutdown) and waits for the exit.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Within runs f and returns how long it took, failing the test if f does
// not return within limit.
func Within(t testing.TB, limit time.Duration, what string, f func()) time.Duration {
	t.Helper()
	start := time.Now()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
		return time.Since(start)
	case <-time.After(limit):
		t.Fatalf("%s did not return within %v", what, limit)
		return 0
	}
}

// WaitFor polls cond every 10 ms until it holds or timeout passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
