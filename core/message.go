package gnsq

// MessageID is the 16-byte ASCII id nsqd gives every message.
type MessageID [16]byte

// Message is a message received from nsqd.
type Message struct {
	ID        MessageID
	Body      []byte
	Timestamp int64  // nanoseconds since the epoch, set by nsqd
	Attempts  uint16 // delivery attempts so far, starting at 1
}
