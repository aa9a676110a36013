package gnsq

import (
	"errors"
	"sync/atomic"
	"time"
)

// ErrAlreadyResponded: the message was already finished or requeued.
var ErrAlreadyResponded = errors.New("gnsq: message already responded")

// MessageID is the 16-byte ASCII id nsqd gives every message.
type MessageID [16]byte

// Message is a message received from nsqd. Finish, Requeue and Touch
// answer nsqd on the connection the message came from; they are safe to
// call from any goroutine, and only one Finish or Requeue takes effect.
// A Message must not be copied.
type Message struct {
	ID        MessageID
	Body      []byte
	Timestamp int64  // nanoseconds since the epoch, set by nsqd
	Attempts  uint16 // delivery attempts so far, starting at 1

	conn      *NsqdTCPClient // nil for a message not read from nsqd
	responded atomic.Bool
	async     atomic.Bool
	taken     atomic.Bool // claimed by a consumer's handler goroutine, or by Drain to requeue it
}

// take claims a received message for exactly one of: its handler, or
// Drain's requeue of what no handler took.
func (m *Message) take() bool { return m.taken.CompareAndSwap(false, true) }

// ConnID is the ID of the connection the message came from (0 for a
// message not read from nsqd).
func (m *Message) ConnID() uint32 {
	if m.conn == nil {
		return 0
	}
	return m.conn.ID()
}

// Finish tells nsqd the message was processed (or is to be dropped).
func (m *Message) Finish() error {
	if err := m.respond(); err != nil {
		return err
	}
	return m.conn.Finish(m.ID)
}

// Requeue gives the message back to nsqd for redelivery after delay;
// backoff says whether the consumer should treat this as a failure and
// back off.
func (m *Message) Requeue(delay time.Duration, backoff bool) error {
	if delay < 0 {
		return &InvalidArgumentError{Reason: "requeue delay must be >= 0, got " + delay.String()}
	}
	if err := m.respond(); err != nil {
		return err
	}
	return m.conn.Requeue(m.ID, delay, backoff)
}

// Touch resets the message's timeout on nsqd. Never automatic.
func (m *Message) Touch() error {
	if m.responded.Load() {
		return ErrAlreadyResponded
	}
	if m.conn == nil {
		return ErrNotConnected
	}
	return m.conn.Touch(m.ID)
}

// EnableAsync tells the consumer not to finish the message when the
// handler returns: the application will answer it later.
func (m *Message) EnableAsync() { m.async.Store(true) }

// IsAsync reports whether EnableAsync was called.
func (m *Message) IsAsync() bool { return m.async.Load() }

// HasResponded reports whether Finish or Requeue was called.
func (m *Message) HasResponded() bool { return m.responded.Load() }

// respond marks the message answered, once.
func (m *Message) respond() error {
	if m.conn == nil {
		return ErrNotConnected
	}
	if !m.responded.CompareAndSwap(false, true) {
		return ErrAlreadyResponded
	}
	return nil
}
