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
	topic := ""
	var lastTopic *C.char
	for i := range items {
		it := &items[i]
		if it.topic != lastTopic { // a run of publishes to one topic converts it once
			topic, lastTopic = C.GoString(it.topic), it.topic
		}
		tok := o.q.nextToken()
		out[i] = C.uint64_t(tok)
		cmd, err := producerlink.Command(topic, time.Duration(it.defer_ms)*time.Millisecond, [][]byte{C.GoBytes(it.body, C.int(it.len))}, false)
		if err == nil {
			err = producerlink.Send(o.p, noWait, cmd, false, func(err error) { o.pushPublished(tok, err) })
		}
		if err != nil {
			o.pushPublished(tok, err)
		}
	}
	return C.GNSQ_OK
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
