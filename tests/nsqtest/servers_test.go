package nsqtest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes TestHelperStartsServers act as the child of
// TestServersDieWithTestProcess instead of skipping.
const helperEnv = "GNSQ_NSQTEST_ORPHAN_HELPER"

// TestHelperStartsServers is not a test on its own: run as a child process
// by TestServersDieWithTestProcess, it starts an nsqlookupd and an nsqd,
// prints their pids, and waits to be killed.
func TestHelperStartsServers(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process of TestServersDieWithTestProcess")
	}
	lookupd := StartLookupd(t)
	nsqd := StartNsqd(t, "--lookupd-tcp-address="+lookupd.TCPAddr)
	fmt.Printf("PIDS %d %d\n", lookupd.Pid(), nsqd.Pid())
	time.Sleep(time.Minute) // killed long before
}

// alive reports whether pid is a process that has not exited (a zombie
// nobody reaped, which a container's init may leave, counts as exited).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...: the state follows the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// Issue 11, defect 7: a test process killed by a signal (SIGKILL here, the
// one nothing can handle; -timeout's exit and SIGTERM/SIGINT end the
// process without running t.Cleanup just the same) must not leave its
// nsqd and nsqlookupd running.
func TestServersDieWithTestProcess(t *testing.T) {
	serverBinary(t, "nsqd")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStartsServers$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	defer func() {
		if !waited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	var pids []int
	lines := bufio.NewScanner(out)
	for len(pids) == 0 && lines.Scan() {
		var lookupd, nsqd int
		if n, _ := fmt.Sscanf(lines.Text(), "PIDS %d %d", &lookupd, &nsqd); n == 2 {
			pids = []int{lookupd, nsqd}
		}
	}
	if len(pids) == 0 {
		t.Fatal("the helper process printed no server pids")
	}
	for _, pid := range pids {
		if !alive(pid) {
			t.Fatalf("server %d not running before the kill", pid)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waited = true
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("server pid %d still running 5 s after its test process was killed", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL) // do not leak it ourselves
		}
	}
}

// Pdeathsig fires when the thread that started the server exits: a server
// started from a goroutine whose locked thread then exits must live on.
func TestServerSurvivesItsStartingThread(t *testing.T) {
	started := make(chan *Server)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		started <- StartNsqd(t)
	}()
	s := <-started
	// The thread's exit races with this goroutine: give it time, then ping.
	time.Sleep(300 * time.Millisecond)
	if err := s.ping(); err != nil || !alive(s.Pid()) {
		t.Fatalf("nsqd died with the thread that started it: %v\n%s", err, s.Log.String())
	}
}
