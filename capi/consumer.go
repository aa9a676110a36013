package main

/*
#include "gnsq.h"
*/
import "C"

import (
	"context"
	"errors"
	"sync"
	"time"
	"unsafe"

	gnsq "github.com/libgnsq/libgnsq/core"
)

type consumerObj struct {
	object
	c *gnsq.Consumer

	// msgs holds the messages handed out and not yet answered for good
	// (newMsgTable). It is guarded by q.mu, so a message is registered and
	// queued under one lock.
	msgs slotTable[*gnsq.Message]

	drainOnce  sync.Once
	drainToken uint64        // the token of the GNSQ_EV_CLOSED a drain ends with
	drainDone  chan struct{} // closed when the drain's close is done
}

func consumerOf(c *C.gnsq_consumer_t) (*consumerObj, C.int) {
	return openHandle[*consumerObj](unsafe.Pointer(c))
}

// messageEvent is a MESSAGE or GIVING_UP event for m.
func messageEvent(typ int32, token uint64, m *gnsq.Message) event {
	return event{typ: typ, conn: m.ConnID(), token: token, timestamp: m.Timestamp, attempts: m.Attempts, id: m.ID, data: m.Body}
}

// handle is the core Handler: it hands the message to the host as an event
// and leaves the answer to gnsq_consumer_respond.
func (o *consumerObj) handle(m *gnsq.Message) error {
	m.EnableAsync()
	o.q.mu.Lock() // no defer: this runs per message
	token, ok := o.msgs.add(m)
	if ok {
		o.q.pushLocked(messageEvent(C.GNSQ_EV_MESSAGE, token, m))
	}
	o.q.mu.Unlock()
	if !ok { // 2^24 - 1 messages in flight: nsqd's RDY limits make it unreachable
		return errors.New("too many messages in flight to hand out")
	}
	return nil
}

//export gnsqgo_consumer_new
func gnsqgo_consumer_new(out **C.gnsq_consumer_t, topic, channel *C.char, nsqd **C.char, nNsqd C.size_t, lookupd **C.char, nLookupd C.size_t, cfg *C.gnsq_config_t) (rc C.int) {
	defer recoverInto(&rc)
	if out == nil || topic == nil || channel == nil {
		return failCode(C.GNSQ_E_INVALID_ARG, "out, topic and channel must not be NULL")
	}
	config, rc := configOf(cfg)
	if rc != C.GNSQ_OK {
		return rc
	}
	nsqds, ok1 := goStrings(nsqd, nNsqd)
	lookupds, ok2 := goStrings(lookupd, nLookupd)
	if !ok1 || !ok2 {
		return failCode(C.GNSQ_E_INVALID_ARG, "an address list is NULL or holds NULL")
	}
	q, err := newEventQueue()
	if err != nil {
		return failCode(C.GNSQ_E_IO, "notify pipe: %v", err)
	}
	o := &consumerObj{object: object{q: q}, msgs: newMsgTable()}
	hooks := gnsq.ConsumerHooks{
		OnResponse: o.responded, OnError: o.errored, OnAuth: o.authed,
		OnConnect: o.connected, OnDisconnect: o.disconnected,
		OnFinish: func(conn uint32, id gnsq.MessageID) { o.q.pushID(C.GNSQ_EV_FINISHED, conn, id, 0) },
		OnRequeue: func(conn uint32, id gnsq.MessageID, delay time.Duration) {
			o.q.pushID(C.GNSQ_EV_REQUEUED, conn, id, delay.Milliseconds())
		},
		OnGivingUp: func(m *gnsq.Message) { o.q.push(messageEvent(C.GNSQ_EV_GIVING_UP, 0, m)) },
		OnException: func(m *gnsq.Message, err error) {
			o.q.push(event{typ: C.GNSQ_EV_EXCEPTION, conn: m.ConnID(), id: m.ID, data: []byte(err.Error())})
		},
	}
	c, err := gnsq.NewConsumer(C.GoString(topic), C.GoString(channel), o.handle, gnsq.WithNsqd(nsqds...),
		gnsq.WithLookupd(lookupds...), gnsq.WithConfig(withEventLogger(config, q)), gnsq.WithConsumerHooks(hooks))
	if err != nil {
		q.free()
		return fail(err)
	}
	o.c = c
	if rc := addHandle(unsafe.Pointer(out), o); rc != C.GNSQ_OK {
		q.free()
		return rc
	}
	return C.GNSQ_OK
}

