package server

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestResentAttrsAfterResentWrite: tar writes a member, then sets its
// owner, mode and times (posted calls). The server made them all, and
// was killed before their replies reached the client, which re-sends
// them all to the next server in order. The write, re-sent, is made
// again through the new server's donated fd (no gofer reply cache sees a
// donated fd's pwrite), which moves the mtime; the attribute calls,
// re-sent, must set the application's times again, not be answered from
// the gofer's reply cache (the dead server's SetStat is in it), which
// left the member's mtime the time of the recovery (chaos tar-attrs:
// src/f103's mtime was "now"). Without donated fds the write is
// answered from the reply cache too, and a restarted gofer has none: the
// control cases.
func TestResentAttrsAfterResentWrite(t *testing.T) {
	const path = "/tmp/member"
	// 2001-01-01T00:00:00.25Z, tar's restored time.
	const setSec, setNsec = 978307200, 250_000_000
	const uid, gid, mode = 1000, 1001, 0o640
	for _, tc := range []struct {
		name   string
		donate bool
		// posted: the write and the attribute calls are posted (tar's,
		// a run of chown, chmod and utimensat: attrrun.go); else a
		// waited pwrite64 and utimensat.
		posted bool
		// restartGofer: the gofer dies too, its reply cache with it.
		restartGofer bool
		// twice: the re-sent calls' replies are lost again with a
		// second server, and re-sent to a third.
		twice bool
	}{
		{name: "donated/waited", donate: true},
		{name: "donated/posted", donate: true, posted: true},
		{name: "donated/posted/twice", donate: true, posted: true, twice: true},
		{name: "donated-gofer-restarted/posted", donate: true, posted: true, restartGofer: true},
		{name: "gofer-calls/posted", posted: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReplayerDonating(t, tc.donate)
			r.start()
			host := filepath.Join(r.root, strings.TrimPrefix(path, "/"))
			fd := r.open(path, unix.O_CREAT|unix.O_WRONLY)
			data := bytes.Repeat([]byte("member data;"), 100)
			times := make([]byte, 32)
			for i := 0; i < 2; i++ {
				binary.LittleEndian.PutUint64(times[16*i:], setSec)
				binary.LittleEndian.PutUint64(times[16*i+8:], setNsec)
			}
			p, tp := r.mem.str(path), r.mem.alloc(times)
			calls := []*sentrypb.Call{r.syscallCall(1, unix.SYS_PWRITE64, fd, r.mem.alloc(data), uint64(len(data)), 0)}
			if tc.posted {
				calls = append(calls, r.syscallCall(1, unix.SYS_CHOWN, p, uid, gid), r.syscallCall(1, unix.SYS_CHMOD, p, mode))
			}
			calls = append(calls, r.syscallCall(1, unix.SYS_UTIMENSAT, atFDCWD64, p, tp, 0))
			for _, c := range calls {
				c.GetSyscall().Posted = tc.posted
			}
			// The first server makes them all; their replies die
			// with it.
			r.sendLost(calls)
			if got := hostMtime(t, host); got.Sec != setSec || got.Nsec != setNsec {
				t.Fatalf("the first server left the host mtime %d.%09d", got.Sec, got.Nsec)
			}
			for kill := 0; kill < 1 || (tc.twice && kill < 2); kill++ {
				if tc.restartGofer {
					r.crash()
					r.restartGofer()
				}
				r.recover(nil)
				// Apart in time from the first write: a write made again
				// now is seen in the mtime.
				time.Sleep(10 * time.Millisecond)
				if tc.twice && kill == 0 {
					r.sendLost(calls)
					continue
				}
				for i, rep := range r.send(calls) {
					if rep.Errno != 0 {
						t.Fatalf("kill %d: re-sent call %d: errno %v", kill+1, i, unix.Errno(rep.Errno))
					}
				}
			}
			var st unix.Stat_t
			if err := unix.Stat(host, &st); err != nil {
				t.Fatal(err)
			}
			if st.Mtim.Sec != setSec || st.Mtim.Nsec != setNsec {
				t.Errorf("after the re-sent calls the host mtime is %d.%09d, want %d.%09d", st.Mtim.Sec, st.Mtim.Nsec, setSec, setNsec)
			}
			if tc.posted && (st.Uid != uid || st.Gid != gid || st.Mode&0o7777 != mode) {
				t.Errorf("after the re-sent calls the file is %d:%d %#o, want %d:%d %#o", st.Uid, st.Gid, st.Mode&0o7777, uid, gid, mode)
			}
			if got, _ := os.ReadFile(host); !bytes.Equal(got, data) {
				t.Errorf("the file holds %d bytes, want %d", len(got), len(data))
			}
			if got := r.sandboxMtime(path); got.Sec != setSec || got.Nsec != setNsec {
				t.Errorf("after the re-sent calls the server's stat says mtime %d.%09d, want %d.%09d", got.Sec, got.Nsec, setSec, setNsec)
			}
		})
	}
}

// send sends calls in order, posted ones together (a posted run), with
// the seqs they have (new ones if none), and returns their replies, whose
// state is folded.
func (r *replayer) send(calls []*sentrypb.Call) []*sentrypb.Reply {
	r.t.Helper()
	reps := r.sendCalls(calls)
	for _, rep := range reps {
		r.fold(rep.State)
	}
	return reps
}

// sendLost is send whose replies the crash that follows swallows: the
// server made the calls, the client folded nothing of them.
func (r *replayer) sendLost(calls []*sentrypb.Call) {
	r.t.Helper()
	r.sendCalls(calls)
}

func (r *replayer) sendCalls(calls []*sentrypb.Call) []*sentrypb.Reply {
	r.t.Helper()
	chans := make([]<-chan *sentrypb.Reply, len(calls))
	for i, c := range calls {
		r.mu.Lock()
		if c.Seq == 0 {
			r.seq++
			c.Seq = r.seq
		}
		r.mu.Unlock()
		var err error
		if c.GetSyscall().GetPosted() {
			chans[i], err = r.conn.GoPosted(c)
		} else {
			chans[i], err = r.conn.Go(c)
		}
		if err != nil {
			r.t.Fatalf("send seq %d: %v", c.Seq, err)
		}
		if !c.GetSyscall().GetPosted() {
			// A waited call: the next goes after its reply.
			select {
			case rep := <-chans[i]:
				ch := make(chan *sentrypb.Reply, 1)
				ch <- rep
				chans[i] = ch
			case <-time.After(20 * time.Second):
				r.t.Fatalf("no reply of seq %d", c.Seq)
			}
		}
	}
	reps := make([]*sentrypb.Reply, len(calls))
	for i, ch := range chans {
		select {
		case reps[i] = <-ch:
		case <-time.After(20 * time.Second):
			r.t.Fatalf("no reply of seq %d", calls[i].Seq)
		}
	}
	return reps
}
