package main

/*
#include "gnsq.h"
int libgnsq_wait_readable(int fd, int timeout_ms);
*/
import "C"

import (
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// event is one queued gnsq_event_t with its data.
type event struct {
	typ, code int32
	token     uint64
	timestamp int64
	value     int64
	attempts  uint16
	id        [16]byte
	data      []byte
}

// alwaysQueued are the event types a mask cannot turn off (outcomes).
const alwaysQueued = 1<<C.GNSQ_EV_MESSAGE | 1<<C.GNSQ_EV_PUBLISHED | 1<<C.GNSQ_EV_CLOSED

// eventQueue is a handle's queue of events, polled by the host, with the
// notify pipe written when it goes from empty to non-empty. A blocking
// poll waits on that pipe too.
type eventQueue struct {
	mu     sync.Mutex
	events []event
	head   int
	sealed bool              // nothing more is queued (after close)
	held   map[uint64][]byte // data handed out as GNSQ_EVF_HELD, by token
	mask   atomic.Uint32
	// fdMu is held shared by blocking polls while they wait on rfd, and
	// exclusively by closeFDs, so a descriptor is never closed (and its
	// number reused) under a waiting poll.
	fdMu   sync.RWMutex
	rfd    int
	wfd    int
	tokens atomic.Uint64 // source of tokens for this handle
}

func newEventQueue() (*eventQueue, error) {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		return nil, err
	}
	q := &eventQueue{rfd: fds[0], wfd: fds[1], held: map[uint64][]byte{}}
	q.mask.Store(^uint32(0))
	return q, nil
}

func (q *eventQueue) nextToken() uint64 { return q.tokens.Add(1) }

// wants reports whether events of type typ are queued (see the mask).
func (q *eventQueue) wants(typ int32) bool {
	return (q.mask.Load()|alwaysQueued)&(1<<uint(typ)) != 0
}

// push queues ev unless the queue is sealed or masks its type.
func (q *eventQueue) push(ev event) {
	if !q.wants(ev.typ) {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.sealed {
		return
	}
	wasEmpty := q.head == len(q.events)
	q.events = append(q.events, ev)
	if wasEmpty {
		q.notify()
	}
}

// seal queues ev as the last event; nothing is queued after it.
func (q *eventQueue) seal(ev event) {
	q.push(ev)
	q.mu.Lock()
	q.sealed = true
	q.mu.Unlock()
}

// poll copies events into evs and their data into buf; see gnsq.h.
func (q *eventQueue) poll(evs *C.gnsq_event_t, max int, timeoutMs int, buf *C.uint8_t, bufLen int) C.int {
	if evs == nil || max <= 0 || (buf == nil && bufLen > 0) {
		return failCode(C.GNSQ_E_INVALID_ARG, "poll needs an event array, max > 0 and a buffer")
	}
	out := unsafe.Slice(evs, max)
	var data []byte
	if bufLen > 0 {
		data = unsafe.Slice((*byte)(unsafe.Pointer(buf)), bufLen)
	}
	var deadline time.Time
	if timeoutMs > 0 {
		deadline = time.Now().Add(time.Duration(timeoutMs) * time.Millisecond)
	}
	for {
		q.mu.Lock()
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
			o.flags = C.uint16_t(flags)
			for i, b := range ev.id {
				o.id[i] = C.uint8_t(b)
			}
			if flags != C.GNSQ_EVF_HELD {
				o.data_offset = C.uint32_t(off)
				off += copy(data[off:], ev.data)
			}
			*ev = event{}
			q.head++
			n++
		}
		if q.head == len(q.events) {
			q.events, q.head = q.events[:0], 0
		}
		sealed := q.sealed
		q.mu.Unlock()
		if n > 0 {
			return C.int(n)
		}
		if sealed {
			return failCode(C.GNSQ_E_CLOSED, "closed")
		}
		if timeoutMs == 0 {
			return 0
		}
		if !q.waitPush(deadline) {
			return 0
		}
	}
}

// notify makes the pipe readable; callers hold mu (unsealed) or fdMu.
func (q *eventQueue) notify() {
	var b [1]byte
	_, _ = syscall.Write(q.wfd, b[:]) // EAGAIN: the pipe is readable already
}

// waitPush waits on the notify pipe for a push, or until the deadline
// (zero: no limit); false once the deadline has passed. It empties the
// pipe first, so a host must not wait on the notify fd in one thread while
// another blocks in poll. Spurious wake-ups return true: poll re-checks.
func (q *eventQueue) waitPush(deadline time.Time) bool {
	timeoutMs := -1
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return false
		}
		timeoutMs = int((d + time.Millisecond - 1) / time.Millisecond)
	}
	q.fdMu.RLock()
	defer q.fdMu.RUnlock()
	if q.rfd < 0 {
		return true // freed: sealed, poll returns
	}
	var drain [64]byte
	for {
		if n, _ := syscall.Read(q.rfd, drain[:]); n <= 0 {
			break
		}
	}
	// A push after this check finds the queue empty and writes the pipe.
	q.mu.Lock()
	ready := q.sealed || q.head < len(q.events)
	q.mu.Unlock()
	if !ready {
		C.libgnsq_wait_readable(C.int(q.rfd), C.int(timeoutMs))
	}
	return true
}

// dropHeld releases held data nobody will read.
func (q *eventQueue) dropHeld(token uint64) {
	q.mu.Lock()
	delete(q.held, token)
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
		return failCode(C.GNSQ_E_BUFFER_TOO_SMALL, "held data is %d bytes, buffer %d", len(data), n)
	}
	if len(data) > 0 {
		copy(unsafe.Slice((*byte)(dst), n), data)
	}
	delete(q.held, token)
	return C.int(len(data))
}

// closeFDs closes the notify pipe (at free): it seals the queue, wakes
// blocked polls and closes the pipe once none is waiting on it.
func (q *eventQueue) closeFDs() {
	q.mu.Lock()
	q.sealed = true
	q.mu.Unlock()
	q.fdMu.RLock()
	if q.wfd >= 0 {
		q.notify()
	}
	q.fdMu.RUnlock()
	q.fdMu.Lock()
	defer q.fdMu.Unlock()
	if q.rfd >= 0 {
		syscall.Close(q.rfd)
		syscall.Close(q.wfd)
		q.rfd, q.wfd = -1, -1
	}
}

// holdable: event types whose data is held when it does not fit (message
// bodies, HTTP answers); the data of the others is a short text.
func holdable(typ int32) bool {
	return typ == C.GNSQ_EV_MESSAGE || typ == C.GNSQ_EV_GIVING_UP || typ == C.GNSQ_EV_HTTP_DONE
}

// errorEvent is a GNSQ_EV_ERROR for err.
func errorEvent(err error) event {
	return event{typ: C.GNSQ_EV_ERROR, code: int32(codeOf(err)), data: []byte(err.Error())}
}