//export gnsqgo_consumer_start
func gnsqgo_consumer_start(c *C.gnsq_consumer_t) (rc C.int) {
	defer recoverInto(&rc)
	o, rc := consumerOf(c)
	if rc != C.GNSQ_OK {
		return rc
	}
	if err := o.c.Start(context.Background()); err != nil {
		return fail(err)
	}
	return C.GNSQ_OK
}

//export gnsqgo_consumer_read_body
func gnsqgo_consumer_read_body(c *C.gnsq_consumer_t, token C.uint64_t, dst unsafe.Pointer, n C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	return readBody[*consumerObj](unsafe.Pointer(c), token, dst, n)
}

// checkResponse rejects an answer with an unknown action, a negative
// delay or (HANDLER_FAILED, the one action with a text) a text outside texts.
func checkResponse(r *C.gnsq_response_t, texts []byte) error {
	if r.action == C.GNSQ_RESP_HANDLER_FAILED && uint64(r.detail_offset)+uint64(r.detail_len) > uint64(len(texts)) {
		return &gnsq.InvalidArgumentError{Reason: "response detail lies outside texts"}
	}
	if r.action < C.GNSQ_RESP_FINISH || r.action > C.GNSQ_RESP_HANDLER_REQUEUE {
		return &gnsq.InvalidArgumentError{Reason: "unknown response action"}
	}
	if r.action == C.GNSQ_RESP_REQUEUE && r.delay_ms < 0 {
		return &gnsq.InvalidArgumentError{Reason: "requeue delay must be >= 0"}
	}
	return nil
}

// apply carries out one answer for m; see gnsq_consumer_respond.
func (o *consumerObj) apply(m *gnsq.Message, r *C.gnsq_response_t, texts []byte) error {
	if r.action != C.GNSQ_RESP_TOUCH {
		o.q.dropHeld(uint64(r.token)) // an answered message's held body is not wanted any more
	}
	switch r.action {
	case C.GNSQ_RESP_FINISH:
		return m.Finish()
	case C.GNSQ_RESP_REQUEUE:
		return m.Requeue(time.Duration(r.delay_ms)*time.Millisecond, r.backoff != 0)
	case C.GNSQ_RESP_TOUCH:
		return m.Touch()
	case C.GNSQ_RESP_HANDLER_OK:
		o.c.Complete(m, nil)
	case C.GNSQ_RESP_HANDLER_FAILED:
		detail := string(texts[r.detail_offset : r.detail_offset+r.detail_len])
		if detail == "" {
			detail = "message handler failed"
		}
		o.c.Complete(m, errors.New(detail))
	case C.GNSQ_RESP_HANDLER_REQUEUE:
		rq := &gnsq.RequeueMessage{}
		if r.backoff >= 0 {
			b := r.backoff != 0
			rq.Backoff = &b
		}
		o.c.Complete(m, rq)
	}
	return nil
}

// takeMessages resolves the batch's tokens under one lock: ms[i] is the
// message of rs[i], or errs[i] says why not (a rejected answer leaves its
// message open).
func (o *consumerObj) takeMessages(rs []C.gnsq_response_t, texts []byte, ms []*gnsq.Message, errs []error) {
	o.q.mu.Lock()
	defer o.q.mu.Unlock() // also when reading the caller's memory faults
	for i := range rs {
		if errs[i] = checkResponse(&rs[i], texts); errs[i] != nil {
			continue
		}
		token := uint64(rs[i].token)
		var m *gnsq.Message
		var ok bool
		if rs[i].action == C.GNSQ_RESP_TOUCH {
			m, ok = o.msgs.get(token)
		} else {
			m, ok = o.msgs.remove(token, nil)
		}
		if !ok {
			errs[i] = errUnknownToken
		}
		ms[i] = m
	}
}

var errUnknownToken = errors.New("gnsq: no message with this token (already answered or never handed out)")

