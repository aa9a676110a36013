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
	"github.com/libgnsq/libgnsq/internal/syncutil"
)

type httpObj struct {
	object
	nsqd    *gnsq.NsqdHTTPClient // one of the two is set
	lookupd *gnsq.LookupdClient

	ctx     context.Context // canceled by close: ends pending requests
	cancel  context.CancelFunc
	pending sync.WaitGroup
}

// httpRequest is a copied gnsq_http_request_t.
type httpRequest struct {
	op                   C.int32_t
	topic, channel, node string
	bodies               [][]byte
	deferMs              int64
}

func copyRequest(r *C.gnsq_http_request_t) (httpRequest, error) {
	req := httpRequest{op: r.op, deferMs: int64(r.defer_ms)}
	for _, f := range []struct {
		dst *string
		src *C.char
	}{{&req.topic, r.topic}, {&req.channel, r.channel}, {&req.node, r.node}} {
		if f.src != nil {
			*f.dst = C.GoString(f.src)
		}
	}
	var err error
	req.bodies, err = bodies((*unsafe.Pointer)(unsafe.Pointer(r.bodies)), r.lens, r.n)
	return req, err
}

var errWrongKind = &gnsq.InvalidArgumentError{Reason: "this operation is not offered by this kind of HTTP client"}

// do performs one request with the gnsq client of the right kind.
func (o *httpObj) do(ctx context.Context, r httpRequest) ([]byte, error) {
	if n, l := o.nsqd, o.lookupd; n != nil {
		switch r.op {
		case C.GNSQ_HTTP_PING:
			return n.Ping(ctx)
		case C.GNSQ_HTTP_INFO:
			return n.Info(ctx)
		case C.GNSQ_HTTP_STATS:
			return n.Stats(ctx, r.topic, r.channel)
		case C.GNSQ_HTTP_STATS_TEXT:
			return n.StatsText(ctx, r.topic, r.channel)
		case C.GNSQ_HTTP_PUBLISH:
			if len(r.bodies) != 1 {
				return nil, &gnsq.InvalidArgumentError{Reason: "PUBLISH takes exactly one body"}
			}
			return n.Publish(ctx, r.topic, r.bodies[0], time.Duration(r.deferMs)*time.Millisecond)
		case C.GNSQ_HTTP_MULTIPUBLISH, C.GNSQ_HTTP_MULTIPUBLISH_BINARY:
			return n.MultiPublish(ctx, r.topic, r.bodies, r.op == C.GNSQ_HTTP_MULTIPUBLISH_BINARY)
		}
		var op func(context.Context, string) error
		var chOp func(context.Context, string, string) error
		switch r.op {
		case C.GNSQ_HTTP_CREATE_TOPIC:
			op = n.CreateTopic
		case C.GNSQ_HTTP_DELETE_TOPIC:
			op = n.DeleteTopic
		case C.GNSQ_HTTP_EMPTY_TOPIC:
			op = n.EmptyTopic
		case C.GNSQ_HTTP_PAUSE_TOPIC:
			op = n.PauseTopic
		case C.GNSQ_HTTP_UNPAUSE_TOPIC:
			op = n.UnpauseTopic
		case C.GNSQ_HTTP_CREATE_CHANNEL:
			chOp = n.CreateChannel
		case C.GNSQ_HTTP_DELETE_CHANNEL:
			chOp = n.DeleteChannel
		case C.GNSQ_HTTP_EMPTY_CHANNEL:
			chOp = n.EmptyChannel
		case C.GNSQ_HTTP_PAUSE_CHANNEL:
			chOp = n.PauseChannel
		case C.GNSQ_HTTP_UNPAUSE_CHANNEL:
			chOp = n.UnpauseChannel
		default:
			return nil, errWrongKind
		}
		if op != nil {
			return nil, op(ctx, r.topic)
		}
		return nil, chOp(ctx, r.topic, r.channel)
	} else {
		switch r.op {
		case C.GNSQ_HTTP_PING:
			return l.Ping(ctx)
		case C.GNSQ_HTTP_INFO:
			return l.Info(ctx)
		case C.GNSQ_HTTP_LOOKUP:
			return l.Lookup(ctx, r.topic)
		case C.GNSQ_HTTP_TOPICS:
			return l.Topics(ctx)
		case C.GNSQ_HTTP_CHANNELS:
			return l.Channels(ctx, r.topic)
		case C.GNSQ_HTTP_NODES:
			return l.Nodes(ctx)
		case C.GNSQ_HTTP_CREATE_TOPIC:
			return nil, l.CreateTopic(ctx, r.topic)
		case C.GNSQ_HTTP_DELETE_TOPIC:
			return nil, l.DeleteTopic(ctx, r.topic)
		case C.GNSQ_HTTP_CREATE_CHANNEL:
			return nil, l.CreateChannel(ctx, r.topic, r.channel)
		case C.GNSQ_HTTP_DELETE_CHANNEL:
			return nil, l.DeleteChannel(ctx, r.topic, r.channel)
		case C.GNSQ_HTTP_TOMBSTONE_TOPIC:
			return nil, l.TombstoneTopic(ctx, r.topic, r.node)
		}
		return nil, errWrongKind
	}
}

