package gnsq_test

import (
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	gnsq "github.com/libgnsq/libgnsq/core"
	"github.com/libgnsq/libgnsq/internal/protocol"
	"github.com/libgnsq/libgnsq/tests/nsqtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func rawFrame(size uint32, frameType uint32, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, size)
	b = binary.BigEndian.AppendUint32(b, frameType)
	return append(b, data...)
}

// R24: hostile frames after a good IDENTIFY end in an error and a closed
// connection, never a panic or a huge allocation.
func TestHostileFramesAfterIdentify(t *testing.T) {
	for name, hostile := range map[string][]byte{
		"garbage":            []byte("HTTP/1.1 400 Bad Request\r\n\r\n"),
		"size below 4":       rawFrame(3, 0, nil),
		"size 0":             {0, 0, 0, 0},
		"negative size":      rawFrame(0xfffffff0, 0, nil),
		"size 0x7fffffff":    rawFrame(0x7fffffff, 0, nil),
		"unknown frame type": rawFrame(6, 9, []byte("OK")),
		"short message":      rawFrame(4+25, 2, make([]byte, 25)),
		"truncated frame":    rawFrame(100, 0, []byte("only a few bytes")),
	} {
		t.Run(name, func(t *testing.T) {
			fake := nsqtest.StartFakeNsqd(t, func(c *nsqtest.FakeConn) {
				if c.Identify("") != nil {
					return
				}
				c.WriteRaw(hostile)
				// Closing right away also covers "truncated frame + EOF".
			})
			var hookErr error
			c, err := dial(t, fake.Addr, newConfig(t),
				gnsq.WithConnHooks(gnsq.ConnHooks{OnError: func(_ *gnsq.NsqdTCPClient, err error) { hookErr = err }}))
			require.NoError(t, err)
			_, err = c.ReadResponse()
			require.Error(t, err)
			var pe *gnsq.ProtocolError
			if !errors.As(err, &pe) {
				assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "only a truncated frame may end otherwise")
			}
			assert.Equal(t, err, hookErr, "OnError reports it")
			assert.False(t, c.IsConnected())
		})
	}
}

func TestHostileIdentifyAnswers(t *testing.T) {
	serve := func(answer func(c *nsqtest.FakeConn)) *nsqtest.FakeNsqd {
		return nsqtest.StartFakeNsqd(t, func(c *nsqtest.FakeConn) {
			if _, err := c.ReadCommand(5 * time.Second); err != nil {
				return
			}
			answer(c)
			c.WaitForEOF(5 * time.Second)
		})
	}
	t.Run("invalid JSON", func(t *testing.T) {
		fake := serve(func(c *nsqtest.FakeConn) { c.Respond(`{"max_rdy_count": "lots"`) })
		c, err := dial(t, fake.Addr, newConfig(t))
		var pe *gnsq.ProtocolError
		require.ErrorAs(t, err, &pe)
		assert.False(t, c.IsConnected())
	})
	t.Run("plain OK without negotiation", func(t *testing.T) {
		fake := serve(func(c *nsqtest.FakeConn) { c.Respond("OK") })
		c, err := dial(t, fake.Addr, newConfig(t))
		require.NoError(t, err)
		assert.Nil(t, c.IdentifyResponse())
		assert.Equal(t, gnsq.DefaultMaxRdyCount, c.MaxReadyCount())
	})
	t.Run("plain OK refused when TLS was asked for", func(t *testing.T) {
		fake := serve(func(c *nsqtest.FakeConn) { c.Respond("OK") })
		_, err := dial(t, fake.Addr, newConfig(t, "tls_v1", "true"))
		require.ErrorIs(t, err, gnsq.ErrTLSNotSupported)
	})
	t.Run("heartbeat before the answer", func(t *testing.T) {
		fake := serve(func(c *nsqtest.FakeConn) {
			c.Respond("_heartbeat_")
			if cmd, err := c.ReadCommand(5 * time.Second); err != nil || cmd.Line != "NOP" {
				return
			}
			c.Respond(`{"max_rdy_count": 100}`)
		})
		c, err := dial(t, fake.Addr, newConfig(t))
		require.NoError(t, err)
		assert.Equal(t, 100, c.MaxReadyCount())
		assert.Equal(t, []string{"IDENTIFY", "NOP"}, fake.Commands())
	})
	t.Run("error frame", func(t *testing.T) {
		fake := serve(func(c *nsqtest.FakeConn) {
			c.WriteFrame(nsqtest.FrameError, []byte("E_BAD_BODY IDENTIFY heartbeat interval (100) is invalid"))
		})
		_, err := dial(t, fake.Addr, newConfig(t))
		require.ErrorIs(t, err, gnsq.ErrBadBody)
	})
	t.Run("message frame", func(t *testing.T) {
		fake := serve(func(c *nsqtest.FakeConn) {
			c.WriteFrame(nsqtest.FrameMessage, protocol.EncodeMessage(protocol.Message{Body: []byte("x")}))
		})
		_, err := dial(t, fake.Addr, newConfig(t))
		var pe *gnsq.ProtocolError
		require.ErrorAs(t, err, &pe)
	})
}

// A producer whose nsqd answers garbage: the outstanding publish fails, the
// producer reconnects, and the next publish succeeds.
func TestProducerRecoversFromHostileFrame(t *testing.T) {
	fake := nsqtest.StartFakeNsqd(t, func(c *nsqtest.FakeConn) {
		if c.Identify("") != nil {
			return
		}
		first := c.Index == 1
		for {
			if _, err := c.ReadCommand(10 * time.Second); err != nil {
				return
			}
			if first {
				c.WriteRaw(rawFrame(0x7fffffff, 0, nil))
				return
			}
			c.Respond("OK")
		}
	})
	p := startProducer(t, []string{fake.Addr}, newConfig(t, "max_backoff_duration", "1"))
	err := p.Publish(ctxTimeout(t, 5*time.Second), "t", []byte("x"))
	require.ErrorIs(t, err, gnsq.ErrConnectionClosed)
	assert.Contains(t, err.Error(), "protocol error")
	err = p.Publish(ctxTimeout(t, 10*time.Second), "t", []byte("y"))
	require.NoError(t, err)
	assert.Equal(t, 2, fake.Connections())
}
