package protocol_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"math/rand/v2"
	"regexp"
	"runtime"
	"testing"
	"time"

	"github.com/libgnsq/libgnsq/internal/protocol"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testID = [16]byte{'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'}

func TestCommandBytes(t *testing.T) {
	for _, tc := range []struct {
		name string
		cmd  *protocol.Command
		want []byte
	}{
		{"SUB", protocol.Subscribe("t.1", "c_2#ephemeral"), []byte("SUB t.1 c_2#ephemeral\n")},
		{"RDY", protocol.Ready(2500), []byte("RDY 2500\n")},
		{"RDY 0", protocol.Ready(0), []byte("RDY 0\n")},
		{"FIN", protocol.Finish(testID), []byte("FIN 0123456789abcdef\n")},
		{"REQ", protocol.Requeue(testID, 1500*time.Millisecond), []byte("REQ 0123456789abcdef 1500\n")},
		{"REQ 0", protocol.Requeue(testID, 0), []byte("REQ 0123456789abcdef 0\n")},
		{"TOUCH", protocol.Touch(testID), []byte("TOUCH 0123456789abcdef\n")},
		{"CLS", protocol.StartClose(), []byte("CLS\n")},
		{"NOP", protocol.Nop(), []byte("NOP\n")},
		{"AUTH", protocol.Auth("s3cret"), []byte("AUTH\n\x00\x00\x00\x06s3cret")},
		{"PUB", protocol.Publish("topic", []byte("hi\x00\xff")), []byte("PUB topic\n\x00\x00\x00\x04hi\x00\xff")},
		{"PUB empty", protocol.Publish("topic", nil), []byte("PUB topic\n\x00\x00\x00\x00")},
		{"DPUB", protocol.DeferredPublish("topic", 2*time.Second, []byte("x")), []byte("DPUB topic 2000\n\x00\x00\x00\x01x")},
		{"PUB or DPUB 0", protocol.PublishOrDefer("topic", 0, []byte("x")), []byte("PUB topic\n\x00\x00\x00\x01x")},
		{"PUB or DPUB 1s", protocol.PublishOrDefer("topic", time.Second, []byte("x")), []byte("DPUB topic 1000\n\x00\x00\x00\x01x")},
		{"MPUB", protocol.MultiPublish("topic", [][]byte{[]byte("ab"), {}, []byte("c")}),
			[]byte("MPUB topic\n\x00\x00\x00\x13\x00\x00\x00\x03\x00\x00\x00\x02ab\x00\x00\x00\x00\x00\x00\x00\x01c")},
		{"MPUB empty", protocol.MultiPublish("topic", nil), []byte("MPUB topic\n\x00\x00\x00\x04\x00\x00\x00\x00")},
	} {
		assert.Equal(t, tc.want, tc.cmd.Bytes(), tc.name)
	}
}

func TestWriteToMatchesBytes(t *testing.T) {
	cmd := protocol.MultiPublish("t", [][]byte{[]byte("one"), []byte("two")})
	var buf bytes.Buffer
	n, err := cmd.WriteTo(&buf)
	require.NoError(t, err)
	assert.Equal(t, int64(buf.Len()), n)
	assert.Equal(t, cmd.Bytes(), buf.Bytes())
	assert.Equal(t, "MPUB t", cmd.String())
	assert.Equal(t, cmd.Bytes()[len("MPUB t\n")+4:], protocol.MultiPublishBody([][]byte{[]byte("one"), []byte("two")}))
}

func TestWriteFinishMatchesFinish(t *testing.T) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	id := testID
	protocol.WriteFinish(w, &id)
	require.NoError(t, w.Flush())
	assert.Equal(t, protocol.Finish(testID).Bytes(), buf.Bytes())
}

func TestIdentifyBody(t *testing.T) {
	cmd, err := protocol.Identify(&protocol.IdentifyRequest{
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

func frame(typ int32, data string) []byte { return protocol.AppendFrame(nil, typ, []byte(data)) }

func TestReadFrameTypes(t *testing.T) {
	msg := protocol.Message{ID: testID, Body: []byte("body\x00\xff"), Timestamp: 1700000000123456789, Attempts: 3}
	stream := bytes.NewReader(bytes.Join([][]byte{
		frame(protocol.FrameTypeResponse, "OK"),
		frame(protocol.FrameTypeResponse, "_heartbeat_"),
		frame(protocol.FrameTypeError, "E_BAD_TOPIC E_BAD_TOPIC MPUB topic name \"a b\" is not valid"),
		protocol.AppendFrame(nil, protocol.FrameTypeMessage, protocol.EncodeMessage(msg)),
	}, nil))

	f, err := protocol.ReadFrame(stream, 1024)
	require.NoError(t, err)
	assert.Equal(t, protocol.Frame{Type: protocol.FrameTypeResponse, Data: protocol.ResponseOK}, f)

	f, err = protocol.ReadFrame(stream, 1024)
	require.NoError(t, err)
	assert.Equal(t, protocol.Frame{Type: protocol.FrameTypeResponse, Data: protocol.ResponseHeartbeat}, f)

	f, err = protocol.ReadFrame(stream, 1024)
	require.NoError(t, err)
	require.Equal(t, protocol.FrameTypeError, f.Type)
	assert.Equal(t, "E_BAD_TOPIC E_BAD_TOPIC MPUB topic name \"a b\" is not valid", string(f.Data))

	f, err = protocol.ReadFrame(stream, 1024)
	require.NoError(t, err)
	require.Equal(t, protocol.FrameTypeMessage, f.Type)
	got, err := protocol.DecodeMessage(f.Data)
	require.NoError(t, err)
	assert.Equal(t, msg, got)

	_, err = protocol.ReadFrame(stream, 1024)
	assert.Equal(t, io.EOF, err)
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
			_, err := protocol.ReadFrame(wrap(raw), 1<<20)
			var fe *protocol.FormatError
			assert.ErrorAs(t, err, &fe, "%s, %s", name, kind)
		}
	}
	// Truncated frames end in io.ErrUnexpectedEOF, never a short frame; no
	// byte at all is io.EOF (the header is read in place from a bufio.Reader).
	full := frame(protocol.FrameTypeResponse, "hello")
	for kind, wrap := range readerKinds {
		_, err := protocol.ReadFrame(wrap(nil), 1<<20)
		assert.Equal(t, io.EOF, err, kind)
		for n := 1; n < len(full); n++ {
			_, err := protocol.ReadFrame(wrap(full[:n]), 1<<20)
			assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "%s, cut at %d", kind, n)
		}
	}
	// A message frame shorter than its 26-byte header.
	_, err := protocol.DecodeMessage(make([]byte, 25))
	var fe *protocol.FormatError
	assert.ErrorAs(t, err, &fe)
}

func TestReadFrameDoesNotAllocateOversize(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := protocol.ReadFrame(bytes.NewReader([]byte{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0}), 1<<20)
	runtime.ReadMemStats(&after)
	var fe *protocol.FormatError
	require.ErrorAs(t, err, &fe)
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
		require.Equal(t, want, protocol.IsValidName(name), "%q", name)
	}
}
