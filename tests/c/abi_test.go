package ctest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/libgnsq/libgnsq/tests/nsqtest"
)

func repoRoot(t *testing.T) string { return filepath.Dir(buildDir(t)) }

// R40: the exported gnsq_* symbols are exactly the functions the header
// declares.
func TestABISurfaceMatchesHeader(t *testing.T) {
	out, err := exec.Command("nm", "-D", "--defined-only", filepath.Join(buildDir(t), "lib", "libgnsq.so")).Output()
	if err != nil {
		t.Fatalf("nm: %v", err)
	}
	var exported []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && strings.HasPrefix(f[2], "gnsq_") {
			exported = append(exported, f[2])
		}
	}
	header, err := os.ReadFile(filepath.Join(repoRoot(t), "include", "gnsq.h"))
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	for _, m := range regexp.MustCompile(`(?m)^(?:int|const char \*)\s*(gnsq_\w+)\(`).FindAllSubmatch(header, -1) {
		declared = append(declared, string(m[1]))
	}
	sort.Strings(exported)
	sort.Strings(declared)
	if strings.Join(exported, " ") != strings.Join(declared, " ") {
		t.Errorf("exported and declared differ:\nexported: %v\ndeclared: %v", exported, declared)
	}
	if len(declared) < 30 {
		t.Errorf("only %d declarations found: the pattern missed some", len(declared))
	}
}

// R40: the header compiles as strict C99 and as C++.
func TestHeaderCompilesStrictly(t *testing.T) {
	header := filepath.Join(repoRoot(t), "include", "gnsq.h")
	for _, args := range [][]string{
		{"gcc", "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-x", "c", header},
		{"g++", "-std=c++11", "-pedantic", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-x", "c++", header},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
}

// R37: a program that exits with a live producer and consumer, 100 times.
func TestExitWithLiveHandles(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	path := filepath.Join(buildDir(t), "tests", "exit_live")
	for i := 0; i < 100; i++ {
		cmd := exec.Command(path)
		cmd.Env = append(os.Environ(), "NSQD_TCP="+nsqd.TCPAddr)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := runWithin(cmd, 20); err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, out.String())
		}
	}
}
