// Package readme checks that the Go program in README.md compiles and
// passes go vet, so the first thing a new user copies works.
package readme

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// goSnippet returns the first ```go block of the README's "## Go usage"
// section.
func goSnippet(t *testing.T, readme string) string {
	t.Helper()
	data, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	i := strings.Index(text, "\n## Go usage\n")
	if i < 0 {
		t.Fatalf("%s has no \"## Go usage\" section", readme)
	}
	section := text[i+1:]
	if j := strings.Index(section[len("## Go usage\n"):], "\n## "); j >= 0 {
		section = section[:len("## Go usage\n")+j]
	}
	start := strings.Index(section, "```go\n")
	if start < 0 {
		t.Fatal("the Go usage section of README.md has no ```go block")
	}
	code := section[start+len("```go\n"):]
	end := strings.Index(code, "\n```")
	if end < 0 {
		t.Fatal("the ```go block of the Go usage section is not closed")
	}
	return code[:end+1]
}

func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		t.Skip("go command not found")
	}
	return p
}

// TestReadmeGoSnippet writes the README's Go program into a directory of
// this module (named with a leading "_" so that ./... patterns never see
// it) and runs go vet on it, which type-checks it against the current core.
func TestReadmeGoSnippet(t *testing.T) {
	code := goSnippet(t, filepath.Join("..", "..", "README.md"))
	if !strings.HasPrefix(code, "package main\n") {
		t.Fatalf("the README's Go snippet must be a complete program starting with \"package main\"; it starts with:\n%.200s", code)
	}
	dir, err := os.MkdirTemp(".", "_snippet")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goTool(t), "vet", "./"+filepath.Base(dir))
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=readonly", "GOPROXY=off", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go vet on the README's Go snippet failed: %v\n%s\nsnippet:\n%s", err, out, code)
	}
}
