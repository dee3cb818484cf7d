package unixsock

import "testing"

// The charge model reproduces what Linux 6.1 (x86-64) fits in a default
// 212,992-byte SO_SNDBUF of an AF_UNIX datagram socketpair (measured
// natively with testdata/keys/dgram_fill.c of test/e2e).
func TestDgramChargeFitsAsLinux(t *testing.T) {
	const sndbuf = 212992
	for _, tc := range []struct{ size, fit int }{
		{0, 278}, {1, 278}, {100, 278}, {1000, 93}, {4000, 26},
	} {
		// Linux accepts a send while the charge is below SO_SNDBUF.
		fit := 0
		for charge := int64(0); charge < sndbuf; charge += DgramCharge(tc.size) {
			fit++
		}
		if fit != tc.fit {
			t.Errorf("%d-byte datagrams: %d fit (charge %d each), Linux fits %d", tc.size, fit, DgramCharge(tc.size), tc.fit)
		}
	}
}
