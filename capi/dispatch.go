package main

/*
#include <stdlib.h>
#include "gnsq.h"
int libgnsq_in_callback(void);
int libgnsq_invoke(gnsq_callback_t cb, const gnsq_event_t *ev, const uint8_t *data, uintptr_t closure);
*/
import "C"

import (
	"sync"
	"unsafe"
)

const (
	dispatchEvents = 256
	dispatchBuffer = 1 << 20
)

// dispatcher runs host callbacks for a handle's events on the thread that
// calls dispatch. Close waits on mu, so no callback runs after it returns.
type dispatcher struct {
	mu       sync.Mutex // held by a running dispatch
	cbMu     sync.Mutex // guards cbs
	cbs      [C.GNSQ_EV_PUBLISHED + 1]callback
	evs      *C.gnsq_event_t // C memory, allocated on first dispatch
	buf      *C.uint8_t
	stopWith C.int
}

type callback struct {
	fn      C.gnsq_callback_t
	closure C.uintptr_t // the host's pointer, kept as an integer: never dereferenced here
}

func inCallback() bool { return C.libgnsq_in_callback() != 0 }

func refuseInCallback(what string) C.int {
	return failCode(C.GNSQ_E_IN_CALLBACK, "%s called from inside a libgnsq callback", what)
}

func (d *dispatcher) set(eventType C.int, fn C.gnsq_callback_t, closure C.uintptr_t) C.int {
	if eventType < 0 || int(eventType) >= len(d.cbs) {
		return failCode(C.GNSQ_E_INVALID_ARG, "no event type %d", eventType)
	}
	d.cbMu.Lock()
	d.cbs[eventType] = callback{fn: fn, closure: closure}
	d.cbMu.Unlock()
	return C.GNSQ_OK
}

// dispatch polls q once and runs the callbacks of the events it got.
func (d *dispatcher) dispatch(q *eventQueue, timeoutMs C.int) C.int {
	if inCallback() {
		return refuseInCallback("dispatch")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.evs == nil {
		d.evs = (*C.gnsq_event_t)(C.calloc(dispatchEvents, C.size_t(unsafe.Sizeof(C.gnsq_event_t{}))))
		d.buf = (*C.uint8_t)(C.malloc(dispatchBuffer))
	}
	n := q.poll(d.evs, dispatchEvents, int(timeoutMs), d.buf, dispatchBuffer)
	if n <= 0 {
		return n
	}
	d.cbMu.Lock()
	cbs := d.cbs
	d.cbMu.Unlock()
	evs := unsafe.Slice(d.evs, int(n))
	for i := range evs {
		ev := &evs[i]
		cb := cbs[0]
		if t := int(ev._type); t < len(cbs) && cbs[t].fn != nil {
			cb = cbs[t]
		}
		if cb.fn == nil {
			continue
		}
		var data *C.uint8_t
		if ev.flags&C.GNSQ_EVF_HELD == 0 {
			data = (*C.uint8_t)(unsafe.Add(unsafe.Pointer(d.buf), uintptr(ev.data_offset)))
		}
		if rc := C.libgnsq_invoke(cb.fn, ev, data, cb.closure); rc != 0 && d.stopWith == 0 {
			d.stopWith = rc
		}
	}
	return n
}

// run dispatches until the queue is closed (0) or a callback asks to stop.
func (d *dispatcher) run(q *eventQueue) C.int {
	for {
		rc := d.dispatch(q, -1)
		if rc == C.GNSQ_E_CLOSED {
			return C.GNSQ_OK
		}
		if rc < 0 {
			return rc
		}
		d.mu.Lock()
		stop := d.stopWith
		d.stopWith = 0
		d.mu.Unlock()
		if stop != 0 {
			return stop
		}
	}
}

// waitIdle returns once no dispatch is running (close calls it last).
func (d *dispatcher) waitIdle() {
	d.mu.Lock()
	d.mu.Unlock()
}

// free releases the C buffers (at handle free).
func (d *dispatcher) free() {
	d.mu.Lock()
	defer d.mu.Unlock()
	C.free(unsafe.Pointer(d.evs))
	C.free(unsafe.Pointer(d.buf))
	d.evs, d.buf = nil, nil
}
