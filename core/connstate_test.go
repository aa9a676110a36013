package gnsq_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gnsq "github.com/libgnsq/libgnsq/core"
	"github.com/libgnsq/libgnsq/tests/nsqtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConnIDsAreUniqueAndNotZero(t *testing.T) {
	const workers, each = 8, 200
	ids := make([][]uint32, workers)
	var wg sync.WaitGroup
	for w := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				c, err := gnsq.NewNsqdTCPClient("127.0.0.1:4150")
				if !assert.NoError(t, err) {
					return
				}
				ids[w] = append(ids[w], c.ID())
			}
		}()
	}
	wg.Wait()
	seen := map[uint32]bool{}
	for _, list := range ids {
		for _, id := range list {
			require.NotZero(t, id)
			require.False(t, seen[id], "id %d given twice", id)
			seen[id] = true
		}
	}
	assert.Len(t, seen, workers*each)
	assert.Zero(t, (&gnsq.Message{}).ConnID(), "a message not read from nsqd has no connection")
}

// connEvent is one consumer hook call and the connection id it carried.
type connEvent struct {
	kind string
	id   uint32
}

type connEvents struct {
	mu  sync.Mutex
	got []connEvent
}

func (e *connEvents) add(kind string, id uint32) {
	e.mu.Lock()
	e.got = append(e.got, connEvent{kind, id})
	e.mu.Unlock()
}

// wait waits until exactly want was recorded.
func (e *connEvents) wait(t *testing.T, want ...connEvent) {
	t.Helper()
	var got []connEvent
	nsqtest.WaitFor(t, 10*time.Second, "hook calls", func() bool {
		e.mu.Lock()
		got = append(got[:0], e.got...)
		e.mu.Unlock()
		return len(got) >= len(want)
	})
	require.Equal(t, want, got)
}

func (e *connEvents) hooks() gnsq.ConsumerHooks {
	return gnsq.ConsumerHooks{
		OnConnect: func(id uint32, _ string) { e.add("connect", id) },
		OnResponse: func(id uint32, data []byte) {
			if len(data) > 16 {
				data = []byte("(IDENTIFY)")
			}
			e.add("response "+string(data), id)
		},
		OnError:      func(id uint32, _ error) { e.add("error", id) },
		OnFinish:     func(id uint32, _ gnsq.MessageID) { e.add("finish", id) },
		OnRequeue:    func(id uint32, _ gnsq.MessageID, _ time.Duration) { e.add("requeue", id) },
		OnException:  func(m *gnsq.Message, _ error) { e.add("exception", m.ConnID()) },
		OnGivingUp:   func(m *gnsq.Message) { e.add("giving up", m.ConnID()) },
		OnDisconnect: func(id uint32, _ string, _ error) { e.add("disconnect", id) },
	}
}

// State follows RDY and in-flight messages, messages carry their
// connection's id, and every hook reports the connection it came from.
func TestConsumerConnectionStateAndHookIDs(t *testing.T) {
	fake := startScriptedNsqd(t)
	held := make(chan *gnsq.Message, 1)
	handler := func(m *gnsq.Message) error {
		if string(m.Body) == "hold" {
			m.EnableAsync()
			held <- m
			return nil
		}
		return bodyHandler(m)
	}
	var ev connEvents
	c := startFakeConsumer(t, fake.Addr, handler, ev.hooks(),
		"max_in_flight", "5", "max_tries", "3", "max_backoff_duration", "0")
	conn := fake.nextConn(t)
	fake.waitCommands(t, "IDENTIFY", "SUB topic ch", "RDY 1")

	states := c.ConnectionStates()
	require.Len(t, states, 1)
	id := states[0].ID
	require.NotZero(t, id)
	waitState(t, c, gnsq.ConnState{ID: id, Address: fake.Addr, Connected: true, ReadyCount: 1, LastReady: 1, MaxReadyCount: 2500})
	client, ok := c.ConnectionByID(id)
	require.True(t, ok)
	assert.Equal(t, fake.Addr, client.Address())
	_, ok = c.ConnectionByID(0)
	assert.False(t, ok)
	ev.wait(t, connEvent{"response (IDENTIFY)", id}, connEvent{"response OK", id}, connEvent{"connect", id})

	require.NoError(t, conn.WriteFrame(nsqtest.FrameMessage, testMessage(1, 1, "hold")))
	var m *gnsq.Message
	select {
	case m = <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("no message")
	}
	assert.Equal(t, id, m.ConnID())
	waitState(t, c, gnsq.ConnState{ID: id, Address: fake.Addr, Connected: true, ReadyCount: 1, LastReady: 1, InFlight: 1, MaxReadyCount: 2500, Starved: true})
	assert.Equal(t, client.State(), c.ConnectionStates()[0])

	c.Complete(m, nil) // first FIN: the connection gets its full share
	fake.waitCommands(t, "IDENTIFY", "SUB topic ch", "RDY 1", "FIN "+msgID(1), "RDY 5")
	waitState(t, c, gnsq.ConnState{ID: id, Address: fake.Addr, Connected: true, ReadyCount: 5, LastReady: 5, MaxReadyCount: 2500})
	assert.Equal(t, 5, c.TotalReadyCount())
	before := []connEvent{{"response (IDENTIFY)", id}, {"response OK", id}, {"connect", id}, {"finish", id}}
	ev.wait(t, before...)

	require.NoError(t, conn.Respond("_heartbeat_"))
	before = append(before, connEvent{"response _heartbeat_", id})
	ev.wait(t, before...)
	require.NoError(t, conn.WriteFrame(nsqtest.FrameMessage, testMessage(2, 1, "bad")))
	before = append(before, connEvent{"exception", id}, connEvent{"requeue", id})
	ev.wait(t, before...)
	require.NoError(t, conn.WriteFrame(nsqtest.FrameMessage, testMessage(3, 4, "good")))
	before = append(before, connEvent{"giving up", id}, connEvent{"finish", id})
	ev.wait(t, before...)

	// A fatal error closes the connection; the consumer reconnects with a
	// new connection id.
	require.NoError(t, conn.WriteFrame(nsqtest.FrameError, []byte("E_INVALID test")))
	before = append(before, connEvent{"error", id}, connEvent{"disconnect", id})
	ev.wait(t, before...)
	fake.nextConn(t)
	var id2 uint32
	nsqtest.WaitFor(t, 10*time.Second, "the new connection", func() bool {
		states := c.ConnectionStates()
		if len(states) == 1 {
			id2 = states[0].ID
		}
		return id2 != 0
	})
	assert.NotEqual(t, id, id2)
	ev.wait(t, append(before, connEvent{"response (IDENTIFY)", id2}, connEvent{"response OK", id2}, connEvent{"connect", id2})...)
	_, ok = c.ConnectionByID(id)
	assert.False(t, ok, "the old connection is gone")
}

