package ctest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/libgnsq/libgnsq/tests/nsqtest"
)

// The low-level TCP client step by step (tcp_steps_test.c), the way
// gnsq's own tests drive NsqdTCPClient: a scripted nsqd per scenario
// checks the exact bytes each step sends and answers with the frames the
// C side then checks. A script never waits on time: it answers what the
// client sent, and the C side waits for those answers.

const stepWait = 5 * time.Second

// wire is the bytes cmd came as (ReadCommand parses exactly this form).
func wire(cmd nsqtest.Command) string {
	b := append([]byte(cmd.Line), '\n')
	if cmd.Body != nil {
		b = binary.BigEndian.AppendUint32(b, uint32(len(cmd.Body)))
		b = append(b, cmd.Body...)
	}
	return string(b)
}

// sized is a command line followed by a size-prefixed body.
func sized(line, body string) string {
	return line + "\n" + string(binary.BigEndian.AppendUint32(nil, uint32(len(body)))) + body
}

// expect reads one command and checks its bytes; it returns the command.
func expect(t *testing.T, c *nsqtest.FakeConn, want string) (nsqtest.Command, bool) {
	t.Helper()
	cmd, err := c.ReadCommand(stepWait)
	if err != nil {
		t.Errorf("waiting for %q: %v", want, err)
		return cmd, false
	}
	if got := wire(cmd); got != want {
		t.Errorf("client sent %q, want %q", got, want)
		return cmd, false
	}
	return cmd, true
}

// expectIdentify reads IDENTIFY and checks its JSON fields.
func expectIdentify(t *testing.T, c *nsqtest.FakeConn, want map[string]any) bool {
	t.Helper()
	cmd, err := c.ReadCommand(stepWait)
	if err != nil || cmd.Line != "IDENTIFY" {
		t.Errorf("want IDENTIFY, got %q (%v)", cmd.Line, err)
		return false
	}
	var got map[string]any
	if err := json.Unmarshal(cmd.Body, &got); err != nil {
		t.Errorf("IDENTIFY body %q: %v", cmd.Body, err)
		return false
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("IDENTIFY fields\n got %v\nwant %v", got, want)
		return false
	}
	return true
}

// gnsqIdentify is what gnsq 1.0.2 sends with its defaults (heartbeat 30 s
// in ms, ...); the user agent is libgnsq's own.
func gnsqIdentify(t *testing.T) map[string]any {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	short, _, _ := strings.Cut(host, ".")
	return map[string]any{
		"client_id": short, "hostname": host, "feature_negotiation": true,
		"heartbeat_interval": 30000.0, "output_buffer_size": 16384.0, "output_buffer_timeout": 250.0,
		"tls_v1": false, "snappy": false, "deflate": false, "deflate_level": 6.0, "sample_rate": 0.0,
		"user_agent": "libgnsq/" + versionString(t),
	}
}

func versionString(t *testing.T) string {
	h, err := os.ReadFile(filepath.Join(repoRoot(t), "include", "gnsq.h"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(h), `#define GNSQ_VERSION_STR "`)
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

// messageFrame is a message frame's data: timestamp, attempts, id, body.
func messageFrame(ts int64, attempts uint16, id, body string) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(ts))
	b = binary.BigEndian.AppendUint16(b, attempts)
	return append(append(b, id...), body...)
}

