package gnsq_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	gnsq "github.com/libgnsq/libgnsq/core"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testID = gnsq.MessageID{'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'}

// wire returns a function giving the wire bytes of a constructor's result.
func wire(t *testing.T) func(*gnsq.Command, error) []byte {
	return func(c *gnsq.Command, err error) []byte {
		t.Helper()
		require.NoError(t, err)
		return c.Bytes()
	}
}

func TestCommandBytes(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  []byte
		want []byte
	}{
		{"SUB", wire(t)(gnsq.Subscribe("t.1", "c_2#ephemeral")), []byte("SUB t.1 c_2#ephemeral\n")},
		{"RDY", wire(t)(gnsq.Ready(2500)), []byte("RDY 2500\n")},
		{"RDY 0", wire(t)(gnsq.Ready(0)), []byte("RDY 0\n")},
		{"FIN", gnsq.Finish(testID).Bytes(), []byte("FIN 0123456789abcdef\n")},
		{"REQ", wire(t)(gnsq.Requeue(testID, 1500*time.Millisecond)), []byte("REQ 0123456789abcdef 1500\n")},
		{"REQ 0", wire(t)(gnsq.Requeue(testID, 0)), []byte("REQ 0123456789abcdef 0\n")},
		{"TOUCH", gnsq.Touch(testID).Bytes(), []byte("TOUCH 0123456789abcdef\n")},
		{"CLS", gnsq.StartClose().Bytes(), []byte("CLS\n")},
		{"NOP", gnsq.Nop().Bytes(), []byte("NOP\n")},
		{"AUTH", gnsq.Auth("s3cret").Bytes(), []byte("AUTH\n\x00\x00\x00\x06s3cret")},
		{"PUB", wire(t)(gnsq.Publish("topic", []byte("hi\x00\xff"))), []byte("PUB topic\n\x00\x00\x00\x04hi\x00\xff")},
		{"PUB empty", wire(t)(gnsq.Publish("topic", nil)), []byte("PUB topic\n\x00\x00\x00\x00")},
		{"DPUB", wire(t)(gnsq.DeferredPublish("topic", 2*time.Second, []byte("x"))), []byte("DPUB topic 2000\n\x00\x00\x00\x01x")},
		{"MPUB", wire(t)(gnsq.MultiPublish("topic", [][]byte{[]byte("ab"), {}, []byte("c")})),
			[]byte("MPUB topic\n\x00\x00\x00\x13\x00\x00\x00\x03\x00\x00\x00\x02ab\x00\x00\x00\x00\x00\x00\x00\x01c")},
		{"MPUB empty", wire(t)(gnsq.MultiPublish("topic", nil)), []byte("MPUB topic\n\x00\x00\x00\x04\x00\x00\x00\x00")},
	} {
		assert.Equal(t, tc.want, tc.got, tc.name)
	}
}

func TestWriteToMatchesBytes(t *testing.T) {
	cmd, err := gnsq.MultiPublish("t", [][]byte{[]byte("one"), []byte("two")})
	require.NoError(t, err)
	var buf bytes.Buffer
	n, err := cmd.WriteTo(&buf)
	require.NoError(t, err)
	assert.Equal(t, int64(buf.Len()), n)
	assert.Equal(t, cmd.Bytes(), buf.Bytes())
	assert.Equal(t, "MPUB t", cmd.String())
}

func TestIdentifyBody(t *testing.T) {
	cmd, err := gnsq.Identify(&gnsq.IdentifyRequest{
		ClientID: "a\"b", Hostname: "h\nPUB x", UserAgent: "ua", FeatureNegotiation: true,
		HeartbeatInterval: 30000, OutputBufferSize: 16384, OutputBufferTimeout: 250,
		Deflate: true, DeflateLevel: 6, SampleRate: 10, MsgTimeout: 5000,
	})
	require.NoError(t, err)
	b := cmd.Bytes()
	require.True(t, bytes.HasPrefix(b, []byte("IDENTIFY\n")))
	size := binary.BigEndian.Uint32(b[9:13])
	body := b[13:]
	require.Equal(t, int(size), len(body))
	var got map[string]any
	require.NoError(t, json.Unmarshal(body, &got), "IDENTIFY body must stay valid JSON with quotes and newlines")
	assert.Equal(t, "a\"b", got["client_id"])
	assert.Equal(t, "h\nPUB x", got["hostname"])
	assert.Equal(t, true, got["feature_negotiation"])
	assert.Equal(t, float64(30000), got["heartbeat_interval"])
	assert.Equal(t, float64(250), got["output_buffer_timeout"])
	assert.Equal(t, float64(6), got["deflate_level"])
	assert.Equal(t, float64(5000), got["msg_timeout"])
	assert.Equal(t, float64(10), got["sample_rate"])
}

