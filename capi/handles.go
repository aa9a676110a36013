package main

/*
#include "gnsq.h"
*/
import "C"

import "unsafe"

// A handle's value is a slotTable id with the top 16 bits set, so it can
// never look like a Go heap address to the garbage collector when it
// travels as a C pointer:
//
//	0xFFFF << 48 | generation (28 bits) << 20 | slot + 1 (20 bits)
//
// Up to 2^20 - 1 live handles; a slot must be reused 2^28 times before a
// stale handle to it could be valid again.
var handles = newSyncSlots[any](uint64(0xFFFF)<<48, 1<<28-1, 20)

// addHandle stores obj in the handle table and its handle in out.
func addHandle(out unsafe.Pointer, obj any) C.int {
	h, ok := handles.add(obj)
	if !ok {
		return failCode(C.GNSQ_E_INTERNAL, "too many live handles (2^20 - 1)")
	}
	setHandle(out, h)
	return C.GNSQ_OK
}

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
