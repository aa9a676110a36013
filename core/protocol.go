package gnsq

import (
	"strconv"
	"time"

	"github.com/libgnsq/libgnsq/internal/protocol"
)

// Frame types: the values of Response.Type.
const (
	FrameTypeResponse = protocol.FrameTypeResponse
	FrameTypeError    = protocol.FrameTypeError
	FrameTypeMessage  = protocol.FrameTypeMessage
)

// IsValidTopicName reports whether name is a valid NSQ topic name.
func IsValidTopicName(name string) bool { return protocol.IsValidName(name) }

// IsValidChannelName reports whether name is a valid NSQ channel name.
func IsValidChannelName(name string) bool { return protocol.IsValidName(name) }

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

// The builders below check what package protocol's constructors do not,
// so that a bad name or number is refused with this package's errors
// before any byte is sent.

// subscribeCommand builds SUB <topic> <channel>.
func subscribeCommand(topic, channel string) (*protocol.Command, error) {
	if err := checkTopic(topic); err != nil {
		return nil, err
	}
	if err := checkChannel(channel); err != nil {
		return nil, err
	}
	return protocol.Subscribe(topic, channel), nil
}

// readyCommand builds RDY <count>.
func readyCommand(count int) (*protocol.Command, error) {
	if count < 0 {
		return nil, &InvalidArgumentError{Reason: "RDY count must be >= 0, got " + strconv.Itoa(count)}
	}
	return protocol.Ready(count), nil
}

// requeueCommand builds REQ <id> <delay in ms>. Negative delays are
// refused locally (nsqd would silently clamp them).
func requeueCommand(id MessageID, delay time.Duration) (*protocol.Command, error) {
	if delay < 0 {
		return nil, &InvalidArgumentError{Reason: "requeue delay must be >= 0, got " + delay.String()}
	}
	return protocol.Requeue(id, delay), nil
}

// publishCommand builds PUB, or DPUB when delay is not 0.
func publishCommand(topic string, delay time.Duration, body []byte) (*protocol.Command, error) {
	if err := checkTopic(topic); err != nil {
		return nil, err
	}
	if delay < 0 {
		return nil, &InvalidArgumentError{Reason: "defer must be >= 0, got " + delay.String()}
	}
	return protocol.PublishOrDefer(topic, delay, body), nil
}

// multiPublishCommand builds MPUB <topic>.
func multiPublishCommand(topic string, bodies [][]byte) (*protocol.Command, error) {
	if err := checkTopic(topic); err != nil {
		return nil, err
	}
	return protocol.MultiPublish(topic, bodies), nil
}