func TestNames(t *testing.T) {
	valid := []string{"a", strings.Repeat("x", 64), "a.b_c-d", "x#ephemeral", "A9"}
	invalid := []string{"", strings.Repeat("x", 65), "a b", "a\nPUB x", "ä", "x#ephemeralx", "#ephemeral", "a/b", "a\x00"}
	for _, n := range valid {
		assert.True(t, gnsq.IsValidTopicName(n), n)
		assert.True(t, gnsq.IsValidChannelName(n), n)
	}
	for _, n := range invalid {
		assert.False(t, gnsq.IsValidTopicName(n), "%q", n)
		_, err := gnsq.Publish(n, []byte("x"))
		var ine *gnsq.InvalidNameError
		require.ErrorAs(t, err, &ine, "%q", n)
		assert.Equal(t, "topic", ine.Kind)
		_, err = gnsq.Subscribe("ok", n)
		require.ErrorAs(t, err, &ine, "%q", n)
		assert.Equal(t, "channel", ine.Kind)
		_, err = gnsq.DeferredPublish(n, time.Second, []byte("x"))
		assert.Error(t, err)
		_, err = gnsq.MultiPublish(n, [][]byte{[]byte("x")})
		assert.Error(t, err)
	}
}

func TestBadArguments(t *testing.T) {
	_, err := gnsq.Ready(-1)
	var iae *gnsq.InvalidArgumentError
	assert.ErrorAs(t, err, &iae)
	_, err = gnsq.Requeue(testID, -time.Millisecond)
	assert.ErrorAs(t, err, &iae)
	_, err = gnsq.DeferredPublish("t", -time.Second, []byte("x"))
	assert.ErrorAs(t, err, &iae)
}

func frame(typ int32, data string) []byte { return gnsq.AppendFrame(nil, typ, []byte(data)) }

func TestReadFrameTypes(t *testing.T) {
	msg := &gnsq.Message{ID: testID, Body: []byte("body\x00\xff"), Timestamp: 1700000000123456789, Attempts: 3}
	stream := bytes.NewReader(bytes.Join([][]byte{
		frame(gnsq.FrameTypeResponse, "OK"),
		frame(gnsq.FrameTypeResponse, "_heartbeat_"),
		frame(gnsq.FrameTypeError, "E_BAD_TOPIC E_BAD_TOPIC MPUB topic name \"a b\" is not valid"),
		gnsq.AppendFrame(nil, gnsq.FrameTypeMessage, gnsq.EncodeMessage(msg)),
	}, nil))

	f, err := gnsq.ReadFrame(stream, 1024)
	require.NoError(t, err)
	assert.Equal(t, gnsq.Frame{Type: gnsq.FrameTypeResponse, Data: []byte("OK")}, f)

	f, err = gnsq.ReadFrame(stream, 1024)
	require.NoError(t, err)
	assert.Equal(t, "_heartbeat_", string(f.Data))

	f, err = gnsq.ReadFrame(stream, 1024)
	require.NoError(t, err)
	require.Equal(t, gnsq.FrameTypeError, f.Type)
	se := gnsq.ParseServerError(f.Data)
	assert.Equal(t, "E_BAD_TOPIC", se.Code)
	assert.True(t, se.Fatal())
	assert.ErrorIs(t, se, gnsq.ErrBadTopic)
	assert.NotErrorIs(t, se, gnsq.ErrBadBody)

	f, err = gnsq.ReadFrame(stream, 1024)
	require.NoError(t, err)
	require.Equal(t, gnsq.FrameTypeMessage, f.Type)
	got, err := gnsq.DecodeMessage(f.Data)
	require.NoError(t, err)
	assert.Equal(t, msg, got)

	_, err = gnsq.ReadFrame(stream, 1024)
	assert.Equal(t, io.EOF, err)
}

