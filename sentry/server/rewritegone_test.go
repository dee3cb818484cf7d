package server

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
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
				r.ok(1, unix.SYS_UNLINKAT, atFDCWD64, r.mem.str(path), 0)
				fd2 := r.open(path, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY)
				r.pwrite(fd2, newData, 0, written)
				r.ok(1, unix.SYS_FSYNC, fd2)
				r.ok(1, unix.SYS_CLOSE, fd2)
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

// trunc shortens b for a message.
func trunc(b []byte) []byte {
	if len(b) > 40 {
		return append(b[:40:40], "..."...)
	}
	return b
}
