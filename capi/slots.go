package main

import "sync"

// slotTable keeps values in reusable slots and names each by an id
//
//	tag | generation << slotBits | slot + 1
//
// where the bits above the generation must equal tag's. Freeing a slot
// bumps its generation, so an old id is stale (until the slot has been
// reused genMask+1 times); 0 and other garbage fail the checks. Lookups
// need no hashing and, once the table has grown, no allocation. Not safe
// for concurrent use.
type slotTable[T any] struct {
	tag      uint64 // the bits above the generation, in place
	genMask  uint32
	slotBits uint // at most 32
	slots    []slotEntry[T]
	free     []uint32
}

type slotEntry[T any] struct {
	val  T
	used bool
	gen  uint32
}

// add stores v and returns its id; false when all 2^slotBits - 1 slots are taken.
func (t *slotTable[T]) add(v T) (uint64, bool) {
	var i uint32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		if uint64(len(t.slots))+1 >= 1<<t.slotBits {
			return 0, false
		}
		t.slots = append(t.slots, slotEntry[T]{})
		i = uint32(len(t.slots) - 1)
	}
	t.slots[i].val, t.slots[i].used = v, true
	return t.tag | uint64(t.slots[i].gen)<<t.slotBits | uint64(i+1), true
}

// entry returns id's slot if id names a value in it.
func (t *slotTable[T]) entry(id uint64) (*slotEntry[T], uint32) {
	i := uint32(id&(1<<t.slotBits-1)) - 1 // a slot part of 0 wraps out of range
	high := id >> t.slotBits
	if high&^uint64(t.genMask) != t.tag>>t.slotBits || int(i) >= len(t.slots) {
		return nil, 0
	}
	e := &t.slots[i]
	if !e.used || uint64(e.gen) != high&uint64(t.genMask) {
		return nil, 0
	}
	return e, i
}

func (t *slotTable[T]) get(id uint64) (T, bool) {
	if e, _ := t.entry(id); e != nil {
		return e.val, true
	}
	var zero T
	return zero, false
}

// remove frees id's slot if its value passes match (nil: any), and
// returns the value.
func (t *slotTable[T]) remove(id uint64, match func(T) bool) (T, bool) {
	var zero T
	e, i := t.entry(id)
	if e == nil || (match != nil && !match(e.val)) {
		return zero, false
	}
	v := e.val
	*e = slotEntry[T]{gen: (e.gen + 1) & t.genMask}
	t.free = append(t.free, i)
	return v, true
}

// clear frees every slot; every id becomes stale.
func (t *slotTable[T]) clear() {
	for i := range t.slots {
		if e := &t.slots[i]; e.used {
			*e = slotEntry[T]{gen: (e.gen + 1) & t.genMask}
			t.free = append(t.free, uint32(i))
		}
	}
}

// syncSlots is a slotTable safe for concurrent use.
type syncSlots[T any] struct {
	mu sync.RWMutex
	t  slotTable[T]
}

func newSyncSlots[T any](tag uint64, genMask uint32, slotBits uint) *syncSlots[T] {
	return &syncSlots[T]{t: slotTable[T]{tag: tag, genMask: genMask, slotBits: slotBits}}
}

func (s *syncSlots[T]) add(v T) (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.t.add(v)
}

func (s *syncSlots[T]) get(id uint64) (T, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.t.get(id)
}

func (s *syncSlots[T]) remove(id uint64, match func(T) bool) (T, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.t.remove(id, match)
}

// with runs f on id's value under the lock, so a remove waits for it.
func (s *syncSlots[T]) with(id uint64, f func(T)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if v, ok := s.t.get(id); ok {
		f(v)
	}
}
