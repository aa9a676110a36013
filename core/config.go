package gnsq

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Version is libgnsq's version.
const Version = "0.1.0"

// DefaultUserAgent is sent in IDENTIFY and on HTTP requests.
const DefaultUserAgent = "libgnsq/" + Version

// Config holds the options of NsqdTCPClient, Producer and Consumer under
// gnsq's keyword names. The struct tags are the single source for Set (used by the
// C config setter and the bindings), Validate and the generated docs:
//
//	opt:     the gnsq keyword name
//	default: the default, in the option's unit
//	unit:    for durations, the unit of a bare number ("s" or "ms");
//	         Go duration strings like "1500ms" are accepted too
//	min/max: inclusive bounds, in the option's unit
//	choices: the values a string option accepts
//	doc:     one line of documentation
//
// Use NewConfig for the defaults; the zero Config is not valid.
type Config struct {
	Timeout             time.Duration `opt:"timeout" default:"60" unit:"s" min:"0.001" doc:"write timeout; with heartbeats on (heartbeat_interval not -1) also the read timeout: an nsqd silent for this long is dropped"`
	DialTimeout         time.Duration `opt:"dial_timeout" default:"5" unit:"s" min:"0.001" doc:"TCP connect timeout; the handshake after it (IDENTIFY, TLS, AUTH, SUB) is bounded by max(dial_timeout, 1 s), at most timeout"`
	ClientID            string        `opt:"client_id" default:"" doc:"identifier sent in IDENTIFY (default: the short hostname)"`
	Hostname            string        `opt:"hostname" default:"" doc:"hostname sent in IDENTIFY (default: the machine's hostname)"`
	UserAgent           string        `opt:"user_agent" default:"" doc:"user agent sent in IDENTIFY (default: libgnsq/<version>)"`
	HeartbeatInterval   time.Duration `opt:"heartbeat_interval" default:"30" unit:"s" min:"-1" max:"300" doc:"heartbeat interval negotiated with nsqd; -1 disables heartbeats, 0 takes nsqd's default, else at least 1 s"`
	OutputBufferSize    int           `opt:"output_buffer_size" default:"16384" min:"-1" max:"65536" doc:"bytes nsqd buffers before writing to this client; -1 disables buffering"`
	OutputBufferTimeout time.Duration `opt:"output_buffer_timeout" default:"250" unit:"ms" min:"-1" max:"30000" doc:"how long nsqd may hold buffered writes; -1 disables (set output_buffer_size -1 too: alone, nsqd 1.3.0 may hold messages indefinitely), values under 25 ms load nsqd"`
	MsgTimeout          time.Duration `opt:"msg_timeout" default:"0" unit:"ms" min:"0" max:"900000" doc:"server-side timeout of messages in flight to this client; 0 takes nsqd's default"`
	SampleRate          int           `opt:"sample_rate" default:"0" min:"0" max:"99" doc:"deliver only this percentage of the channel's messages to this client (0: all)"`
	TLSv1               bool          `opt:"tls_v1" default:"false" doc:"upgrade the connection to TLS; certificates are verified unless tls_insecure_skip_verify"`
	TLSCAFile           string        `opt:"tls_ca_file" default:"" doc:"PEM file of CA certificates to verify nsqd with (default: the system roots)"`
	TLSCertFile         string        `opt:"tls_cert_file" default:"" doc:"PEM client certificate, for nsqd's --tls-client-auth-policy"`
	TLSKeyFile          string        `opt:"tls_key_file" default:"" doc:"PEM key of tls_cert_file"`
	TLSServerName       string        `opt:"tls_server_name" default:"" doc:"name to verify nsqd's certificate against (default: the host of the address)"`
	TLSInsecure         bool          `opt:"tls_insecure_skip_verify" default:"false" doc:"accept any server certificate (unsafe: for testing only)"`
	Snappy              bool          `opt:"snappy" default:"false" doc:"Snappy stream compression (not with deflate)"`
	Deflate             bool          `opt:"deflate" default:"false" doc:"Deflate stream compression (not with snappy)"`
	DeflateLevel        int           `opt:"deflate_level" default:"6" min:"1" max:"9" doc:"deflate level requested; nsqd caps it at its --max-deflate-level"`
	AuthSecret          string        `opt:"auth_secret" default:"" doc:"secret sent with AUTH when nsqd requires it; never logged"`
	MaxFrameSize        int           `opt:"max_frame_size" default:"16777216" min:"1024" doc:"largest frame accepted from nsqd, in bytes; a larger one is a protocol error"`
	MaxBackoffDuration  time.Duration `opt:"max_backoff_duration" default:"128" unit:"s" min:"0" max:"3600" doc:"cap of the message backoff and of reconnect delays; 0 disables message backoff"`

	// Consumer options.
	MaxInFlight             int           `opt:"max_in_flight" default:"1" min:"0" doc:"most messages in flight across all connections of a consumer (the sum of RDY); 0 pauses"`
	MaxTries                int           `opt:"max_tries" default:"5" min:"0" max:"65535" doc:"a message delivered more often than this is finished and reported with on_giving_up, not handled; 0: no limit"`
	RequeueDelay            time.Duration `opt:"requeue_delay" default:"0" unit:"ms" min:"0" max:"3600000" doc:"delay of the requeue after a failed handler"`
	BackoffOnRequeue        bool          `opt:"backoff_on_requeue" default:"true" doc:"whether a requeue error from the handler backs off (a handler failure always does)"`
	LookupdPollInterval     time.Duration `opt:"lookupd_poll_interval" default:"60" unit:"s" min:"0.01" max:"3600" doc:"time between lookupd queries"`
	LookupdPollJitter       float64       `opt:"lookupd_poll_jitter" default:"0.3" min:"0" max:"1" doc:"fraction of the poll interval added at random to the first poll and to every poll"`
	LookupdRequestTimeout   time.Duration `opt:"lookupd_request_timeout" default:"5" unit:"s" min:"0.01" max:"300" doc:"a lookupd query that takes longer is abandoned (the next poll tries again)"`
	LowReadyIdleTimeout     time.Duration `opt:"low_ready_idle_timeout" default:"10" unit:"s" min:"0.01" max:"3600" doc:"a connection with no message for this long keeps only RDY 1 until it receives again"`
	RdyRedistributeInterval time.Duration `opt:"rdy_redistribute_interval" default:"5" unit:"s" min:"0.001" max:"60" doc:"how often RDY is redistributed (and rotated when max_in_flight is below the number of connections)"`

	LogLevel string `opt:"log_level" default:"warn" choices:"debug,info,warn,error,off" doc:"least severe log record delivered (debug, info, warn, error, or off): to the slog Logger in Go, as GNSQ_EV_LOG events in C"`

	// Logger receives the client's log lines at log_level and above (Go
	// only; default slog.Default()). Secrets are never logged.
	Logger *slog.Logger

	// TLSConfig, when set, is used instead of the tls_* options (Go only).
	// It is cloned; ServerName is filled from the address when empty.
	TLSConfig *tls.Config
}