// requestContext bounds a request by timeoutMs (< 0: the client's own
// timeout) and by the client's close.
func (o *httpObj) requestContext(timeoutMs C.int) (context.Context, context.CancelFunc) {
	if timeoutMs < 0 {
		return context.WithCancel(o.ctx)
	}
	return context.WithTimeout(o.ctx, time.Duration(timeoutMs)*time.Millisecond)
}

func httpOf(h *C.gnsq_http_t) (*httpObj, C.int) { return openHandle[*httpObj](unsafe.Pointer(h)) }

//export gnsqgo_http_new
func gnsqgo_http_new(out **C.gnsq_http_t, kind C.int, url *C.char, cfg *C.gnsq_config_t) (rc C.int) {
	defer recoverInto(&rc)
	if out == nil || url == nil {
		return failCode(C.GNSQ_E_INVALID_ARG, "out and url must not be NULL")
	}
	config, rc := configOf(cfg)
	if rc != C.GNSQ_OK {
		return rc
	}
	o := &httpObj{}
	var err error
	switch kind {
	case C.GNSQ_HTTP_NSQD:
		if o.nsqd, err = gnsq.NsqdHTTPClientFromURL(C.GoString(url)); err == nil {
			o.nsqd.Timeout, o.nsqd.UserAgent = config.Timeout, config.UserAgent
		}
	case C.GNSQ_HTTP_LOOKUPD:
		if o.lookupd, err = gnsq.LookupdClientFromURL(C.GoString(url)); err == nil {
			o.lookupd.Timeout, o.lookupd.UserAgent = config.Timeout, config.UserAgent
		}
	default:
		return failCode(C.GNSQ_E_INVALID_ARG, "kind must be GNSQ_HTTP_NSQD or GNSQ_HTTP_LOOKUPD")
	}
	if err != nil {
		return fail(err)
	}
	if o.q, err = newEventQueue(); err != nil {
		return failCode(C.GNSQ_E_IO, "notify pipe: %v", err)
	}
	o.ctx, o.cancel = context.WithCancel(context.Background())
	if rc := addHandle(unsafe.Pointer(out), o); rc != C.GNSQ_OK {
		o.q.free()
		return rc
	}
	return C.GNSQ_OK
}

//export gnsqgo_http_request
func gnsqgo_http_request(out *C.uint8_t, outLen C.size_t, status *C.int32_t, held *C.uint64_t, h *C.gnsq_http_t, r *C.gnsq_http_request_t, timeoutMs C.int) (rc C.int) {
	defer recoverInto(&rc)
	o, rc := httpOf(h)
	if rc != C.GNSQ_OK {
		return rc
	}
	if r == nil || (out == nil && outLen > 0) {
		return failCode(C.GNSQ_E_INVALID_ARG, "request or out is NULL")
	}
	req, err := copyRequest(r)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := o.requestContext(timeoutMs)
	defer cancel()
	answer, err := o.do(ctx, req)
	if status != nil {
		*status = C.int32_t(httpStatus(err))
	}
	if err != nil {
		return fail(err)
	}
	return o.q.answer(answer, out, outLen, held)
}

