// Package protocol is the NSQ TCP protocol V2 as pure builders and readers:
// client commands to bytes, server frames and messages from bytes. It
// keeps no state and checks no argument beyond what encoding needs; its
// callers (package core) validate names and numbers first and turn a
// *FormatError into their own error type.
package protocol

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
)

// MagicV2 opens every connection to nsqd.
var MagicV2 = []byte("  V2")

// Frame types sent by nsqd.
const (
	FrameTypeResponse int32 = 0
	FrameTypeError    int32 = 1
	FrameTypeMessage  int32 = 2
)

// Well-known response payloads.
var (
	ResponseOK        = []byte("OK")
	ResponseHeartbeat = []byte("_heartbeat_")
)

// DefaultMaxFrameSize bounds a frame read from nsqd (nsqd's own default
// message limit is 1 MiB): the default of core's max_frame_size.
const DefaultMaxFrameSize = 16 << 20

// messageHeaderSize is timestamp (8) + attempts (2) + id (16).
const messageHeaderSize = 26

// IsValidName reports whether name is a valid NSQ topic or channel name:
// ^[.a-zA-Z0-9_-]+(#ephemeral)?$ with 1..64 characters, without a regexp
// (it runs on every publish).
func IsValidName(name string) bool {
	if len(name) < 1 || len(name) > 64 {
		return false
	}
	base := strings.TrimSuffix(name, "#ephemeral")
	if base == "" {
		return false
	}
	for i := 0; i < len(base); i++ {
		switch c := base[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// FormatError reports bytes from the server that break the protocol: a bad
// frame size, an unknown frame type, a message frame shorter than its header.
type FormatError struct{ Reason string }

func (e *FormatError) Error() string { return "protocol error: " + e.Reason }

// Frame is one frame read from nsqd. Data aliases a buffer owned by the
// frame: it stays valid until the caller drops it.
type Frame struct {
	Type int32
	Data []byte
}

// ReadFrame reads one frame ([u32 size][u32 type][data]) from r. A size
// below 4 or above maxSize is a *FormatError and nothing is allocated for it.
func ReadFrame(r io.Reader, maxSize int) (Frame, error) {
	size, err := readUint32(r)
	if err != nil {
		return Frame{}, err
	}
	if size < 4 || uint64(size) > uint64(maxSize) {
		return Frame{}, &FormatError{Reason: fmt.Sprintf("invalid frame size %d (limit %d)", size, maxSize)}
	}
	typ, err := readUint32(r)
	if err != nil {
		return Frame{}, unexpectedEOF(err)
	}
	frameType := int32(typ)
	if frameType != FrameTypeResponse && frameType != FrameTypeError && frameType != FrameTypeMessage {
		return Frame{}, &FormatError{Reason: fmt.Sprintf("unknown frame type %d", frameType)}
	}
	data := make([]byte, size-4)
	if _, err := io.ReadFull(r, data); err != nil {
		return Frame{}, unexpectedEOF(err)
	}
	return Frame{Type: frameType, Data: data}, nil
}

// readUint32 reads a big-endian uint32 as io.ReadFull would (io.EOF if no
// byte came, io.ErrUnexpectedEOF if some did). From a *bufio.Reader (every
// connection reads through one) it reads in place: a local array handed to
// an io.Reader would escape, one allocation per frame.
func readUint32(r io.Reader) (uint32, error) {
	if br, ok := r.(*bufio.Reader); ok {
		b, err := br.Peek(4)
		if err != nil {
			if err == io.EOF && len(b) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		v := binary.BigEndian.Uint32(b)
		_, _ = br.Discard(4) // cannot fail: the 4 bytes are buffered
		return v, nil
	}
	var b [4]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b[:]), nil
}

// unexpectedEOF turns an EOF inside a frame into io.ErrUnexpectedEOF.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// AppendFrame appends the wire form of a frame to dst (for tests).
func AppendFrame(dst []byte, frameType int32, data []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(data)+4))
	dst = binary.BigEndian.AppendUint32(dst, uint32(frameType))
	return append(dst, data...)
}

// Message is the content of a message frame.
type Message struct {
	ID        [16]byte
	Timestamp int64 // nanoseconds since the epoch
	Attempts  uint16
	Body      []byte
}

// DecodeMessage decodes the data of a message frame. Body aliases data.
func DecodeMessage(data []byte) (Message, error) {
	if len(data) < messageHeaderSize {
		return Message{}, &FormatError{Reason: fmt.Sprintf("message frame too short (%d bytes)", len(data))}
	}
	m := Message{
		Timestamp: int64(binary.BigEndian.Uint64(data[0:8])),
		Attempts:  binary.BigEndian.Uint16(data[8:10]),
		Body:      data[messageHeaderSize:],
	}
	copy(m.ID[:], data[10:26])
	return m, nil
}

// EncodeMessage is the inverse of DecodeMessage (for tests).
func EncodeMessage(m Message) []byte {
	b := make([]byte, messageHeaderSize, messageHeaderSize+len(m.Body))
	binary.BigEndian.PutUint64(b[0:8], uint64(m.Timestamp))
	binary.BigEndian.PutUint16(b[8:10], m.Attempts)
	copy(b[10:26], m.ID[:])
	return append(b, m.Body...)
}
