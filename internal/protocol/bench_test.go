package protocol_test

// Micro-benchmarks of reading message frames, without nsqd or a socket
// (with NsqdTCPClient's side of it in core/bench_test.go):
//
//	go test -run '^$' -bench 'ReadFrame|DecodeMessage|Finish' -benchmem ./internal/protocol ./core

import (
	"bufio"
	"testing"

	"github.com/libgnsq/libgnsq/internal/protocol"
)

// benchBodySize matches nsqbench's bodies.
const benchBodySize = 100

func benchMessage() protocol.Message {
	m := protocol.Message{ID: testID, Timestamp: 1700000000000000000, Attempts: 1, Body: make([]byte, benchBodySize)}
	for i := range m.Body {
		m.Body[i] = 'a' + byte(i%26)
	}
	return m
}

// loopReader returns the bytes of buf over and over, as a socket that
// always has more message frames would.
type loopReader struct {
	buf []byte
	off int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], l.buf[l.off:])
		n += c
		l.off = (l.off + c) % len(l.buf)
	}
	return n, nil
}

// BenchmarkReadFrame reads one 100 B message frame (130 bytes on the wire)
// from a buffered reader of the size a connection uses, as ReadResponse
// does for every frame.
func BenchmarkReadFrame(b *testing.B) {
	frame := protocol.AppendFrame(nil, protocol.FrameTypeMessage, protocol.EncodeMessage(benchMessage()))
	var buf []byte
	for len(buf) < 64<<10 {
		buf = append(buf, frame...)
	}
	r := bufio.NewReaderSize(&loopReader{buf: buf}, 64<<10)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := protocol.ReadFrame(r, protocol.DefaultMaxFrameSize)
		if err != nil || f.Type != protocol.FrameTypeMessage {
			b.Fatalf("frame type %d, err %v", f.Type, err)
		}
	}
}

// BenchmarkDecodeMessage decodes the data of one message frame.
func BenchmarkDecodeMessage(b *testing.B) {
	data := protocol.EncodeMessage(benchMessage())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m, err := protocol.DecodeMessage(data)
		if err != nil || len(m.Body) != benchBodySize {
			b.Fatalf("body %d bytes, err %v", len(m.Body), err)
		}
	}
}
