package e2e

import (
	"regexp"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// stracedSend matches a write(2) or send(2) to fd 3 or 4 in the client's
// strace with where the client answered it.
var stracedSend = regexp.MustCompile(`do\.client: (?:write|sendto)\(0x[34],.*where=(\w+)`)

// batchCounts matches, in the line the client logs at its end, the
// frames and channel calls that carried posted calls, the channel calls
// among them, and the messages sent on the socket.
var batchCounts = regexp.MustCompile(`posted_batches=(\d+) channel_batches=(\d+) socket_sent=(\d+)`)

// TestSendBehindCalls counts, from the client's strace, where the writes
// of a request-response loop on a loopback TCP connection
// (testdata/sockets/reqloop.c: a parent and a forked child, each writing
// then reading, as a keepalive HTTP exchange; with write and read, or
// send and recv) are answered. Every write is posted (the parent's
// connect and the child's read bring the socket's room), riding with the
// read after it: without call channels in its frame, with channels (the
// default on a Unix socket) inside its channel call, so that the posted
// batches then cost no socket message (at most a few, sent alone when a
// batch waited its delay) and the socket carries fewer messages than
// there are requests (heartbeats, channel opens). One round trip a turn
// instead of two. The output is native's either way.
func TestSendBehindCalls(t *testing.T) {
	tu.RequireRoot(t)
	const requests = 300
	prog := tu.StaticProgram(t, t.TempDir(), "reqloop", socketSource(t, "reqloop"))
	dir := t.TempDir()
	for _, tc := range []struct {
		name     string
		flags    []string
		args     []string
		channels bool
	}{
		{"write without channels", []string{"--channels=false"}, []string{"300"}, false},
		{"send without channels", []string{"--channels=false"}, []string{"300", "send"}, false},
		// A batch goes alone on the socket when it waited the post
		// delay (2 ms) before the read after it came: on a loaded
		// machine (load 20 on 2 cores) a thread descheduled between its
		// write and its read makes 40 of 600 so. A longer delay keeps
		// what is counted the riding, not the scheduler.
		{"write with channels", []string{"--post-delay=50ms"}, []string{"300"}, true},
		{"send with channels", []string{"--post-delay=50ms"}, []string{"300", "send"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			argv := append([]string{prog}, tc.args...)
			want := tu.Run(t, timeout, dir, "", argv...)
			_, log := sandboxLogged(t, dir, append([]string{"--strace"}, tc.flags...), &want, argv...)
			counts := map[string]int{}
			for _, m := range stracedSend.FindAllStringSubmatch(string(log), -1) {
				counts[m[1]]++
			}
			b := logInts(t, log, batchCounts)
			batches, inChannels, socketSent := b[0], b[1], b[2]
			t.Logf("%d requests: writes %v; posted batches %d, %d inside channel calls; %d socket messages", requests, counts, batches, inChannels, socketSent)
			if counts["posted"] != 2*requests || counts["forwarded"] != 0 {
				t.Errorf("writes %v; want all %d posted", counts, 2*requests)
			}
			if !tc.channels {
				if inChannels != 0 {
					t.Errorf("%d posted batches inside channel calls without channels", inChannels)
				}
				return
			}
			if alone := batches - inChannels; alone > requests/10 {
				t.Errorf("%d of %d posted batches went on the socket; want at most %d", alone, batches, requests/10)
			}
			if socketSent >= requests {
				t.Errorf("%d socket messages for %d requests; want fewer than one a request", socketSent, requests)
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

// TestTCPEchoSendBehindChannelServerKills is
// TestTCPEchoSendBehindServerKills with call channels: a send behind
// rides inside a channel call, and one in flight or re-sent at a kill
// neither loses nor doubles what the client checks.
func TestTCPEchoSendBehindChannelServerKills(t *testing.T) {
	chaosServerKills(t, "tcp-echo", nil)
}
