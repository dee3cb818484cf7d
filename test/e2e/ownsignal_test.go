package e2e

import (
	"regexp"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// timerSignalRoutes matches the calls the client makes to route a
// signal through the server.
var timerSignalRoutes = regexp.MustCompile(`\brt_(?:tg)?sigqueueinfo\(`)

// ownSignalWhere matches kill, tkill and tgkill in a client's strace log by
// where they were answered.
var ownSignalWhere = regexp.MustCompile(`\b(?:tg|t)?kill\([^\n]*? where=(\w+)`)

// TestOwnThreadSignals runs testdata/ownsignal/ownsignal.c natively and
// under do: kill of the caller's process, and tkill, tgkill, raise and
// pthread_kill of its own threads run the handler (before a self-signal
// returns, in the thread named, with SI_USER or SI_TKILL and the
// sender's pid and uid), queue while blocked
// as Linux queues, and fail as Linux's for a joined thread or bad
// arguments; the disposition at delivery counts (a handler changed while
// the signal was blocked, SIG_IGN discards it). The 13 with a handler
// installed (without SA_RESETHAND) are answered by the client; the other
// ten (one a child's kill of its parent) go to the server, which has
// something to do or check (each was a round trip: LTP signal06 makes
// 150,000 and outran its time limit). CPU-time timers' signals, caught,
// are queued by the client too (each went through the server).
func TestOwnThreadSignals(t *testing.T) {
	log := stracedTestdata(t, "ownsignal", "ownsignal")
	where := whereCounts(ownSignalWhere, log)
	if where["local"] != 13 || where["forwarded"] != 10 || len(where) != 2 {
		t.Errorf("kill, tkill and tgkill answered %v; want local 13, forwarded 10", where)
	}
	if n := len(timerSignalRoutes.FindAll(log, -1)); n != 0 {
		t.Errorf("%d timer signals routed through the server; want 0 (the process catches them)", n)
	}
}

// TestSignalsPendingLimit runs testdata/sigpending/sigpending.c natively
// and under do: with RLIMIT_SIGPENDING 2 and two real-time signals
// pending, a third sent by tgkill, tkill or sigqueue fails EAGAIN, one
// by kill (SI_USER) or a standard signal does not, and taking them makes
// room; the limit starts as the host's (it was 0). LTP tgkill02.
func TestSignalsPendingLimit(t *testing.T) {
	tu.RequireRoot(t)
	stracedTestdata(t, "sigpending", "sigpending")
}
