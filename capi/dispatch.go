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
// calls dispatch. A dispatch holds mu while it runs callbacks, and counts
// as active while it waits for events, and a run for as long as it runs;
// close waits for both, then marks the dispatcher closed, so no callback
// runs once it returns.
type dispatcher struct {
	mu     sync.Mutex                   // held while a dispatch takes events and runs callbacks
	idle   sync.Cond                    // on mu: signalled when active drops
	active int                          // dispatches waiting for events, and runs (libgnsq_dispatch_step)
	closed bool                         // close has returned: no more callbacks
	cbMu   sync.Mutex                   // guards cbs
	cbs    [C.GNSQ_EV_LAST + 1]callback // by event type
	evs    *C.gnsq_event_t              // C memory, allocated on first dispatch
	buf    *C.uint8_t
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

// runOnce takes one batch of q's events without waiting and runs their
// callbacks (under mu): the number of events, or an error. stop gets the
// first non-zero callback result.
func (d *dispatcher) runOnce(q *eventQueue, stop *C.int) C.int {
	if d.closed {
		return failCode(C.GNSQ_E_CLOSED, "closed")
	}
	if d.evs == nil {
		d.evs = (*C.gnsq_event_t)(C.calloc(dispatchEvents, C.size_t(unsafe.Sizeof(C.gnsq_event_t{}))))
		d.buf = (*C.uint8_t)(C.malloc(dispatchBuffer))
	}
	n := q.take(d.evs, dispatchEvents, d.buf, dispatchBuffer)
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
			if ev.flags&C.GNSQ_EVF_HELD != 0 {
				q.dropHeld(uint64(ev.token)) // nobody will read it
			}
			continue
		}
		var data *C.uint8_t
		if ev.flags&C.GNSQ_EVF_HELD == 0 {
			data = (*C.uint8_t)(unsafe.Add(unsafe.Pointer(d.buf), uintptr(ev.data_offset)))
		}
		if rc := C.libgnsq_invoke(cb.fn, ev, data, cb.closure); rc != 0 && stop != nil && *stop == 0 {
			*stop = rc
		}
	}
	return n
}

// waitIdle returns once no dispatch or run is running or waiting, and
// closes the dispatcher (close calls it after sealing the queue, which
// wakes the waiting ones; a run ends once it dispatched GNSQ_EV_CLOSED).
func (d *dispatcher) waitIdle() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.active > 0 {
		d.idleCond().Wait()
	}
	d.closed = true
}

// leave ends one active dispatch or run (with mu held).
func (d *dispatcher) leave() {
	d.active--
	d.idleCond().Broadcast()
}

// idleCond is idle bound to mu (called with mu held).
func (d *dispatcher) idleCond() *sync.Cond {
	if d.idle.L == nil {
		d.idle.L = &d.mu
	}
	return &d.idle
}

// free releases the C buffers (at handle free).
func (d *dispatcher) free() {
	d.mu.Lock()
	defer d.mu.Unlock()
	C.free(unsafe.Pointer(d.evs))
	C.free(unsafe.Pointer(d.buf))
	d.evs, d.buf = nil, nil
}
