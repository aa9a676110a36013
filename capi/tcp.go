package main

/*
#include "gnsq.h"
*/
import "C"

import (
	"errors"
	"sync"
	"time"
	"unsafe"

	gnsq "github.com/libgnsq/libgnsq/core"
	"github.com/libgnsq/libgnsq/internal/syncutil"
)

type tcpObj struct {
	object
	c *gnsq.NsqdTCPClient
	// reader counts the steps running (see begin), their reads and the
	// frame reader: close waits for them, so their events precede CLOSED.
	reader sync.WaitGroup

	mu        sync.Mutex
	step      string // the step running, "" if none
	listening bool   // the frame reader owns the socket
	shut      bool   // shutdown began: no step starts
	// pending is a read that outlasted its read_response: its frame goes
	// to the next read_response, or to the frame reader (steps only).
	pending chan readResult
}

func tcpOf(c *C.gnsq_tcp_t) (*tcpObj, C.int) { return openHandle[*tcpObj](unsafe.Pointer(c)) }

// result turns a core error into a return code.
func result(err error) C.int {
	if err != nil {
		return fail(err)
	}
	return C.GNSQ_OK
}

//export gnsqgo_tcp_new
func gnsqgo_tcp_new(out **C.gnsq_tcp_t, addr *C.char, cfg *C.gnsq_config_t) (rc C.int) {
	defer recoverInto(&rc)
	if out == nil || addr == nil {
		return failCode(C.GNSQ_E_INVALID_ARG, "out and addr must not be NULL")
	}
	config, rc := configOf(cfg)
	if rc != C.GNSQ_OK {
		return rc
	}
	q, err := newEventQueue()
	if err != nil {
		return failCode(C.GNSQ_E_IO, "notify pipe: %v", err)
	}
	o := &tcpObj{object: object{q: q}}
	hooks := gnsq.ConnHooks{
		OnResponse: func(cl *gnsq.NsqdTCPClient, data []byte) { o.responded(cl.ID(), data) },
		OnError:    func(cl *gnsq.NsqdTCPClient, err error) { o.errored(cl.ID(), err) },
		OnFinish:   func(cl *gnsq.NsqdTCPClient, id gnsq.MessageID) { o.q.pushID(C.GNSQ_EV_FINISHED, cl.ID(), id, 0) },
		OnRequeue: func(cl *gnsq.NsqdTCPClient, id gnsq.MessageID, delay time.Duration, _ bool) {
			o.q.pushID(C.GNSQ_EV_REQUEUED, cl.ID(), id, delay.Milliseconds())
		},
		OnAuth: o.authed,
	}
	client, err := gnsq.NewNsqdTCPClient(C.GoString(addr), gnsq.WithConfig(withEventLogger(config, q)), gnsq.WithConnHooks(hooks))
	if err != nil {
		q.free()
		return fail(err)
	}
	o.c = client
	if rc := addHandle(unsafe.Pointer(out), o); rc != C.GNSQ_OK {
		q.free()
		return rc
	}
	return C.GNSQ_OK
}

//export gnsqgo_tcp_connect
func gnsqgo_tcp_connect(out *C.uint8_t, n C.size_t, held *C.uint64_t, c *C.gnsq_tcp_t) (rc C.int) {
	defer recoverInto(&rc)
	if out == nil && n > 0 {
		return failCode(C.GNSQ_E_INVALID_ARG, "out is NULL")
	}
	o, _, js, rc := runStep(c, "connect", (*tcpObj).connect)
	if rc != C.GNSQ_OK {
		return rc
	}
	return o.q.answer(js, out, n, held)
}

//export gnsqgo_tcp_connect_async
func gnsqgo_tcp_connect_async(token *C.uint64_t, c *C.gnsq_tcp_t) (rc C.int) {
	defer recoverInto(&rc)
	return startStep(token, c, C.GNSQ_EV_CONNECT_DONE, "connect", (*tcpObj).connect)
}

// connect is gnsq_tcp_connect: open, identify, listen.
func (o *tcpObj) connect() (int64, []byte, error) {
	if _, _, err := o.open(); err != nil {
		return 0, nil, err
	}
	_, js, err := o.identify()
	if err != nil {
		return 0, nil, err
	}
	_, _, err = o.listen()
	return 0, js, err
}

