package server

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// TestRewriteOfGoneFile checks that a retained write re-sent with Rewrite
// after a server kill, to a file that was deleted since and that nothing
// holds, writes nothing into the new file made under the same name
// (another inode), which must keep its bytes. When the deleted inode is
// out of reach (the gofer restarted) the reply says the file is gone
// (rewrite_gone), so that the client drops the write. A Rewrite
// whose file is still there is made and fsynced before its reply, which
// says so (rewrite_durable): no Durable push will name it.
func TestRewriteOfGoneFile(t *testing.T) {
	const path = "/tmp/victim"
	for _, tc := range []struct {
		name   string
		donate bool
		// restartGofer: the gofer dies too (its handles with it).
		restartGofer bool
		// replace: how the file is deleted and a new one made under
		// its name: "host" natively, "server" through the server
		// before the kill, "" not at all (the file is still there).
		replace string
	}{
		{name: "gofer-calls/host", replace: "host"},
		{name: "gofer-calls/server", replace: "server"},
		{name: "gofer-restarted/host", restartGofer: true, replace: "host"},
		{name: "gofer-restarted/server", restartGofer: true, replace: "server"},
		{name: "donated/host", donate: true, replace: "host"},
		{name: "donated/server", donate: true, replace: "server"},
		{name: "donated-gofer-restarted/host", donate: true, restartGofer: true, replace: "host"},
		{name: "gofer-calls/kept"},
		{name: "donated/kept", donate: true},
		{name: "gofer-restarted/kept", restartGofer: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReplayerDonating(t, tc.donate)
			r.start()
			host := filepath.Join(r.root, strings.TrimPrefix(path, "/"))
			fd := r.open(path, unix.O_CREAT|unix.O_WRONLY)
			written := make(map[uint64][]byte)
			data := bytes.Repeat([]byte("old file;"), 100)
			seq := r.pwrite(fd, data, 0, written)
			writeRec, fileRec := r.retainedRecords(seq)
			r.ok(1, unix.SYS_CLOSE, fd)

			newData := []byte("the new file's own bytes\n")
			want := data
			switch tc.replace {
			case "host":
				if err := os.Remove(host); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(host, newData, 0o644); err != nil {
					t.Fatal(err)
				}
				want = newData
			case "server":
				r.remakeFile(path, newData, written)
				want = newData
			}

			r.crash()
			// Killed before the Durable covering the write reached the
			// client; the file's description was released since.
			r.fold([]*sentrypb.StateRecord{writeRec, {Key: fileRec.Key, Deleted: true}})
			if tc.restartGofer {
				r.restartGofer()
			}
			r.recover(written)
			rewrite := &sentrypb.Rewrite{Seq: seq, FileHandle: fileRec.GetFile().GetFileHandle(), Path: fileRec.GetFile().GetPath(), Offset: 0, Data: data}
			rep := r.call(&sentrypb.Call{Op: &sentrypb.Call_Rewrite{Rewrite: rewrite}}, false)
			if rep.Errno != 0 {
				t.Fatalf("Rewrite: errno %v", unix.Errno(rep.Errno))
			}
			if got, _ := os.ReadFile(host); !bytes.Equal(got, want) {
				t.Errorf("after the Rewrite the file holds %q, want %q", trunc(got), trunc(want))
			}
			switch {
			case tc.replace != "" && tc.restartGofer:
				if !rep.RewriteGone || rep.RewriteDurable || rep.Ret != 0 {
					t.Errorf("Rewrite of a gone file: ret %d gone %v durable %v, want 0 true false", rep.Ret, rep.RewriteGone, rep.RewriteDurable)
				}
				return
			case tc.replace != "":
				// The gofer that outlived the server still holds the
				// deleted inode (its dead server's handles): the write
				// may go there, made durable, or find it gone.
				if rep.RewriteGone == rep.RewriteDurable || rep.RewriteDurable && rep.Ret != int64(len(data)) {
					t.Errorf("Rewrite of a deleted file: ret %d gone %v durable %v, want gone, or durable with %d", rep.Ret, rep.RewriteGone, rep.RewriteDurable, len(data))
				}
				return
			}
			if rep.RewriteGone || !rep.RewriteDurable || rep.Ret != int64(len(data)) {
				t.Errorf("Rewrite of a reopened file: ret %d gone %v durable %v, want %d false true", rep.Ret, rep.RewriteGone, rep.RewriteDurable, len(data))
			}
		})
	}
}

// remakeFile unlinks path through the server and makes a new file of
// that name holding data, fsynced: another inode under the old name.
func (r *replayer) remakeFile(path string, data []byte, written map[uint64][]byte) {
	r.t.Helper()
	r.ok(1, unix.SYS_UNLINKAT, atFDCWD64, r.mem.str(path), 0)
	fd := r.open(path, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY)
	r.pwrite(fd, data, 0, written)
	r.ok(1, unix.SYS_FSYNC, fd)
	r.ok(1, unix.SYS_CLOSE, fd)
}

// trunc shortens b for a message.
func trunc(b []byte) []byte {
	if len(b) > 40 {
		return append(b[:40:40], "..."...)
	}
	return b
}

