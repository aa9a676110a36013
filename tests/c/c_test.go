// Package ctest runs the C API test programs (built by ./build.sh into
// build/tests) against a real nsqd: plain, under AddressSanitizer, and
// against a libgnsq built with GOEXPERIMENT=cgocheck2.
package ctest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libgnsq/libgnsq/tests/nsqtest"
)

func buildDir(t *testing.T) string { return filepath.Dir(nsqtest.BinDir(t)) }

// servers is an nsqlookupd and an nsqd registered with it.
type servers struct{ nsqd, lookupd *nsqtest.Server }

func startServers(t *testing.T) servers {
	lookupd := nsqtest.StartLookupd(t)
	return servers{nsqd: nsqtest.StartNsqd(t, "--lookupd-tcp-address="+lookupd.TCPAddr), lookupd: lookupd}
}

// run executes a test program with the servers' addresses and extra environment.
func run(t *testing.T, s servers, program string, env ...string) string {
	t.Helper()
	path := filepath.Join(buildDir(t), "tests", program)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s not built (%v): run ./build.sh", path, err)
	}
	cmd := exec.Command(path)
	cmd.Env = append(os.Environ(), append([]string{"NSQD_TCP=" + s.nsqd.TCPAddr, "NSQD_HTTP=" + s.nsqd.HTTPAddr,
		"LOOKUPD_HTTP=" + s.lookupd.HTTPAddr, "SILENT_NSQD=" + startSilentNsqd(t).Addr,
		"NSQD2_TCP=" + nsqtest.StartNsqd(t).TCPAddr}, env...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s failed: %v\n%s", program, err, out)
	}
	return string(out)
}

var allTests = []string{"version", "errors", "config", "bad_handles", "publish_and_consume",
	"requeue_and_signals", "respond_rules", "use_after_close", "callbacks", "http", "tcp", "concurrent_close", "publish_while_closing",
	"blocking_waits", "close_async", "bounded_publish", "consumer_state"}

// startSilentNsqd is the fake nsqd of api_test's blocking_waits: it leaves
// the first PUB unanswered and answers both after the second one.
func startSilentNsqd(t *testing.T) *nsqtest.FakeNsqd {
	fake := nsqtest.StartFakeNsqd(t, func(c *nsqtest.FakeConn) {
		if c.Identify("") != nil {
			return
		}
		for i := 0; i < 2; i++ {
			if _, err := c.ReadCommand(10 * time.Second); err != nil {
				return
			}
		}
		if c.Respond("OK") != nil || c.Respond("OK") != nil {
			return
		}
		c.WaitForEOF(10 * time.Second)
	})
	return fake
}

func checkAllRan(t *testing.T, out string) {
	t.Helper()
	for _, name := range allTests {
		if !strings.Contains(out, "ok "+name+"\n") {
			t.Errorf("test %s did not report ok:\n%s", name, out)
		}
	}
}

func TestCAPI(t *testing.T) {
	checkAllRan(t, run(t, startServers(t), "api_test"))
}

func TestCAPIUnderAddressSanitizer(t *testing.T) {
	// Go's runtime handles its own signals; leak checking would report the
	// Go runtime's never-freed allocations.
	checkAllRan(t, run(t, startServers(t), "api_test_asan", "ASAN_OPTIONS=handle_segv=0:allow_user_segv_handler=1:detect_leaks=0:abort_on_error=1"))
}

// At GOMAXPROCS=1 (a 1-CPU container) synchronous publishes take another
// path (publish.c): the caller never enters Go.
func TestCAPIAtOneP(t *testing.T) {
	checkAllRan(t, run(t, startServers(t), "api_test", "GOMAXPROCS=1"))
}

func TestCAPIWithCgocheck2(t *testing.T) {
	checkAllRan(t, run(t, startServers(t), "api_test", "LD_LIBRARY_PATH="+filepath.Join(buildDir(t), "lib-cgocheck2")))
}

// R39: 100 cycles of a producer and a consumer through the C ABI leave no
// fd or thread behind (src/leaks_test.c); a leak injected on purpose
// after the baseline fails the same check.
func TestCAPILeaks(t *testing.T) {
	s := startServers(t)
	out := run(t, s, "leaks_test")
	if !strings.Contains(out, "ok leaks\n") {
		t.Fatalf("leaks_test did not report ok:\n%s", out)
	}
	t.Log(strings.TrimSpace(out))
	for _, inject := range []string{"fd", "threads"} {
		cmd := exec.Command(filepath.Join(buildDir(t), "tests", "leaks_test"))
		cmd.Env = append(os.Environ(), "NSQD_TCP="+s.nsqd.TCPAddr, "LEAKS_CYCLES=2", "LEAKS_INJECT="+inject)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "more than the baseline") {
			t.Errorf("an injected %s leak was not reported (%v):\n%s", inject, err, out)
		}
	}
}

// runWithin runs cmd and kills it after seconds (a hang is a failure).
func runWithin(cmd *exec.Cmd, seconds int) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Duration(seconds) * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("hung for %d s", seconds)
	}
}
