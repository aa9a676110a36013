package gnsq

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The wire bytes are tested in internal/protocol; these are the checks
// this package makes before building a command.

func TestNames(t *testing.T) {
	valid := []string{"a", strings.Repeat("x", 64), "a.b_c-d", "x#ephemeral", "A9"}
	invalid := []string{"", strings.Repeat("x", 65), "a b", "a\nPUB x", "ä", "x#ephemeralx", "#ephemeral", "a/b", "a\x00"}
	for _, n := range valid {
		assert.True(t, IsValidTopicName(n), n)
		assert.True(t, IsValidChannelName(n), n)
	}
	for _, n := range invalid {
		assert.False(t, IsValidTopicName(n), "%q", n)
		assert.False(t, IsValidChannelName(n), "%q", n)
		var ine *InvalidNameError
		for _, delay := range []time.Duration{0, time.Second} {
			_, err := publishCommand(n, delay, []byte("x"))
			require.ErrorAs(t, err, &ine, "%q", n)
			assert.Equal(t, "topic", ine.Kind)
		}
		_, err := subscribeCommand("ok", n)
		require.ErrorAs(t, err, &ine, "%q", n)
		assert.Equal(t, "channel", ine.Kind)
		_, err = subscribeCommand(n, "ok")
		require.ErrorAs(t, err, &ine, "%q", n)
		assert.Equal(t, "topic", ine.Kind)
		_, err = multiPublishCommand(n, [][]byte{[]byte("x")})
		require.ErrorAs(t, err, &ine, "%q", n)
		assert.Equal(t, "topic", ine.Kind)
	}
}

func TestBadArguments(t *testing.T) {
	var iae *InvalidArgumentError
	_, err := readyCommand(-1)
	assert.ErrorAs(t, err, &iae)
	_, err = requeueCommand(benchID, -time.Millisecond)
	assert.ErrorAs(t, err, &iae)
	_, err = publishCommand("t", -time.Second, []byte("x"))
	assert.ErrorAs(t, err, &iae)
	// Zero is valid: RDY 0 pauses, REQ 0 redelivers at once.
	_, err = readyCommand(0)
	assert.NoError(t, err)
	_, err = requeueCommand(benchID, 0)
	assert.NoError(t, err)
}

func TestServerErrorFatality(t *testing.T) {
	for code, fatal := range map[string]bool{
		"E_INVALID": true, "E_BAD_BODY": true, "E_BAD_TOPIC": true, "E_BAD_CHANNEL": true,
		"E_BAD_MESSAGE": true, "E_PUB_FAILED": true, "E_MPUB_FAILED": true, "E_DPUB_FAILED": true,
		"E_SUB_FAILED": true, "E_IDENTIFY_FAILED": true, "E_AUTH_FIRST": true, "E_AUTH_FAILED": true,
		"E_AUTH_ERROR": true, "E_AUTH_DISABLED": true, "E_UNAUTHORIZED": true, "E_SOMETHING_NEW": true,
		"E_FIN_FAILED": false, "E_REQ_FAILED": false, "E_TOUCH_FAILED": false,
		"E_FINISH_FAILED": false, "E_REQUEUE_FAILED": false,
	} {
		se := parseServerError([]byte(code + " some detail"))
		assert.Equal(t, code, se.Code)
		assert.Equal(t, "some detail", se.Detail)
		assert.Equal(t, fatal, se.Fatal(), code)
		assert.Equal(t, code+" some detail", se.Error())
	}
	assert.ErrorIs(t, parseServerError([]byte("E_FIN_FAILED FIN x failed")), ErrFinFailed)
	assert.False(t, errors.Is(ErrFinFailed, ErrReqFailed))
	// Only the first token is the code: nsqd repeats it in some MPUB errors.
	se := parseServerError([]byte("E_BAD_TOPIC E_BAD_TOPIC MPUB topic name \"a b\" is not valid"))
	assert.Equal(t, "E_BAD_TOPIC", se.Code)
	assert.True(t, se.Fatal())
	assert.ErrorIs(t, se, ErrBadTopic)
	assert.NotErrorIs(t, se, ErrBadBody)
}
