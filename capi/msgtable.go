package main

import gnsq "github.com/libgnsq/libgnsq/core"

// msgTokenBit is set in every message token, so a message token never
// equals one from eventQueue.nextToken, which counts up from 1 (and would
// need 2^52 tokens to get there). Tokens stay below 2^53: a JavaScript
// number holds them exactly.
const msgTokenBit = uint64(1) << 52

// newMsgTable is the table of a consumer's messages that were handed out
// and not yet answered for good, by token:
//
//	1 << 52 | generation (28 bits) << 24 | slot + 1 (24 bits)
//
// A slot must be reused 2^28 times for an old token to match again.
func newMsgTable() slotTable[*gnsq.Message] {
	return slotTable[*gnsq.Message]{tag: msgTokenBit, genMask: 1<<28 - 1, slotBits: 24}
}
