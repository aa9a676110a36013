package main

/*
#include "publish.h"
*/
import "C"

import (
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/libgnsq/libgnsq/internal/producerlink"
	"github.com/libgnsq/libgnsq/internal/protocol"
)

// Synchronous and bounded publishes come from publish.c as C structs:
// with one P on a list, announced through a doorbell fd, so that the calling
// thread never enters Go for them (publish.c says why); one goroutine
// drains the list and starts a goroutine per publish (each may wait for a
// connection). With more Ps a synchronous publish is handed over on the
// caller's thread (libgnsq_submit_now), which saves the goroutine's wake-up.

func init() {
	keepTwoPs()
	setWaitFlags()
	if fd := C.libgnsq_submit_fd(); fd >= 0 { // else queued publishes fail at once (publish.c)
		go drainPubs(os.NewFile(uintptr(fd), "libgnsq-publishes"))
	}
}

// setWaitFlags tells publish.c how a synchronous publish may wait: on
// the caller's thread only with more than one P (the thread keeps its P
// while it waits), and spinning only with another CPU to answer on
// meanwhile.
func setWaitFlags() {
	setFlag(&C.libgnsq_direct_ok, runtime.GOMAXPROCS(0) > 1)
	setFlag(&C.libgnsq_spin_ok, runtime.NumCPU() > 1)
}

func setFlag(flag *C.int32_t, on bool) {
	var v int32
	if on {
		v = 1
	}
	atomic.StoreInt32((*int32)(unsafe.Pointer(flag)), v)
}

func drainPubs(f *os.File) {
	var b [8]byte
	for {
		if _, err := f.Read(b[:]); err != nil {
			time.Sleep(time.Millisecond) // not expected from the doorbell; never spin on it
			continue
		}
		for pub := C.libgnsq_take_pubs(); pub != nil; {
			next := pub.next
			go submitGuarded(pub)
			pub = next
		}
	}
}

// libgnsq_submit_now runs submitPub on the calling C thread.
//
//export libgnsq_submit_now
func libgnsq_submit_now(pub *C.struct_libgnsq_pub) { submitGuarded(pub) }

// submitGuarded is submitPub with a panic turned into the publish's
// outcome (a no-op if it already has one: finishing is idempotent).
func submitGuarded(pub *C.struct_libgnsq_pub) {
	defer func() {
		if r := recover(); r != nil {
			finishPub(pub, C.GNSQ_E_INTERNAL, fmt.Sprintf("libgnsq internal error: %v", r))
		}
	}()
	submitPub(pub)
}

// submitPub hands one publish to its producer; its outcome is recorded in
// pub (and becomes an event if the caller detached).
func submitPub(pub *C.struct_libgnsq_pub) {
	o, ok := lookup[*producerObj](unsafe.Pointer(pub.p))
	if !ok {
		finishPub(pub, C.GNSQ_E_INVALID_HANDLE, "invalid producer handle")
		return
	}
	o.submitting.RLock()
	defer o.submitting.RUnlock()
	if o.closed.Load() {
		finishPub(pub, C.GNSQ_E_CLOSED, "producer closed")
		return
	}
	cmd, err := pubCommand(pub)
	if err != nil {
		finishPub(pub, codeOf(err), err.Error())
		return
	}
	if C.libgnsq_claim_pub(pub) == 0 {
		C.libgnsq_release_pub(pub) // the caller gave up before it was sent
		return
	}
	// The wait for a connection ends a little before the caller's
	// deadline, so that the caller gets its outcome (no connection), not
	// a timeout with the outcome unknown.
	ctx, cancel := timeoutContext(C.libgnsq_pub_connect_ms(pub))
	defer cancel()
	if err := producerlink.Send(o.p, ctx, cmd, pub.flush_later == 0, func(err error) { o.completePub(pub, err) }); err != nil {
		o.completePub(pub, err)
	}
}

// pubCommand builds the PUB, DPUB or MPUB of pub (copying from C memory).
func pubCommand(pub *C.struct_libgnsq_pub) (*protocol.Command, error) {
	topic := C.GoString(pub.topic)
	lens := unsafe.Slice(pub.lens, int(pub.n))
	total := 0
	for _, n := range lens {
		total += int(n) // below 2 GiB: publish.c refused larger
	}
	// One copy of the bodies (back to back in pub), sliced per body.
	data := C.GoBytes(unsafe.Pointer(pub.data), C.int(total))
	bodies := make([][]byte, len(lens))
	for i, n := range lens {
		bodies[i], data = data[:n:n], data[n:]
	}
	return producerlink.Command(topic, time.Duration(pub.defer_ms)*time.Millisecond, bodies, pub.multi != 0)
}

// finishPub records an outcome decided before pub was sent (the caller
// cannot have detached yet) and releases the library's reference.
func finishPub(pub *C.struct_libgnsq_pub, code C.int, text string) {
	if setPubOutcome(pub, code, text) >= 0 {
		C.libgnsq_release_pub(pub)
	}
}

// completePub records the outcome of a sent publish: for a caller that
// left a bounded wait, as its GNSQ_EV_PUBLISHED event.
func (o *producerObj) completePub(pub *C.struct_libgnsq_pub, err error) {
	var code C.int
	var text string
	if err != nil {
		code, text = codeOf(err), err.Error()
	}
	old := setPubOutcome(pub, code, text)
	if old < 0 {
		return // finished already
	}
	if old&C.PUB_DETACHED != 0 {
		o.q.push(event{typ: C.GNSQ_EV_PUBLISHED, token: uint64(pub.token), code: int32(code), data: []byte(text)})
	}
	C.libgnsq_release_pub(pub)
}

// setPubOutcome stores code and text in pub and wakes its caller; it
// returns pub's flags from before, or -1 if pub had an outcome already.
func setPubOutcome(pub *C.struct_libgnsq_pub, code C.int, text string) C.int32_t {
	var p *C.char
	if text != "" {
		b := []byte(text)
		p = (*C.char)(unsafe.Pointer(&b[0]))
	}
	return C.libgnsq_finish_pub(pub, C.int32_t(code), p, C.size_t(len(text)))
}
