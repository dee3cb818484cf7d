package e2e

import (
	"regexp"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// stracedSend matches a write(2) or send(2) to fd 3 or 4 in the client's
// strace with where the client answered it.
var stracedSend = regexp.MustCompile(`do\.client: (?:write|sendto)\(0x[34],.*where=(\w+)`)

// TestSendBehindCalls counts, from the client's strace, where the writes
// of a request-response loop on a loopback TCP connection
// (testdata/sockets/reqloop.c: a parent and a forked child, each writing
// then reading, as a keepalive HTTP exchange; with write and read, or
// send and recv) are answered. Without call channels every write is
// posted (the parent's connect and the child's read bring the socket's
// room), riding in the frame of the read after it: one round trip a
// turn instead of two. With channels (the default
// on a Unix socket) none is: a posted write would go in a socket frame
// the channel read must wait for (sentry/client/sendbehind.go). The
// output is native's either way.
func TestSendBehindCalls(t *testing.T) {
	tu.RequireRoot(t)
	const requests = 300
	prog := tu.StaticProgram(t, t.TempDir(), "reqloop", socketSource(t, "reqloop"))
	dir := t.TempDir()
	for _, tc := range []struct {
		name      string
		flags     []string
		args      []string
		minPosted int
		maxPosted int
	}{
		{"write without channels", []string{"--channels=false"}, []string{"300"}, 2 * requests, 2 * requests},
		{"send without channels", []string{"--channels=false"}, []string{"300", "send"}, 2 * requests, 2 * requests},
		{"write with channels", nil, []string{"300"}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			argv := append([]string{prog}, tc.args...)
			want := tu.Run(t, timeout, dir, "", argv...)
			_, log := sandboxLogged(t, dir, append([]string{"--strace"}, tc.flags...), &want, argv...)
			counts := map[string]int{}
			for _, m := range stracedSend.FindAllStringSubmatch(string(log), -1) {
				counts[m[1]]++
			}
			t.Logf("%d requests: writes %v", requests, counts)
			if counts["posted"] < tc.minPosted || counts["posted"] > tc.maxPosted || counts["posted"]+counts["forwarded"] != 2*requests {
				t.Errorf("writes %v; want %d in all, %d to %d posted", counts, 2*requests, tc.minPosted, tc.maxPosted)
			}
		})
	}
}

// TestTCPEchoSendBehindServerKills kills the remote sentry three times
// under the chaos workload tcp-echo (a loopback TCP echo server and its
// client, which connects again and re-sends after a reset) without call
// channels, so that its writes are sent behind: a send behind in flight
// or re-sent at a kill neither loses nor doubles what the client checks,
// and the output matches native.
func TestTCPEchoSendBehindServerKills(t *testing.T) {
	chaosServerKills(t, "tcp-echo", []string{"--channels=false"})
}
