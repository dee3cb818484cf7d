package server

import (
	"testing"

	"golang.org/x/sys/unix"
)

// channelGetgroups returns a function making thread 1's getgroups(0,
// NULL) over one call channel of h: a forwarded call the server answers
// on the channel's goroutine, the hop alone.
func channelGetgroups(tb testing.TB, h *hopClient) func() {
	ch := h.conn.Channel()
	if ch == nil {
		tb.Fatal("no channel")
	}
	tb.Cleanup(func() { h.conn.PutChannel(ch) })
	return func() {
		r, err := h.callOn(ch, h.syscall(unix.SYS_GETGROUPS, 0, 0))
		if err != nil {
			tb.Fatal(err)
		}
		if r.Errno != 0 {
			tb.Fatalf("getgroups over a channel: errno %v", unix.Errno(r.Errno))
		}
	}
}

// maxChannelCallAllocs bounds the heap allocations of one forwarded
// getgroups over a channel, client transport and server together (10:
// the call as the test builds it, the call decoded on the server and
// the reply on the client, and the thread's syscall context, which holds
// its memory view and its reply). The route back to the channel is the
// channel's, a channel reply is not wrapped in a ServerMessage (20
// before), a thread's interrupt channel is the last call's when that was
// not interrupted, and its queue's array the last call's (14 before);
// the reply is made with the context (11 before).
const maxChannelCallAllocs = 10

// TestChannelCallCost: a forwarded call the server answers at once,
// over a call channel through the real server's dispatch on a Unix
// socket, starts no goroutine and allocates at most
// maxChannelCallAllocs times (counted, so the machine's load does not
// matter; both ends are in this process).
func TestChannelCallCost(t *testing.T) {
	h := newHopClientConfig(t, func(c *Config) { c.Strace = false })
	call := channelGetgroups(t, h)
	call()
	const calls = 2000
	before := goroutinesCreated(t)
	allocs := testing.AllocsPerRun(calls, call)
	created := float64(goroutinesCreated(t)-before) / calls
	t.Logf("per forwarded getgroups over a channel: %.1f allocations, %.3f goroutines created", allocs, created)
	if allocs > maxChannelCallAllocs {
		t.Errorf("%.1f allocations per call, want at most %d", allocs, maxChannelCallAllocs)
	}
	// Heartbeats and timers may start one now and then, more often the
	// longer the run takes on a loaded machine (0.011 seen at load 20);
	// a goroutine per call would be 1.
	if created > 0.1 {
		t.Errorf("%.3f goroutines created per call, want none", created)
	}
}

// BenchmarkChannelCall times the client-to-server hop alone through the
// real server: getgroups over a call channel on a Unix socket, both ends
// in this process (so two goroutines' futex hand-offs, not two
// processes'; the sandbox's row is test/bench's hop).
func BenchmarkChannelCall(b *testing.B) {
	h := newHopClientConfig(b, func(c *Config) { c.Strace = false })
	call := channelGetgroups(b, h)
	call()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		call()
	}
}
