package protocol_test

import (
	"bytes"
	"testing"

	"github.com/libgnsq/libgnsq/internal/protocol"
)

const fuzzMaxFrame = 4096

// FuzzReadFrame feeds arbitrary bytes to the frame reader and decodes the
// message frames it returns: nothing may panic or exceed the frame limit.
func FuzzReadFrame(f *testing.F) {
	f.Add(protocol.AppendFrame(nil, protocol.FrameTypeResponse, []byte("OK")))
	f.Add(protocol.AppendFrame(nil, protocol.FrameTypeError, []byte("E_INVALID bad")))
	f.Add(protocol.AppendFrame(nil, protocol.FrameTypeMessage, protocol.EncodeMessage(protocol.Message{Attempts: 1, Body: []byte("b")})))
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			frame, err := protocol.ReadFrame(r, fuzzMaxFrame)
			if err != nil {
				return
			}
			if len(frame.Data) > fuzzMaxFrame-4 {
				t.Fatalf("frame of %d bytes passed a %d limit", len(frame.Data), fuzzMaxFrame)
			}
			if frame.Type == protocol.FrameTypeMessage {
				_, _ = protocol.DecodeMessage(frame.Data)
			}
		}
	})
}

// FuzzDecodeMessage checks that decoding never panics and that whatever
// decodes re-encodes to the same bytes.
func FuzzDecodeMessage(f *testing.F) {
	f.Add(protocol.EncodeMessage(protocol.Message{Timestamp: 1, Attempts: 2, Body: []byte("\x00\xff")}))
	f.Add(make([]byte, 25))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := protocol.DecodeMessage(data)
		if err != nil {
			if len(data) >= 26 {
				t.Fatalf("%d bytes refused: %v", len(data), err)
			}
			return
		}
		if !bytes.Equal(protocol.EncodeMessage(m), data) {
			t.Fatalf("round trip changed %x", data)
		}
	})
}
