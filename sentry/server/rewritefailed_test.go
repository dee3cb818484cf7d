package server

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestRewriteFailedKeptByDurable: a Rewrite through a restored
// description whose write fails (ENOSPC), or is short (EIO), is not (all)
// in the file, so the
// description's next Durable push, a later write's, must not cover it
// (it would drop it at the client, its bytes lost for good); the next
// recovery's Rewrite, succeeding, puts it in the file. A truncation to 0
// of the file supersedes it: its Durable then covers it; another resize
// is refused (EIO) until then.
func TestRewriteFailedKeptByDurable(t *testing.T) {
	for _, tc := range []struct {
		name string
		// short: the Rewrite's write is short (half its bytes) instead
		// of failing: EIO.
		short bool
		// truncate: the file is truncated to 0 before the later write.
		truncate bool
		// resize: an ftruncate to a size other than 0 after the failed
		// Rewrite: refused (EIO), the failed write still held.
		resize bool
		// reopened: the file was closed, and the client has no record
		// of it left: the Rewrite reopens it, and a short write must
		// not be answered rewrite_durable (the client would drop it).
		reopened bool
	}{
		{name: "later-write"},
		{name: "short/later-write", short: true},
		{name: "short/reopened", short: true, reopened: true},
		{name: "truncated", truncate: true},
		{name: "resized", resize: true},
	} {
		truncate := tc.truncate
		t.Run(tc.name, func(t *testing.T) {
			const path = "/tmp/failed"
			r := newReplayer(t)
			r.start()
			host := filepath.Join(r.root, "tmp", "failed")
			fd := r.open(path, unix.O_CREAT|unix.O_WRONLY)
			written := make(map[uint64][]byte)
			first := bytes.Repeat([]byte("first;"), 10)
			seq := r.pwrite(fd, first, 0, written)
			writeRec, fileRec := r.retainedRecords(seq)
			file := writeRec.GetWrite().GetFile()
			if tc.reopened {
				r.ok(1, unix.SYS_CLOSE, fd)
			}
			// The host lost the bytes (else the Rewrite finds them
			// there and writes nothing).
			if err := os.WriteFile(host, bytes.Repeat([]byte("x"), len(first)), 0o644); err != nil {
				t.Fatal(err)
			}

			rc := &rpcCounter{counts: make(map[string]int), failWrites: !tc.short, shortWrites: tc.short}
			r.rc = rc
			r.crash()
			// Killed before the Durable covering the write reached the
			// client.
			if tc.reopened {
				r.fold([]*sentrypb.StateRecord{writeRec, {Key: fileRec.Key, Deleted: true}})
			} else {
				r.fold([]*sentrypb.StateRecord{writeRec, fileRec})
			}
			if tc.short {
				// Else its reply cache answers the write in full.
				r.restartGofer()
			}
			r.recover(written)
			rewrite := &sentrypb.Rewrite{Seq: seq, FileHandle: fileRec.GetFile().GetFileHandle(), Path: fileRec.GetFile().GetPath(), Data: first}
			wantErr := unix.ENOSPC
			if tc.short {
				wantErr = unix.EIO
			}
			if rep := r.call(&sentrypb.Call{Op: &sentrypb.Call_Rewrite{Rewrite: rewrite}}, false); rep.Errno != int32(wantErr) || rep.RewriteDurable {
				t.Fatalf("Rewrite: ret %d errno %v durable %v, want %v", rep.Ret, unix.Errno(rep.Errno), rep.RewriteDurable, wantErr)
			}
			if tc.reopened {
				return
			}
			rc.mu.Lock()
			rc.failWrites, rc.shortWrites = false, false
			rc.mu.Unlock()

			if truncate {
				r.ok(1, unix.SYS_FTRUNCATE, fd, 0)
			}
			if tc.resize {
				// Made after it, the description's later writes
				// (held with it) would bring back what it removed at
				// the next recovery; made without them, the failed
				// write's bytes would be lost.
				if rep := r.sys(1, unix.SYS_FTRUNCATE, fd, 30); rep.Errno != int32(unix.EIO) {
					t.Fatalf("ftruncate(30) with a failed Rewrite held: ret %d errno %v, want EIO", rep.Ret, unix.Errno(rep.Errno))
				}
				if !r.retains(seq) {
					t.Fatal("the refused ftruncate dropped the failed write")
				}
			}
			later := []byte("later")
			laterSeq := r.pwrite(fd, later, 100, written)
			r.ok(1, unix.SYS_FSYNC, fd)
			if got := r.durableSeq(file); truncate && got < laterSeq {
				t.Fatalf("after ftruncate(0) and fsync the Durable is %d, want %d", got, laterSeq)
			} else if !truncate && got >= seq {
				t.Fatalf("the later write's Durable is %d, covering the failed write %d", got, seq)
			}
			if truncate {
				if r.retains(seq) {
					t.Error("the truncation to 0 did not drop the failed write")
				}
				return
			}
			if !r.retains(seq) || !r.retains(laterSeq) {
				t.Fatalf("retained: failed write %v, later %v; want both", r.retains(seq), r.retains(laterSeq))
			}

			// The next recovery's Rewrites succeed. The gofer restarts:
			// its reply cache, which has the original write, would
			// answer the Rewrite without writing (the host lost it).
			r.crash()
			r.restartGofer()
			r.recover(written)
			r.rewriteRetained(written)
			want := append(append(append([]byte{}, first...), make([]byte, 100-len(first))...), later...)
			if got, _ := os.ReadFile(host); !bytes.Equal(got, want) {
				t.Errorf("the file holds %q, want %q", got, want)
			}
		})
	}
}
