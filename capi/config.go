package main

/*
#include <stdlib.h>
#include "gnsq.h"
*/
import "C"

import (
	"unsafe"

	gnsq "github.com/libgnsq/libgnsq/core"
)

// setHandle stores handle value h in a C out-parameter of any handle type,
// without a Go pointer-typed variable ever holding the fake address.
func setHandle(out unsafe.Pointer, h uint64) {
	*(*uintptr)(out) = uintptr(h)
}

//export gnsqgo_config_new
func gnsqgo_config_new(out **C.gnsq_config_t) (rc C.int) {
	defer recoverInto(&rc)
	if out == nil {
		return failCode(C.GNSQ_E_INVALID_ARG, "out is NULL")
	}
	return addHandle(unsafe.Pointer(out), gnsq.NewConfig())
}

// configOf returns the config behind cfg; a NULL cfg means the defaults.
func configOf(cfg *C.gnsq_config_t) (*gnsq.Config, C.int) {
	if cfg == nil {
		return gnsq.NewConfig(), C.GNSQ_OK
	}
	c, ok := lookup[*gnsq.Config](unsafe.Pointer(cfg))
	if !ok {
		return nil, failCode(C.GNSQ_E_INVALID_HANDLE, "invalid config handle")
	}
	return c, C.GNSQ_OK
}

//export gnsqgo_config_set
func gnsqgo_config_set(cfg *C.gnsq_config_t, key, value *C.char) (rc C.int) {
	defer recoverInto(&rc)
	c, ok := lookup[*gnsq.Config](unsafe.Pointer(cfg))
	if !ok {
		return failCode(C.GNSQ_E_INVALID_HANDLE, "invalid config handle")
	}
	if key == nil || value == nil {
		return failCode(C.GNSQ_E_INVALID_ARG, "key and value must not be NULL")
	}
	if err := c.Set(C.GoString(key), C.GoString(value)); err != nil {
		return fail(err)
	}
	return C.GNSQ_OK
}

//export gnsqgo_config_get
func gnsqgo_config_get(buf *C.char, n C.size_t, cfg *C.gnsq_config_t, key *C.char) (rc C.int) {
	defer recoverInto(&rc)
	c, ok := lookup[*gnsq.Config](unsafe.Pointer(cfg))
	if !ok {
		return failCode(C.GNSQ_E_INVALID_HANDLE, "invalid config handle")
	}
	if key == nil {
		return failCode(C.GNSQ_E_INVALID_ARG, "key must not be NULL")
	}
	v, err := c.Get(C.GoString(key))
	if err != nil {
		return fail(err)
	}
	return copyString(buf, n, v)
}

// copyString copies s into buf, NUL-terminated and cut to n - 1 bytes,
// and returns its full length (gnsq.h, "Buffers").
func copyString(buf *C.char, n C.size_t, s string) C.int {
	if buf != nil && n > 0 {
		dst := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(n))
		dst[copy(dst[:n-1], s)] = 0
	}
	return C.int(len(s))
}

//export gnsqgo_config_free
func gnsqgo_config_free(cfg *C.gnsq_config_t) (rc C.int) {
	defer recoverInto(&rc)
	if cfg == nil {
		return C.GNSQ_OK
	}
	if _, ok := release[*gnsq.Config](unsafe.Pointer(cfg)); !ok {
		return failCode(C.GNSQ_E_INVALID_HANDLE, "invalid config handle")
	}
	return C.GNSQ_OK
}

// goStrings copies n C strings.
func goStrings(arr **C.char, n C.size_t) ([]string, bool) {
	if n == 0 {
		return nil, true
	}
	if arr == nil {
		return nil, false
	}
	var out []string
	for _, p := range unsafe.Slice(arr, int(n)) {
		if p == nil {
			return nil, false
		}
		out = append(out, C.GoString(p))
	}
	return out, true
}
