package gnsq

// Micro-benchmarks of the consumer's per-message work, without nsqd or a
// socket, so that a regression in the wire code shows up in
//
//	go test -run '^$' -bench 'ReadFrame|DecodeMessage|Finish' -benchmem .
//
// The throughput against a real nsqd is measured by bench/cmd/nsqbench
// (BENCHMARKS.md). This file is in package gnsq because the FIN path writes
// into the connection's buffered writer, which is not reachable from
// outside.

import (
	"bufio"
	"io"
	"testing"
)

// benchBodySize matches nsqbench's bodies.
const benchBodySize = 100

func benchMessage() *Message {
	m := &Message{Timestamp: 1700000000000000000, Attempts: 1, Body: make([]byte, benchBodySize)}
	copy(m.ID[:], "0123456789abcdef")
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

// benchFrameStream returns a reader of endless MESSAGE frames behind a
// bufio.Reader of the size a connection uses, and the length of one frame.
func benchFrameStream() (*bufio.Reader, int) {
	frame := AppendFrame(nil, FrameTypeMessage, EncodeMessage(benchMessage()))
	var buf []byte
	for len(buf) < 64<<10 {
		buf = append(buf, frame...)
	}
	return bufio.NewReaderSize(&loopReader{buf: buf}, 64<<10), len(frame)
}

// BenchmarkReadFrame reads one 100 B message frame (130 bytes on the wire)
// from a buffered reader, as ReadResponse does for every frame.
func BenchmarkReadFrame(b *testing.B) {
	r, size := benchFrameStream()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := ReadFrame(r, DefaultMaxFrameSize)
		if err != nil || f.Type != FrameTypeMessage {
			b.Fatalf("frame type %d, err %v", f.Type, err)
		}
	}
}

// BenchmarkDecodeMessage decodes the data of one message frame.
func BenchmarkDecodeMessage(b *testing.B) {
	data := EncodeMessage(benchMessage())
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m, err := DecodeMessage(data)
		if err != nil || len(m.Body) != benchBodySize {
			b.Fatalf("body %d bytes, err %v", len(m.Body), err)
		}
	}
}

// BenchmarkReadFrameDecodeMessage is the two together: what the consumer's
// reader does per message before the handler sees it.
func BenchmarkReadFrameDecodeMessage(b *testing.B) {
	r, size := benchFrameStream()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := ReadFrame(r, DefaultMaxFrameSize)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecodeMessage(f.Data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteFinish encodes FIN <id> into a buffered writer over
// io.Discard: the bytes the consumer writes per finished message.
func BenchmarkWriteFinish(b *testing.B) {
	id := benchMessage().ID
	w := bufio.NewWriterSize(io.Discard, 64<<10)
	b.SetBytes(int64(len("FIN \n") + len(id)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		writeFinish(w, &id)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkClientFinish is NsqdTCPClient.Finish on a client whose writer
// goes to io.Discard: the write lock, the FIN bytes, the flusher's kick
// (nobody takes it: the kick channel stays full) and the in-flight count.
// No socket and no flush to the kernel.
func BenchmarkClientFinish(b *testing.B) {
	c, err := NewNsqdTCPClient("127.0.0.1:4150")
	if err != nil {
		b.Fatal(err)
	}
	c.w = bufio.NewWriterSize(io.Discard, 64<<10)
	c.state.Store(stateConnected)
	id := benchMessage().ID
	b.SetBytes(int64(len("FIN \n") + len(id)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.Finish(id); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if got := c.inFlight.Load(); got != -int64(b.N) {
		b.Fatalf("in flight %d after %d finishes", got, b.N)
	}
}

// BenchmarkCommandFinish is the general command path, for comparison:
// Finish(id) builds a Command (a Params slice and the id as a string),
// which is then encoded into the writer. Requeue and Touch still go this
// way; FIN does not.
func BenchmarkCommandFinish(b *testing.B) {
	id := benchMessage().ID
	w := bufio.NewWriterSize(io.Discard, 64<<10)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Finish(id).encode(w)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
}
