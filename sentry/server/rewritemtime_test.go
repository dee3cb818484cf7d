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
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestRewriteKeepsMtime checks that a retained write re-sent with Rewrite
// after a server kill leaves the file's mtime as the application set it
// after the write (tar: write a member, then utimensat it to the
// archive's time), both on the host and as the server's stat says (its
// attribute cache is told). The write is made again when the gofer's
// reply cache cannot answer it: with donated fds (the new server's own
// pwrite) and after a gofer restart. A second server kill re-sends the
// same Rewrite, which must keep the mtime again. Putting the mtime back
// costs the Rewrite one gofer SetStat, and with a donated fd no Stat
// (its fstat); if the SetStat fails the Rewrite still succeeds.
func TestRewriteKeepsMtime(t *testing.T) {
	const path = "/tmp/member"
	// 2001-01-01T00:00:00.25Z, tar's restored time.
	const setSec, setNsec = 978307200, 250_000_000
	for _, tc := range []struct {
		name   string
		donate bool
		// file is the written file's state at the kill.
		file rewrittenFile
		// restartGofer: the gofer dies too, its reply cache with it.
		restartGofer bool
		// twice: a second server kill, and the Rewrite re-sent again.
		twice bool
		// failSetStats: the new servers' gofer SetStats fail (EIO).
		failSetStats bool
		// killedBeforeKeep: the first new server's SetStats fail, as
		// if it was killed between the Rewrite's write and the SetStat
		// putting the mtime back, and a second one gets the Rewrite
		// again.
		killedBeforeKeep bool
		// lost: the host file no longer holds the write's bytes (as
		// after a lost page cache): the Rewrite writes them.
		lost bool
	}{
		{name: "gofer-calls/open", file: fileOpen},
		{name: "gofer-calls/reopened", file: fileReopened},
		{name: "gofer-restarted/open", file: fileOpen, restartGofer: true},
		{name: "gofer-restarted/reopened", file: fileReopened, restartGofer: true},
		{name: "donated/open", donate: true, file: fileOpen},
		{name: "donated/closed", donate: true, file: fileClosed},
		{name: "donated/reopened", donate: true, file: fileReopened},
		{name: "donated/open/twice", donate: true, file: fileOpen, twice: true},
		{name: "donated/reopened/twice", donate: true, file: fileReopened, twice: true},
		{name: "donated-gofer-restarted/reopened", donate: true, file: fileReopened, restartGofer: true},
		{name: "donated/open/setstat-fails", donate: true, file: fileOpen, failSetStats: true},
		{name: "donated/reopened/setstat-fails", donate: true, file: fileReopened, failSetStats: true},
		{name: "donated/open/killed-before-keep", donate: true, file: fileOpen, killedBeforeKeep: true},
		{name: "donated/reopened/killed-before-keep", donate: true, file: fileReopened, killedBeforeKeep: true},
		{name: "gofer-restarted/open/killed-before-keep", file: fileOpen, restartGofer: true, killedBeforeKeep: true},
		{name: "donated/open/lost", donate: true, file: fileOpen, lost: true},
		{name: "donated/reopened/lost", donate: true, file: fileReopened, lost: true},
		{name: "gofer-restarted/reopened/lost", file: fileReopened, restartGofer: true, lost: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReplayerDonating(t, tc.donate)
			r.start()
			host := filepath.Join(r.root, strings.TrimPrefix(path, "/"))
			fd := r.open(path, unix.O_CREAT|unix.O_WRONLY)
			written := make(map[uint64][]byte)
			data := bytes.Repeat([]byte("member data;"), 100)
			seq := r.pwrite(fd, data, 0, written)
			writeRec, fileRec := r.retainedRecords(seq)
			if tc.file != fileOpen {
				r.ok(1, unix.SYS_CLOSE, fd)
			}
			times := make([]byte, 32)
			for i := 0; i < 2; i++ {
				binary.LittleEndian.PutUint64(times[16*i:], setSec)
				binary.LittleEndian.PutUint64(times[16*i+8:], setNsec)
			}
			r.ok(1, unix.SYS_UTIMENSAT, atFDCWD64, r.mem.str(path), r.mem.alloc(times), 0)
			want := hostMtime(t, host)
			if want.Sec != setSec {
				t.Fatalf("utimensat left the host mtime %v", want)
			}

			// The servers started from now on count their gofer RPCs.
			rc := &rpcCounter{counts: make(map[string]int), failSetStats: tc.failSetStats || tc.killedBeforeKeep}
			r.rc = rc
			rewrite := &sentrypb.Rewrite{Seq: seq, FileHandle: fileRec.GetFile().GetFileHandle(), Path: fileRec.GetFile().GetPath(), Offset: 0, Data: data}
			if tc.lost {
				other := bytes.Repeat([]byte("x"), len(data))
				if err := os.WriteFile(host, other, 0o644); err != nil {
					t.Fatal(err)
				}
				at := time.Unix(setSec, setNsec)
				if err := os.Chtimes(host, at, at); err != nil {
					t.Fatal(err)
				}
			}
			for kill := 0; kill < 1 || ((tc.twice || tc.killedBeforeKeep) && kill < 2); kill++ {
				if tc.killedBeforeKeep && kill == 1 {
					rc.mu.Lock()
					rc.failSetStats = false
					rc.mu.Unlock()
				}
				r.crash()
				// Killed before the Durable covering the write reached
				// the client (the flusher may have made it durable: its
				// push is lost with the server, and the file, closed,
				// was released after it).
				r.fold([]*sentrypb.StateRecord{writeRec})
				if tc.file == fileReopened {
					r.fold([]*sentrypb.StateRecord{{Key: fileRec.Key, Deleted: true}})
				} else {
					r.fold([]*sentrypb.StateRecord{fileRec})
				}
				if tc.restartGofer {
					r.restartGofer()
				}
				r.recover(written)
				rc.take()
				rep := r.call(&sentrypb.Call{Op: &sentrypb.Call_Rewrite{Rewrite: proto.Clone(rewrite).(*sentrypb.Rewrite)}}, false)
				if rep.Errno != 0 || rep.Ret != int64(len(data)) {
					t.Fatalf("kill %d: Rewrite: ret %d errno %v", kill+1, rep.Ret, unix.Errno(rep.Errno))
				}
				// Before this test's own reads move it.
				atime := hostAtime(t, host)
				counts := rc.take()
				t.Logf("kill %d: the Rewrite's gofer RPCs: %s", kill+1, fmtCounts(counts))
				if n := setStats(counts); n != 1 {
					t.Errorf("kill %d: the Rewrite sent %d SetStats, want 1", kill+1, n)
				}
				if tc.donate && counts["Stat"] != 0 {
					t.Errorf("kill %d: the Rewrite sent %d Stats with a donated fd, want 0", kill+1, counts["Stat"])
				}
				if tc.donate && r.gc.Donations() == 0 {
					t.Errorf("kill %d: the new server got no donated fd", kill+1)
				}
				if got, _ := os.ReadFile(host); !bytes.Equal(got, data) {
					t.Errorf("kill %d: the file holds %d bytes, want %d", kill+1, len(got), len(data))
				}
				if tc.failSetStats || tc.killedBeforeKeep && kill == 0 {
					// The mtime moves if the write is made, as before
					// Rewrites kept it.
					continue
				}
				if got := hostMtime(t, host); got != want {
					t.Errorf("kill %d: after the Rewrite the host mtime is %d.%09d, want %d.%09d", kill+1, got.Sec, got.Nsec, want.Sec, want.Nsec)
				}
				if kill == 0 && atime != want {
					t.Errorf("kill %d: after the Rewrite the host atime is %d.%09d, want %d.%09d", kill+1, atime.Sec, atime.Nsec, want.Sec, want.Nsec)
				}
				if got := r.sandboxMtime(path); got != want {
					t.Errorf("kill %d: after the Rewrite the server's stat says mtime %d.%09d, want %d.%09d", kill+1, got.Sec, got.Nsec, want.Sec, want.Nsec)
				}
			}
		})
	}
}

