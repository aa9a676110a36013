package gnsq_test

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	gnsq "github.com/libgnsq/libgnsq/core"
	"github.com/libgnsq/libgnsq/internal/protocol"
)

// nsqd 1.3.0's answer to gnsq's IDENTIFY, as it sends it.
const fuzzIdentifyJSON = `{"max_rdy_count":2500,"version":"1.3.0","max_msg_timeout":900000,"msg_timeout":60000,` +
	`"tls_v1":false,"deflate":false,"deflate_level":6,"max_deflate_level":6,"snappy":false,"sample_rate":0,` +
	`"auth_required":false,"output_buffer_size":16384,"output_buffer_timeout":250}`

func fuzzResponse(data string) []byte {
	return protocol.AppendFrame(nil, protocol.FrameTypeResponse, []byte(data))
}

// fuzzCompressed is frames as nsqd sends them after a Snappy or Deflate
// upgrade.
func fuzzCompressed(deflate bool, frames ...[]byte) []byte {
	var b bytes.Buffer
	if deflate {
		w, _ := flate.NewWriter(&b, 6)
		for _, f := range frames {
			w.Write(f)
		}
		w.Flush()
	} else {
		w := snappy.NewBufferedWriter(&b)
		for _, f := range frames {
			w.Write(f)
		}
		w.Flush()
	}
	return b.Bytes()
}

// FuzzIdentifyResponse plays a server that answers the connection with
// arbitrary bytes (the IDENTIFY answer, then whatever the upgrades and
// AUTH read) and then closes it. The parsing is not separable from
// NsqdTCPClient.Identify, so the target drives Connect and Identify over
// loopback TCP. Nothing may panic or hang; a tls_v1 client must never
// identify without TLS (no fuzzed bytes can complete a handshake); an
// accepted answer is JSON and sets max_rdy_count.
func FuzzIdentifyResponse(f *testing.F) {
	ok := fuzzResponse("OK")
	f.Add(false, ok)
	f.Add(true, ok)
	f.Add(false, fuzzResponse(fuzzIdentifyJSON))
	f.Add(true, fuzzResponse(strings.Replace(fuzzIdentifyJSON, `"tls_v1":false`, `"tls_v1":true`, 1)))
	f.Add(false, fuzzResponse(`{"max_rdy_count":-1,"msg_timeout":"x"}`))
	f.Add(false, fuzzResponse(`{`))
	f.Add(false, protocol.AppendFrame(nil, protocol.FrameTypeError, []byte("E_BAD_BODY IDENTIFY heartbeat interval (100) is invalid")))
	f.Add(false, append(fuzzResponse("_heartbeat_"), fuzzResponse(fuzzIdentifyJSON)...))
	f.Add(false, protocol.AppendFrame(nil, protocol.FrameTypeMessage, protocol.EncodeMessage(protocol.Message{Attempts: 1, Body: []byte("b")})))
	f.Add(false, append(fuzzResponse(`{"auth_required":true}`), fuzzResponse(`{"identity":"i","identity_url":"u","permission_count":1}`)...))
	f.Add(false, append(fuzzResponse(`{"auth_required":true}`), protocol.AppendFrame(nil, protocol.FrameTypeError, []byte("E_AUTH_FAILED no"))...))
	f.Add(false, append(fuzzResponse(`{"snappy":true}`), fuzzCompressed(false, ok)...))
	f.Add(false, append(fuzzResponse(`{"deflate":true,"deflate_level":6}`), fuzzCompressed(true, ok)...))
	f.Add(false, append(fuzzResponse(`{"snappy":true,"auth_required":true}`),
		fuzzCompressed(false, ok, fuzzResponse(`{"identity":"i","permission_count":2}`))...))

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { l.Close() })
	configs := map[bool]*gnsq.Config{false: gnsq.NewConfig(), true: gnsq.NewConfig()}
	for tls, cfg := range configs {
		for k, v := range map[string]string{"log_level": "off", "auth_secret": "s3cret"} {
			if err := cfg.Set(k, v); err != nil {
				f.Fatal(err)
			}
		}
		if tls {
			if err := cfg.Set("tls_v1", "true"); err != nil {
				f.Fatal(err)
			}
		}
	}
	f.Fuzz(func(t *testing.T, tlsRequired bool, stream []byte) {
		served := make(chan struct{})
		go func() {
			defer close(served)
			_ = l.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
			conn, err := l.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			// Write everything, then FIN, then read until the client
			// closes: closing with unread input would send an RST, which
			// may discard bytes not yet read and make runs differ.
			_, _ = conn.Write(stream)
			_ = conn.(*net.TCPConn).CloseWrite()
			_, _ = io.Copy(io.Discard, conn)
		}()
		c, err := gnsq.NewNsqdTCPClient(l.Addr().String(), gnsq.WithConfig(configs[tlsRequired]))
		if err != nil {
			t.Fatal(err)
		}
		var hung atomic.Bool
		watchdog := time.AfterFunc(5*time.Second, func() { hung.Store(true); c.CloseStream() })
		var resp *gnsq.IdentifyResponse
		if err = c.Connect(); err == nil {
			resp, err = c.Identify()
		}
		watchdog.Stop()
		c.CloseStream()
		<-served
		if hung.Load() {
			t.Fatalf("Identify still running after 5 s on %q", stream)
		}
		if err != nil {
			return
		}
		if tlsRequired {
			t.Fatalf("a tls_v1 client identified without TLS on %q", stream)
		}
		if resp == nil {
			return
		}
		if !json.Valid(resp.Raw) {
			t.Fatalf("accepted an IDENTIFY answer that is not JSON: %q", resp.Raw)
		}
		want := gnsq.DefaultMaxRdyCount
		if resp.MaxRdyCount > 0 {
			want = resp.MaxRdyCount
		}
		if got := c.MaxReadyCount(); got != want {
			t.Fatalf("max_rdy_count %d in the answer, MaxReadyCount %d", resp.MaxRdyCount, got)
		}
	})
}

