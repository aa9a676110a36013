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
	"os"
	"runtime"
)

func main() {}

// At least two Ps, unless the environment sets GOMAXPROCS: a host thread
// that returns from a call into the library keeps the P it used (in
// syscall state) until Go's sysmon takes it back, 20 us to 10 ms later,
// while it handles a batch or waits in its event loop. With one P (Go's
// choice on one CPU) the library's own goroutines, which read from nsqd,
// would wait for that after every call. On one CPU this made synchronous
// publishes 0.64-0.72x the Go Producer's rate; with two Ps 0.89-1.04x.
// (publish.go's init calls it before it sets its wait flags from GOMAXPROCS.)
func keepTwoPs() {
	if runtime.GOMAXPROCS(0) == 1 && os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(2)
	}
}
