package gnsq

import (
	"math"
	"math/rand/v2"
	"time"
)

// BackoffTimer is gnsq's full-jitter backoff: after a net count of c
// failures the interval is uniform in [0, (2^c - 1) * Ratio), clipped to
// [Min, Max] (Max 0: no upper clip). Every failure counts, so recovering
// takes as many successes as there were failures.
type BackoffTimer struct {
	Ratio time.Duration
	Min   time.Duration
	Max   time.Duration
	c     int
}

// Failure counts one failure.
func (b *BackoffTimer) Failure() *BackoffTimer {
	b.c++
	return b
}

// Success forgives one failure.
func (b *BackoffTimer) Success() *BackoffTimer {
	if b.c > 0 {
		b.c--
	}
	return b
}

// Reset forgives every failure.
func (b *BackoffTimer) Reset() *BackoffTimer { b.c = 0; return b }

// IsReset reports whether no failure is counted.
func (b *BackoffTimer) IsReset() bool { return b.c == 0 }

// Count is the number of failures counted.
func (b *BackoffTimer) Count() int { return b.c }

// Interval draws the next interval.
func (b *BackoffTimer) Interval() time.Duration {
	x := rand.Float64() * (math.Exp2(float64(min(b.c, 62))) - 1) * float64(b.Ratio)
	d := time.Duration(math.MaxInt64)
	if x < float64(math.MaxInt64) {
		d = time.Duration(x)
	}
	if b.Max > 0 && d > b.Max {
		d = b.Max
	}
	if d < b.Min {
		d = b.Min
	}
	return d
}