type fuzzTransport func(*http.Request) (*http.Response, error)

func (f fuzzTransport) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// FuzzLookupdResponse answers LookupdClient.Lookup (what the consumer's
// lookupd poll calls) with an arbitrary status, Content-Type and body,
// through an in-memory transport. The consumer's decoding of the producer
// list is not reachable without letting it dial the addresses it finds,
// so it is not covered here. Nothing may panic; a non-2xx status is an
// *HTTPError with that status; an accepted answer is valid JSON.
func FuzzLookupdResponse(f *testing.F) {
	const ct = "application/json; charset=utf-8"
	f.Add(200, ct, []byte(`{"channels":["ch"],"producers":[{"remote_address":"127.0.0.1:50000","hostname":"h",`+
		`"broadcast_address":"127.0.0.1","tcp_port":4150,"http_port":4151,"version":"1.3.0"}]}`))
	f.Add(200, ct, []byte(`{"status_code":200,"status_txt":"OK","data":{"channels":[],"producers":[]}}`))
	f.Add(200, ct, []byte(`{"status_code":500,"status_txt":"INTERNAL_ERROR","data":null}`))
	f.Add(404, ct, []byte(`{"message":"TOPIC_NOT_FOUND"}`))
	f.Add(500, "text/plain", []byte("oops"))
	f.Add(200, ct, []byte(`{"producers":[{"broadcast_address":"","tcp_port":-1}]}`))
	f.Add(200, ct, []byte(`not json`))
	f.Add(200, "text/html", []byte(`<html>`))
	f.Add(301, "", []byte(""))
	f.Fuzz(func(t *testing.T, status int, contentType string, body []byte) {
		if status < 100 || status > 999 { // what an HTTP/1.1 status line can carry
			status = 100 + (status%900+900)%900
		}
		l := gnsq.NewLookupdClient("127.0.0.1", 4161)
		l.HTTPClient = &http.Client{Transport: fuzzTransport(func(r *http.Request) (*http.Response, error) {
			h := http.Header{}
			h.Set("Content-Type", contentType)
			return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
		})}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		raw, err := l.Lookup(ctx, "topic")
		var he *gnsq.HTTPError
		if status < 200 || status > 299 {
			if !errors.As(err, &he) || he.StatusCode != status {
				t.Fatalf("status %d gave %v, want an HTTPError %d", status, err, status)
			}
			return
		}
		if err != nil {
			return
		}
		if !json.Valid(raw) {
			t.Fatalf("Lookup accepted invalid JSON %q", raw)
		}
	})
}
