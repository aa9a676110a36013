package main

/*
#include "gnsq.h"
*/
import "C"

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	gnsq "github.com/libgnsq/libgnsq/core"
)

// object is what every event-producing handle has: its queue and close state.
type object struct {
	q          *eventQueue
	d          dispatcher
	closed     atomic.Bool
	closeOnce  sync.Once
	closeToken uint64        // the token of GNSQ_EV_CLOSED
	closeDone  chan struct{} // closed once the close finished
	closeRC    C.int         // GNSQ_E_TIMEOUT if shutdown did not finish in time
}

func (o *object) base() *object { return o }

// startClose begins the close once: the object counts as closed at once,
// and a goroutine runs shutdown, queues GNSQ_EV_CLOSED with the close's
// token, seals the queue and waits for a running dispatch, so no callback
// runs once the close is done.
func (o *object) startClose(shutdown func() bool) { o.startCloseWith(0, shutdown) }

// startCloseWith is startClose with the close's token chosen before (0:
// a new one); a drain announces its token when it starts.
func (o *object) startCloseWith(token uint64, shutdown func() bool) {
	o.closeOnce.Do(func() {
		o.closed.Store(true)
		if token == 0 {
			token = o.q.nextToken()
		}
		o.closeToken = token
		o.closeDone = make(chan struct{})
		go func() {
			defer close(o.closeDone)
			ev := event{typ: C.GNSQ_EV_CLOSED, token: o.closeToken}
			if !shutdown() {
				o.closeRC = C.GNSQ_E_TIMEOUT
				ev.code = C.GNSQ_E_TIMEOUT
			}
			o.q.seal(ev)
			o.d.waitIdle()
		}()
	})
}

// close closes the object and waits until the close is done (every
// concurrent caller does). Refused inside a callback, which the close
// would wait for.
func (o *object) close(shutdown func() bool) C.int {
	if inCallback() {
		return refuseInCallback("close")
	}
	o.startClose(shutdown)
	<-o.closeDone
	if o.closeRC != C.GNSQ_OK {
		return failCode(o.closeRC, "closed, but the library's goroutines did not stop in time")
	}
	return C.GNSQ_OK
}

// closeAsync starts the close and returns its token at once.
func (o *object) closeAsync(token *C.uint64_t, shutdown func() bool) C.int {
	if token == nil {
		return failCode(C.GNSQ_E_INVALID_ARG, "token is NULL")
	}
	o.startClose(shutdown)
	*token = C.uint64_t(o.closeToken)
	return C.GNSQ_OK
}

// The hooks below turn connection-level signals into events.
func (o *object) connected(conn uint32, addr string) {
	o.q.push(event{typ: C.GNSQ_EV_CONNECTED, conn: conn, data: []byte(addr)})
}

// disconnected reports a lost connection; connections a close ends are
// not reported.
func (o *object) disconnected(conn uint32, addr string, err error) {
	if o.closed.Load() {
		return
	}
	ev := event{typ: C.GNSQ_EV_DISCONNECTED, conn: conn, data: []byte(addr)}
	if err != nil {
		ev.code = int32(codeOf(err))
	}
	o.q.push(ev)
}

func (o *object) errored(conn uint32, err error) { o.q.push(errorEvent(conn, err)) }

func (o *object) responded(conn uint32, data []byte) {
	o.q.push(event{typ: C.GNSQ_EV_RESPONSE, conn: conn, data: data})
}

func (o *object) authed(c *gnsq.NsqdTCPClient, resp *gnsq.AuthResponse) {
	o.q.push(event{typ: C.GNSQ_EV_AUTH, conn: c.ID(), data: resp.Raw})
}

// handleObj is a producer, consumer, TCP or HTTP client behind a handle.
type handleObj interface {
	base() *object
	// shutdown stops the object's work and waits at most timeout (0: no
	// limit) for its goroutines; false if they did not stop in time.
	shutdown(timeout time.Duration) bool
	// kindName names the kind in error details ("producer"); it must work
	// on a nil receiver.
	kindName() string
}

// freeTimeout bounds the wait for an object's goroutines at *_free.
const freeTimeout = 5 * time.Second