// stepScripts are the fake nsqd's scripts, one per C scenario (its
// address goes to the program as FAKE_<NAME>).
func stepScripts(t *testing.T) map[string]func(c *nsqtest.FakeConn) {
	return map[string]func(c *nsqtest.FakeConn){
		// gnsq's test_connection: the magic, then nothing until the close.
		"OPEN": func(c *nsqtest.FakeConn) {
			if cmd, err := c.ReadCommand(stepWait); err != io.EOF {
				t.Errorf("open: after the magic, want the close, got %q (%v)", cmd.Line, err)
			}
		},
		// test_identify: gnsq's fields; a plain OK answer.
		"IDENTIFY": func(c *nsqtest.FakeConn) {
			if expectIdentify(t, c, gnsqIdentify(t)) {
				_ = c.Respond("OK")
			}
			c.WaitForEOF(stepWait)
		},
		// test_negotiation, with every field set: the answer as sent.
		"NEGOTIATE": func(c *nsqtest.FakeConn) {
			want := map[string]any{
				"client_id": "cid", "hostname": "host.example", "feature_negotiation": true,
				"heartbeat_interval": 10000.0, "output_buffer_size": 1024.0, "output_buffer_timeout": 100.0,
				"tls_v1": false, "snappy": false, "deflate": false, "deflate_level": 3.0, "sample_rate": 50.0,
				"user_agent": "ua/1", "msg_timeout": 5000.0,
			}
			if expectIdentify(t, c, want) {
				_ = c.Respond(`{"test": 42, "max_rdy_count": 100}`)
			}
			c.WaitForEOF(stepWait)
		},
		// test_identify_auth: auth_required makes identify send AUTH.
		"IDENTIFY_AUTH": func(c *nsqtest.FakeConn) {
			if !expectIdentify(t, c, gnsqIdentify(t)) || c.Respond(`{"auth_required": true}`) != nil {
				return
			}
			if _, ok := expect(t, c, sized("AUTH", "secret")); ok {
				_ = c.Respond(`{"identity": "awesome"}`)
			}
			c.WaitForEOF(stepWait)
		},
		// test_auth: AUTH right after the magic; then a refusal.
		"AUTH": func(c *nsqtest.FakeConn) {
			if _, ok := expect(t, c, sized("AUTH", "secret")); !ok || c.Respond(`{"identity":"awesome","permission_count":1}`) != nil {
				return
			}
			if _, ok := expect(t, c, sized("AUTH", "secret")); ok {
				_ = c.WriteFrame(nsqtest.FrameError, []byte("E_AUTH_FAILED AUTH failed"))
			}
			c.WaitForEOF(stepWait)
		},
		// test_command and the publishes: every command's bytes, in order;
		// then one frame so the C side knows they were all checked.
		"COMMANDS": func(c *nsqtest.FakeConn) {
			mpub := binary.BigEndian.AppendUint32(nil, 2)
			for _, m := range []string{"a", "bc"} {
				mpub = append(binary.BigEndian.AppendUint32(mpub, uint32(len(m))), m...)
			}
			want := []string{
				"SUB topic channel\n", "RDY 0\n", "RDY 1\n", "RDY 42\n",
				"FIN deadbeafdeadbeaf\n", "REQ deadbeafdeadbeaf 0\n", "REQ deadbeafdeadbeaf 42\n",
				"TOUCH deadbeafdeadbeaf\n", "CLS\n", "NOP\n",
				sized("PUB topic", "hello world"), sized("PUB topic", ""), sized("DPUB topic 1000", "later"),
				sized("MPUB topic", string(mpub)),
			}
			ok := true
			for _, w := range want {
				if _, good := expect(t, c, w); !good {
					ok = false
					break
				}
			}
			if ok {
				_ = c.Respond("checked")
			}
			c.WaitForEOF(stepWait)
		},
		// test_sync_receive_messages, test_sync_heartbeat and error frames.
		"READ": func(c *nsqtest.FakeConn) {
			frames := []struct {
				typ  int32
				data []byte
			}{
				{nsqtest.FrameResponse, []byte("OK")},
				{nsqtest.FrameError, []byte("E_FIN_FAILED FIN failed")},
				{nsqtest.FrameMessage, messageFrame(1234567890, 3, "0123456789abcdef", "hello")},
				{nsqtest.FrameMessage, messageFrame(1, 1, "fedcba9876543210", strings.Repeat("b", 100))},
				{nsqtest.FrameResponse, []byte("_heartbeat_")},
			}
			for _, f := range frames {
				if c.WriteFrame(f.typ, f.data) != nil {
					return
				}
			}
			if _, ok := expect(t, c, "NOP\n"); !ok || c.Respond("after nop") != nil {
				return
			}
			_ = c.WriteFrame(nsqtest.FrameError, []byte("E_INVALID cannot SUB in current state"))
			if !c.WaitForEOF(stepWait) {
				t.Errorf("read: a fatal error frame did not close the connection")
			}
		},
		// A read_response that timed out goes on: the frame comes after
		// the client's NOP, so the timeouts are certain.
		"TIMEOUT": func(c *nsqtest.FakeConn) {
			for _, answer := range []string{"late", "second"} {
				if _, ok := expect(t, c, "NOP\n"); !ok || c.Respond(answer) != nil {
					return
				}
			}
			c.WaitForEOF(stepWait)
		},
		// listen after the steps, taking over a pending read.
		"LISTEN": func(c *nsqtest.FakeConn) {
			if !expectIdentify(t, c, gnsqIdentify(t)) || c.Respond("OK") != nil {
				return
			}
			if _, ok := expect(t, c, "SUB topic channel\n"); !ok || c.Respond("OK") != nil {
				return
			}
			if _, ok := expect(t, c, "RDY 1\n"); !ok || c.WriteFrame(nsqtest.FrameMessage, messageFrame(42, 1, "0123456789abcdef", "listened")) != nil {
				return
			}
			if _, ok := expect(t, c, "FIN 0123456789abcdef\n"); !ok || c.Respond("fin seen") != nil {
				return
			}
			if c.Respond("_heartbeat_") != nil {
				return
			}
			if _, ok := expect(t, c, "NOP\n"); !ok || c.WriteFrame(nsqtest.FrameError, []byte("E_TOUCH_FAILED TOUCH failed")) != nil {
				return
			}
			if _, ok := expect(t, c, "CLS\n"); ok {
				_ = c.Respond("CLOSE_WAIT")
			}
			c.WaitForEOF(stepWait)
		},
		// The *_async forms; the last read stays unanswered until the close.
		"ASYNC": func(c *nsqtest.FakeConn) {
			if !expectIdentify(t, c, gnsqIdentify(t)) || c.Respond(`{"max_rdy_count": 2500, "auth_required": true, "padding": "`+strings.Repeat("p", 200)+`"}`) != nil {
				return
			}
			if _, ok := expect(t, c, sized("AUTH", "secret")); !ok || c.Respond(`{"identity":"a"}`) != nil {
				return
			}
			if _, ok := expect(t, c, sized("AUTH", "secret")); !ok || c.Respond(`{"identity":"b"}`) != nil {
				return
			}
			if _, ok := expect(t, c, "NOP\n"); !ok || c.WriteFrame(nsqtest.FrameMessage, messageFrame(7, 2, "0123456789abcdef", "async")) != nil {
				return
			}
			c.WaitForEOF(stepWait)
		},
	}
}

func TestTCPSteps(t *testing.T) {
	path := filepath.Join(buildDir(t), "tests", "tcp_steps_test")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s not built (%v): run ./build.sh", path, err)
	}
	env := append(os.Environ(), "NSQD_TCP="+nsqtest.StartNsqd(t).TCPAddr)
	fakes := map[string]*nsqtest.FakeNsqd{}
	for name, script := range stepScripts(t) {
		fakes[name] = nsqtest.StartFakeNsqd(t, script)
		env = append(env, "FAKE_"+name+"="+fakes[name].Addr)
	}
	cmd := exec.Command(path)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := runWithin(cmd, 60); err != nil {
		t.Fatalf("tcp_steps_test: %v\n%s", err, out.String())
	}
	for _, name := range []string{"open", "identify", "negotiate", "identify_auth", "auth", "commands", "read",
		"timeout", "listen", "async", "errors", "live"} {
		if !strings.Contains(out.String(), "ok "+name+"\n") {
			t.Errorf("scenario %s did not report ok:\n%s", name, out.String())
		}
	}
	for name, f := range fakes {
		if f.Connections() != 1 {
			t.Errorf("fake %s: %d connections, want 1", name, f.Connections())
		}
	}
}
