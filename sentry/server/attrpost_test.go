package server

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
)

// TestAttrRunRides counts the gofer SetStats of tar's posted chown, chmod
// and utimensat of a file (one merged SetStat, attrrun.go) when the run
// posts it (kernel.PostAttrRun): it rides the thread's next gofer call
// (a posted mkdir; a stat after it sees the change), or goes alone when
// no call comes or a waited call waits for the run; the calls' replies come after it, with the errnos they
// had when the run waited for it (a merged SetStat that fails is sent
// again part by part).
func TestAttrRunRides(t *testing.T) {
	tests := []struct {
		name string
		// off turns posting off (Config.NoPostedSetStats).
		off bool
		// next is the thread's call after the run: "mkdir", posted
		// (a gofer Mkdir: it carries the change), then a stat of the
		// file, or "getppid", waited, with no gofer call (the change
		// goes alone).
		next string
		// failMerged, failAll: rpcCounter's failMerged, failSetStats.
		failMerged, failAll bool
		// alone and carried are the SetStats sent alone and carried
		// by another call.
		alone, carried int
		wantErrno      unix.Errno
	}{
		{name: "rides the next call", next: "mkdir", carried: 1},
		{name: "alone without a next call", next: "getppid", alone: 1},
		{name: "off", off: true, next: "mkdir", alone: 1},
		// Carried, failed (sent alone again: EIO), then each part.
		{name: "the merged SetStat fails", next: "mkdir", failMerged: true, carried: 1, alone: 4},
		{name: "every SetStat fails", next: "mkdir", failAll: true, carried: 1, alone: 4, wantErrno: unix.EIO},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A carried SetStat's case waits long for its carrier (a
			// loaded machine fired the 1 ms timer before the mkdir came).
			var opts []goferclient.GoferConnOption
			if tc.carried > 0 {
				opts = append(opts, goferclient.WithPostDelay(time.Hour))
			}
			e, rc, _ := countingEnvCfg(t, Config{NoPostedSetStats: tc.off}, opts...)
			freezeClock(e)
			m := e.mem
			sb := m.zeros(144)
			times := make([]byte, 32)
			binary.LittleEndian.PutUint64(times[0:], 1000)
			binary.LittleEndian.PutUint64(times[16:], 2000)
			tp := m.alloc(times)
			name := fmt.Sprintf("tmp/r%d", i)
			if err := os.WriteFile(filepath.Join(e.root, name), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			p := m.str("/" + name)
			e.ok(1, unix.SYS_NEWFSTATAT, atFDCWD64, p, sb, 0) // looked up before
			rc.take()
			rc.mu.Lock()
			rc.failMerged, rc.failSetStats = tc.failMerged, tc.failAll
			rc.mu.Unlock()
			replies := []<-chan *sentrypb.Reply{
				e.goPosted(1, unix.SYS_CHOWN, p, 1000, 1001),
				e.goPosted(1, unix.SYS_CHMOD, p, 0o640),
				e.goPosted(1, unix.SYS_UTIMENSAT, atFDCWD64, p, tp, 0),
			}
			wantUID, wantMode, wantMtime := uint32(1000), uint32(0o640), int64(2000)
			if tc.failAll {
				wantUID, wantMode = 0, 0o644
				var st unix.Stat_t
				unix.Stat(filepath.Join(e.root, name), &st)
				wantMtime = st.Mtim.Sec
			}
			switch tc.next {
			case "mkdir":
				replies = append(replies, e.goPosted(1, unix.SYS_MKDIRAT, atFDCWD64, m.str("/"+name+".d"), 0o755))
				e.ok(1, unix.SYS_NEWFSTATAT, atFDCWD64, p, sb, 0)
				if uid, mode, mtime := m.u32(sb+28), m.u32(sb+24)&0o7777, int64(binary.LittleEndian.Uint64(m.bytes(sb+88, 8))); uid != wantUID || mode != wantMode || mtime != wantMtime {
					t.Errorf("the next stat: uid %d mode %#o mtime %d, want %d, %#o, %d", uid, mode, mtime, wantUID, wantMode, wantMtime)
				}
			case "getppid":
				e.ok(1, unix.SYS_GETPPID)
			}
			for j, ch := range replies {
				select {
				case r := <-ch:
					if j < 3 && unix.Errno(r.Errno) != tc.wantErrno || j == 3 && r.Errno != 0 {
						t.Errorf("posted call %d: errno %v, want %v", j, unix.Errno(r.Errno), tc.wantErrno)
					}
				case <-time.After(20 * time.Second):
					t.Fatalf("no reply of posted call %d", j)
				}
			}
			counts := rc.take()
			if counts["SetStat"] != tc.alone || counts[carriedKey] != tc.carried {
				t.Errorf("SetStats alone %d, carried %d; want %d, %d (%s)", counts["SetStat"], counts[carriedKey], tc.alone, tc.carried, fmtCounts(counts))
			}
			var st unix.Stat_t
			if err := unix.Stat(filepath.Join(e.root, name), &st); err != nil {
				t.Fatal(err)
			}
			if st.Uid != wantUID || st.Mode&0o7777 != wantMode || st.Mtim.Sec != wantMtime {
				t.Errorf("the file: uid %d mode %#o mtime %d, want %d, %#o, %d", st.Uid, st.Mode&0o7777, st.Mtim.Sec, wantUID, wantMode, wantMtime)
			}
		})
	}
}
