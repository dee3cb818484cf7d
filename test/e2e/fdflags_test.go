package e2e

import (
	"regexp"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// fcntlFDFlags matches fcntl F_GETFD (0x1) and F_SETFD (0x2) in the
// client's strace: the command and where it was answered.
var fcntlFDFlags = regexp.MustCompile(`fcntl\(0x[0-9a-f]+, 0x([12])(?:, 0x[0-9a-f]+)?\) = [^:]*: tid=\d+ where=(\w+)`)

// TestFDFlagsOnClient runs testdata/fdflags/fdflags.c natively and under
// do (same output: each way of setting close-on-exec, 20 rounds of
// toggles, and the fds an exec keeps). The client keeps the flag in its
// copy of the fd tables (sentry/client/fdflags.go): F_GETFD is answered
// there, of closed fds too (EBADF: the 5 the exec closed and the closed
// dup), F_SETFD posted, or answered when it sets the flag the fd has
// (5 of the 9 before the exec: the 20 toggles left each fd as made);
// none waits.
func TestFDFlagsOnClient(t *testing.T) {
	tu.RequireRoot(t)
	log := stracedTestdata(t, "fdflags", "fdflags")
	where := map[string]int{}
	for _, m := range fcntlFDFlags.FindAllSubmatch(log, -1) {
		where[string(m[1])+" "+string(m[2])]++
	}
	t.Logf("fcntl F_GETFD (1) and F_SETFD (2) by where: %v", where)
	// 9 shows, 20 rounds of 9 (GETFD, SETFD, GETFD), 9 shows before the
	// exec, and the child's probes of the 4 fds the exec kept and of the
	// 5 it closed, and of the closed dup (EBADF).
	const cached, posted, unchanged = 9 + 20*9*2 + 9 + 4 + 5 + 1, 20*9 + 4, 5
	if got := where["1 cached"]; got != cached {
		t.Errorf("%d F_GETFDs answered on the client, want %d", got, cached)
	}
	if got := where["2 posted"]; got != posted {
		t.Errorf("%d F_SETFDs posted, want %d", got, posted)
	}
	if got := where["2 cached"]; got != unchanged {
		t.Errorf("%d F_SETFDs of the flag the fd has answered on the client, want %d", got, unchanged)
	}
	if got := where["2 forwarded"]; got != 0 {
		t.Errorf("%d F_SETFDs waited for, want 0", got)
	}
	if got := where["1 forwarded"]; got != 0 {
		t.Errorf("%d F_GETFDs waited for, want 0", got)
	}
}
