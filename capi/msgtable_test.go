package main

import (
	"testing"

	gnsq "github.com/libgnsq/libgnsq/core"
)

func TestMsgTableTokens(t *testing.T) {
	var tab msgTable
	a, b := &gnsq.Message{}, &gnsq.Message{}
	ta := tab.add(a)
	tb := tab.add(b)
	if ta == tb || ta&msgTokenBit == 0 {
		t.Fatalf("tokens %x %x", ta, tb)
	}
	if m, ok := tab.get(ta, false); !ok || m != a {
		t.Fatal("a not found")
	}
	if m, ok := tab.get(ta, true); !ok || m != a {
		t.Fatal("a not removed")
	}
	if _, ok := tab.get(ta, false); ok {
		t.Fatal("a's token still valid after removal")
	}
	// The freed slot is reused with a new generation: the old token stays stale.
	tc := tab.add(&gnsq.Message{})
	if tc == ta || uint32(tc) != uint32(ta) {
		t.Fatalf("slot not reused with a new generation: %x %x", ta, tc)
	}
	if _, ok := tab.get(ta, true); ok {
		t.Fatal("stale token matched the reused slot")
	}
	for _, bad := range []uint64{0, 1, ta &^ msgTokenBit, msgTokenBit, msgTokenBit | 99} {
		if _, ok := tab.get(bad, false); ok {
			t.Errorf("token %x accepted", bad)
		}
	}
	tab.clear()
	if _, ok := tab.get(tb, false); ok {
		t.Fatal("clear kept b")
	}
	if _, ok := tab.get(tc, false); ok {
		t.Fatal("clear kept c")
	}
}
