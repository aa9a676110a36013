package main

/*
#include "gnsq.h"
*/
import "C"

import (
	"context"
	"math"
	"sync"
	"time"
	"unsafe"

	gnsq "github.com/libgnsq/libgnsq/core"
	"github.com/libgnsq/libgnsq/internal/producerlink"
)

type producerObj struct {
	object
	p *gnsq.Producer
	// submitting is read-held while a synchronous publish is handed to p
	// (publish.go); shutdown takes it to wait for them.
	submitting sync.RWMutex
}

// timeoutContext: < 0 no limit, else at most ms (0: already expired).
func timeoutContext(ms C.int) (context.Context, context.CancelFunc) {
	if ms < 0 {
		return context.WithCancel(context.Background())
	}
	return context.WithTimeout(context.Background(), time.Duration(ms)*time.Millisecond)
}

func producerOf(p *C.gnsq_producer_t) (*producerObj, C.int) {
	return openHandle[*producerObj](unsafe.Pointer(p))
}

//export gnsqgo_producer_new
func gnsqgo_producer_new(out **C.gnsq_producer_t, addrs **C.char, n C.size_t, cfg *C.gnsq_config_t) (rc C.int) {
	defer recoverInto(&rc)
	if out == nil {
		return failCode(C.GNSQ_E_INVALID_ARG, "out is NULL")
	}
	config, rc := configOf(cfg)
	if rc != C.GNSQ_OK {
		return rc
	}
	list, ok := goStrings(addrs, n)
	if !ok {
		return failCode(C.GNSQ_E_INVALID_ARG, "nsqd_addrs is NULL or holds NULL")
	}
	q, err := newEventQueue()
	if err != nil {
		return failCode(C.GNSQ_E_IO, "notify pipe: %v", err)
	}
	o := &producerObj{object: object{q: q}}
	p, err := gnsq.NewProducer(gnsq.WithNsqd(list...), gnsq.WithConfig(withEventLogger(config, q)),
		gnsq.WithProducerHooks(gnsq.ProducerHooks{
			OnResponse: o.responded, OnError: o.errored, OnAuth: o.authed,
			OnConnect: o.connected, OnDisconnect: o.disconnected,
		}))
	if err != nil {
		q.free()
		return fail(err)
	}
	o.p = p
	// One RESPONSE per publish is rarely wanted, and a host that publishes
	// synchronously may never poll: it is opt-in (set_event_mask).
	q.mask.Store(^uint32(1 << C.GNSQ_EV_RESPONSE))
	if rc := addHandle(unsafe.Pointer(out), o); rc != C.GNSQ_OK {
		q.free()
		return rc
	}
	return C.GNSQ_OK
}

//export gnsqgo_producer_start
func gnsqgo_producer_start(p *C.gnsq_producer_t) (rc C.int) {
	defer recoverInto(&rc)
	o, rc := producerOf(p)
	if rc != C.GNSQ_OK {
		return rc
	}
	if err := o.p.Start(context.Background()); err != nil {
		return fail(err)
	}
	return C.GNSQ_OK
}

// maxBodies is the most the bodies of one publish may hold in all: a
// frame's size is 32 bits.
const maxBodies = math.MaxInt32

// bodies copies n C buffers.
func bodies(ptrs *unsafe.Pointer, lens *C.size_t, n C.size_t) ([][]byte, error) {
	if n == 0 {
		return [][]byte{}, nil
	}
	if ptrs == nil || lens == nil {
		return nil, &gnsq.InvalidArgumentError{Reason: "bodies or lens is NULL"}
	}
	if uint64(n) > maxBodies/8 {
		return nil, &gnsq.InvalidArgumentError{Reason: "too many bodies"}
	}
	ps, ls := unsafe.Slice(ptrs, int(n)), unsafe.Slice(lens, int(n))
	out := make([][]byte, n)
	total := uint64(0)
	for i := range out {
		if total += uint64(ls[i]); total > maxBodies {
			return nil, &gnsq.InvalidArgumentError{Reason: "bodies larger than 2 GiB in all cannot be published"}
		}
		b, err := body(ps[i], ls[i])
		if err != nil {
			return nil, err
		}
		out[i] = b
	}
	return out, nil
}

// body copies one C buffer.
func body(ptr unsafe.Pointer, n C.size_t) ([]byte, error) {
	switch {
	case ptr == nil && n > 0:
		return nil, &gnsq.InvalidArgumentError{Reason: "a body is NULL"}
	case uint64(n) > maxBodies:
		return nil, &gnsq.InvalidArgumentError{Reason: "bodies larger than 2 GiB cannot be published"}
	}
	return C.GoBytes(ptr, C.int(n)), nil
}

