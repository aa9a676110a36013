package ctest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
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

// The library as installed: ./build.sh install into a temporary prefix,
// then a C example compiled and linked with only what pkg-config says
// (from the installed gnsq.pc), run against nsqd. The tree is moved after
// installing: the .pc file must not name the prefix it was installed to.
func TestInstallAndPkgConfig(t *testing.T) {
	installed, moved := filepath.Join(t.TempDir(), "installed"), filepath.Join(t.TempDir(), "moved")
	build := exec.Command(filepath.Join(repoRoot(t), "build.sh"), "install", "PREFIX="+installed)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build.sh install: %v\n%s", err, out)
	}
	if err := os.Rename(installed, moved); err != nil {
		t.Fatal(err)
	}
	pc := exec.Command("pkg-config", "--cflags", "--libs", "gnsq")
	pc.Env = append(os.Environ(), "PKG_CONFIG_PATH="+filepath.Join(moved, "lib", "pkgconfig"))
	flags, err := pc.Output()
	if err != nil {
		t.Fatalf("pkg-config: %v", err)
	}
	prog := filepath.Join(t.TempDir(), "producer")
	args := append([]string{"-std=c99", "-Wall", "-Werror", filepath.Join(repoRoot(t), "examples", "c", "producer.c"), "-o", prog},
		strings.Fields(string(flags))...)
	if out, err := exec.Command("cc", args...).CombinedOutput(); err != nil {
		t.Fatalf("cc %v: %v\n%s", args, err, out)
	}
	dyn, err := exec.Command("readelf", "-d", prog).Output()
	if err != nil || !strings.Contains(string(dyn), "Shared library: [libgnsq.so.0]") {
		t.Errorf("the program does not need libgnsq.so.0 (its SONAME):\n%s", dyn)
	}
	nsqd := nsqtest.StartNsqd(t)
	if out, err := exec.Command(prog, nsqd.TCPAddr, "installed_example").CombinedOutput(); err != nil {
		t.Fatalf("the installed example failed: %v\n%s", err, out)
	}
}

// Shared-library hygiene: SONAME, stripped, and almost no static TLS (a
// library dlopen()ed after start-up gets what glibc has left: ~1.6 KiB).
func TestLibraryHygiene(t *testing.T) {
	lib := filepath.Join(buildDir(t), "lib", "libgnsq.so")
	dyn, err := exec.Command("readelf", "-dW", lib).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dyn), "Library soname: [libgnsq.so.0]") {
		t.Errorf("SONAME is not libgnsq.so.0:\n%s", dyn)
	}
	sections, err := exec.Command("readelf", "-SW", lib).Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sections), " .symtab ") || strings.Contains(string(sections), " .debug_info ") {
		t.Errorf("the release library is not stripped")
	}
	segments, err := exec.Command("readelf", "-lW", lib).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(segments), "\n") {
		f := strings.Fields(line)
		if len(f) >= 6 && f[0] == "TLS" {
			size, err := strconv.ParseUint(strings.TrimPrefix(f[5], "0x"), 16, 64)
			if err != nil || size > 64 {
				t.Errorf("static TLS of %s bytes (want <= 64): %s", f[5], line)
			}
		}
	}
}

// Item 11: the Go exports (gnsqgo_*, as cgo declares them in
// build/lib/cgo-exports.h) take the types include/gnsq.h declares for
// their gnsq_* entry points, up to const (cgo has none) and parameter
// names. The entry points themselves are compiled against the header
// (capi/exports_gen.c), so this closes the gap on the Go side.
func TestGoExportPrototypesMatchHeader(t *testing.T) {
	header, err := os.ReadFile(filepath.Join(repoRoot(t), "include", "gnsq.h"))
	if err != nil {
		t.Fatal(err)
	}
	generated, err := os.ReadFile(filepath.Join(buildDir(t), "lib", "cgo-exports.h"))
	if err != nil {
		t.Fatal(err)
	}
	declared := prototypes(t, string(header), `(?ms)^int\s+gnsq_(\w+)\((.*?)\);`)
	exported := prototypes(t, string(generated), `(?m)^extern int gnsqgo_(\w+)\((.*?)\);`)
	if len(exported) < 40 {
		t.Fatalf("only %d Go exports found in cgo-exports.h: the pattern missed some", len(exported))
	}
	for name, types := range exported {
		want, ok := declared[name]
		if !ok {
			t.Errorf("gnsqgo_%s has no gnsq_%s in gnsq.h", name, name)
			continue
		}
		if strings.Join(types, ", ") != strings.Join(want, ", ") {
			t.Errorf("gnsq_%s: the Go export takes (%s), gnsq.h declares (%s)", name,
				strings.Join(types, ", "), strings.Join(want, ", "))
		}
	}
}

// prototypes maps each function the pattern finds to its parameter types,
// normalized: no const, no names, "T **" written "T**"; a closure passed
// as uintptr_t (the Go side never dereferences it) counts as void*.
func prototypes(t *testing.T, src, pattern string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, m := range regexp.MustCompile(pattern).FindAllStringSubmatch(src, -1) {
		var types []string
		params := strings.TrimSpace(m[2])
		if params != "void" && params != "" {
			for _, p := range strings.Split(params, ",") {
				types = append(types, paramType(p))
			}
		}
		out[m[1]] = types
	}
	return out
}

// paramType reduces "const char *const *nsqd_addrs" to "char**".
func paramType(p string) string {
	var words []string
	stars := strings.Count(p, "*")
	for _, w := range strings.Fields(strings.ReplaceAll(p, "*", " ")) {
		if w != "const" {
			words = append(words, w)
		}
	}
	if len(words) > 1 {
		words = words[:len(words)-1] // the parameter's name
	}
	typ := strings.Join(words, " ") + strings.Repeat("*", stars)
	if typ == "uintptr_t" {
		typ = "void*"
	}
	return typ
}

// capi/exports_gen.c is what capi/genexports makes of the header and the
// Go exports today (regenerate: go run ./capi/genexports).
func TestGeneratedEntryPointsUpToDate(t *testing.T) {
	fresh := filepath.Join(t.TempDir(), "exports_gen.c")
	gen := exec.Command("go", "run", "./capi/genexports", "-o", fresh)
	gen.Dir = repoRoot(t)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("genexports: %v\n%s", err, out)
	}
	want, err := os.ReadFile(fresh)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(repoRoot(t), "capi", "exports_gen.c"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("capi/exports_gen.c is stale: run go run ./capi/genexports")
	}
}
