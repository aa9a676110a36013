package ctest

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/libgnsq/libgnsq/tests/nsqtest"
)

// deadAddr is a 127.0.0.1 address nothing listens on.
func deadAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// runLoaded runs a program that dlopen()s libgnsq (GNSQ_LIBRARY) against a
// live nsqd, checks that it reported every test ok and that nothing was
// written on stderr: the library logs through events only.
func runLoaded(t *testing.T, tests []string, name string, args ...string) {
	t.Helper()
	nsqd := nsqtest.StartNsqd(t)
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "GNSQ_LIBRARY="+filepath.Join(buildDir(t), "lib", "libgnsq.so.0"),
		"NSQD_TCP="+nsqd.TCPAddr, "DEAD_NSQD="+deadAddr(t))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := runWithin(cmd, 120); err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", name, err, stdout.String(), stderr.String())
	}
	for _, test := range tests {
		if !strings.Contains(stdout.String(), "ok "+test+"\n") {
			t.Errorf("test %s did not report ok:\n%s", test, stdout.String())
		}
	}
	if stderr.Len() > 0 {
		t.Errorf("%s wrote on stderr:\n%s", name, stderr.String())
	}
}

// Item 1 of the C ABI's loading rules: a C program not linked to the
// library dlopen()s it and goes through a publish and consume, a fork
// (GNSQ_E_FORKED in the child within 1 s), wakeups, and LOG events.
func TestDlopenFromC(t *testing.T) {
	runLoaded(t, []string{"round_trip", "fork", "wakeup", "log_events"},
		filepath.Join(buildDir(t), "tests", "dlopen_test"))
}

// The same through Python's ctypes, the way the Python package loads it.
func TestDlopenFromPythonCtypes(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is needed for the ctypes test")
	}
	runLoaded(t, []string{"round_trip", "fork"}, python, filepath.Join(repoRoot(t), "tests", "c", "src", "ctypes_test.py"))
}