// TestRewriteWithoutFileHandle checks the identity a Rewrite falls back
// on when no file handle names its file (a filesystem that gives none:
// do's overlay, some FUSE mounts): the inode number and device the
// client retained with the write (Rewrite.ino and dev, from
// FileState's). A file deleted and a new one made under its name is
// another inode: the Rewrite writes nothing into it and replies
// rewrite_gone; the file still there is written (fsynced, durable).
// With the gofer restarted (its reply cache gone) a Rewrite let through
// would write the old bytes into the new file.
func TestRewriteWithoutFileHandle(t *testing.T) {
	const path = "/tmp/victim"
	for _, tc := range []struct {
		name string
		// replace: how the file is replaced by a new one of its name:
		// "host" natively (made, then renamed over it), "server"
		// through the server before the kill (unlinked, then made),
		// "" not at all.
		replace string
		// otherDev retains another device than the file's.
		otherDev bool
		// restartGofer: the gofer dies too.
		restartGofer bool
	}{
		{name: "replaced-on-host", replace: "host"},
		{name: "replaced-through-server", replace: "server"},
		{name: "gofer-restarted/replaced-on-host", replace: "host", restartGofer: true},
		{name: "gofer-restarted/replaced-through-server", replace: "server", restartGofer: true},
		{name: "kept"},
		{name: "gofer-restarted/kept", restartGofer: true},
		{name: "kept-other-device", otherDev: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReplayer(t)
			r.start()
			host := filepath.Join(r.root, strings.TrimPrefix(path, "/"))
			fd := r.open(path, unix.O_CREAT|unix.O_WRONLY)
			written := make(map[uint64][]byte)
			data := bytes.Repeat([]byte("old file;"), 100)
			seq := r.pwrite(fd, data, 0, written)
			_, fileRec := r.retainedRecords(seq)
			r.ok(1, unix.SYS_CLOSE, fd)
			fs := fileRec.GetFile()
			var hostSt unix.Stat_t
			if err := unix.Stat(host, &hostSt); err != nil {
				t.Fatal(err)
			}
			if fs.Ino != hostSt.Ino || fs.Dev != hostSt.Dev {
				t.Fatalf("FileState inode %d device %#x, want the file's: %d %#x", fs.Ino, fs.Dev, hostSt.Ino, hostSt.Dev)
			}

			newData := []byte("the new file's own bytes\n")
			want := data
			switch tc.replace {
			case "host":
				tmp := host + ".new"
				if err := os.WriteFile(tmp, newData, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(tmp, host); err != nil {
					t.Fatal(err)
				}
				want = newData
			case "server":
				r.remakeFile(path, newData, written)
				want = newData
			}
			r.crash()
			r.fold([]*sentrypb.StateRecord{{Key: fileRec.Key, Deleted: true}})
			if tc.restartGofer {
				r.restartGofer()
			}
			r.recover(written)
			dev := fs.Dev
			if tc.otherDev {
				dev++
			}
			// No file handle: the filesystem gave none.
			rewrite := &sentrypb.Rewrite{Seq: seq, Path: fs.Path, Offset: 0, Data: data, Ino: fs.Ino, Dev: dev}
			rep := r.call(&sentrypb.Call{Op: &sentrypb.Call_Rewrite{Rewrite: rewrite}}, false)
			if rep.Errno != 0 {
				t.Fatalf("Rewrite: errno %v", unix.Errno(rep.Errno))
			}
			if got, _ := os.ReadFile(host); !bytes.Equal(got, want) {
				t.Errorf("after the Rewrite the file holds %q, want %q", trunc(got), trunc(want))
			}
			if tc.replace != "" || tc.otherDev {
				if !rep.RewriteGone || rep.RewriteDurable || rep.Ret != 0 {
					t.Errorf("Rewrite of another inode: ret %d gone %v durable %v, want 0 true false", rep.Ret, rep.RewriteGone, rep.RewriteDurable)
				}
				return
			}
			if rep.RewriteGone || !rep.RewriteDurable || rep.Ret != int64(len(data)) {
				t.Errorf("Rewrite of the file: ret %d gone %v durable %v, want %d false true", rep.Ret, rep.RewriteGone, rep.RewriteDurable, len(data))
			}
		})
	}
}

// TestRestoreMappedWithoutFileHandle: a mapped file restored by path (no
// file handle: a filesystem that gives none) must be the inode its
// record names (MappedFileState.ino and dev): a new file renamed over
// its name is not restored as the mapping's file (it is lost, Restore's
// count), and neither is the file itself under another device.
func TestRestoreMappedWithoutFileHandle(t *testing.T) {
	const path = "/tmp/m"
	for _, tc := range []struct {
		name     string
		replace  bool
		otherDev bool
		wantLost int64
	}{
		{name: "kept"},
		{name: "replaced", replace: true, wantLost: 1},
		{name: "kept-other-device", otherDev: true, wantLost: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReplayer(t)
			r.start()
			host := filepath.Join(r.root, strings.TrimPrefix(path, "/"))
			fd := r.open(path, unix.O_CREAT|unix.O_RDWR)
			r.ok(1, unix.SYS_FTRUNCATE, fd, 4096)
			plan := r.sys(1, unix.SYS_MMAP, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED, fd, 0).GetMmap()
			if plan == nil {
				t.Fatal("no mmap plan")
			}
			r.ok(1, unix.SYS_CLOSE, fd)
			var st unix.Stat_t
			if err := unix.Stat(host, &st); err != nil {
				t.Fatal(err)
			}
			if tc.replace {
				tmp := host + ".new"
				if err := os.WriteFile(tmp, make([]byte, 4096), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(tmp, host); err != nil {
					t.Fatal(err)
				}
			}
			dev := st.Dev
			if tc.otherDev {
				dev++
			}
			key := statekey.Mapped(plan.FileId).String()
			r.mu.Lock()
			m := r.log[key].GetMapped()
			if m == nil {
				r.mu.Unlock()
				t.Fatalf("no record %s", key)
			}
			// As a filesystem without handles has it.
			m.FileHandle, m.Ino, m.Dev = nil, st.Ino, dev
			r.mu.Unlock()
			if rep := r.recover(nil); rep.Ret != tc.wantLost {
				t.Errorf("Restore lost %d objects, want %d", rep.Ret, tc.wantLost)
			}
		})
	}
}
