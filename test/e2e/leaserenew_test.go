package e2e

import (
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestLeaseRenewal runs a shell that asks about the same two paths (one
// there, one missing) in 5 rounds 1.3 s apart, longer than a lease's TTL
// (1 s): the application is held off past the TTL as a busy machine holds
// it off between two compilers' stats of the same header. The server
// renews the client's leases at each of its heartbeats
// (docs/ARCHITECTURE.md, "The client's read cache", Renewal), so only the
// first round's calls wait (the first asks, the second is granted its
// lease); without renewal each round waits for both again.
func TestLeaseRenewal(t *testing.T) {
	tu.RequireRoot(t)
	const rounds = 5
	script := `i=0; while [ $i -lt 5 ]; do [ -e /etc/passwd ] && [ -e /etc/passwd ] && [ ! -e /etc/missing-renew ] && [ ! -e /etc/missing-renew ] || exit 1; sleep 1.3; i=$((i+1)); done`
	_, _, counts := stracedRun(t, t.TempDir(), nil, "/etc/", tu.Busybox, "sh", "-c", script)
	t.Logf("newfstatat of /etc/...: %d forwarded, %d answered on the client", counts["newfstatat forwarded"], counts["newfstatat cached"])
	if all := counts["newfstatat forwarded"] + counts["newfstatat cached"]; all != 4*rounds {
		t.Fatalf("%d newfstatats counted, want %d", all, 4*rounds)
	}
	// Two per path in the first round; one more per path at most if a
	// heartbeat's round trip took most of a TTL once.
	if f := counts["newfstatat forwarded"]; f > 6 {
		t.Errorf("%d newfstatats forwarded, want at most 6 (renewed leases answer the later rounds)", f)
	}
}