// waitState waits until the consumer's only connection is in state want.
func waitState(t *testing.T, c *gnsq.Consumer, want gnsq.ConnState) {
	t.Helper()
	nsqtest.WaitFor(t, 10*time.Second, fmt.Sprintf("connection state %+v", want), func() bool {
		states := c.ConnectionStates()
		return len(states) == 1 && states[0] == want
	})
}

func TestConsumerConnectToNsqdErrors(t *testing.T) {
	fake := startScriptedNsqd(t)
	c, err := gnsq.NewConsumer("topic", "ch", bodyHandler, gnsq.WithNsqd(fake.Addr), gnsq.WithConfig(newConfig(t)))
	require.NoError(t, err)
	require.ErrorIs(t, c.ConnectToNsqd(fake.Addr), gnsq.ErrNotRunning)
	var invalid *gnsq.InvalidArgumentError
	require.ErrorAs(t, c.ConnectToNsqd("127.0.0.1:notaport"), &invalid)
	require.NoError(t, c.Start(context.Background()))
	require.ErrorAs(t, c.ConnectToNsqd(":4150"), &invalid)
	c.Close()
	require.ErrorIs(t, c.ConnectToNsqd(fake.Addr), gnsq.ErrClosed)
	assert.True(t, c.Join(10*time.Second))
}

// An nsqd added at run time is consumed from, and kept connected like
// one given to NewConsumer.
func TestConsumerConnectToNsqd(t *testing.T) {
	a, b := nsqtest.StartNsqd(t), nsqtest.StartNsqd(t)
	topic := uniqueTopic("connect")
	wantA := publishBodies(t, a.TCPAddr, topic, "a", 50)
	wantB := publishBodies(t, b.TCPAddr, topic, "b", 50)
	got := newReceived()
	var mu sync.Mutex
	idsOf := map[string]map[uint32]bool{} // by nsqd ("a" or "b"): connection ids of its messages
	c := startConsumer(t, topic, "ch", []string{a.TCPAddr}, nil, func(m *gnsq.Message) error {
		got.add(m.Body)
		mu.Lock()
		defer mu.Unlock()
		from := string(m.Body[:1])
		if idsOf[from] == nil {
			idsOf[from] = map[uint32]bool{}
		}
		idsOf[from][m.ConnID()] = true
		return nil
	}, gnsq.ConsumerHooks{}, "max_in_flight", "10", "max_backoff_duration", "1")
	nsqtest.WaitFor(t, 30*time.Second, "the messages of the first nsqd", func() bool { return len(got.missing(wantA)) == 0 })
	assert.Len(t, got.missing(wantB), len(wantB))

	require.NoError(t, c.ConnectToNsqd(b.TCPAddr))
	// ConnectToNsqd waited for the first attempt.
	states := c.ConnectionStates()
	require.Len(t, states, 2)
	nsqtest.WaitFor(t, 30*time.Second, "the messages of the added nsqd", func() bool { return len(got.missing(wantB)) == 0 })
	require.NoError(t, c.ConnectToNsqd(b.TCPAddr), "adding it again does nothing")

	byAddr := map[string]uint32{}
	for _, s := range c.ConnectionStates() {
		byAddr[s.Address] = s.ID
	}
	require.Len(t, byAddr, 2)
	require.True(t, states[0].Address < states[1].Address, "sorted by address")
	for _, s := range states {
		assert.Equal(t, s.ID, byAddr[s.Address], "still the same connection")
	}
	mu.Lock()
	assert.Equal(t, map[string]map[uint32]bool{"a": {byAddr[a.TCPAddr]: true}, "b": {byAddr[b.TCPAddr]: true}}, idsOf)
	mu.Unlock()

	// Reconnected when it comes back.
	b.Stop()
	nsqtest.WaitFor(t, 10*time.Second, "the stopped nsqd dropped", func() bool { return len(c.Connections()) == 1 })
	b.Start()
	nsqtest.WaitFor(t, 10*time.Second, "the added nsqd reconnected", func() bool { return len(c.Connections()) == 2 })
	more := publishBodies(t, b.TCPAddr, topic, "b2", 10)
	nsqtest.WaitFor(t, 30*time.Second, "messages after the reconnect", func() bool { return len(got.missing(more)) == 0 })
}

