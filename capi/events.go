package main

/*
#include "os.h"
#include "publish.h"
*/
import "C"

import (
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	gnsq "github.com/libgnsq/libgnsq/core"
)

// event is one queued gnsq_event_t with its data.
type event struct {
	typ, code int32
	conn      uint32 // the nsqd connection's id, 0 if none
	token     uint64
	timestamp int64
	value     int64
	attempts  uint16
	id        [16]byte
	data      []byte
}

// alwaysQueued are the event types a mask cannot turn off (outcomes).
const alwaysQueued = 1<<C.GNSQ_EV_MESSAGE | 1<<C.GNSQ_EV_PUBLISHED | 1<<C.GNSQ_EV_CLOSED |
	1<<C.GNSQ_EV_HTTP_DONE | 1<<C.GNSQ_EV_CONNECT_DONE | 1<<C.GNSQ_EV_STEP_DONE

// eventQueue is a handle's queue of events, polled by the host, with the
// notify pipe written when it goes from empty to non-empty. Blocking
// polls wait on that pipe too, in C (see wait.c).
type eventQueue struct {
	mu     sync.Mutex
	events []event
	head   int
	sealed bool              // nothing more is queued (after close)
	held   map[uint64][]byte // data handed out as GNSQ_EVF_HELD, by token
	nHeld  atomic.Int32      // len(held), read without mu
	mask   atomic.Uint32
	rfd    int
	wfd    int
	// waiters counts C threads waiting on rfd; after free the pipe is
	// closed only when none is left, so no wait ever sees its number reused.
	waiters int
	freed   bool
	// queuedLogs counts the LOG events queued, droppedLogs those refused
	// since the last one queued (see pushLog).
	queuedLogs, droppedLogs int
	// woken is set by wakeup: the next wait (or the one in progress) ends.
	woken bool
}

func newEventQueue() (*eventQueue, error) {
	var cfds [2]C.int
	if rc := C.libgnsq_os_pipe(&cfds[0]); rc != 0 {
		return nil, syscall.Errno(-rc)
	}
	q := &eventQueue{rfd: int(cfds[0]), wfd: int(cfds[1]), held: map[uint64][]byte{}}
	q.mask.Store(^uint32(0))
	return q, nil
}

// nextToken returns a new token, unique in the process (C's publishes
// take theirs from the same counter, publish.c).
func (q *eventQueue) nextToken() uint64 {
	return atomic.AddUint64((*uint64)(unsafe.Pointer(&C.libgnsq_tokens)), 1)
}

// wants reports whether events of type typ are queued (see the mask).
func (q *eventQueue) wants(typ int32) bool {
	return (q.mask.Load()|alwaysQueued)&(1<<uint(typ)) != 0
}

// push queues ev unless the queue is sealed or masks its type.
func (q *eventQueue) push(ev event) {
	if q.wants(ev.typ) {
		q.mu.Lock()
		q.pushLocked(ev)
		q.mu.Unlock()
	}
}

// pushID is push for an event about a message id (FINISHED, REQUEUED:
// one per message), built only when its type is wanted.
func (q *eventQueue) pushID(typ int32, conn uint32, id gnsq.MessageID, value int64) {
	if q.wants(typ) {
		q.push(event{typ: typ, conn: conn, id: id, value: value})
	}
}

func (q *eventQueue) pushLocked(ev event) {
	if q.sealed {
		return
	}
	wasEmpty := q.head == len(q.events)
	q.events = append(q.events, ev)
	if wasEmpty {
		q.notify()
	}
}

// seal queues ev as the last event; nothing is queued after it. Both
// happen under one lock: a poll that took ev must find the queue sealed
// (GNSQ_E_CLOSED), or it would wait for a push that never comes.
func (q *eventQueue) seal(ev event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pushLocked(ev)
	q.sealed = true
}