// published returns the callback that reports an async publish's outcome.
func (o *producerObj) published(token uint64) func(*gnsq.Result) {
	return func(r *gnsq.Result) { o.pushPublished(token, r.Err()) }
}

// pushPublished queues the GNSQ_EV_PUBLISHED event of token (err nil: OK).
func (o *producerObj) pushPublished(token uint64, err error) {
	ev := event{typ: C.GNSQ_EV_PUBLISHED, token: token}
	if err != nil {
		ev.code, ev.data = int32(codeOf(err)), []byte(err.Error())
	}
	o.q.push(ev)
}

//export gnsqgo_producer_publish_async
func gnsqgo_producer_publish_async(token *C.uint64_t, p *C.gnsq_producer_t, topic *C.char, ptr unsafe.Pointer, n C.size_t, deferMs C.int64_t, waitMs C.int) (rc C.int) {
	defer recoverInto(&rc)
	o, rc := producerOf(p)
	if rc != C.GNSQ_OK {
		return rc
	}
	if token == nil || topic == nil {
		return failCode(C.GNSQ_E_INVALID_ARG, "token or topic is NULL")
	}
	b, err := body(ptr, n)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := timeoutContext(waitMs)
	defer cancel()
	tok := o.q.nextToken()
	if _, err := o.p.PublishAsync(ctx, C.GoString(topic), time.Duration(deferMs)*time.Millisecond, b, o.published(tok)); err != nil {
		return fail(err)
	}
	*token = C.uint64_t(tok)
	return C.GNSQ_OK
}

//export gnsqgo_producer_multipublish_async
func gnsqgo_producer_multipublish_async(token *C.uint64_t, p *C.gnsq_producer_t, topic *C.char, ptrs *unsafe.Pointer, lens *C.size_t, n C.size_t, waitMs C.int) (rc C.int) {
	defer recoverInto(&rc)
	o, rc := producerOf(p)
	if rc != C.GNSQ_OK {
		return rc
	}
	if token == nil || topic == nil {
		return failCode(C.GNSQ_E_INVALID_ARG, "token or topic is NULL")
	}
	bs, err := bodies(ptrs, lens, n)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := timeoutContext(waitMs)
	defer cancel()
	tok := o.q.nextToken()
	if _, err := o.p.MultiPublishAsync(ctx, C.GoString(topic), bs, o.published(tok)); err != nil {
		return fail(err)
	}
	*token = C.uint64_t(tok)
	return C.GNSQ_OK
}

//export gnsqgo_producer_publish_batch
func gnsqgo_producer_publish_batch(tokens *C.uint64_t, p *C.gnsq_producer_t, pubs *C.gnsq_publish_t, n C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	o, rc := producerOf(p)
	if rc != C.GNSQ_OK || n == 0 {
		return rc
	}
	if tokens == nil || pubs == nil {
		return failCode(C.GNSQ_E_INVALID_ARG, "tokens or pubs is NULL")
	}
	if uint64(n) > maxBodies/uint64(unsafe.Sizeof(*pubs)) {
		return failCode(C.GNSQ_E_INVALID_ARG, "too many publishes")
	}
	items := unsafe.Slice(pubs, int(n))
	total := uint64(0)
	for i := range items {
		if items[i].topic == nil {
			return failCode(C.GNSQ_E_INVALID_ARG, "publish %d: topic is NULL", i)
		}
		if items[i].body == nil && items[i].len > 0 {
			return failCode(C.GNSQ_E_INVALID_ARG, "publish %d: body is NULL", i)
		}
		if total += uint64(items[i].len); total > maxBodies {
			return failCode(C.GNSQ_E_INVALID_ARG, "bodies larger than 2 GiB in all cannot be published")
		}
	}
	// As for a synchronous publish (publish.go): a close waits for the
	// batch, so that every event of it comes before GNSQ_EV_CLOSED.
	o.submitting.RLock()
	defer o.submitting.RUnlock()
	if o.closed.Load() {
		return failCode(C.GNSQ_E_CLOSED, "producer closed")
	}
	noWait, cancel := timeoutContext(0)
	defer cancel()
	out := unsafe.Slice(tokens, int(n))
	topics := batchTopics(items)
	for i := 0; i < len(items); {
		j := coalescedRun(items, topics, i)
		toks := make([]uint64, j-i)
		bodies := make([][]byte, j-i)
		for k := range toks {
			toks[k] = o.q.nextToken()
			out[i+k] = C.uint64_t(toks[k])
			bodies[k] = C.GoBytes(items[i+k].body, C.int(items[i+k].len))
		}
		cmd, err := producerlink.Command(topics[i], time.Duration(items[i].defer_ms)*time.Millisecond, bodies, j-i > 1)
		if err == nil {
			err = producerlink.Send(o.p, noWait, cmd, false, func(err error) { o.pushAllPublished(toks, err) })
		}
		if err != nil {
			o.pushAllPublished(toks, err)
		}
		i = j
	}
	return C.GNSQ_OK
}

