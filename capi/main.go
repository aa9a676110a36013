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

func main() {}
