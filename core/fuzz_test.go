package gnsq_test

import (
	"bytes"
	"testing"

	gnsq "github.com/libgnsq/libgnsq/core"
)

const fuzzMaxFrame = 4096

// FuzzReadFrame feeds arbitrary bytes to the frame reader and decodes the
// message frames it returns: nothing may panic or exceed the frame limit.
func FuzzReadFrame(f *testing.F) {
	f.Add(gnsq.AppendFrame(nil, gnsq.FrameTypeResponse, []byte("OK")))
	f.Add(gnsq.AppendFrame(nil, gnsq.FrameTypeError, []byte("E_INVALID bad")))
	f.Add(gnsq.AppendFrame(nil, gnsq.FrameTypeMessage, gnsq.EncodeMessage(&gnsq.Message{Attempts: 1, Body: []byte("b")})))
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		for {
			frame, err := gnsq.ReadFrame(r, fuzzMaxFrame)
			if err != nil {
				return
			}
			if len(frame.Data) > fuzzMaxFrame-4 {
				t.Fatalf("frame of %d bytes passed a %d limit", len(frame.Data), fuzzMaxFrame)
			}
			switch frame.Type {
			case gnsq.FrameTypeMessage:
				_, _ = gnsq.DecodeMessage(frame.Data)
			case gnsq.FrameTypeError:
				_ = gnsq.ParseServerError(frame.Data).Fatal()
			}
		}
	})
}

// FuzzDecodeMessage checks that decoding never panics and that whatever
// decodes re-encodes to the same bytes.
func FuzzDecodeMessage(f *testing.F) {
	f.Add(gnsq.EncodeMessage(&gnsq.Message{Timestamp: 1, Attempts: 2, Body: []byte("\x00\xff")}))
	f.Add(make([]byte, 25))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := gnsq.DecodeMessage(data)
		if err != nil {
			if len(data) >= 26 {
				t.Fatalf("%d bytes refused: %v", len(data), err)
			}
			return
		}
		if !bytes.Equal(gnsq.EncodeMessage(m), data) {
			t.Fatalf("round trip changed %x", data)
		}
	})
}
