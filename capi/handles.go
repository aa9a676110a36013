package main

import "unsafe"

// A handle's value is a slotTable id with the top 16 bits set, so it can
// never look like a Go heap address to the garbage collector when it
// travels as a C pointer:
//
//	0xFFFF << 48 | generation (16 bits) << 32 | slot + 1 (32 bits)
var handles = newSyncSlots[any](uint64(0xFFFF)<<48, 0xFFFF)

// handleValue is the integer behind a typed handle pointer from C.
func handleValue(p unsafe.Pointer) uint64 { return uint64(uintptr(p)) }

// release removes the object behind a C handle if it has type T.
func release[T any](p unsafe.Pointer) (T, bool) {
	obj, _ := handles.remove(handleValue(p), func(o any) bool { _, ok := o.(T); return ok })
	v, ok := obj.(T)
	return v, ok
}

// lookup returns the object behind a C handle if it has type T.
func lookup[T any](p unsafe.Pointer) (T, bool) {
	obj, _ := handles.get(handleValue(p))
	v, ok := obj.(T)
	return v, ok
}
