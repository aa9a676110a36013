// Package producerlink gives the C ABI a publish path of core's Producer
// that is not part of core's public API: the publish is checked and built
// first, then sent, so that the caller can commit to sending between the
// two (capi/publish.go answers a bad argument before it takes a publish).
package producerlink

import (
	"context"
	"time"

	"github.com/libgnsq/libgnsq/internal/protocol"
)

// Command is set by package core at init. It builds the PUB (DPUB when
// delay is not 0) of bodies[0], or the MPUB of bodies when multi (delay is
// then not used), checking topic and delay as Producer.PublishAsync does,
// with core's error types.
var Command func(topic string, delay time.Duration, bodies [][]byte, multi bool) (*protocol.Command, error)

// Send is set by package core at init. It sends cmd, built by Command, on
// producer p (a *gnsq.Producer) as Producer.PublishAsync does (an empty
// body is refused); flushNow writes it to the socket before returning (for
// a caller about to wait for the answer), otherwise the connection's
// flusher writes it (a burst shares writes). done gets the outcome exactly
// once (nil: nsqd said OK) unless Send returns an error, in which case
// nothing was sent.
var Send func(p any, ctx context.Context, cmd *protocol.Command, flushNow bool, done func(error)) error
