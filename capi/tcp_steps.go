package main

/*
#include "gnsq.h"
*/
import "C"

import (
	"fmt"
	"os"
	"time"

	gnsq "github.com/libgnsq/libgnsq/core"
)

// The TCP client in gnsq's steps: open (gnsq's connect()), identify,
// auth, read_response, listen; gnsq_tcp_connect is the first, second and
// last in one. One step runs at a time, on the caller's thread or, for
// the *_async forms, on a goroutine that ends in one event. Once
// listening, the frame reader owns the socket: no step starts.

// stepFunc is a step's work. It returns the step's answer (IDENTIFY or
// AUTH JSON, a frame's data) and a value for the completion event (a
// read's frame type).
type stepFunc func(o *tcpObj) (value int64, data []byte, err error)

// readResult is one ReadResponse outcome.
type readResult struct {
	resp gnsq.Response
	err  error
}

// begin admits step: one at a time, none once listening or closing. It
// counts the step in o.reader; the caller calls end, then o.reader.Done.
func (o *tcpObj) begin(step string) C.int {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.shut:
		return failCode(C.GNSQ_E_CLOSED, "tcp client closed")
	case o.listening:
		return failCode(C.GNSQ_E_INVALID_ARG, "%s: the client is listening (frames come as events)", step)
	case o.step != "":
		return failCode(C.GNSQ_E_INVALID_ARG, "%s: %s is still running on this client", step, o.step)
	}
	o.step = step
	o.reader.Add(1)
	return C.GNSQ_OK
}

// end lets the next step begin.
func (o *tcpObj) end() {
	o.mu.Lock()
	o.step = ""
	o.mu.Unlock()
}

// runStep runs step on c's client on the caller's thread.
func runStep(c *C.gnsq_tcp_t, step string, f stepFunc) (*tcpObj, int64, []byte, C.int) {
	o, rc := tcpOf(c)
	if rc == C.GNSQ_OK {
		rc = o.begin(step)
	}
	if rc != C.GNSQ_OK {
		return nil, 0, nil, rc
	}
	defer o.reader.Done()
	defer o.end()
	value, data, err := f(o)
	if err != nil {
		return nil, 0, nil, fail(err)
	}
	return o, value, data, C.GNSQ_OK
}

// startStep runs step on a goroutine. On success *token identifies it and
// exactly one event of type typ with that token follows: code 0, value
// and data the step's; or the error's code and text. A close waits for
// the step, so the event comes before GNSQ_EV_CLOSED.
func startStep(token *C.uint64_t, c *C.gnsq_tcp_t, typ int32, step string, f stepFunc) C.int {
	o, rc := tcpOf(c)
	if rc != C.GNSQ_OK {
		return rc
	}
	if token == nil {
		return failCode(C.GNSQ_E_INVALID_ARG, "token is NULL")
	}
	if rc := o.begin(step); rc != C.GNSQ_OK {
		return rc
	}
	tok := o.q.nextToken()
	go func() {
		defer o.reader.Done()
		ev := event{typ: typ, token: tok, conn: o.c.ID()}
		if value, data, err := f(o); err != nil {
			ev.code, ev.data = int32(codeOf(err)), []byte(err.Error())
		} else {
			ev.value, ev.data = value, data
		}
		o.end() // before the event: its receiver may start the next step
		o.q.push(ev)
	}()
	*token = C.uint64_t(tok)
	return C.GNSQ_OK
}

func (o *tcpObj) open() (int64, []byte, error) { return 0, nil, o.c.Connect() }

// identify returns nsqd's answer as sent (nil for a plain OK).
func (o *tcpObj) identify() (int64, []byte, error) {
	if err := o.noPendingRead("identify"); err != nil {
		return 0, nil, err
	}
	resp, err := o.c.Identify()
	if err != nil || resp == nil {
		return 0, nil, err
	}
	return 0, resp.Raw, nil
}

func (o *tcpObj) auth() (int64, []byte, error) {
	if err := o.noPendingRead("auth"); err != nil {
		return 0, nil, err
	}
	resp, err := o.c.Auth()
	if err != nil {
		return 0, nil, err
	}
	return 0, resp.Raw, nil
}

// noPendingRead refuses a step that reads its own answer while a
// read_response's read waits for a frame: that frame would be lost.
func (o *tcpObj) noPendingRead(step string) error {
	if o.pending != nil {
		return &gnsq.InvalidArgumentError{Reason: step + ": a read_response that timed out still waits for a frame: call read_response first"}
	}
	return nil
}

// readResponse reads one frame, waiting at most timeout (< 0: no limit),
// and returns its type and data. A read that outlasts the wait goes on
// (the connection stays usable): its frame is the next read's.
func (o *tcpObj) readResponse(timeout time.Duration) (int64, []byte, error) {
	if o.pending == nil {
		pending := make(chan readResult, 1)
		o.pending = pending
		o.reader.Add(1) // the step's own count is held: close has not finished waiting
		go func() {
			defer o.reader.Done()
			resp, err := o.c.ReadResponse()
			pending <- readResult{resp, err}
		}()
	}
	var expired <-chan time.Time
	if timeout >= 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	for {
		select {
		case r := <-o.pending:
			o.pending = nil
			if r.err != nil {
				return 0, nil, r.err
			}
			return int64(r.resp.Type), r.resp.Data, nil
		case <-expired:
			if len(o.pending) == 0 { // else the frame came just in time: take it
				return 0, nil, fmt.Errorf("read_response: no frame within %v (the read goes on): %w", timeout, os.ErrDeadlineExceeded)
			}
		}
	}
}