// NewConfig returns a Config with every default applied.
func NewConfig() *Config {
	c := &Config{}
	for _, f := range configFields() {
		if err := f.set(c, f.def); err != nil {
			panic("gnsq: bad default for " + f.name + ": " + err.Error())
		}
	}
	return c
}

// Set assigns one option by its gnsq keyword name from its string form.
// Unknown keys and unparsable or out-of-range values are rejected and leave
// c unchanged.
func (c *Config) Set(key, value string) error {
	f, ok := configFieldByName()[key]
	if !ok {
		return &InvalidArgumentError{Reason: fmt.Sprintf("unknown config key %q", key)}
	}
	trial := *c
	if err := f.set(&trial, value); err != nil {
		return &InvalidArgumentError{Reason: fmt.Sprintf("%s=%q: %v", key, value, err)}
	}
	if err := f.checkRange(&trial); err != nil {
		return err
	}
	*c = trial
	return nil
}

// Get returns the string form of one option.
func (c *Config) Get(key string) (string, error) {
	f, ok := configFieldByName()[key]
	if !ok {
		return "", &InvalidArgumentError{Reason: fmt.Sprintf("unknown config key %q", key)}
	}
	return f.get(c), nil
}

// Validate checks every bound and the combinations nsqd refuses.
func (c *Config) Validate() error {
	for _, f := range configFields() {
		if err := f.checkRange(c); err != nil {
			return err
		}
	}
	if c.Snappy && c.Deflate {
		return &InvalidArgumentError{Reason: "snappy and deflate cannot both be enabled"}
	}
	if hb := c.HeartbeatInterval; hb > 0 && hb < time.Second {
		return &InvalidArgumentError{Reason: fmt.Sprintf("heartbeat_interval must be -1, 0 or at least 1s, got %v", hb)}
	}
	if hb := c.effectiveHeartbeat(); hb > 0 && hb >= c.Timeout {
		return &InvalidArgumentError{Reason: fmt.Sprintf("heartbeat_interval (%v) must be shorter than timeout (%v), or the connection times out while idle", hb, c.Timeout)}
	}
	if mt := c.MsgTimeout; mt > 0 && mt < time.Second {
		return &InvalidArgumentError{Reason: fmt.Sprintf("msg_timeout must be 0 or at least 1000 ms, got %v", mt)}
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return &InvalidArgumentError{Reason: "tls_cert_file and tls_key_file must be given together"}
	}
	return c.validateTLSFiles()
}

