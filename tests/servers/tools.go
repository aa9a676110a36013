//go:build tools

// Package servers pins the NSQ server binaries the tests run against
// (nsqd, nsqlookupd and nsqd's own bench programs, all from nsq v1.3.0).
package servers

import (
	_ "github.com/nsqio/nsq/apps/nsqd"
	_ "github.com/nsqio/nsq/apps/nsqlookupd"
	_ "github.com/nsqio/nsq/bench/bench_reader"
	_ "github.com/nsqio/nsq/bench/bench_writer"
)
