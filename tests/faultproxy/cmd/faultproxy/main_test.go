package main

import (
	"strings"
	"testing"
	"time"

	"github.com/libgnsq/libgnsq/tests/faultproxy"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCommands(t *testing.T) {
	p, err := faultproxy.New("127.0.0.1:1")
	require.NoError(t, err)
	defer p.Close()
	var out strings.Builder
	serve(p, strings.NewReader("set -latency=200ms -jitter=50ms -chunk=1\nset -blackhole\nbogus\nset -latency=x\nstats\nquit\nset -reset\n"), &out)
	assert.Equal(t, faultproxy.Faults{Latency: 200 * time.Millisecond, Jitter: 50 * time.Millisecond, ChunkSize: 1, Blackhole: true}, p.Faults())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 6, "nothing after quit")
	assert.Equal(t, []string{"ok", "ok"}, lines[:2])
	assert.True(t, strings.HasPrefix(lines[2], "error: unknown command"))
	assert.True(t, strings.HasPrefix(lines[3], "error: "))
	assert.Equal(t, "ok open=0 accepted=0 up=0 down=0", lines[4])
	assert.Equal(t, "ok", lines[5])

	out.Reset()
	serve(p, strings.NewReader("clear\ndown\nup\n"), &out)
	assert.Equal(t, "ok\nok\nok\n", out.String())
	assert.Equal(t, faultproxy.Faults{}, p.Faults())
}