//export gnsqgo_consumer_respond
func gnsqgo_consumer_respond(c *C.gnsq_consumer_t, r *C.gnsq_response_t, n C.size_t, texts *C.char, textsLen C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	o, rc := consumerOf(c)
	if rc != C.GNSQ_OK {
		return rc
	}
	if (r == nil && n > 0) || (texts == nil && textsLen > 0) {
		return failCode(C.GNSQ_E_INVALID_ARG, "responses or texts is NULL")
	}
	var text []byte
	if textsLen > 0 {
		text = unsafe.Slice((*byte)(unsafe.Pointer(texts)), int(textsLen))
	}
	rs := unsafe.Slice(r, int(n))
	ms := make([]*gnsq.Message, len(rs))
	errs := make([]error, len(rs))
	o.takeMessages(rs, text, ms, errs)
	var first error
	for i := range rs {
		err := errs[i]
		if err == nil {
			err = o.apply(ms[i], &rs[i], text)
		}
		if err != nil && first == nil {
			first = err
		}
	}
	switch {
	case first == nil:
		return C.int(n)
	case errors.Is(first, errUnknownToken):
		return failCode(C.GNSQ_E_UNKNOWN_TOKEN, "%v", first)
	}
	return fail(first)
}

//export gnsqgo_consumer_set_callback
func gnsqgo_consumer_set_callback(c *C.gnsq_consumer_t, eventType C.int, fn C.gnsq_callback_t, closure C.uintptr_t) (rc C.int) {
	defer recoverInto(&rc)
	return setCallback[*consumerObj](unsafe.Pointer(c), eventType, fn, closure)
}

//export gnsqgo_consumer_set_event_mask
func gnsqgo_consumer_set_event_mask(c *C.gnsq_consumer_t, mask C.uint32_t) (rc C.int) {
	defer recoverInto(&rc)
	return setEventMask[*consumerObj](unsafe.Pointer(c), mask)
}

//export gnsqgo_consumer_set_max_in_flight
func gnsqgo_consumer_set_max_in_flight(c *C.gnsq_consumer_t, n C.int) (rc C.int) {
	defer recoverInto(&rc)
	o, rc := consumerOf(c)
	if rc != C.GNSQ_OK {
		return rc
	}
	return result(o.c.ChangeMaxInFlight(int(n)))
}

//export gnsqgo_consumer_status
func gnsqgo_consumer_status(st *C.gnsq_consumer_status_t, c *C.gnsq_consumer_t) (rc C.int) {
	defer recoverInto(&rc)
	o, rc := anyHandle[*consumerObj](unsafe.Pointer(c))
	if rc != C.GNSQ_OK {
		return rc
	}
	if st == nil {
		return failCode(C.GNSQ_E_INVALID_ARG, "st is NULL")
	}
	*st = C.gnsq_consumer_status_t{
		running: cBool(o.c.IsRunning()), starved: cBool(o.c.IsStarved()),
		total_ready_count: C.int32_t(o.c.TotalReadyCount()), total_in_flight: C.int32_t(o.c.TotalInFlight()),
		max_in_flight: C.int32_t(o.c.MaxInFlight()), connections: C.int32_t(len(o.c.Connections())),
	}
	return C.GNSQ_OK
}

//export gnsqgo_consumer_connections
func gnsqgo_consumer_connections(out *C.gnsq_conn_info_t, max C.size_t, c *C.gnsq_consumer_t) (rc C.int) {
	defer recoverInto(&rc)
	o, rc := openHandle[*consumerObj](unsafe.Pointer(c))
	if rc != C.GNSQ_OK {
		return rc
	}
	if out == nil && max > 0 {
		return failCode(C.GNSQ_E_INVALID_ARG, "out is NULL")
	}
	states := o.c.ConnectionStates()
	if max > 0 {
		dst := unsafe.Slice(out, int(max))
		for i := 0; i < len(states) && i < len(dst); i++ {
			fillConnInfo(&dst[i], states[i])
		}
	}
	return C.int(len(states))
}

//export gnsqgo_consumer_connection
func gnsqgo_consumer_connection(out *C.gnsq_conn_info_t, c *C.gnsq_consumer_t, id C.uint32_t) (rc C.int) {
	defer recoverInto(&rc)
	o, rc := openHandle[*consumerObj](unsafe.Pointer(c))
	if rc != C.GNSQ_OK {
		return rc
	}
	if out == nil {
		return failCode(C.GNSQ_E_INVALID_ARG, "out is NULL")
	}
	conn, ok := o.c.ConnectionByID(uint32(id))
	if !ok {
		return failCode(C.GNSQ_E_INVALID_ARG, "the consumer has no connection %d", id)
	}
	fillConnInfo(out, conn.State())
	return C.GNSQ_OK
}