// httpStatus is the HTTP status behind a request's outcome: 200, an
// HTTPError's status, or 0 when no answer came.
func httpStatus(err error) int {
	var he *gnsq.HTTPError
	switch {
	case err == nil:
		return 200
	case errors.As(err, &he):
		return he.StatusCode
	}
	return 0
}

//export gnsqgo_http_request_async
func gnsqgo_http_request_async(token *C.uint64_t, h *C.gnsq_http_t, r *C.gnsq_http_request_t, timeoutMs C.int) (rc C.int) {
	defer recoverInto(&rc)
	o, rc := httpOf(h)
	if rc != C.GNSQ_OK {
		return rc
	}
	if token == nil || r == nil {
		return failCode(C.GNSQ_E_INVALID_ARG, "token or request is NULL")
	}
	req, err := copyRequest(r)
	if err != nil {
		return fail(err)
	}
	tok := o.q.nextToken()
	ctx, cancel := o.requestContext(timeoutMs)
	o.pending.Add(1)
	go func() {
		defer o.pending.Done()
		defer cancel()
		answer, err := o.do(ctx, req)
		ev := event{typ: C.GNSQ_EV_HTTP_DONE, token: tok, data: answer}
		if err != nil {
			if errors.Is(ctx.Err(), context.Canceled) && o.closed.Load() {
				err = gnsq.ErrClosed
			}
			ev.code, ev.data = int32(codeOf(err)), []byte(err.Error())
		}
		ev.value = int64(httpStatus(err))
		o.q.push(ev)
	}()
	*token = C.uint64_t(tok)
	return C.GNSQ_OK
}

//export gnsqgo_http_read_body
func gnsqgo_http_read_body(h *C.gnsq_http_t, token C.uint64_t, dst unsafe.Pointer, n C.size_t) (rc C.int) {
	defer recoverInto(&rc)
	return readBody[*httpObj](unsafe.Pointer(h), token, dst, n)
}

//export gnsqgo_http_wakeup
func gnsqgo_http_wakeup(h *C.gnsq_http_t) (rc C.int) {
	defer recoverInto(&rc)
	return wakeupHandle[*httpObj](unsafe.Pointer(h))
}

//export gnsqgo_http_notify_fd
func gnsqgo_http_notify_fd(fd *C.int, h *C.gnsq_http_t) (rc C.int) {
	defer recoverInto(&rc)
	return notifyFD[*httpObj](fd, unsafe.Pointer(h))
}

// shutdown cancels pending requests and waits for their events.
func (o *httpObj) shutdown(timeout time.Duration) bool {
	o.cancel()
	return syncutil.WaitGroupWithin(&o.pending, timeout)
}

func (*httpObj) kindName() string { return "http client" }

//export gnsqgo_http_close
func gnsqgo_http_close(h *C.gnsq_http_t, timeoutMs C.int) (rc C.int) {
	defer recoverInto(&rc)
	return closeHandle[*httpObj](unsafe.Pointer(h), timeoutMs)
}

//export gnsqgo_http_close_async
func gnsqgo_http_close_async(token *C.uint64_t, h *C.gnsq_http_t, timeoutMs C.int) (rc C.int) {
	defer recoverInto(&rc)
	return closeHandleAsync[*httpObj](token, unsafe.Pointer(h), timeoutMs)
}

//export gnsqgo_http_free
func gnsqgo_http_free(h *C.gnsq_http_t) (rc C.int) {
	defer recoverInto(&rc)
	return freeHandle[*httpObj](unsafe.Pointer(h))
}
