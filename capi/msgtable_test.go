package main

import (
	"testing"

	gnsq "github.com/libgnsq/libgnsq/core"
)

func TestMsgTableTokens(t *testing.T) {
	tab := newMsgTable()
	a, b := &gnsq.Message{}, &gnsq.Message{}
	ta, _ := tab.add(a)
	tb, _ := tab.add(b)
	if ta == tb || ta&msgTokenBit == 0 || ta >= 1<<53 || tb >= 1<<53 {
		t.Fatalf("tokens %x %x", ta, tb)
	}
	if m, ok := tab.get(ta); !ok || m != a {
		t.Fatal("a not found")
	}
	if m, ok := tab.remove(ta, nil); !ok || m != a {
		t.Fatal("a not removed")
	}
	if _, ok := tab.get(ta); ok {
		t.Fatal("a's token still valid after removal")
	}
	// The freed slot is reused with a new generation: the old token stays stale.
	tc, _ := tab.add(&gnsq.Message{})
	if tc == ta || tc&(1<<24-1) != ta&(1<<24-1) || tc >= 1<<53 {
		t.Fatalf("slot not reused with a new generation: %x %x", ta, tc)
	}
	if _, ok := tab.remove(ta, nil); ok {
		t.Fatal("stale token matched the reused slot")
	}
	for _, bad := range []uint64{0, 1, ta &^ msgTokenBit, msgTokenBit, msgTokenBit | 99, ta | 1<<62, ta | 1<<53} {
		if _, ok := tab.get(bad); ok {
			t.Errorf("token %x accepted", bad)
		}
	}
	tab.clear()
	if _, ok := tab.get(tb); ok {
		t.Fatal("clear kept b")
	}
	if _, ok := tab.get(tc); ok {
		t.Fatal("clear kept c")
	}
}

// A full table refuses, and the generation wraps at genMask (tiny here).
func TestSlotTableLimits(t *testing.T) {
	tab := slotTable[int]{tag: 1 << 8, genMask: 3, slotBits: 2}
	var ids []uint64
	for i := 0; i < 3; i++ {
		id, ok := tab.add(i)
		if !ok || id>>4 != 1<<4 {
			t.Fatalf("add %d: %x %v", i, id, ok)
		}
		ids = append(ids, id)
	}
	if _, ok := tab.add(3); ok {
		t.Fatal("a fourth value fitted into 2^2 - 1 slots")
	}
	id := ids[0]
	for reuse := 1; reuse <= 4; reuse++ {
		tab.remove(id, nil)
		id, _ = tab.add(0) // the same slot, generation reuse % 4
		if _, ok := tab.get(ids[0]); ok != (reuse == 4) {
			t.Fatalf("after %d reuses the first id is valid: %v", reuse, ok)
		}
	}
}

func TestHandleIDs(t *testing.T) {
	h, _ := handles.add("x")
	if h>>48 != 0xFFFF {
		t.Fatalf("handle %x lacks the tag", h)
	}
	get := func(id uint64) any { v, _ := handles.get(id); return v }
	if get(h) != "x" || get(h&^(1<<63)) != nil || get(0) != nil {
		t.Fatal("handle lookup")
	}
	if v, ok := handles.remove(h, func(o any) bool { return o != "x" }); ok || v != nil {
		t.Fatal("removed despite match refusing")
	}
	if v, _ := handles.remove(h, func(any) bool { return true }); v != "x" || get(h) != nil {
		t.Fatal("remove")
	}
}
