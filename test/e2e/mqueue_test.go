package e2e

import "testing"

// TestMqueue runs testdata/mqueue against a native run: mq_open's name,
// access and attribute checks, priorities, blocking and non-blocking
// sends and receives, timeouts, a signal interrupting a receive, a
// child's send waking a receive, mq_notify, read(2) of a descriptor's
// status line, poll, dup, another user's permissions, and mq_unlink of
// an open queue.
func TestMqueue(t *testing.T) {
	stracedTestdata(t, "mqueue", "mqueue")
}