// rewrittenFile is the state at a server kill of a file whose write the
// client retains.
type rewrittenFile int

const (
	// fileOpen: an fd names the description; Restore rebuilds it and
	// the Rewrite writes through it.
	fileOpen rewrittenFile = iota
	// fileClosed: the application closed it, the server kept the
	// description for the write's durability, and the client its
	// FileState: Restore rebuilds it as for fileOpen.
	fileClosed
	// fileReopened: closed, and the client has no FileState of it
	// left: the Rewrite reopens the file by its handle or path, and
	// fsyncs it before its reply.
	fileReopened
)

func hostMtime(t *testing.T, path string) unix.Timespec {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Mtim
}

func hostAtime(t *testing.T, path string) unix.Timespec {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Atim
}

// sandboxMtime is path's mtime as the application's stat sees it.
func (r *replayer) sandboxMtime(path string) unix.Timespec {
	r.t.Helper()
	const sizeofStat, mtimeOff = 144, 88 // struct stat on amd64: st_mtim
	buf := r.mem.zeros(sizeofStat)
	r.ok(1, unix.SYS_NEWFSTATAT, atFDCWD64, r.mem.str(path), buf, 0)
	b := r.mem.bytes(buf, sizeofStat)
	return unix.Timespec{Sec: int64(binary.LittleEndian.Uint64(b[mtimeOff:])), Nsec: int64(binary.LittleEndian.Uint64(b[mtimeOff+8:]))}
}
