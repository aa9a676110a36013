package main

import (
	"sync"
	"unsafe"
)

// A handle's value is a slotTable id with the top 16 bits set, so it can
// never look like a Go heap address to the garbage collector when it
// travels as a C pointer:
//
//	0xFFFF << 48 | generation (16 bits) << 32 | slot + 1 (32 bits)
type handleTable struct {
	mu sync.RWMutex
	t  slotTable[any]
}

var handles = handleTable{t: slotTable[any]{tag: uint64(0xFFFF) << 48, genMask: 0xFFFF}}

func (t *handleTable) add(obj any) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.t.add(obj)
}

// get returns the object of h (nil if h is invalid).
func (t *handleTable) get(h uint64) any {
	t.mu.RLock()
	defer t.mu.RUnlock()
	obj, _ := t.t.get(h)
	return obj
}

// remove frees the slot of h if its object passes match, and returns the
// object (nil if h is invalid or does not match).
func (t *handleTable) remove(h uint64, match func(any) bool) any {
	t.mu.Lock()
	defer t.mu.Unlock()
	obj, _ := t.t.remove(h, match)
	return obj
}

// handleValue is the integer behind a typed handle pointer from C.
func handleValue(p unsafe.Pointer) uint64 { return uint64(uintptr(p)) }

// release removes the object behind a C handle if it has type T.
func release[T any](p unsafe.Pointer) (T, bool) {
	obj, ok := handles.remove(handleValue(p), func(o any) bool { _, ok := o.(T); return ok }).(T)
	return obj, ok
}

// lookup returns the object behind a C handle if it has type T.
func lookup[T any](p unsafe.Pointer) (T, bool) {
	obj, ok := handles.get(handleValue(p)).(T)
	return obj, ok
}
