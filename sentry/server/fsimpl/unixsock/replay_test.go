package unixsock

import (
	"slices"
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc/fdesctest"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
)

// replyCall is a call whose connection I/O is committed only when its
// reply is built (answer), as the server's are.
type replyCall struct {
	fdesctest.Call
	io []connIO
}

// connIO is one RecordConnIO of a replyCall.
type connIO struct {
	cn   *Conn
	side int
	sent bool
	n    uint64
}

func (c *replyCall) RecordConnIO(cn *Conn, side int, sent bool, n uint64) bool {
	c.io = append(c.io, connIO{cn, side, sent, n})
	return true
}

// answer builds c's reply: its I/O is committed.
func (c *replyCall) answer() {
	for _, io := range c.io {
		io.cn.Mu.Lock()
		io.cn.CommitLocked(io.side, io.sent, io.n)
		io.cn.Mu.Unlock()
	}
	c.io = nil
}

// pairRecord is what the replay records of a pair's two ends say.
type pairRecord [2]struct {
	queued        [][]byte
	read, written uint64
}

func recordOf(cn *Conn) pairRecord {
	var r pairRecord
	cn.Mu.Lock()
	defer cn.Mu.Unlock()
	for side := range r {
		r[side].queued, r[side].read, r[side].written = cn.ReplayLocked(side)
	}
	return r
}

// restorePair rebuilds a pair from its record, as a Restore does.
func restorePair(t *testing.T, stype linux.SockType, r pairRecord) (*fdesc.File, *fdesc.File) {
	t.Helper()
	a, b, cn := pair(t, stype, &namespace{})
	ends := [2]*socket.Unix{a.Impl.(*File).U, b.Impl.(*File).U}
	cn.Mu.Lock()
	defer cn.Mu.Unlock()
	for side := range r {
		cn.RestoreCountsLocked(side, r[side].read, r[side].written, r[side].queued)
	}
	for side := range r {
		if err := cn.RefillLocked(side, ends[1-side], r[side].queued); err != nil {
			t.Fatal(err)
		}
	}
	return a, b
}

// readAll reads f until EAGAIN: what it got, one string a read.
func readAll(t *testing.T, f *fdesc.File) []string {
	t.Helper()
	var got []string
	for {
		b, err := f.Impl.Read(&fdesctest.Call{}, f, 64, 0)
		if err == unix.EAGAIN {
			return got
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		got = append(got, string(b))
	}
}

// TestPairRecordAnsweredCalls: a pair's record holds what the calls
// whose replies were built left queued, so that the calls in flight at a
// server's death, re-sent to the restored pair, take effect once: a
// send whose bytes a read answered before it had its reply (another
// thread's message can be built first) is not queued twice, and a read
// without a reply gets its bytes again.
func TestPairRecordAnsweredCalls(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stype linux.SockType
		// sends are made by side 0, then side 1 makes reads (of so
		// many bytes); sendsAnswered and readsAnswered say whose
		// replies were built before the server died.
		sends         []string
		sendsAnswered bool
		reads         []int
		readsAnswered bool
		// want is what side 1 reads, read by read, once the calls
		// without a reply were re-sent to the restored pair (sends
		// first, then reads: the re-sent read is the first want).
		want []string
	}{
		{name: "stream read answered before the send", stype: linux.SOCK_STREAM,
			sends: []string{"line 1\n"}, reads: []int{64}, readsAnswered: true, want: nil},
		{name: "stream read answered before the send, in part", stype: linux.SOCK_STREAM,
			sends: []string{"abcdef"}, reads: []int{4}, readsAnswered: true, want: []string{"ef"}},
		{name: "stream read without a reply", stype: linux.SOCK_STREAM,
			sends: []string{"line 1\n"}, sendsAnswered: true, reads: []int{64}, want: []string{"line 1\n"}},
		{name: "stream both answered", stype: linux.SOCK_STREAM,
			sends: []string{"abc", "def"}, sendsAnswered: true, reads: []int{4}, readsAnswered: true, want: []string{"ef"}},
		{name: "stream neither answered", stype: linux.SOCK_STREAM,
			sends: []string{"abc", "def"}, reads: []int{4}, want: []string{"abcd", "ef"}},
		{name: "datagram read answered before the send", stype: linux.SOCK_DGRAM,
			sends: []string{"m1", "m2"}, reads: []int{64}, readsAnswered: true, want: []string{"m2"}},
		{name: "seqpacket read without a reply", stype: linux.SOCK_SEQPACKET,
			sends: []string{"m1", "m2"}, sendsAnswered: true, reads: []int{64}, want: []string{"m1", "m2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b, cn := pair(t, tc.stype, &namespace{})
			defer a.DecRef()
			defer b.DecRef()
			var sends, reads []*replyCall
			for _, m := range tc.sends {
				c := &replyCall{}
				if n, err := a.Impl.Write(c, a, []byte(m), 0); n != len(m) || err != nil {
					t.Fatalf("Write(%q) = %d, %v", m, n, err)
				}
				sends = append(sends, c)
			}
			for _, n := range tc.reads {
				c := &replyCall{}
				if _, err := b.Impl.Read(c, b, n, 0); err != nil {
					t.Fatalf("Read: %v", err)
				}
				reads = append(reads, c)
			}
			// Replies are built in the order the test says: the reads'
			// may come first.
			if tc.readsAnswered {
				for _, c := range reads {
					c.answer()
				}
			}
			if tc.sendsAnswered {
				for _, c := range sends {
					c.answer()
				}
			}
			rec := recordOf(cn)
			// The server dies; the calls without a reply are re-sent.
			ra, rb := restorePair(t, tc.stype, rec)
			defer ra.DecRef()
			defer rb.DecRef()
			if !tc.sendsAnswered {
				for _, m := range tc.sends {
					if n, err := ra.Impl.Write(&fdesctest.Call{}, ra, []byte(m), 0); n != len(m) || err != nil {
						t.Fatalf("re-sent Write(%q) = %d, %v", m, n, err)
					}
				}
			}
			var got []string
			if !tc.readsAnswered {
				for _, n := range tc.reads {
					p, err := rb.Impl.Read(&fdesctest.Call{}, rb, n, 0)
					if err != nil {
						t.Fatalf("re-sent Read: %v", err)
					}
					got = append(got, string(p))
				}
			}
			got = append(got, readAll(t, rb)...)
			if !slices.Equal(got, tc.want) {
				t.Errorf("side 1 reads %q after the restore, want %q (record %+v)", got, tc.want, rec)
			}
		})
	}
}