// read turns frames into events until the connection ends, starting with
// the frame of a pending read, if any.
func (o *tcpObj) read(pending <-chan readResult) {
	defer o.reader.Done()
	for {
		var r readResult
		if pending != nil {
			r, pending = <-pending, nil
		} else {
			r.resp, r.err = o.c.ReadResponse()
		}
		if r.err != nil {
			if errors.Is(r.err, gnsq.ErrNotConnected) {
				r.err = nil // closed on purpose (after a fatal error frame, already reported)
			}
			o.disconnected(o.c.ID(), o.c.Address(), r.err)
			return
		}
		if m := r.resp.Message; m != nil {
			o.q.push(messageEvent(C.GNSQ_EV_MESSAGE, o.q.nextToken(), m))
		}
	}
}

func messageID(id *C.uint8_t) (gnsq.MessageID, bool) {
	var m gnsq.MessageID
	if id == nil {
		return m, false
	}
	copy(m[:], unsafe.Slice((*byte)(unsafe.Pointer(id)), len(m)))
	return m, true
}

//export gnsqgo_tcp_subscribe
func gnsqgo_tcp_subscribe(c *C.gnsq_tcp_t, topic, channel *C.char) (rc C.int) {
	defer recoverInto(&rc)
	o, rc := tcpOf(c)
	if rc != C.GNSQ_OK {
		return rc
	}
	if topic == nil || channel == nil {
		return failCode(C.GNSQ_E_INVALID_ARG, "topic and channel must not be NULL")
	}
	return result(o.c.Subscribe(C.GoString(topic), C.GoString(channel)))
}

//export gnsqgo_tcp_publish
func gnsqgo_tcp_publish(c *C.gnsq_tcp_t, topic *C.char, ptr unsafe.Pointer, n C.size_t, deferMs C.int64_t) (rc C.int) {
	defer recoverInto(&rc)
	o, rc := tcpOf(c)
	if rc != C.GNSQ_OK {
		return rc
	}
	if topic == nil {
		return failCode(C.GNSQ_E_INVALID_ARG, "topic is NULL")
	}
	b, err := body(ptr, n)
	if err != nil {
		return fail(err)
	}
	return result(o.c.Publish(C.GoString(topic), b, time.Duration(deferMs)*time.Millisecond))
}

//export gnsqgo_tcp_multipublish
func gnsqgo_tcp_multipublish(c *C.gnsq_tcp_t, topic *C.char, ptrs *unsafe.Pointer, lens *C.size_t, n C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	o, rc := tcpOf(c)
	if rc != C.GNSQ_OK {
		return rc
	}
	if topic == nil {
		return failCode(C.GNSQ_E_INVALID_ARG, "topic is NULL")
	}
	bs, err := bodies(ptrs, lens, n)
	if err != nil {
		return fail(err)
	}
	return result(o.c.MultiPublish(C.GoString(topic), bs))
}

//export gnsqgo_tcp_ready
func gnsqgo_tcp_ready(c *C.gnsq_tcp_t, count C.int) (rc C.int) {
	defer recoverInto(&rc)
	o, rc := tcpOf(c)
	if rc != C.GNSQ_OK {
		return rc
	}
	return result(o.c.Ready(int(count)))
}

//export gnsqgo_tcp_finish
func gnsqgo_tcp_finish(c *C.gnsq_tcp_t, id *C.uint8_t) (rc C.int) {
	defer recoverInto(&rc)
	o, rc := tcpOf(c)
	if rc != C.GNSQ_OK {
		return rc
	}
	mid, ok := messageID(id)
	if !ok {
		return failCode(C.GNSQ_E_INVALID_ARG, "id is NULL")
	}
	return result(o.c.Finish(mid))
}

//export gnsqgo_tcp_requeue
func gnsqgo_tcp_requeue(c *C.gnsq_tcp_t, id *C.uint8_t, delayMs C.int64_t, backoff C.int) (rc C.int) {
	defer recoverInto(&rc)
	o, rc := tcpOf(c)
	if rc != C.GNSQ_OK {
		return rc
	}
	mid, ok := messageID(id)
	if !ok {
		return failCode(C.GNSQ_E_INVALID_ARG, "id is NULL")
	}
	return result(o.c.Requeue(mid, time.Duration(delayMs)*time.Millisecond, backoff != 0))
}