func TestServerErrorFatality(t *testing.T) {
	for code, fatal := range map[string]bool{
		"E_INVALID": true, "E_BAD_BODY": true, "E_BAD_TOPIC": true, "E_BAD_CHANNEL": true,
		"E_BAD_MESSAGE": true, "E_PUB_FAILED": true, "E_MPUB_FAILED": true, "E_DPUB_FAILED": true,
		"E_SUB_FAILED": true, "E_IDENTIFY_FAILED": true, "E_AUTH_FIRST": true, "E_AUTH_FAILED": true,
		"E_AUTH_ERROR": true, "E_AUTH_DISABLED": true, "E_UNAUTHORIZED": true, "E_SOMETHING_NEW": true,
		"E_FIN_FAILED": false, "E_REQ_FAILED": false, "E_TOUCH_FAILED": false,
		"E_FINISH_FAILED": false, "E_REQUEUE_FAILED": false,
	} {
		se := gnsq.ParseServerError([]byte(code + " some detail"))
		assert.Equal(t, code, se.Code)
		assert.Equal(t, "some detail", se.Detail)
		assert.Equal(t, fatal, se.Fatal(), code)
		assert.Equal(t, code+" some detail", se.Error())
	}
	assert.ErrorIs(t, gnsq.ParseServerError([]byte("E_FIN_FAILED FIN x failed")), gnsq.ErrFinFailed)
	assert.False(t, errors.Is(gnsq.ErrFinFailed, gnsq.ErrReqFailed))
}

// readerKinds: ReadFrame reads the header in place from a *bufio.Reader
// and through io.ReadFull from any other reader; both must behave alike.
var readerKinds = map[string]func([]byte) io.Reader{
	"plain": func(b []byte) io.Reader { return bytes.NewReader(b) },
	"bufio": func(b []byte) io.Reader { return bufio.NewReader(bytes.NewReader(b)) },
}

func TestReadFrameHostile(t *testing.T) {
	for name, raw := range map[string][]byte{
		"size below 4":       {0, 0, 0, 3, 0, 0, 0, 0},
		"size zero":          {0, 0, 0, 0},
		"negative size":      {0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0},
		"huge size":          {0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0},
		"unknown frame type": frame(7, "x"),
	} {
		for kind, wrap := range readerKinds {
			_, err := gnsq.ReadFrame(wrap(raw), 1<<20)
			var pe *gnsq.ProtocolError
			assert.ErrorAs(t, err, &pe, "%s, %s", name, kind)
		}
	}
	// Truncated frames end in io.ErrUnexpectedEOF, never a short frame; no
	// byte at all is io.EOF (the header is read in place from a bufio.Reader).
	full := frame(gnsq.FrameTypeResponse, "hello")
	for kind, wrap := range readerKinds {
		_, err := gnsq.ReadFrame(wrap(nil), 1<<20)
		assert.Equal(t, io.EOF, err, kind)
		for n := 1; n < len(full); n++ {
			_, err := gnsq.ReadFrame(wrap(full[:n]), 1<<20)
			assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "%s, cut at %d", kind, n)
		}
	}
	// A message frame shorter than its 26-byte header.
	_, err := gnsq.DecodeMessage(make([]byte, 25))
	var pe *gnsq.ProtocolError
	assert.ErrorAs(t, err, &pe)
}

func TestReadFrameDoesNotAllocateOversize(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := gnsq.ReadFrame(bytes.NewReader([]byte{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0}), 1<<20)
	runtime.ReadMemStats(&after)
	var pe *gnsq.ProtocolError
	require.ErrorAs(t, err, &pe)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "no allocation beyond the frame limit")
}

// The hand-written name check must agree with NSQ's regexp.
func TestNameCheckMatchesNSQRegexp(t *testing.T) {
	re := regexp.MustCompile(`^[.a-zA-Z0-9_-]+(#ephemeral)?$`)
	alphabet := []byte("aZ09._-#ephemral /\n\xff")
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200000; i++ {
		b := make([]byte, rng.IntN(70))
		for j := range b {
			b[j] = alphabet[rng.IntN(len(alphabet))]
		}
		if rng.IntN(4) == 0 {
			b = append(b, "#ephemeral"...)
		}
		name := string(b)
		want := len(name) >= 1 && len(name) <= 64 && re.MatchString(name)
		require.Equal(t, want, gnsq.IsValidTopicName(name), "%q", name)
	}
}
