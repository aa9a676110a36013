package main

/*
#include "gnsq.h"
*/
import "C"

import (
	"unsafe"
)

// Blocking *_poll, *_dispatch and *_run are C functions (wait.c) that wait
// for events in poll(2) on the handle's notify pipe, outside Go: a thread
// blocked inside an exported Go call keeps its P busy and is woken through
// a Go scheduler handoff, which halved a C consumer's throughput. They
// call the step functions below, which never block: a step either returns
// events (or an error), or hands out a wait ticket and the fd to wait on.
// The next step (with or without waiting) ends that ticket.

// Handle kinds, as passed by wait.c.
const (
	kindProducer = 1
	kindConsumer = 2
	kindTCP      = 3
	kindHTTP     = 4
)

// waitTicket is one C thread's wait on a queue (q set; d too for a
// dispatch), or a run's registration with its dispatcher (q nil).
type waitTicket struct {
	q *eventQueue
	d *dispatcher
}

// tickets holds the waits and runs in progress; an id is never 0.
var tickets = newSyncSlots[waitTicket](0, 1<<31-1, 32)

// newTicket registers t (a thread's wait: never 2^32 at once).
func newTicket(t waitTicket) C.uint64_t {
	id, _ := tickets.add(t)
	return C.uint64_t(id)
}

// takeTicket removes *id's ticket (if any) and zeroes *id.
func takeTicket(id *C.uint64_t) (waitTicket, bool) {
	if *id == 0 {
		return waitTicket{}, false
	}
	t, ok := tickets.remove(uint64(*id), nil)
	*id = 0
	return t, ok
}

// queueOf resolves a handle of a kind to its queue and, for producers and
// consumers, its dispatcher. Closed handles resolve: their queued events
// are still handed out.
func queueOf(kind C.int, h unsafe.Pointer) (*eventQueue, *dispatcher, C.int) {
	var o *object
	var name string
	switch kind {
	case kindProducer:
		o, name = objectOf[*producerObj](h), "producer"
	case kindConsumer:
		o, name = objectOf[*consumerObj](h), "consumer"
	case kindTCP:
		o, name = objectOf[*tcpObj](h), "tcp client"
	case kindHTTP:
		o, name = objectOf[*httpObj](h), "http"
	}
	if o == nil {
		return nil, nil, failCode(C.GNSQ_E_INVALID_HANDLE, "invalid %s handle", name)
	}
	return o.q, &o.d, C.GNSQ_OK
}

// objectOf is the object of h if h is a live handle of type T.
func objectOf[T interface{ base() *object }](h unsafe.Pointer) *object {
	v, ok := lookup[T](h)
	if !ok {
		return nil
	}
	return v.base()
}

//export libgnsq_poll_step
func libgnsq_poll_step(kind C.int, h unsafe.Pointer, evs *C.gnsq_event_t, max C.int, buf *C.uint8_t, n C.size_t,
	wait C.int, ticket *C.uint64_t, fd *C.int) (rc C.int) {
	defer recoverInto(&rc)
	if t, ok := takeTicket(ticket); ok {
		t.q.endWait()
	}
	q, _, rc := queueOf(kind, h)
	if rc != C.GNSQ_OK {
		return rc
	}
	for {
		got := q.take(evs, int(max), buf, int(n))
		if got != 0 || wait == 0 {
			return got
		}
		switch f, next := q.beginWait(); next {
		case waitOnFD:
			*ticket, *fd = newTicket(waitTicket{q: q}), C.int(f)
			return 0
		case wokenUp:
			return 0
		}
	}
}

//export libgnsq_dispatch_step
func libgnsq_dispatch_step(kind C.int, h unsafe.Pointer, wait C.int, ticket *C.uint64_t, fd *C.int, stop *C.int, run *C.uint64_t) (rc C.int) {
	defer recoverInto(&rc)
	if inCallback() {
		return refuseInCallback("dispatch")
	}
	// The dispatcher comes from a ticket if there is one (the handle may be
	// gone by now), so a waiting dispatch or a run stops counting as active
	// only with mu held: a close cannot return between its wake-up and its
	// callbacks.
	var d *dispatcher
	if t, ok := takeTicket(ticket); ok {
		d = t.d
		d.mu.Lock()
		t.q.endWait()
		d.leave()
	} else if run != nil && *run != 0 {
		if t, _ := tickets.get(uint64(*run)); t.d != nil {
			d = t.d
			d.mu.Lock()
		}
	}
	q, hd, rc := queueOf(kind, h)
	if rc == C.GNSQ_OK && d != nil && d != hd {
		rc = failCode(C.GNSQ_E_INVALID_HANDLE, "the handle changed during a dispatch")
	}
	if rc != C.GNSQ_OK {
		if d != nil {
			endRun(run)
			d.mu.Unlock()
		}
		return rc
	}
	if d == nil {
		d = hd
		d.mu.Lock()
	}
	defer d.mu.Unlock()
	if run != nil && *run == 0 {
		d.active++ // a run counts as active until it ends
		*run = newTicket(waitTicket{d: d})
	}
	for {
		got := d.runOnce(q, stop)
		if got < 0 || (stop != nil && *stop != 0) {
			endRun(run) // the run ends with this step
			return got
		}
		if got != 0 || wait == 0 {
			return got
		}
		switch f, next := q.beginWait(); next {
		case waitOnFD:
			d.active++
			*ticket, *fd = newTicket(waitTicket{q: q, d: d}), C.int(f)
			return 0
		case wokenUp:
			if run != nil {
				endRun(run)
				return C.GNSQ_E_INTERRUPTED
			}
			return 0
		}
	}
}

// endRun ends a run's registration (its dispatcher's mu held), if any.
func endRun(run *C.uint64_t) {
	if run == nil {
		return
	}
	if t, ok := takeTicket(run); ok {
		t.d.leave()
	}
}
