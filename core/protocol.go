package gnsq

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
	respOK        = []byte("OK")
	respHeartbeat = []byte("_heartbeat_")
	respCloseWait = []byte("CLOSE_WAIT")
)

// DefaultMaxFrameSize bounds a frame read from nsqd (nsqd's own default
// message limit is 1 MiB); a larger announced size is a protocol error and
// nothing is allocated for it.
const DefaultMaxFrameSize = 16 << 20

// messageHeaderSize is timestamp (8) + attempts (2) + id (16).
const messageHeaderSize = 26

// IsValidTopicName reports whether name is a valid NSQ topic name.
func IsValidTopicName(name string) bool { return isValidName(name) }

// IsValidChannelName reports whether name is a valid NSQ channel name.
func IsValidChannelName(name string) bool { return isValidName(name) }

// isValidName implements ^[.a-zA-Z0-9_-]+(#ephemeral)?$ with 1..64
// characters, without a regexp (it runs on every publish).
func isValidName(name string) bool {
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

func checkTopic(topic string) error {
	if !IsValidTopicName(topic) {
		return &InvalidNameError{Kind: "topic", Name: topic}
	}
	return nil
}

func checkChannel(channel string) error {
	if !IsValidChannelName(channel) {
		return &InvalidNameError{Kind: "channel", Name: channel}
	}
	return nil
}

// Frame is one frame read from nsqd. Data aliases a buffer owned by the
// frame: it stays valid until the caller drops it.
type Frame struct {
	Type int32
	Data []byte
}

// ReadFrame reads one frame ([u32 size][u32 type][data]) from r. A size
// below 4 or above maxSize is a *ProtocolError and nothing is allocated for it.
func ReadFrame(r io.Reader, maxSize int) (Frame, error) {
	size, err := readUint32(r)
	if err != nil {
		return Frame{}, err
	}
	if size < 4 || uint64(size) > uint64(maxSize) {
		return Frame{}, &ProtocolError{Reason: fmt.Sprintf("invalid frame size %d (limit %d)", size, maxSize)}
	}
	typ, err := readUint32(r)
	if err != nil {
		return Frame{}, unexpectedEOF(err)
	}
	frameType := int32(typ)
	if frameType != FrameTypeResponse && frameType != FrameTypeError && frameType != FrameTypeMessage {
		return Frame{}, &ProtocolError{Reason: fmt.Sprintf("unknown frame type %d", frameType)}
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

// AppendFrame appends the wire form of a frame to dst (used by tests and
// the fake nsqd).
func AppendFrame(dst []byte, frameType int32, data []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(data)+4))
	dst = binary.BigEndian.AppendUint32(dst, uint32(frameType))
	return append(dst, data...)
}

// DecodeMessage decodes the data of a message frame. Body aliases data.
func DecodeMessage(data []byte) (*Message, error) {
	if len(data) < messageHeaderSize {
		return nil, &ProtocolError{Reason: fmt.Sprintf("message frame too short (%d bytes)", len(data))}
	}
	m := &Message{
		Timestamp: int64(binary.BigEndian.Uint64(data[0:8])),
		Attempts:  binary.BigEndian.Uint16(data[8:10]),
		Body:      data[messageHeaderSize:],
	}
	copy(m.ID[:], data[10:26])
	return m, nil
}

// EncodeMessage is the inverse of DecodeMessage (used by tests and the
// fake nsqd).
func EncodeMessage(m *Message) []byte {
	b := make([]byte, messageHeaderSize, messageHeaderSize+len(m.Body))
	binary.BigEndian.PutUint64(b[0:8], uint64(m.Timestamp))
	binary.BigEndian.PutUint16(b[8:10], m.Attempts)
	copy(b[10:26], m.ID[:])
	return append(b, m.Body...)
}
