package main

import gnsq "github.com/libgnsq/libgnsq/core"

// msgTable holds a consumer's messages that were handed out and not yet
// answered for good, by token. A token is msgTokenBit | generation << 32
// | slot + 1: found without hashing or allocating, stale once the slot is
// reused (31-bit generations: a slot would have to be reused 2^31 times
// for an old token to match again), and never equal to a token from
// eventQueue.nextToken, which counts up from 1. Not safe for concurrent
// use: the consumer guards it.
type msgTable struct {
	slots []msgSlot
	free  []uint32
}

type msgSlot struct {
	m   *gnsq.Message // nil when free
	gen uint32
}

const (
	msgTokenBit = uint64(1) << 63
	msgGenMask  = 1<<31 - 1
)

func (t *msgTable) add(m *gnsq.Message) uint64 {
	var i uint32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		t.slots = append(t.slots, msgSlot{})
		i = uint32(len(t.slots) - 1)
	}
	t.slots[i].m = m
	return msgTokenBit | uint64(t.slots[i].gen)<<32 | uint64(i+1)
}

// get returns token's message; with remove, the token is then stale.
func (t *msgTable) get(token uint64, remove bool) (*gnsq.Message, bool) {
	i := uint32(token) - 1 // a low half of 0 wraps out of range
	if token&msgTokenBit == 0 || int(i) >= len(t.slots) {
		return nil, false
	}
	s := &t.slots[i]
	if s.m == nil || uint64(s.gen) != token>>32&msgGenMask {
		return nil, false
	}
	m := s.m
	if remove {
		*s = msgSlot{gen: (s.gen + 1) & msgGenMask}
		t.free = append(t.free, i)
	}
	return m, true
}

// clear forgets every message; their tokens become stale.
func (t *msgTable) clear() {
	for i := range t.slots {
		if t.slots[i].m != nil {
			t.get(msgTokenBit|uint64(t.slots[i].gen)<<32|uint64(i+1), true)
		}
	}
}