// ConnectToNsqd on an nsqd already connected through lookupd keeps that
// connection, and from then on reconnects it without lookupd.
func TestConsumerConnectToNsqdAdoptsLookupdConnection(t *testing.T) {
	l := nsqtest.StartLookupd(t)
	n := nsqtest.StartNsqd(t, "--lookupd-tcp-address="+l.TCPAddr)
	topic := uniqueTopic("adopt")
	first := publishBodies(t, n.TCPAddr, topic, "first", 1)
	got := newReceived()
	c := startConsumer(t, topic, "ch", nil, []string{l.HTTPAddr}, func(m *gnsq.Message) error {
		got.add(m.Body)
		return nil
	}, gnsq.ConsumerHooks{}, "lookupd_poll_interval", "0.1", "max_backoff_duration", "1")
	nsqtest.WaitFor(t, 30*time.Second, "the nsqd found through lookupd", func() bool { return len(got.missing(first)) == 0 })
	states := c.ConnectionStates()
	require.Len(t, states, 1)

	require.NoError(t, c.ConnectToNsqd(n.TCPAddr))
	assert.Equal(t, []uint32{states[0].ID}, connIDs(c), "the lookupd connection is kept")

	l.Stop()
	n.Stop()
	n.Start()
	nsqtest.WaitFor(t, 10*time.Second, "reconnected without lookupd", func() bool {
		ids := connIDs(c)
		return len(ids) == 1 && ids[0] != states[0].ID
	})
	more := publishBodies(t, n.TCPAddr, topic, "more", 10)
	nsqtest.WaitFor(t, 30*time.Second, "messages after the reconnect", func() bool { return len(got.missing(more)) == 0 })
}

func connIDs(c *gnsq.Consumer) []uint32 {
	var ids []uint32
	for _, s := range c.ConnectionStates() {
		ids = append(ids, s.ID)
	}
	return ids
}

func TestProducerHooksCarryConnID(t *testing.T) {
	nsqd := nsqtest.StartNsqd(t)
	var ev connEvents
	p, err := gnsq.NewProducer(gnsq.WithNsqd(nsqd.TCPAddr), gnsq.WithConfig(newConfig(t)), gnsq.WithProducerHooks(gnsq.ProducerHooks{
		OnConnect:    func(id uint32, _ string) { ev.add("connect", id) },
		OnResponse:   func(id uint32, data []byte) { ev.add("response "+string(data), id) },
		OnDisconnect: func(id uint32, _ string, _ error) { ev.add("disconnect", id) },
	}))
	require.NoError(t, err)
	require.NoError(t, p.Start(context.Background()))
	err = p.Publish(ctxTimeout(t, 10*time.Second), uniqueTopic("hooks"), []byte("x"))
	require.NoError(t, err)
	p.Close()
	require.True(t, p.Join(10*time.Second))
	require.NotEmpty(t, ev.got)
	id := ev.got[0].id
	require.NotZero(t, id)
	ev.wait(t, connEvent{"connect", id}, connEvent{"response OK", id}, connEvent{"disconnect", id})

	// A failed attempt reports the id of the client that tried.
	var failedID atomic.Uint32
	dead, err := gnsq.NewProducer(gnsq.WithNsqd("127.0.0.1:"+strconv.Itoa(nsqtest.FreePort(t))), gnsq.WithConfig(newConfig(t)),
		gnsq.WithProducerHooks(gnsq.ProducerHooks{OnError: func(id uint32, _ error) { failedID.CompareAndSwap(0, id) }}))
	require.NoError(t, err)
	require.NoError(t, dead.Start(context.Background())) // returns after the first attempt and its hooks
	dead.Close()
	require.True(t, dead.Join(10*time.Second))
	assert.NotZero(t, failedID.Load())
	assert.NotEqual(t, id, failedID.Load())
}
