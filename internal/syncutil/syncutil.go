// Package syncutil holds synchronization helpers shared by core and the C
// ABI.
package syncutil

import (
	"sync"
	"time"
)

// WaitGroupWithin waits for wg, at most timeout (0: forever), and reports
// whether it finished: the Join methods' wait, shared with the C ABI.
func WaitGroupWithin(wg *sync.WaitGroup, timeout time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	if timeout <= 0 {
		<-done
		return true
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