// validateTLSFiles refuses TLS options without tls_v1 (they would be
// ignored: a plaintext connection the caller did not ask for) and files
// that cannot be read, when the object is created rather than at every
// connection attempt.
func (c *Config) validateTLSFiles() error {
	files := map[string]string{"tls_ca_file": c.TLSCAFile, "tls_cert_file": c.TLSCertFile, "tls_key_file": c.TLSKeyFile}
	for _, key := range []string{"tls_ca_file", "tls_cert_file", "tls_key_file"} {
		path := files[key]
		if path == "" {
			continue
		}
		if !c.TLSv1 {
			return &InvalidArgumentError{Reason: key + " is set but tls_v1 is not: the connection would not use TLS"}
		}
		if f, err := os.Open(path); err != nil {
			return &InvalidArgumentError{Reason: fmt.Sprintf("%s: %v", key, err)}
		} else {
			f.Close()
		}
	}
	return nil
}

// effectiveHeartbeat is the interval nsqd will use (0 means its 30 s default).
func (c *Config) effectiveHeartbeat() time.Duration {
	if c.HeartbeatInterval == 0 {
		return 30 * time.Second
	}
	return c.HeartbeatInterval
}

// String prints the options with auth_secret redacted, so a Config in a
// log line or an error never reveals the secret.
func (c *Config) String() string {
	redacted := *c
	if redacted.AuthSecret != "" {
		redacted.AuthSecret = "<redacted>"
	}
	type plain Config // drops the methods, so this does not recurse
	return fmt.Sprintf("%+v", plain(redacted))
}

// GoString is String, for %#v.
func (c *Config) GoString() string { return c.String() }

// clone returns a copy that later changes to c do not affect.
func (c *Config) clone() *Config {
	cp := *c
	if c.TLSConfig != nil {
		cp.TLSConfig = c.TLSConfig.Clone()
	}
	return &cp
}

func (c *Config) clientID() string {
	if c.ClientID != "" {
		return c.ClientID
	}
	short, _, _ := strings.Cut(c.hostname(), ".")
	return short
}

func (c *Config) userAgent() string {
	if c.UserAgent != "" {
		return c.UserAgent
	}
	return DefaultUserAgent
}

// logger is Logger, or slog.Default(), filtered by log_level.
func (c *Config) logger() *slog.Logger {
	h := slog.Default().Handler()
	if c.Logger != nil {
		h = c.Logger.Handler()
	}
	levels := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError, "off": slog.LevelError + 100}
	return slog.New(leveledHandler{Handler: h, min: levels[c.LogLevel]})
}

// leveledHandler drops records below min.
type leveledHandler struct {
	slog.Handler
	min slog.Level
}

func (h leveledHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h leveledHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return leveledHandler{Handler: h.Handler.WithAttrs(attrs), min: h.min}
}

func (h leveledHandler) WithGroup(name string) slog.Handler {
	return leveledHandler{Handler: h.Handler.WithGroup(name), min: h.min}
}

func (c *Config) hostname() string {
	if c.Hostname != "" {
		return c.Hostname
	}
	h, _ := os.Hostname()
	return h
}

// ConfigOption describes one option, for docs and bindings.
type ConfigOption struct {
	Name, Type, Default, Unit, Min, Max, Choices, Doc string
}

// ConfigOptions lists every option in declaration order.
func ConfigOptions() []ConfigOption {
	fields := configFields()
	out := make([]ConfigOption, len(fields))
	for i, f := range fields {
		out[i] = ConfigOption{Name: f.name, Type: f.typeName(), Default: f.def, Unit: f.unit, Min: f.min, Max: f.max, Choices: f.choices, Doc: f.doc}
	}
	return out
}