//export gnsqgo_consumer_connect_to_nsqd
func gnsqgo_consumer_connect_to_nsqd(c *C.gnsq_consumer_t, addr *C.char) (rc C.int) {
	defer recoverInto(&rc)
	o, rc := openHandle[*consumerObj](unsafe.Pointer(c))
	if rc != C.GNSQ_OK {
		return rc
	}
	if addr == nil {
		return failCode(C.GNSQ_E_INVALID_ARG, "addr is NULL")
	}
	return result(o.c.ConnectToNsqd(C.GoString(addr)))
}

//export gnsqgo_consumer_wakeup
func gnsqgo_consumer_wakeup(c *C.gnsq_consumer_t) (rc C.int) {
	defer recoverInto(&rc)
	return wakeupHandle[*consumerObj](unsafe.Pointer(c))
}

//export gnsqgo_consumer_notify_fd
func gnsqgo_consumer_notify_fd(fd *C.int, c *C.gnsq_consumer_t) (rc C.int) {
	defer recoverInto(&rc)
	return notifyFD[*consumerObj](fd, unsafe.Pointer(c))
}

// shutdown closes the core consumer, forgets unanswered messages (nsqd
// redelivers them) and waits for its goroutines.
func (o *consumerObj) shutdown(timeout time.Duration) bool {
	o.c.Close()
	o.q.mu.Lock()
	o.msgs.clear()
	o.q.mu.Unlock()
	return o.c.Join(timeout)
}

func (*consumerObj) kindName() string { return "consumer" }

//export gnsqgo_consumer_close
func gnsqgo_consumer_close(c *C.gnsq_consumer_t, timeoutMs C.int) (rc C.int) {
	defer recoverInto(&rc)
	return closeHandle[*consumerObj](unsafe.Pointer(c), timeoutMs)
}

//export gnsqgo_consumer_close_async
func gnsqgo_consumer_close_async(token *C.uint64_t, c *C.gnsq_consumer_t, timeoutMs C.int) (rc C.int) {
	defer recoverInto(&rc)
	return closeHandleAsync[*consumerObj](token, unsafe.Pointer(c), timeoutMs)
}

// drain starts the consumer's Drain once (bounded by timeoutMs, < 0: no
// limit) and the close after it, whose GNSQ_EV_CLOSED carries the token
// returned (every call returns the same one).
func (o *consumerObj) drain(timeoutMs C.int) uint64 {
	o.drainOnce.Do(func() {
		o.drainToken = o.q.nextToken()
		o.drainDone = make(chan struct{})
		go func() {
			defer close(o.drainDone)
			ctx, cancel := timeoutContext(timeoutMs)
			defer cancel()
			drained := o.c.Drain(ctx) == nil
			// GNSQ_E_TIMEOUT when the drain ran out of time (what was
			// left is requeued or redelivered) or goroutines did not stop
			o.startCloseWith(o.drainToken, func() bool { return o.shutdown(freeTimeout) && drained })
			<-o.closeDone
		}()
	})
	return o.drainToken
}

//export gnsqgo_consumer_drain_async
func gnsqgo_consumer_drain_async(token *C.uint64_t, c *C.gnsq_consumer_t, timeoutMs C.int) (rc C.int) {
	defer recoverInto(&rc)
	o, rc := consumerOf(c)
	if rc != C.GNSQ_OK {
		return rc
	}
	if token == nil {
		return failCode(C.GNSQ_E_INVALID_ARG, "token is NULL")
	}
	*token = C.uint64_t(o.drain(timeoutMs))
	return C.GNSQ_OK
}

//export gnsqgo_consumer_drain
func gnsqgo_consumer_drain(c *C.gnsq_consumer_t, timeoutMs C.int) (rc C.int) {
	defer recoverInto(&rc)
	if inCallback() {
		return refuseInCallback("drain")
	}
	o, rc := consumerOf(c)
	if rc != C.GNSQ_OK {
		return rc
	}
	o.drain(timeoutMs)
	<-o.drainDone
	if o.closeRC != C.GNSQ_OK {
		return failCode(o.closeRC, "drained, but not everything within the timeout")
	}
	return C.GNSQ_OK
}

//export gnsqgo_consumer_free
func gnsqgo_consumer_free(c *C.gnsq_consumer_t) (rc C.int) {
	defer recoverInto(&rc)
	return freeHandle[*consumerObj](unsafe.Pointer(c))
}
