package gnsq_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	gnsq "github.com/libgnsq/libgnsq/core"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConfigDefaultsAreGnsqs(t *testing.T) {
	c := gnsq.NewConfig()
	assert.Equal(t, 60*time.Second, c.Timeout)
	assert.Equal(t, 30*time.Second, c.HeartbeatInterval)
	assert.Equal(t, 16384, c.OutputBufferSize)
	assert.Equal(t, 250*time.Millisecond, c.OutputBufferTimeout)
	assert.Equal(t, 6, c.DeflateLevel)
	assert.Equal(t, 0, c.SampleRate)
	assert.Equal(t, 128*time.Second, c.MaxBackoffDuration)
	assert.False(t, c.TLSv1 || c.Snappy || c.Deflate || c.TLSInsecure)
	require.NoError(t, c.Validate())
}

func TestConfigSetAndGet(t *testing.T) {
	c := gnsq.NewConfig()
	for key, in := range map[string][2]string{
		"timeout":               {"1.5", "1.5"},
		"heartbeat_interval":    {"1000ms", "1"},
		"output_buffer_timeout": {"100", "100"},
		"msg_timeout":           {"2s", "2000"},
		"tls_v1":                {"True", "true"},
		"snappy":                {"1", "true"},
		"deflate_level":         {" 3 ", "3"},
		"client_id":             {"worker-1", "worker-1"},
	} {
		require.NoError(t, c.Set(key, in[0]), key)
		got, err := c.Get(key)
		require.NoError(t, err)
		assert.Equal(t, in[1], got, key)
	}
	assert.Equal(t, 1500*time.Millisecond, c.Timeout)
	assert.Equal(t, 2*time.Second, c.MsgTimeout)
}

func TestConfigRejectsBadInput(t *testing.T) {
	c := gnsq.NewConfig()
	before := *c
	for _, kv := range [][2]string{
		{"no_such_key", "1"},
		{"max_in_flight_typo", "1"},
		{"timeout", "soon"},
		{"tls_v1", "maybe"},
		{"deflate_level", "10"},
		{"deflate_level", "x"},
		{"sample_rate", "100"},
		{"output_buffer_size", "70000"},
		{"heartbeat_interval", "-2"},
		{"max_backoff_duration", "-1"},
		{"log_level", "loud"},
	} {
		err := c.Set(kv[0], kv[1])
		var iae *gnsq.InvalidArgumentError
		require.ErrorAs(t, err, &iae, "%s=%s", kv[0], kv[1])
		assert.Contains(t, err.Error(), kv[0])
	}
	assert.Equal(t, before, *c, "a rejected Set changes nothing")
	_, err := c.Get("nope")
	assert.Error(t, err)

	for name, kv := range map[string][]string{
		"snappy with deflate":    {"snappy", "true", "deflate", "true"},
		"cert without key":       {"tls_cert_file", "/x.pem"},
		"heartbeat over timeout": {"timeout", "10", "heartbeat_interval", "20"},
		"heartbeat under 1s":     {"heartbeat_interval", "0.5"},
		"msg_timeout under 1000": {"msg_timeout", "999"},
	} {
		c := newConfig(t, kv...)
		assert.Error(t, c.Validate(), name)
	}
}

func TestConfigNeverPrintsTheSecret(t *testing.T) {
	c := newConfig(t, "auth_secret", "hunter2")
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c)} {
		assert.NotContains(t, s, "hunter2")
	}
}

