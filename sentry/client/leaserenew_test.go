package client

import (
	"testing"
	"time"
)

func TestLeaseRenewalLive(t *testing.T) {
	t0 := time.Now().Add(-time.Minute) // all before the reset
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	const ttl, life = time.Second, 10 * time.Second
	for _, tc := range []struct {
		name string
		// renewedSent is when the renewed heartbeat was sent (0: no
		// renewal); reset resets after it; expires is the lease's own
		// expiry; at is when it is asked.
		renewedSent, expires, at int
		reset                    bool
		want                     bool
	}{
		{name: "own expiry, not renewed", expires: 1000, at: 900, want: true},
		{name: "past its own expiry, not renewed", expires: 1000, at: 1100},
		{name: "renewed after it", renewedSent: 800, expires: 1000, at: 1700, want: true},
		{name: "past the renewal's end", renewedSent: 800, expires: 1000, at: 1900},
		{name: "past its life", renewedSent: 9950, expires: 1000, at: 10050},
		{name: "renewal before a recovery", renewedSent: 800, reset: true, expires: 1000, at: 1100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lr := &leaseRenewal{}
			if tc.renewedSent != 0 {
				lr.renewed(ms(tc.renewedSent), ttl, life)
			}
			if tc.reset {
				lr.reset()
				lr.renewed(ms(tc.renewedSent), ttl, life) // a late one of the dead server
			}
			if got := lr.live(ms(tc.expires), ms(tc.at)); got != tc.want {
				t.Errorf("live = %v, want %v", got, tc.want)
			}
		})
	}
	var none *leaseRenewal
	if none.live(ms(1000), ms(1100)) || !none.live(ms(1000), ms(900)) {
		t.Error("a nil renewal must keep the grants' own expiry")
	}
}
