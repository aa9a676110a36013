package gnsq

// Micro-benchmarks of the consumer's per-message work, without nsqd or a
// socket, so that a regression in the wire code shows up in
//
//	go test -run '^$' -bench 'ReadFrame|DecodeMessage|Finish' -benchmem ./internal/protocol ./core
//
// The throughput against a real nsqd is measured by bench/cmd/nsqbench
// (BENCHMARKS.md). The frame reading and message decoding alone are
// benchmarked in internal/protocol. This file is in package gnsq because
// the client's reader and writer are not reachable from outside.

import (
	"bufio"
	"bytes"
	"io"
	"testing"

	"github.com/libgnsq/libgnsq/internal/protocol"
)

var benchID = MessageID{'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f'}

// BenchmarkReadFrameDecodeMessage is NsqdTCPClient.ReadResponse of one
// message frame with a 100 B body (the size of nsqbench's bodies) from a
// buffered reader, with no socket and no read deadline: ReadFrame,
// DecodeMessage and the *Message, what the consumer's reader does per
// message before the handler sees it.
func BenchmarkReadFrameDecodeMessage(b *testing.B) {
	c, err := NewNsqdTCPClient("127.0.0.1:4150")
	if err != nil {
		b.Fatal(err)
	}
	c.cfg.HeartbeatInterval = -1 // no read deadline: there is no socket
	c.state.Store(stateConnected)
	frame := protocol.AppendFrame(nil, FrameTypeMessage, protocol.EncodeMessage(protocol.Message{
		ID: benchID, Timestamp: 1700000000000000000, Attempts: 1, Body: bytes.Repeat([]byte("abcd"), 25),
	}))
	// The stream is read to its end, frame by frame, then read again.
	const frames = 512
	stream := bytes.Repeat(frame, frames)
	src := bytes.NewReader(stream)
	c.r = bufio.NewReaderSize(src, 64<<10)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%frames == 0 {
			src.Reset(stream)
		}
		resp, err := c.ReadResponse()
		if err != nil || resp.Message == nil {
			b.Fatalf("frame type %d, err %v", resp.Type, err)
		}
	}
}

// BenchmarkWriteFinish encodes FIN <id> into a buffered writer over
// io.Discard: the bytes the consumer writes per finished message.
func BenchmarkWriteFinish(b *testing.B) {
	id := benchID
	w := bufio.NewWriterSize(io.Discard, 64<<10)
	b.SetBytes(int64(len("FIN \n") + len(id)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		protocol.WriteFinish(w, (*[16]byte)(&id))
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
	id := benchID
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
// protocol.Finish(id) builds a Command (a Params slice and the id as a
// string), which is then encoded into the writer. Requeue and Touch still
// go this way; FIN does not.
func BenchmarkCommandFinish(b *testing.B) {
	id := benchID
	w := bufio.NewWriterSize(io.Discard, 64<<10)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		protocol.Finish(id).Encode(w)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
}