// configTable renders every option as a Markdown table.
func configTable() string {
	var b strings.Builder
	b.WriteString("| Option | Type | Default | Unit | Range | Meaning |\n|---|---|---|---|---|---|\n")
	for _, o := range gnsq.ConfigOptions() {
		rng := ""
		if o.Min != "" || o.Max != "" {
			rng = o.Min + " … " + o.Max
		}
		if o.Choices != "" {
			rng = strings.ReplaceAll(o.Choices, ",", ", ")
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", o.Name, o.Type, o.Default, o.Unit, rng, o.Doc)
	}
	return b.String()
}

// docs/config.md, and the table in docs/c-api.md, are generated from the
// Config tags; run with GNSQ_UPDATE_DOCS=1 to rewrite them.
func TestConfigDocsUpToDate(t *testing.T) {
	var b strings.Builder
	b.WriteString("# Configuration options\n\n")
	b.WriteString("Generated from the `Config` struct tags in `core/config.go` by `TestConfigDocsUpToDate`\n")
	b.WriteString("(`GNSQ_UPDATE_DOCS=1 go test -run TestConfigDocsUpToDate ./core`). The same names are\n")
	b.WriteString("accepted by `Config.Set` in Go and by the C and binding config setters. Durations take\n")
	b.WriteString("a bare number in the unit shown, or a Go duration string such as `1500ms`.\n\n")
	b.WriteString(configTable())
	b.WriteString(`
## Rules checked when an object is created

` + "`Config.Set`" + ` checks each value's type and range. These rules across options, and
the files they name, are checked by ` + "`Config.Validate`" + `, which every constructor (Go
` + "`NewProducer`, `NewConsumer`, `NewNsqdTCPClient`" + `; the C producer, consumer and TCP client constructors; the Python
objects at ` + "`start()`/`connect()`" + `) runs, so a mistake is an invalid-argument error there
instead of an endless series of failed connections:

- ` + "`snappy` and `deflate`" + ` cannot both be enabled;
- ` + "`heartbeat_interval`" + ` is -1, 0 (nsqd's default, 30 s) or at least 1 s, and shorter
  than ` + "`timeout`" + ` (else an idle connection times out between heartbeats);
- ` + "`msg_timeout`" + ` is 0 or at least 1000 ms;
- ` + "`tls_cert_file` and `tls_key_file`" + ` are given together;
- ` + "`tls_ca_file`, `tls_cert_file` and `tls_key_file`" + ` need ` + "`tls_v1`" + ` (without it the
  connection would be plaintext) and must be readable files;
- nsqd addresses are ` + "`host[:port]`" + ` with a valid port; a host containing ` + "`:`" + ` must be
  an IPv6 address.
`)
	checkGenerated(t, "../docs/config.md", b.String())

	const begin, end = "<!-- config-table -->\n", "<!-- /config-table -->"
	capi, err := os.ReadFile("../docs/c-api.md")
	require.NoError(t, err)
	i, j := strings.Index(string(capi), begin), strings.Index(string(capi), end)
	require.True(t, i >= 0 && j > i, "docs/c-api.md lacks the config-table markers")
	checkGenerated(t, "../docs/c-api.md", string(capi[:i+len(begin)])+configTable()+string(capi[j:]))
}

// checkGenerated compares path with want, or writes it with GNSQ_UPDATE_DOCS=1.
func checkGenerated(t *testing.T, path, want string) {
	t.Helper()
	if os.Getenv("GNSQ_UPDATE_DOCS") == "1" {
		require.NoError(t, os.WriteFile(path, []byte(want), 0o644))
	}
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, want, string(got), "%s is stale: GNSQ_UPDATE_DOCS=1 go test -run TestConfigDocsUpToDate ./core", path)
}

// Configuration mistakes are refused when the object is created, not
// retried forever as connect errors (issue 11, defect 5).
func TestMistakesRefusedAtCreation(t *testing.T) {
	handler := func(*gnsq.Message) error { return nil }
	for _, tc := range []struct {
		name string
		addr string
		kv   []string
		want string
	}{
		{"unparsable address", "::::", nil, "invalid nsqd address"},
		{"tls_ca_file without tls_v1", "127.0.0.1:4150", []string{"tls_ca_file", "/etc/hostname"}, "tls_v1 is not"},
		{"missing tls_ca_file", "127.0.0.1:4150", []string{"tls_v1", "true", "tls_ca_file", "/nonexistent/ca.pem"}, "tls_ca_file"},
		{"missing client certificate", "127.0.0.1:4150", []string{"tls_v1", "true", "tls_cert_file", "/nonexistent/c.pem", "tls_key_file", "/nonexistent/k.pem"}, "tls_cert_file"},
	} {
		cfg := gnsq.NewConfig()
		for i := 0; i < len(tc.kv); i += 2 {
			require.NoError(t, cfg.Set(tc.kv[i], tc.kv[i+1]), tc.name)
		}
		var invalid *gnsq.InvalidArgumentError
		_, err := gnsq.NewProducer(gnsq.WithNsqd(tc.addr), gnsq.WithConfig(cfg))
		require.ErrorAs(t, err, &invalid, tc.name)
		assert.Contains(t, err.Error(), tc.want, tc.name)
		_, err = gnsq.NewConsumer("t", "c", handler, gnsq.WithNsqd(tc.addr), gnsq.WithConfig(cfg))
		require.ErrorAs(t, err, &invalid, tc.name)
		assert.Contains(t, err.Error(), tc.want, tc.name)
	}
	_, err := gnsq.NewProducer(gnsq.WithNsqd("[::1]:4150", "::1", "localhost"))
	assert.NoError(t, err, "IPv6 and host names stay valid")
}
