package main

import gnsq "github.com/libgnsq/libgnsq/core"

// msgTokenBit is set in every message token, so a message token never
// equals one from eventQueue.nextToken, which counts up from 1.
const msgTokenBit = uint64(1) << 63

// newMsgTable is the table of a consumer's messages that were handed out
// and not yet answered for good, by token: with 31-bit generations a slot
// would have to be reused 2^31 times for an old token to match again.
func newMsgTable() slotTable[*gnsq.Message] {
	return slotTable[*gnsq.Message]{tag: msgTokenBit, genMask: 1<<31 - 1}
}