// listen starts the frame reader; it takes over a pending read.
func (o *tcpObj) listen() (int64, []byte, error) {
	if !o.c.IsConnected() {
		return 0, nil, fmt.Errorf("%w: listen needs an open connection", gnsq.ErrNotConnected)
	}
	o.mu.Lock()
	o.listening = true
	o.mu.Unlock()
	o.reader.Add(1) // the step's own count is held
	go o.read(o.pending)
	o.pending = nil
	return 0, nil, nil
}

// readTimeout: < 0 no limit, else ms (0: only a frame already read).
func readTimeout(ms C.int) time.Duration {
	if ms < 0 {
		return -1
	}
	return time.Duration(ms) * time.Millisecond
}

//export gnsqgo_tcp_open
func gnsqgo_tcp_open(c *C.gnsq_tcp_t) (rc C.int) {
	defer recoverInto(&rc)
	_, _, _, rc = runStep(c, "open", (*tcpObj).open)
	return rc
}

//export gnsqgo_tcp_open_async
func gnsqgo_tcp_open_async(token *C.uint64_t, c *C.gnsq_tcp_t) (rc C.int) {
	defer recoverInto(&rc)
	return startStep(token, c, C.GNSQ_EV_STEP_DONE, "open", (*tcpObj).open)
}

//export gnsqgo_tcp_identify
func gnsqgo_tcp_identify(out *C.uint8_t, n C.size_t, held *C.uint64_t, c *C.gnsq_tcp_t) (rc C.int) {
	defer recoverInto(&rc)
	return answerStep(nil, out, n, held, c, "identify", (*tcpObj).identify)
}

//export gnsqgo_tcp_identify_async
func gnsqgo_tcp_identify_async(token *C.uint64_t, c *C.gnsq_tcp_t) (rc C.int) {
	defer recoverInto(&rc)
	return startStep(token, c, C.GNSQ_EV_STEP_DONE, "identify", (*tcpObj).identify)
}

//export gnsqgo_tcp_auth
func gnsqgo_tcp_auth(out *C.uint8_t, n C.size_t, held *C.uint64_t, c *C.gnsq_tcp_t) (rc C.int) {
	defer recoverInto(&rc)
	return answerStep(nil, out, n, held, c, "auth", (*tcpObj).auth)
}

//export gnsqgo_tcp_auth_async
func gnsqgo_tcp_auth_async(token *C.uint64_t, c *C.gnsq_tcp_t) (rc C.int) {
	defer recoverInto(&rc)
	return startStep(token, c, C.GNSQ_EV_STEP_DONE, "auth", (*tcpObj).auth)
}

// answerStep runs a step whose answer goes to the caller's buffer (see
// gnsq.h, "Buffers") and its value to *value, unless value is nil.
func answerStep(value *C.int32_t, out *C.uint8_t, n C.size_t, held *C.uint64_t, c *C.gnsq_tcp_t, step string, f stepFunc) C.int {
	if out == nil && n > 0 {
		return failCode(C.GNSQ_E_INVALID_ARG, "out is NULL")
	}
	o, v, data, rc := runStep(c, step, f)
	if rc != C.GNSQ_OK {
		return rc
	}
	if value != nil {
		*value = C.int32_t(v)
	}
	return o.q.answer(data, out, n, held)
}

//export gnsqgo_tcp_read_response
func gnsqgo_tcp_read_response(frameType *C.int32_t, out *C.uint8_t, n C.size_t, held *C.uint64_t, c *C.gnsq_tcp_t, timeoutMs C.int) (rc C.int) {
	defer recoverInto(&rc)
	if frameType == nil {
		return failCode(C.GNSQ_E_INVALID_ARG, "frame_type is NULL")
	}
	return answerStep(frameType, out, n, held, c, "read_response", func(o *tcpObj) (int64, []byte, error) {
		return o.readResponse(readTimeout(timeoutMs))
	})
}

//export gnsqgo_tcp_read_response_async
func gnsqgo_tcp_read_response_async(token *C.uint64_t, c *C.gnsq_tcp_t, timeoutMs C.int) (rc C.int) {
	defer recoverInto(&rc)
	return startStep(token, c, C.GNSQ_EV_STEP_DONE, "read_response", func(o *tcpObj) (int64, []byte, error) {
		return o.readResponse(readTimeout(timeoutMs))
	})
}

//export gnsqgo_tcp_listen
func gnsqgo_tcp_listen(c *C.gnsq_tcp_t) (rc C.int) {
	defer recoverInto(&rc)
	_, _, _, rc = runStep(c, "listen", (*tcpObj).listen)
	return rc
}
