package gnsq_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	gnsq "github.com/libgnsq/libgnsq/core"
	"github.com/libgnsq/libgnsq/tests/nsqtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// errorLog records OnError reports.
type errorLog struct {
	mu   sync.Mutex
	errs []string
}

func (l *errorLog) add(_ uint32, err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err.Error())
	l.mu.Unlock()
}

func (l *errorLog) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.errs {
		if strings.Contains(e, substr) {
			n++
		}
	}
	return n
}

// Each error is reported once through OnError, and its text does not
// repeat itself (issue 11, defect 4).
func TestErrorsReportedOnceWithoutRepetition(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t, "--max-msg-size=100")
	var perr, cerr errorLog
	var lost []string
	var mu sync.Mutex
	p, err := gnsq.NewProducer(gnsq.WithNsqd(nsqd.TCPAddr), gnsq.WithConfig(newConfig(t, "max_backoff_duration", "1")),
		gnsq.WithProducerHooks(gnsq.ProducerHooks{
			OnError:      perr.add,
			OnDisconnect: func(_ uint32, _ string, err error) { mu.Lock(); lost = append(lost, err.Error()); mu.Unlock() },
		}))
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	defer p.Close()
	err = p.Publish(ctxTimeout(t, 5*time.Second), "onerr", make([]byte, 101)) // fatal E_BAD_MESSAGE
	require.ErrorIs(t, err, gnsq.ErrBadMessage)
	nsqtest.WaitFor(t, 5*time.Second, "the reconnect", func() bool {
		err := p.Publish(ctxTimeout(t, time.Second), "onerr", []byte("x"))
		return err == nil
	})
	assert.Equal(t, 1, perr.count("E_BAD_MESSAGE"), "the producer reports nsqd's error once")

	c, err := gnsq.NewConsumer("onerr", "ch", func(*gnsq.Message) error { return nil }, gnsq.WithNsqd(nsqd.TCPAddr), gnsq.WithConfig(newConfig(t, "max_backoff_duration", "1")),
		gnsq.WithConsumerHooks(gnsq.ConsumerHooks{OnError: cerr.add}))
	require.NoError(t, err)
	require.NoError(t, c.Start(context.Background()))
	defer c.Close()
	nsqd.Stop()
	nsqtest.WaitFor(t, 10*time.Second, "both see the connection lost", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(lost) >= 2 && cerr.count("") >= 1
	})
	assert.LessOrEqual(t, cerr.count("closed the connection"), 1, "the consumer reports the lost connection once")
	mu.Lock()
	defer mu.Unlock()
	for _, text := range append(append([]string{}, lost...), cerr.errs...) {
		assert.LessOrEqual(t, strings.Count(text, "connection closed"), 1, "no repeated text in %q", text)
	}
}
