package main

/*
#include "gnsq.h"
*/
import "C"

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	gnsq "github.com/libgnsq/libgnsq/core"
)

// maxQueuedLogs bounds the LOG events waiting in one queue: a host that
// never polls (synchronous publishes only) must not grow it forever.
// Records beyond it are counted and the count reported with the next one.
const maxQueuedLogs = 1024

// logHandler is the slog handler behind every object the C API creates:
// records at the config's log_level and above (core filters them) become
// GNSQ_EV_LOG events on the object's queue. Nothing goes to stderr.
type logHandler struct {
	q         *eventQueue
	component string
	attrs     string // " key=value" for each attribute added by WithAttrs
}

// withEventLogger returns a copy of cfg whose log records become q's events.
func withEventLogger(cfg *gnsq.Config, q *eventQueue) *gnsq.Config {
	cp := *cfg
	cp.Logger = slog.New(logHandler{q: q, component: "gnsq"})
	return &cp
}

func (h logHandler) Enabled(context.Context, slog.Level) bool { return h.q.wants(C.GNSQ_EV_LOG) }

func (h logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	for _, a := range attrs {
		if a.Key == "component" {
			h.component = a.Value.String()
		} else {
			h.attrs += formatAttr(a)
		}
	}
	return h
}

func (h logHandler) WithGroup(string) slog.Handler { return h }

func (h logHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(h.component)
	b.WriteByte(' ')
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(formatAttr(a))
		return true
	})
	h.q.pushLog(logLevel(r.Level), len(h.component), b.String())
	return nil
}

func formatAttr(a slog.Attr) string {
	v := a.Value.String()
	if strings.ContainsAny(v, " \"=") || v == "" {
		v = fmt.Sprintf("%q", v)
	}
	return " " + a.Key + "=" + v
}

// logLevel maps slog's levels to the GNSQ_LOG_* values (Python's logging
// levels): debug 10, info 20, warning 30, error 40.
func logLevel(l slog.Level) int64 { return 20 + int64(l)*5/2 }

// pushLog queues a LOG event unless maxQueuedLogs are already waiting.
func (q *eventQueue) pushLog(level int64, componentLen int, text string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.queuedLogs >= maxQueuedLogs {
		q.droppedLogs++
		return
	}
	if q.droppedLogs > 0 {
		text += fmt.Sprintf(" (%d earlier log records dropped: the queue was not polled)", q.droppedLogs)
		q.droppedLogs = 0
	}
	q.queuedLogs++
	q.pushLocked(event{typ: C.GNSQ_EV_LOG, value: level, attempts: uint16(componentLen), data: []byte(text)})
}