// A run of consecutive publishes of a batch to one topic, without defer,
// goes as one MPUB: nsqd then answers one frame instead of one per
// publish, which is most of its work for small bodies. The bounds keep such
// an MPUB far below nsqd's default limits (1 MiB per message, 5 MiB per
// MPUB); an nsqd with lower limits may refuse a run its bodies alone would
// pass, and then each publish of the run gets that refusal.
const (
	maxCoalesced      = 100
	maxCoalescedBody  = 64 << 10
	maxCoalescedBytes = 512 << 10
)

// batchTopics converts the topics of items, each distinct pointer once.
func batchTopics(items []C.gnsq_publish_t) []string {
	topics := make([]string, len(items))
	for i := range items {
		if i > 0 && items[i].topic == items[i-1].topic {
			topics[i] = topics[i-1]
		} else {
			topics[i] = C.GoString(items[i].topic)
		}
	}
	return topics
}

// coalescedRun returns the end of the run that starts at i: i+1 unless
// items[i] and those after it may share an MPUB (see maxCoalesced).
func coalescedRun(items []C.gnsq_publish_t, topics []string, i int) int {
	coalescable := func(it *C.gnsq_publish_t) bool {
		return it.defer_ms == 0 && it.len > 0 && it.len <= maxCoalescedBody
	}
	if !coalescable(&items[i]) {
		return i + 1
	}
	size := int(items[i].len)
	j := i + 1
	for ; j < len(items) && j-i < maxCoalesced && topics[j] == topics[i] && coalescable(&items[j]); j++ {
		if size += int(items[j].len); size > maxCoalescedBytes {
			break
		}
	}
	return j
}

// pushAllPublished queues the GNSQ_EV_PUBLISHED event of each token, all
// with one outcome.
func (o *producerObj) pushAllPublished(tokens []uint64, err error) {
	for _, tok := range tokens {
		o.pushPublished(tok, err)
	}
}

//export gnsqgo_producer_set_callback
func gnsqgo_producer_set_callback(p *C.gnsq_producer_t, eventType C.int, fn C.gnsq_callback_t, closure C.uintptr_t) (rc C.int) {
	defer recoverInto(&rc)
	return setCallback[*producerObj](unsafe.Pointer(p), eventType, fn, closure)
}

//export gnsqgo_producer_set_event_mask
func gnsqgo_producer_set_event_mask(p *C.gnsq_producer_t, mask C.uint32_t) (rc C.int) {
	defer recoverInto(&rc)
	return setEventMask[*producerObj](unsafe.Pointer(p), mask)
}

//export gnsqgo_producer_wakeup
func gnsqgo_producer_wakeup(p *C.gnsq_producer_t) (rc C.int) {
	defer recoverInto(&rc)
	return wakeupHandle[*producerObj](unsafe.Pointer(p))
}

//export gnsqgo_producer_notify_fd
func gnsqgo_producer_notify_fd(fd *C.int, p *C.gnsq_producer_t) (rc C.int) {
	defer recoverInto(&rc)
	return notifyFD[*producerObj](fd, unsafe.Pointer(p))
}

//export gnsqgo_producer_close
func gnsqgo_producer_close(p *C.gnsq_producer_t, timeoutMs C.int) (rc C.int) {
	defer recoverInto(&rc)
	return closeHandle[*producerObj](unsafe.Pointer(p), timeoutMs)
}

//export gnsqgo_producer_close_async
func gnsqgo_producer_close_async(token *C.uint64_t, p *C.gnsq_producer_t, timeoutMs C.int) (rc C.int) {
	defer recoverInto(&rc)
	return closeHandleAsync[*producerObj](token, unsafe.Pointer(p), timeoutMs)
}

// shutdown closes the core producer and waits for it, after the
// synchronous publishes being handed to it (publish.go), so that their
// outcomes are queued before GNSQ_EV_CLOSED.
func (o *producerObj) shutdown(timeout time.Duration) bool {
	o.p.Close()
	o.submitting.Lock()
	o.submitting.Unlock() //nolint:staticcheck // waits for the submits in progress
	return o.p.Join(timeout)
}

func (*producerObj) kindName() string { return "producer" }

//export gnsqgo_producer_free
func gnsqgo_producer_free(p *C.gnsq_producer_t) (rc C.int) {
	defer recoverInto(&rc)
	return freeHandle[*producerObj](unsafe.Pointer(p))
}
