package gnsq

import (
	"context"
	"sync"
)

// waitWithin waits for wg or for ctx to end, whichever comes first, and
// returns ctx's error in the latter case.
func waitWithin(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