//export gnsqgo_tcp_touch
func gnsqgo_tcp_touch(c *C.gnsq_tcp_t, id *C.uint8_t) (rc C.int) {
	defer recoverInto(&rc)
	o, rc := tcpOf(c)
	if rc != C.GNSQ_OK {
		return rc
	}
	mid, ok := messageID(id)
	if !ok {
		return failCode(C.GNSQ_E_INVALID_ARG, "id is NULL")
	}
	return result(o.c.Touch(mid))
}

//export gnsqgo_tcp_nop
func gnsqgo_tcp_nop(c *C.gnsq_tcp_t) (rc C.int) {
	defer recoverInto(&rc)
	o, rc := tcpOf(c)
	if rc != C.GNSQ_OK {
		return rc
	}
	return result(o.c.Nop())
}

//export gnsqgo_tcp_cls
func gnsqgo_tcp_cls(c *C.gnsq_tcp_t) (rc C.int) {
	defer recoverInto(&rc)
	o, rc := tcpOf(c)
	if rc != C.GNSQ_OK {
		return rc
	}
	return result(o.c.Close())
}

//export gnsqgo_tcp_status
func gnsqgo_tcp_status(st *C.gnsq_conn_info_t, c *C.gnsq_tcp_t) (rc C.int) {
	defer recoverInto(&rc)
	o, rc := tcpOf(c)
	if rc != C.GNSQ_OK {
		return rc
	}
	if st == nil {
		return failCode(C.GNSQ_E_INVALID_ARG, "st is NULL")
	}
	fillConnInfo(st, o.c.State())
	return C.GNSQ_OK
}

// fillConnInfo copies a connection's state into a gnsq_conn_info_t.
func fillConnInfo(dst *C.gnsq_conn_info_t, s gnsq.ConnState) {
	*dst = C.gnsq_conn_info_t{
		id: C.uint32_t(s.ID), connected: cBool(s.Connected), ready_count: C.int32_t(s.ReadyCount),
		last_ready: C.int32_t(s.LastReady), in_flight: C.int32_t(s.InFlight),
		max_ready_count: C.int32_t(s.MaxReadyCount), starved: cBool(s.Starved),
	}
	copyString(&dst.address[0], C.size_t(len(dst.address)), s.Address)
}

func cBool(b bool) C.int32_t {
	if b {
		return 1
	}
	return 0
}

//export gnsqgo_tcp_read_body
func gnsqgo_tcp_read_body(c *C.gnsq_tcp_t, token C.uint64_t, dst unsafe.Pointer, n C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	return readBody[*tcpObj](unsafe.Pointer(c), token, dst, n)
}

//export gnsqgo_tcp_wakeup
func gnsqgo_tcp_wakeup(c *C.gnsq_tcp_t) (rc C.int) {
	defer recoverInto(&rc)
	return wakeupHandle[*tcpObj](unsafe.Pointer(c))
}

//export gnsqgo_tcp_notify_fd
func gnsqgo_tcp_notify_fd(fd *C.int, c *C.gnsq_tcp_t) (rc C.int) {
	defer recoverInto(&rc)
	return notifyFD[*tcpObj](fd, unsafe.Pointer(c))
}

// shutdown stops new steps, closes the socket after writing what the
// commands left buffered (a FIN just sent must reach nsqd, as in gnsq;
// closing also ends the running steps) and waits for the steps and the
// reader.
func (o *tcpObj) shutdown(timeout time.Duration) bool {
	o.mu.Lock()
	o.shut = true
	o.mu.Unlock()
	o.c.CloseStreamAfterFlush()
	return syncutil.WaitGroupWithin(&o.reader, timeout)
}

func (*tcpObj) kindName() string { return "tcp client" }

//export gnsqgo_tcp_close
func gnsqgo_tcp_close(c *C.gnsq_tcp_t, timeoutMs C.int) (rc C.int) {
	defer recoverInto(&rc)
	return closeHandle[*tcpObj](unsafe.Pointer(c), timeoutMs)
}

//export gnsqgo_tcp_close_async
func gnsqgo_tcp_close_async(token *C.uint64_t, c *C.gnsq_tcp_t, timeoutMs C.int) (rc C.int) {
	defer recoverInto(&rc)
	return closeHandleAsync[*tcpObj](token, unsafe.Pointer(c), timeoutMs)
}

//export gnsqgo_tcp_free
func gnsqgo_tcp_free(c *C.gnsq_tcp_t) (rc C.int) {
	defer recoverInto(&rc)
	return freeHandle[*tcpObj](unsafe.Pointer(c))
}
