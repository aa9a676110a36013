package main

import (
	"testing"

	gnsq "github.com/libgnsq/libgnsq/core"
)

func TestMsgTableTokens(t *testing.T) {
	tab := newMsgTable()
	a, b := &gnsq.Message{}, &gnsq.Message{}
	ta := tab.add(a)
	tb := tab.add(b)
	if ta == tb || ta&msgTokenBit == 0 {
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
	tc := tab.add(&gnsq.Message{})
	if tc == ta || uint32(tc) != uint32(ta) {
		t.Fatalf("slot not reused with a new generation: %x %x", ta, tc)
	}
	if _, ok := tab.remove(ta, nil); ok {
		t.Fatal("stale token matched the reused slot")
	}
	for _, bad := range []uint64{0, 1, ta &^ msgTokenBit, msgTokenBit, msgTokenBit | 99, ta | 1<<62} {
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

func TestHandleIDs(t *testing.T) {
	h := handles.add("x")
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