type configField struct {
	index                                   int
	kind                                    reflect.Type
	name, def, unit, min, max, choices, doc string
}

var durationType = reflect.TypeOf(time.Duration(0))

func configFields() []configField {
	t := reflect.TypeOf(Config{})
	var out []configField
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name := sf.Tag.Get("opt")
		if name == "" {
			continue
		}
		out = append(out, configField{
			index: i, kind: sf.Type, name: name,
			def: sf.Tag.Get("default"), unit: sf.Tag.Get("unit"),
			min: sf.Tag.Get("min"), max: sf.Tag.Get("max"), choices: sf.Tag.Get("choices"), doc: sf.Tag.Get("doc"),
		})
	}
	return out
}

func configFieldByName() map[string]configField {
	m := make(map[string]configField)
	for _, f := range configFields() {
		m[f.name] = f
	}
	return m
}

func (f configField) typeName() string {
	switch {
	case f.kind == durationType:
		return "duration"
	case f.kind.Kind() == reflect.Bool:
		return "bool"
	case f.kind.Kind() == reflect.Int:
		return "int"
	case f.kind.Kind() == reflect.Float64:
		return "float"
	}
	return "string"
}

func (f configField) unitDuration() time.Duration {
	if f.unit == "ms" {
		return time.Millisecond
	}
	return time.Second
}

// parseDuration accepts a bare number in the field's unit or a Go duration.
func (f configField) parseDuration(s string) (time.Duration, error) {
	if x, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(x * float64(f.unitDuration())), nil
	}
	return time.ParseDuration(s)
}

func (f configField) set(c *Config, s string) error {
	v := reflect.ValueOf(c).Elem().Field(f.index)
	s = strings.TrimSpace(s)
	switch f.typeName() {
	case "duration":
		d, err := f.parseDuration(s)
		if err != nil {
			return fmt.Errorf("not a duration (a number of %s, or like \"1500ms\")", f.unitName())
		}
		v.SetInt(int64(d))
	case "bool":
		switch strings.ToLower(s) {
		case "1", "true", "yes", "on":
			v.SetBool(true)
		case "0", "false", "no", "off", "":
			v.SetBool(false)
		default:
			return fmt.Errorf("not a boolean")
		}
	case "int":
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("not an integer")
		}
		v.SetInt(int64(n))
	case "float":
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("not a number")
		}
		v.SetFloat(x)
	default:
		if f.choices != "" && !slices.Contains(strings.Split(f.choices, ","), s) {
			return fmt.Errorf("not one of %s", f.choices)
		}
		v.SetString(s)
	}
	return nil
}

func (f configField) unitName() string {
	if f.unit == "ms" {
		return "milliseconds"
	}
	return "seconds"
}

func (f configField) get(c *Config) string {
	v := reflect.ValueOf(c).Elem().Field(f.index)
	switch f.typeName() {
	case "duration":
		return strconv.FormatFloat(float64(v.Int())/float64(f.unitDuration()), 'g', -1, 64)
	case "bool":
		return strconv.FormatBool(v.Bool())
	case "int":
		return strconv.FormatInt(v.Int(), 10)
	case "float":
		return strconv.FormatFloat(v.Float(), 'g', -1, 64)
	}
	return v.String()
}

// checkRange enforces the min/max tags, expressed in the field's unit.
func (f configField) checkRange(c *Config) error {
	if f.min == "" && f.max == "" {
		return nil
	}
	v := reflect.ValueOf(c).Elem().Field(f.index)
	var x float64
	switch f.typeName() {
	case "duration":
		x = float64(v.Int()) / float64(f.unitDuration())
	case "float":
		x = v.Float()
	default:
		x = float64(v.Int())
	}
	if f.min != "" {
		if lo, _ := strconv.ParseFloat(f.min, 64); x < lo {
			return &InvalidArgumentError{Reason: fmt.Sprintf("%s must be >= %s, got %s", f.name, f.min, f.get(c))}
		}
	}
	if f.max != "" {
		if hi, _ := strconv.ParseFloat(f.max, 64); x > hi {
			return &InvalidArgumentError{Reason: fmt.Sprintf("%s must be <= %s, got %s", f.name, f.max, f.get(c))}
		}
	}
	return nil
}