// take copies queued events into evs and their data into buf, without
// waiting: the count, 0 when the queue is empty, GNSQ_E_CLOSED once it is
// sealed and empty. See gnsq.h (*_poll).
func (q *eventQueue) take(evs *C.gnsq_event_t, max int, buf *C.uint8_t, bufLen int) C.int {
	if evs == nil || max <= 0 || (buf == nil && bufLen > 0) {
		return failCode(C.GNSQ_E_INVALID_ARG, "poll needs an event array, max > 0 and a buffer")
	}
	out := unsafe.Slice(evs, max)
	var data []byte
	if bufLen > 0 {
		data = unsafe.Slice((*byte)(unsafe.Pointer(buf)), bufLen)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	n, off := 0, 0
	for n < max && q.head < len(q.events) {
		ev := &q.events[q.head]
		flags := 0
		if off+len(ev.data) > len(data) {
			if n > 0 {
				break // stays queued for the next poll
			}
			if holdable(ev.typ) {
				if ev.token == 0 {
					ev.token = q.nextToken()
				}
				q.held[ev.token] = ev.data
				q.nHeld.Store(int32(len(q.held)))
				flags = C.GNSQ_EVF_HELD
			} else {
				ev.data = ev.data[:len(data)] // a text: give what fits
				flags = C.GNSQ_EVF_TRUNCATED
			}
		}
		o := &out[n]
		*o = C.gnsq_event_t{}
		o._type = C.int32_t(ev.typ)
		o.code = C.int32_t(ev.code)
		o.token = C.uint64_t(ev.token)
		o.timestamp = C.int64_t(ev.timestamp)
		o.value = C.int64_t(ev.value)
		o.data_len = C.uint32_t(len(ev.data))
		o.attempts = C.uint16_t(ev.attempts)
		o.conn = C.uint32_t(ev.conn)
		o.flags = C.uint16_t(flags)
		*(*[16]byte)(unsafe.Pointer(&o.id)) = ev.id
		if flags != C.GNSQ_EVF_HELD {
			o.data_offset = C.uint32_t(off)
			off += copy(data[off:], ev.data)
		}
		if ev.typ == C.GNSQ_EV_LOG {
			q.queuedLogs--
		}
		*ev = event{}
		q.head++
		n++
	}
	if q.head == len(q.events) {
		q.events, q.head = q.events[:0], 0
	}
	if n == 0 && q.sealed {
		return failCode(C.GNSQ_E_CLOSED, "closed")
	}
	return C.int(n)
}

// notify makes the pipe readable (under mu, while the pipe is open).
func (q *eventQueue) notify() {
	var b [1]byte
	_, _ = syscall.Write(q.wfd, b[:]) // EAGAIN: the pipe is readable already
}

// What beginWait decided.
const (
	waitOnFD  = iota // wait for the fd, then step again
	takeAgain        // events came meanwhile, or the queue closed
	wokenUp          // wakeup was called: return without events
)

// beginWait prepares a C thread's wait for a push: it empties the pipe
// and, if the queue is still empty and open, counts the thread as a
// waiter and returns the fd to wait on. A push after this finds the queue
// empty and writes the pipe. Emptying the pipe is why a host must not
// also wait on the notify fd while blocked in poll. A pending wakeup is
// consumed instead of waiting.
func (q *eventQueue) beginWait() (int, int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.freed || q.sealed || q.head < len(q.events) {
		return -1, takeAgain
	}
	if q.woken {
		q.woken = false
		return -1, wokenUp
	}
	var drain [64]byte
	for {
		if n, _ := syscall.Read(q.rfd, drain[:]); n <= 0 {
			break
		}
	}
	if q.head < len(q.events) {
		return -1, takeAgain
	}
	q.waiters++
	return q.rfd, waitOnFD
}

// wakeup makes the thread blocked in a poll or dispatch of this queue
// return, or the next one that would block, once.
func (q *eventQueue) wakeup() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.freed {
		q.woken = true
		q.notify()
	}
}

// endWait ends a wait begun by beginWait; the last waiter of a freed
// queue closes the pipe.
func (q *eventQueue) endWait() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.waiters--
	if q.freed && q.waiters == 0 {
		q.closePipeLocked()
	}
}

// hold keeps data for takeHeld under a new token.
func (q *eventQueue) hold(data []byte) uint64 {
	token := q.nextToken()
	q.mu.Lock()
	defer q.mu.Unlock()
	q.held[token] = data
	q.nHeld.Store(int32(len(q.held)))
	return token
}

// answer copies data into (out, n) if it fits, else holds it under *held
// (dropped when held is NULL); it returns data's length. See gnsq.h, "Buffers".
func (q *eventQueue) answer(data []byte, out *C.uint8_t, n C.size_t, held *C.uint64_t) C.int {
	switch {
	case len(data) <= int(n):
		if len(data) > 0 {
			copy(unsafe.Slice((*byte)(unsafe.Pointer(out)), int(n)), data)
		}
	case held != nil:
		*held = C.uint64_t(q.hold(data))
	}
	return C.int(len(data))
}

// dropHeld releases held data nobody will read.
func (q *eventQueue) dropHeld(token uint64) {
	if q.nHeld.Load() == 0 {
		return // the usual case, without taking mu
	}
	q.mu.Lock()
	delete(q.held, token)
	q.nHeld.Store(int32(len(q.held)))
	q.mu.Unlock()
}

// takeHeld copies held data into dst and releases it.
func (q *eventQueue) takeHeld(token uint64, dst unsafe.Pointer, n int) C.int {
	q.mu.Lock()
	defer q.mu.Unlock()
	data, ok := q.held[token]
	if !ok {
		return failCode(C.GNSQ_E_UNKNOWN_TOKEN, "no held data with token %d", token)
	}
	if n < len(data) || (dst == nil && len(data) > 0) {
		return C.int(len(data)) // stays held: see gnsq.h, "Buffers"
	}
	if len(data) > 0 {
		copy(unsafe.Slice((*byte)(dst), n), data)
	}
	delete(q.held, token)
	q.nHeld.Store(int32(len(q.held)))
	return C.int(len(data))
}

// free seals the queue at handle free, wakes waiting polls and closes the
// pipe, at once or when the last waiter leaves.
func (q *eventQueue) free() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.freed {
		return
	}
	q.sealed, q.freed = true, true
	q.notify()
	if q.waiters == 0 {
		q.closePipeLocked()
	}
}

func (q *eventQueue) closePipeLocked() {
	syscall.Close(q.rfd)
	syscall.Close(q.wfd)
	q.rfd, q.wfd = -1, -1
}

// holdable: event types whose data is held when it does not fit (message
// bodies, HTTP, IDENTIFY and AUTH answers, frames); the data of the others
// is a short text.
func holdable(typ int32) bool {
	switch typ {
	case C.GNSQ_EV_MESSAGE, C.GNSQ_EV_GIVING_UP, C.GNSQ_EV_HTTP_DONE, C.GNSQ_EV_CONNECT_DONE, C.GNSQ_EV_STEP_DONE:
		return true
	}
	return false
}

// errorEvent is a GNSQ_EV_ERROR for err.
func errorEvent(conn uint32, err error) event {
	return event{typ: C.GNSQ_EV_ERROR, code: int32(codeOf(err)), conn: conn, data: []byte(err.Error())}
}