// anyHandle returns the object behind h, also once it is closed (until free).
func anyHandle[T handleObj](h unsafe.Pointer) (T, C.int) {
	o, ok := lookup[T](h)
	if !ok {
		var zero T
		return zero, failCode(C.GNSQ_E_INVALID_HANDLE, "invalid %s handle", zero.kindName())
	}
	return o, C.GNSQ_OK
}

// openHandle returns the object behind h if it is not closed.
func openHandle[T handleObj](h unsafe.Pointer) (T, C.int) {
	o, rc := anyHandle[T](h)
	if rc == C.GNSQ_OK && o.base().closed.Load() {
		var zero T
		return zero, failCode(C.GNSQ_E_CLOSED, "%s closed", o.kindName())
	}
	return o, rc
}

// closeHandle is every *_close: see gnsq.h.
func closeHandle[T handleObj](h unsafe.Pointer, timeoutMs C.int) C.int {
	o, rc := anyHandle[T](h)
	if rc != C.GNSQ_OK {
		return rc
	}
	return o.base().close(func() bool { return o.shutdown(joinTimeout(timeoutMs)) })
}

// closeHandleAsync is every *_close_async.
func closeHandleAsync[T handleObj](token *C.uint64_t, h unsafe.Pointer, timeoutMs C.int) C.int {
	o, rc := anyHandle[T](h)
	if rc != C.GNSQ_OK {
		return rc
	}
	return o.base().closeAsync(token, func() bool { return o.shutdown(joinTimeout(timeoutMs)) })
}

// freeHandle is every *_free: closes if needed, then releases the pipe
// and buffers; the handle is stale afterwards.
func freeHandle[T handleObj](h unsafe.Pointer) C.int {
	if h == nil {
		return C.GNSQ_OK
	}
	if inCallback() {
		return refuseInCallback("free")
	}
	o, ok := release[T](h)
	if !ok {
		var zero T
		return failCode(C.GNSQ_E_INVALID_HANDLE, "invalid %s handle", zero.kindName())
	}
	b := o.base()
	b.close(func() bool { return o.shutdown(freeTimeout) })
	b.q.free()
	b.d.free()
	return C.GNSQ_OK
}

// notifyFD is every *_notify_fd (valid until free).
func notifyFD[T handleObj](fd *C.int, h unsafe.Pointer) C.int {
	o, rc := anyHandle[T](h)
	if rc != C.GNSQ_OK {
		return rc
	}
	if fd == nil {
		return failCode(C.GNSQ_E_INVALID_ARG, "fd is NULL")
	}
	*fd = C.int(o.base().q.rfd)
	return C.GNSQ_OK
}

// readBody is every *_read_body (until free).
func readBody[T handleObj](h unsafe.Pointer, token C.uint64_t, dst unsafe.Pointer, n C.size_t) C.int {
	o, rc := anyHandle[T](h)
	if rc != C.GNSQ_OK {
		return rc
	}
	return o.base().q.takeHeld(uint64(token), dst, int(n))
}

// setCallback is every *_set_callback.
func setCallback[T handleObj](h unsafe.Pointer, eventType C.int, fn C.gnsq_callback_t, closure C.uintptr_t) C.int {
	o, rc := openHandle[T](h)
	if rc != C.GNSQ_OK {
		return rc
	}
	return o.base().d.set(eventType, fn, closure)
}

// setEventMask is every *_set_event_mask.
func setEventMask[T handleObj](h unsafe.Pointer, mask C.uint32_t) C.int {
	o, rc := openHandle[T](h)
	if rc != C.GNSQ_OK {
		return rc
	}
	o.base().q.mask.Store(uint32(mask))
	return C.GNSQ_OK
}

// wakeupHandle is every *_wakeup.
func wakeupHandle[T handleObj](h unsafe.Pointer) C.int {
	o, rc := anyHandle[T](h)
	if rc != C.GNSQ_OK {
		return rc
	}
	o.base().q.wakeup()
	return C.GNSQ_OK
}

// joinTimeout: < 0 no limit (0 for Join), 0 a token wait, else ms.
func joinTimeout(ms C.int) time.Duration {
	switch {
	case ms < 0:
		return 0
	case ms == 0:
		return time.Millisecond
	}
	return time.Duration(ms) * time.Millisecond
}
