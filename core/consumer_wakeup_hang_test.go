package gnsq_test

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	gnsq "github.com/libgnsq/libgnsq/core"
	"github.com/libgnsq/libgnsq/tests/nsqtest"
	"github.com/stretchr/testify/require"
)

// A message whose frame arrives together with the start of a frame that
// is not a message (a heartbeat, here in the same write) must still be
// handled: the consumer's reader wakes the handler only after a message
// read with nothing buffered behind it, so such a message waited for the
// next message, for good if none came. Found by the slow-link test R22.
func TestConsumerHandlesMessageFollowedByHeartbeat(t *testing.T) {
	fake := nsqtest.StartFakeNsqd(t, func(c *nsqtest.FakeConn) {
		if c.Identify("") != nil {
			return
		}
		for {
			cmd, err := c.ReadCommand(10 * time.Second)
			if err != nil {
				return
			}
			switch {
			case strings.HasPrefix(cmd.Line, "SUB"):
				c.Respond("OK")
			case strings.HasPrefix(cmd.Line, "RDY"):
				msg := binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano()))
				msg = binary.BigEndian.AppendUint16(msg, 1)
				msg = append(msg, []byte("0123456789abcdef")...)
				msg = append(msg, []byte("body")...)
				frame := rawFrame(uint32(len(msg)+4), 2, msg)
				frame = append(frame, rawFrame(4+11, 0, []byte("_heartbeat_"))...)
				c.WriteRaw(frame)
			}
		}
	})
	handled := make(chan string, 1)
	c, err := gnsq.NewConsumer("t", "c", func(m *gnsq.Message) error {
		handled <- string(m.Body)
		return nil
	}, gnsq.WithNsqd(fake.Addr), gnsq.WithConfig(newConfig(t)))
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background()))
	defer c.Close()
	select {
	case body := <-handled:
		require.Equal(t, "body", body)
	case <-time.After(3 * time.Second):
		t.Fatal("the message followed by a heartbeat was never handled")
	}
}
