package gnsq

import (
	"math"
	"math/rand/v2"
	"time"
)

// BackoffTimer is gnsq's full-jitter backoff: after c net failures the
// interval is uniform in [0, (2^c - 1) * Ratio), clipped to [Min, Max]
// (Max 0: no upper clip).
type BackoffTimer struct {
	Ratio time.Duration
	Min   time.Duration
	Max   time.Duration
	c     int
}

// Failure counts one failure.
func (b *BackoffTimer) Failure() *BackoffTimer {
	// Stop counting once the interval's upper end is past Max (or absurd).
	if upper := (math.Exp2(float64(b.c)) - 1) * float64(b.Ratio); (b.Max == 0 || upper < float64(b.Max)) && b.c < 62 {
		b.c++
	}
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
	d := time.Duration(rand.Float64() * (math.Exp2(float64(b.c)) - 1) * float64(b.Ratio))
	if b.Max > 0 && d > b.Max {
		d = b.Max
	}
	if d < b.Min {
		d = b.Min
	}
	return d
}
