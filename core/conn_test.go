package gnsq_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gnsq "github.com/libgnsq/libgnsq/core"
	"github.com/libgnsq/libgnsq/tests/nsqtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newConfig returns defaults with the given options set by their gnsq names.
func newConfig(t testing.TB, kv ...string) *gnsq.Config {
	t.Helper()
	cfg := gnsq.NewConfig()
	cfg.Logger = nsqtest.Logger(t)
	for i := 0; i < len(kv); i += 2 {
		require.NoError(t, cfg.Set(kv[i], kv[i+1]))
	}
	return cfg
}

// dial connects and identifies a client, closing it with the test.
func dial(t testing.TB, addr string, cfg *gnsq.Config, opts ...gnsq.Option) (*gnsq.NsqdTCPClient, error) {
	t.Helper()
	c, err := gnsq.NewNsqdTCPClient(addr, append([]gnsq.Option{gnsq.WithConfig(cfg)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(c.CloseStream)
	if err := c.Connect(); err != nil {
		return c, err
	}
	_, err = c.Identify()
	return c, err
}

// nextNonHeartbeat reads frames until one that is not a heartbeat.
func nextNonHeartbeat(t testing.TB, c *gnsq.NsqdTCPClient) gnsq.Response {
	t.Helper()
	for {
		r, err := c.ReadResponse()
		require.NoError(t, err)
		if r.Type == gnsq.FrameTypeResponse && string(r.Data) == "_heartbeat_" {
			continue
		}
		return r
	}
}

func requireOK(t testing.TB, c *gnsq.NsqdTCPClient) {
	t.Helper()
	r := nextNonHeartbeat(t, c)
	require.Nil(t, r.Err)
	require.Equal(t, "OK", string(r.Data))
}

// roundTrip publishes body on pub and reads it back through a subscriber
// made with the same config, then finishes it.
func roundTrip(t *testing.T, addr string, cfg *gnsq.Config, body []byte) {
	t.Helper()
	topic := fmt.Sprintf("rt_%d", time.Now().UnixNano())
	pub, err := dial(t, addr, cfg)
	require.NoError(t, err)
	require.NoError(t, pub.Publish(topic, body, 0))
	requireOK(t, pub)

	sub, err := dial(t, addr, cfg)
	require.NoError(t, err)
	require.NoError(t, sub.Subscribe(topic, "ch"))
	requireOK(t, sub)
	require.NoError(t, sub.Ready(1))
	r := nextNonHeartbeat(t, sub)
	require.Equal(t, gnsq.FrameTypeMessage, r.Type)
	assert.Equal(t, body, r.Message.Body)
	assert.Equal(t, uint16(1), r.Message.Attempts)
	assert.Equal(t, 1, sub.InFlight())
	require.NoError(t, sub.Finish(r.Message.ID))
	assert.Equal(t, 0, sub.InFlight())
	require.NoError(t, sub.Close())
	r = nextNonHeartbeat(t, sub)
	assert.Equal(t, "CLOSE_WAIT", string(r.Data))
}

func binaryBody(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	b[0], b[n-1] = 0x00, 0xff
	return b
}

func TestConnPlainRoundTrip(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	roundTrip(t, nsqd.TCPAddr, newConfig(t), []byte("nul\x00 and \xff bytes"))
}

func TestConnIdentifyNegotiation(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t, "--max-rdy-count=200")
	c, err := dial(t, nsqd.TCPAddr, newConfig(t, "msg_timeout", "5000", "output_buffer_timeout", "100", "sample_rate", "50"))
	require.NoError(t, err)
	resp := c.IdentifyResponse()
	require.NotNil(t, resp)
	assert.Equal(t, "1.3.0", resp.Version)
	assert.Equal(t, 200, resp.MaxRdyCount)
	assert.Equal(t, int64(5000), resp.MsgTimeout)
	assert.Equal(t, int64(100), resp.OutputBufferTimeout)
	assert.Equal(t, 50, resp.SampleRate)
	assert.Equal(t, 200, c.MaxReadyCount())
	assert.True(t, c.IsConnected())

	// RDY above max_rdy_count is refused locally (nsqd would drop us).
	var iae *gnsq.InvalidArgumentError
	require.ErrorAs(t, c.Ready(201), &iae)
	assert.True(t, c.IsConnected())
}

func TestConnSnappyAndDeflate(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	body := bytes.Repeat([]byte("compressible \x00\xff "), 4000)
	t.Run("snappy", func(t *testing.T) { roundTrip(t, nsqd.TCPAddr, newConfig(t, "snappy", "true"), body) })
	t.Run("deflate", func(t *testing.T) {
		roundTrip(t, nsqd.TCPAddr, newConfig(t, "deflate", "true", "deflate_level", "9"), body)
	})
	t.Run("negotiated", func(t *testing.T) {
		c, err := dial(t, nsqd.TCPAddr, newConfig(t, "deflate", "true", "deflate_level", "9"))
		require.NoError(t, err)
		assert.True(t, c.IdentifyResponse().Deflate)
		assert.Equal(t, 6, c.IdentifyResponse().DeflateLevel, "nsqd caps the level at its max")
	})
}

func startTLSNsqd(t *testing.T, files *nsqtest.TLSFiles, flags ...string) *nsqtest.Server {
	return nsqtest.StartNsqd(t, append([]string{
		"--tls-cert=" + files.ServerCertFile, "--tls-key=" + files.ServerKeyFile,
		"--tls-root-ca-file=" + files.CAFile, "--tls-required=tcp-https",
	}, flags...)...)
}

func TestConnTLS(t *testing.T) {
	files := nsqtest.GenerateTLS(t)
	nsqd := startTLSNsqd(t, files)
	ok := newConfig(t, "tls_v1", "true", "tls_ca_file", files.CAFile)
	body := binaryBody(3000)

	t.Run("verified", func(t *testing.T) { roundTrip(t, nsqd.TCPAddr, ok, body) })
	t.Run("localhost name", func(t *testing.T) {
		roundTrip(t, strings.Replace(nsqd.TCPAddr, "127.0.0.1", "localhost", 1), ok, body)
	})
	t.Run("snappy", func(t *testing.T) {
		roundTrip(t, nsqd.TCPAddr, newConfig(t, "tls_v1", "true", "tls_ca_file", files.CAFile, "snappy", "true"), body)
	})
	t.Run("deflate", func(t *testing.T) {
		roundTrip(t, nsqd.TCPAddr, newConfig(t, "tls_v1", "true", "tls_ca_file", files.CAFile, "deflate", "true"), body)
	})
	t.Run("unknown CA refused", func(t *testing.T) {
		_, err := dial(t, nsqd.TCPAddr, newConfig(t, "tls_v1", "true", "tls_ca_file", files.OtherCAFile))
		var ua x509.UnknownAuthorityError
		require.ErrorAs(t, err, &ua)
	})
	t.Run("system roots refuse a private CA by default", func(t *testing.T) {
		c, err := dial(t, nsqd.TCPAddr, newConfig(t, "tls_v1", "true"))
		require.Error(t, err)
		assert.False(t, c.IsConnected(), "no plaintext fallback")
	})
	t.Run("hostname mismatch refused", func(t *testing.T) {
		_, err := dial(t, nsqd.TCPAddr, newConfig(t, "tls_v1", "true", "tls_ca_file", files.CAFile, "tls_server_name", "nsqd.example.com"))
		var he x509.HostnameError
		require.ErrorAs(t, err, &he)
	})
	t.Run("insecure switch", func(t *testing.T) {
		roundTrip(t, nsqd.TCPAddr, newConfig(t, "tls_v1", "true", "tls_insecure_skip_verify", "true"), body)
	})
	t.Run("plaintext client refused by tls-required nsqd", func(t *testing.T) {
		c, err := dial(t, nsqd.TCPAddr, newConfig(t))
		require.NoError(t, err, "IDENTIFY is allowed before TLS")
		err = c.Publish("t", []byte("x"), 0)
		if err == nil {
			r, rerr := c.ReadResponse()
			if rerr == nil {
				err = r.Err
			} else {
				err = rerr
			}
		}
		require.Error(t, err)
	})
}

func TestConnTLSNotOffered(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	c, err := dial(t, nsqd.TCPAddr, newConfig(t, "tls_v1", "true"))
	require.ErrorIs(t, err, gnsq.ErrTLSNotSupported)
	assert.False(t, c.IsConnected(), "never a silent plaintext connection")
}

func TestConnTLSClientCert(t *testing.T) {
	files := nsqtest.GenerateTLS(t)
	nsqd := startTLSNsqd(t, files, "--tls-client-auth-policy=require-verify")
	t.Run("with client cert", func(t *testing.T) {
		roundTrip(t, nsqd.TCPAddr, newConfig(t, "tls_v1", "true", "tls_ca_file", files.CAFile,
			"tls_cert_file", files.ClientCertFile, "tls_key_file", files.ClientKeyFile), []byte("cert"))
	})
	t.Run("without client cert", func(t *testing.T) {
		c, err := dial(t, nsqd.TCPAddr, newConfig(t, "tls_v1", "true", "tls_ca_file", files.CAFile))
		if err == nil {
			// TLS 1.3 reports the missing certificate on the first read.
			_, err = c.ReadResponse()
		}
		require.Error(t, err)
		assert.False(t, c.IsConnected())
	})
}

func TestConnAuth(t *testing.T) {
	const secret = "s3cret-Token-xyz"
	auth := nsqtest.StartAuthServer(t, secret, "alice")
	nsqd := nsqtest.StartNsqd(t, "--auth-http-address="+auth.Addr)

	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	t.Run("good secret", func(t *testing.T) {
		cfg := newConfig(t, "auth_secret", secret)
		cfg.Logger = logger
		var got *gnsq.AuthResponse
		c, err := gnsq.NewNsqdTCPClient(nsqd.TCPAddr, gnsq.WithConfig(cfg),
			gnsq.WithConnHooks(gnsq.ConnHooks{OnAuth: func(_ *gnsq.NsqdTCPClient, r *gnsq.AuthResponse) { got = r }}))
		require.NoError(t, err)
		defer c.CloseStream()
		require.NoError(t, c.Connect())
		resp, err := c.Identify()
		require.NoError(t, err)
		assert.True(t, resp.AuthRequired)
		require.NotNil(t, got, "OnAuth fired")
		assert.Equal(t, "alice", got.Identity)
		assert.Equal(t, 1, got.PermissionCount)
		require.NoError(t, c.Publish("authed", []byte("x"), 0))
		requireOK(t, c)
		assert.Equal(t, secret, auth.Requests()[0]["secret"])
	})
	t.Run("bad secret", func(t *testing.T) {
		bad := "wrong-" + secret
		cfg := newConfig(t, "auth_secret", bad)
		cfg.Logger = logger
		var hookErrs []string
		p, err := gnsq.NewProducer(gnsq.WithNsqd(nsqd.TCPAddr), gnsq.WithConfig(cfg),
			gnsq.WithProducerHooks(gnsq.ProducerHooks{OnError: func(_ uint32, err error) { hookErrs = append(hookErrs, err.Error()) }}))
		require.NoError(t, err)
		require.NoError(t, p.Start(context.Background()))
		defer p.Close()
		require.NotEmpty(t, hookErrs)
		assert.Contains(t, hookErrs[0], "E_AUTH_FAILED")

		c, err := dial(t, nsqd.TCPAddr, cfg)
		require.ErrorIs(t, err, gnsq.ErrAuthFailed)
		assert.False(t, c.IsConnected())
		for _, text := range append(hookErrs, err.Error(), logs.String(), fmt.Sprintf("%+v %#v", cfg, err)) {
			assert.NotContains(t, text, bad, "the secret must never appear in errors or logs")
		}
	})
	t.Run("no secret", func(t *testing.T) {
		_, err := dial(t, nsqd.TCPAddr, newConfig(t))
		require.ErrorIs(t, err, gnsq.ErrAuthRequired)
	})
	assert.NotContains(t, logs.String(), secret)
}

func TestConnHeartbeatsKeepIdleConnectionAlive(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	var heartbeats atomic.Int32
	c, err := gnsq.NewNsqdTCPClient(nsqd.TCPAddr, gnsq.WithConfig(newConfig(t, "heartbeat_interval", "1")),
		gnsq.WithConnHooks(gnsq.ConnHooks{OnResponse: func(_ *gnsq.NsqdTCPClient, data []byte) {
			if string(data) == "_heartbeat_" {
				heartbeats.Add(1)
			}
		}}))
	require.NoError(t, err)
	defer c.CloseStream()
	require.NoError(t, c.Connect())
	_, err = c.Identify()
	require.NoError(t, err)
	listenErr := make(chan error, 1)
	go func() { listenErr <- c.Listen() }()
	// nsqd drops a client after two unanswered heartbeats: four in a row
	// prove the NOPs went out.
	nsqtest.WaitFor(t, 10*time.Second, "4 heartbeats", func() bool { return heartbeats.Load() >= 4 })
	assert.True(t, c.IsConnected())
	require.NoError(t, c.Nop())
	c.CloseStream()
	assert.NoError(t, <-listenErr)
}

func TestConnInvalidHeartbeatRejectedLocally(t *testing.T) {
	cfg := gnsq.NewConfig()
	err := cfg.Set("heartbeat_interval", "0.1")
	require.NoError(t, err, "in range for the setter")
	_, err = gnsq.NewNsqdTCPClient("127.0.0.1:1", gnsq.WithConfig(cfg))
	var iae *gnsq.InvalidArgumentError
	require.ErrorAs(t, err, &iae)
	assert.Contains(t, err.Error(), "heartbeat_interval")
}

func TestConnClosedIsSingleUse(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	closes := 0
	c, err := dial(t, nsqd.TCPAddr, newConfig(t), gnsq.WithConnHooks(gnsq.ConnHooks{OnClose: func(*gnsq.NsqdTCPClient) { closes++ }}))
	require.NoError(t, err)
	c.CloseStream()
	c.CloseStream()
	assert.Equal(t, 1, closes)
	assert.False(t, c.IsConnected())
	assert.ErrorIs(t, c.Connect(), gnsq.ErrClosed)
	assert.ErrorIs(t, c.Nop(), gnsq.ErrNotConnected)
	_, err = c.ReadResponse()
	assert.ErrorIs(t, err, gnsq.ErrNotConnected)
}
