package gofer

import (
	"testing"
	"time"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// TestReplyCacheWaitAndEvict: a duplicate of a running mutation waits
// until the first finishes and then reads its reply; one after it does
// not wait; the least recently used finished entries are evicted first
// (a hit makes an entry the most recently used), never a running one.
func TestReplyCacheWaitAndEvict(t *testing.T) {
	c := newReplyCache(2, 1<<20)
	origin := func(seq uint64) *goferpb.Origin { return &goferpb.Origin{ClientId: "c", Seq: seq} }
	e1, owner := c.begin(origin(1))
	if !owner {
		t.Fatal("the first begin does not own its entry")
	}
	got := make(chan int32)
	go func() {
		d, owner := c.begin(origin(1))
		if owner {
			got <- -1
			return
		}
		c.wait(d)
		got <- d.reply.(*goferpb.UnlinkReply).GetErrno()
	}()
	select {
	case <-got:
		t.Fatal("a duplicate did not wait for the running mutation")
	case <-time.After(50 * time.Millisecond):
	}
	c.finish(e1, &goferpb.UnlinkReply{Errno: 2}, nil)
	if errno := <-got; errno != 2 {
		t.Fatalf("the duplicate read errno %d, want 2", errno)
	}
	d, owner := c.begin(origin(1))
	if owner {
		t.Fatal("a finished entry was run again")
	}
	c.wait(d) // finished: at once

	// Entries 1 and 2 finished, 3 running: 1 was hit last (above), so
	// 2 goes when 3 comes; 3 stays while it runs, and 4's coming then
	// evicts 1.
	e2, _ := c.begin(origin(2))
	c.finish(e2, &goferpb.UnlinkReply{}, nil)
	c.begin(origin(1)) // a hit: 1 is the most recently used
	e3, _ := c.begin(origin(3))
	if _, owner := c.begin(origin(2)); !owner {
		t.Error("entry 2, the least recently used, was not evicted")
	}
	// 2 is running again now, as 3: both stay.
	e4, _ := c.begin(origin(4))
	if n, _ := c.len(); n != 3 {
		t.Errorf("%d entries, want 3 (1 evicted, 2, 3 and 4 running)", n)
	}
	if _, owner := c.begin(origin(1)); !owner {
		t.Error("entry 1 was not evicted")
	}
	for _, e := range []*cacheEntry{e3, e4} {
		c.finish(e, &goferpb.UnlinkReply{}, nil)
	}
}
