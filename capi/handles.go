package main

import (
	"sync"
	"unsafe"
)

// A handle's value encodes a table slot and its generation, with the top
// 16 bits set so it can never look like a Go heap address to the garbage
// collector when it travels as a C pointer:
//
//	0xFFFF << 48 | generation (16 bits) << 32 | slot + 1 (32 bits)
//
// A freed slot's generation changes, so an old handle is recognised as
// stale; 0 (NULL) and other garbage fail the checks.
const handleTag = uint64(0xFFFF) << 48

type handleSlot struct {
	gen uint16
	obj any // nil when free
}

type handleTable struct {
	mu    sync.RWMutex
	slots []handleSlot
	free  []uint32
}

var handles handleTable

func (t *handleTable) add(obj any) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var slot uint32
	if n := len(t.free); n > 0 {
		slot = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		t.slots = append(t.slots, handleSlot{})
		slot = uint32(len(t.slots) - 1)
	}
	t.slots[slot].obj = obj
	return handleTag | uint64(t.slots[slot].gen)<<32 | uint64(slot+1)
}

func (t *handleTable) decode(h uint64) (slot uint32, gen uint16, ok bool) {
	if h&(uint64(0xFFFF)<<48) != handleTag || uint32(h) == 0 {
		return 0, 0, false
	}
	return uint32(h) - 1, uint16(h >> 32), true
}

func (t *handleTable) get(h uint64) any {
	slot, gen, ok := t.decode(h)
	if !ok {
		return nil
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if int(slot) >= len(t.slots) || t.slots[slot].gen != gen {
		return nil
	}
	return t.slots[slot].obj
}

// remove frees the slot of h if its object passes match, and returns the
// object (nil if h is invalid or does not match).
func (t *handleTable) remove(h uint64, match func(any) bool) any {
	slot, gen, ok := t.decode(h)
	if !ok {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if int(slot) >= len(t.slots) || t.slots[slot].gen != gen || t.slots[slot].obj == nil || !match(t.slots[slot].obj) {
		return nil
	}
	obj := t.slots[slot].obj
	t.slots[slot] = handleSlot{gen: gen + 1}
	t.free = append(t.free, slot)
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
