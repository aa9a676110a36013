// Command capi is libgnsq's C ABI (include/gnsq.h): build it with
// go build -buildmode=c-shared. Each exported gnsq_* function validates
// its handle, recovers panics into GNSQ_E_INTERNAL and reports failures
// through the thread-local detail read by gnsq_last_error.
package main

/*
#cgo CFLAGS: -I${SRCDIR}/../include -DGNSQ_NO_PROTOTYPES
#include "gnsq.h"
*/
import "C"

import (
	gnsq "github.com/libgnsq/libgnsq/core"
)

func main() {}

//export gnsq_version
func gnsq_version() C.int { return C.GNSQ_VERSION }

var versionStr = C.CString(gnsq.Version) // static for the process

//export gnsq_version_str
func gnsq_version_str() *C.char { return versionStr }
