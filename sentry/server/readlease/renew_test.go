package readlease

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakeClock is a registry clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestRenewExtendsLeases(t *testing.T) {
	for _, tc := range []struct {
		name string
		// renewEvery renews the holder at this period (0: never) while
		// the clock moves by step until at; live is whether the lease
		// holds then.
		renewEvery, at time.Duration
		live           bool
	}{
		{name: "not renewed, within the TTL", at: 900 * time.Millisecond, live: true},
		{name: "not renewed, past the TTL", at: 1100 * time.Millisecond},
		{name: "renewed, far past the TTL", renewEvery: 500 * time.Millisecond, at: 5 * time.Second, live: true},
		{name: "renewed, past its life", renewEvery: 500 * time.Millisecond, at: 10*time.Second + 100*time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{now: time.Unix(1000, 0)}
			r := New(time.Second)
			r.SetClock(clk.Now)
			c := newClient(r, true)
			grant(t, r, c.h, k1, Version{Size: 1})
			const step = 100 * time.Millisecond
			for el := time.Duration(0); el < tc.at; el += step {
				clk.advance(step)
				if tc.renewEvery != 0 && (el+step)%tc.renewEvery == 0 && el+step < tc.at {
					c.h.Renew()
				}
			}
			if _, ok := r.Live(c.h, k1); ok != tc.live {
				t.Errorf("Live at %v = %v, want %v", tc.at, ok, tc.live)
			}
		})
	}
}

func TestRenewedPathLeasePruned(t *testing.T) {
	// A renewed path lease stays in the table (a grant prunes only the
	// expired), and goes once renewals stop for a TTL.
	clk := &fakeClock{now: time.Unix(1000, 0)}
	r := New(time.Second)
	r.SetClock(clk.Now)
	c := newClient(r, true)
	ka, kb := PathKey(PathSearch, 1), PathKey(PathSearch, 2)
	if _, _, _, ok := r.GrantPath(c.h, r.BeginPath(), []Key{ka}); !ok {
		t.Fatal("grant refused")
	}
	for range 30 {
		clk.advance(100 * time.Millisecond)
		c.h.Renew()
	}
	if _, _, _, ok := r.GrantPath(c.h, r.BeginPath(), []Key{kb}); !ok {
		t.Fatal("grant refused")
	}
	if n := len(c.h.leases); n != 2 {
		t.Fatalf("after 3 s of renewals the holder has %d leases, want 2", n)
	}
	clk.advance(1100 * time.Millisecond)
	if _, _, _, ok := r.GrantPath(c.h, r.BeginPath(), []Key{kb}); !ok {
		t.Fatal("grant refused")
	}
	if n := len(c.h.leases); n != 1 {
		t.Errorf("a TTL after the last renewal the holder has %d leases, want 1 (the new grant)", n)
	}
}

func TestRenewedRevocationWaitsForRenewedExpiry(t *testing.T) {
	// A change waits for a silent holder until the lease's expiry as
	// renewed before the revocation (the client may answer from it until
	// then), and no later renewal moves it.
	r := New(200 * time.Millisecond)
	c := newClient(r, false)
	grant(t, r, c.h, k1, Version{Size: 1})
	time.Sleep(150 * time.Millisecond)
	c.h.Renew() // the lease now ends ~200 ms from here, not ~50
	start := time.Now()
	done := make(chan int)
	go func() { done <- r.Changed(context.Background(), k1) }()
	time.Sleep(50 * time.Millisecond)
	c.h.Renew() // after the revocation: no extension
	if got := <-done; got != 1 {
		t.Errorf("Changed: %d waits expired, want 1", got)
	}
	if took := time.Since(start); took < 150*time.Millisecond || took > 350*time.Millisecond {
		t.Errorf("the change waited %v, want about the renewed expiry (200 ms)", took)
	}
}

func TestReleaseMakesRoom(t *testing.T) {
	// Renewed leases never expire: a full table revokes its oldest
	// quarter (kept until the client acknowledges), and grants go on.
	clk := &fakeClock{now: time.Unix(1000, 0)}
	r := New(time.Second)
	r.SetClock(clk.Now)
	c := newClient(r, true)
	c.h.Renew()
	const chunk = 1024
	ino := uint64(1)
	grantChunk := func() bool {
		keys := make([]Key, chunk)
		for i := range keys {
			keys[i] = PathKey(PathSearch, ino)
			ino++
		}
		_, _, _, ok := r.GrantPath(c.h, r.BeginPath(), keys)
		return ok
	}
	for range maxPathLeasesPerHolder / chunk {
		if !grantChunk() {
			t.Fatal("grant refused below the limit")
		}
	}
	if grantChunk() {
		t.Fatal("grant beyond the limit")
	}
	if len(c.revoked) != maxPathLeasesPerHolder/4 {
		t.Fatalf("the full table released %d leases, want %d", len(c.revoked), maxPathLeasesPerHolder/4)
	}
	if c.revoked[0] != 1 {
		t.Errorf("the release began at lease %d, want the oldest (1)", c.revoked[0])
	}
	deadline := time.Now().Add(5 * time.Second)
	for !grantChunk() {
		if time.Now().After(deadline) {
			t.Fatal("no grant after the release was acknowledged")
		}
		time.Sleep(time.Millisecond)
	}
	if n := len(c.h.leases); n != maxPathLeasesPerHolder-maxPathLeasesPerHolder/4+chunk {
		t.Errorf("holder has %d leases after the release and a grant", n)
	}
}
