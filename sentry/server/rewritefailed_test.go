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

// TestRewriteFailedKeptByDurable: a Rewrite through a restored
// description whose write fails (ENOSPC), or is short (EIO), is not (all)
// in the file, so the
// description's next Durable push, a later write's, must not drop it at
// the client (its bytes would be lost for good): it passes it naming it
// held, and the later write, durable, is dropped (before, the Durable
// stayed below the failed write, and the client kept every later write
// of the description: an appending application's grew without bound);
// to a client without FeatureDurableHeld it stays below it. The next
// recovery's Rewrite, succeeding, puts it in the file. A truncation to 0
// of the file supersedes it: its Durable then covers it; another resize
// is refused (EIO) until then.
func TestRewriteFailedKeptByDurable(t *testing.T) {
	for _, held := range []bool{true, false} {
		testRewriteFailedKeptByDurable(t, held)
	}
}

func testRewriteFailedKeptByDurable(t *testing.T, held bool) {
	prefix := ""
	if !held {
		prefix = "no-held/"
	}
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
		t.Run(prefix+tc.name, func(t *testing.T) {
			r := newReplayer(t)
			r.noHeld = !held
			r.start()
			written := make(map[uint64][]byte)
			fw := r.failRewrite("/tmp/failed", tc.short, tc.reopened, written)
			if tc.reopened {
				return
			}
			fd, seq, file := fw.fd, fw.seq, fw.file

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
			if truncate {
				r.ok(1, unix.SYS_FSYNC, fd)
			} else {
				// It reports the failed write (TestRewriteFailedFsync),
				// and syncs the later one all the same.
				r.fails(unix.EIO, unix.SYS_FSYNC, fd)
			}
			if got := r.durableSeq(file); (truncate || held) && got < laterSeq {
				t.Fatalf("after the later write's fsync the Durable is %d, want %d", got, laterSeq)
			} else if !truncate && !held && got >= seq {
				t.Fatalf("the later write's Durable is %d, covering the failed write %d", got, seq)
			}
			if truncate {
				if r.retains(seq) {
					t.Error("the truncation to 0 did not drop the failed write")
				}
				return
			}
			if !r.retains(seq) || r.retains(laterSeq) != !held {
				t.Fatalf("retained: failed write %v, later %v; want the failed one, the later one %v", r.retains(seq), r.retains(laterSeq), !held)
			}

			// The next recovery's Rewrites succeed. The gofer restarts:
			// its reply cache, which has the original write, would
			// answer the Rewrite without writing (the host lost it).
			r.crash()
			r.restartGofer()
			r.recover(written)
			r.rewriteRetained(written)
			want := append(append(append([]byte{}, fw.data...), make([]byte, 100-len(fw.data))...), later...)
			if got, _ := os.ReadFile(fw.host); !bytes.Equal(got, want) {
				t.Errorf("the file holds %q, want %q", got, want)
			}
		})
	}
}

// TestRewriteFailedFsync: a failed Rewrite's write held (not in the
// file) is reported as Linux reports a writeback error (errseq): EIO to
// the next fsync, fdatasync or sync_file_range that waits of each
// description of the file, once, and to the next syncfs through each
// description of its file system, once, apart from its fsyncs. A
// sync_file_range that does not wait, another file's fsync, and any
// call after the write is superseded (a truncation to 0) or made (the
// next recovery's Rewrite) report nothing. The write is synced with the
// rest all the same (TestRewriteFailedKeptByDurable).
func TestRewriteFailedFsync(t *testing.T) {
	const (
		waitAfter  = unix.SYNC_FILE_RANGE_WRITE | unix.SYNC_FILE_RANGE_WAIT_AFTER
		waitBefore = unix.SYNC_FILE_RANGE_WAIT_BEFORE
	)
	for _, tc := range []struct {
		name string
		// after runs on the server whose Rewrite of fw failed.
		after func(r *replayer, fw failedWrite, written map[uint64][]byte)
	}{
		{"fsync once", func(r *replayer, fw failedWrite, _ map[uint64][]byte) {
			r.fails(unix.EIO, unix.SYS_FSYNC, fw.fd)
			r.ok(1, unix.SYS_FSYNC, fw.fd)
			r.ok(1, unix.SYS_FDATASYNC, fw.fd)
		}},
		{"fdatasync once", func(r *replayer, fw failedWrite, _ map[uint64][]byte) {
			r.fails(unix.EIO, unix.SYS_FDATASYNC, fw.fd)
			r.ok(1, unix.SYS_FDATASYNC, fw.fd)
			r.ok(1, unix.SYS_FSYNC, fw.fd)
		}},
		{"sync_file_range waiting after", func(r *replayer, fw failedWrite, _ map[uint64][]byte) {
			r.fails(unix.EIO, unix.SYS_SYNC_FILE_RANGE, fw.fd, 0, 0, waitAfter)
			r.ok(1, unix.SYS_SYNC_FILE_RANGE, fw.fd, 0, 0, waitAfter)
			r.ok(1, unix.SYS_FSYNC, fw.fd)
		}},
		{"sync_file_range waiting before", func(r *replayer, fw failedWrite, _ map[uint64][]byte) {
			r.fails(unix.EIO, unix.SYS_SYNC_FILE_RANGE, fw.fd, 0, 4096, waitBefore)
			r.ok(1, unix.SYS_FSYNC, fw.fd)
		}},
		{"sync_file_range not waiting", func(r *replayer, fw failedWrite, _ map[uint64][]byte) {
			r.ok(1, unix.SYS_SYNC_FILE_RANGE, fw.fd, 0, 0, unix.SYNC_FILE_RANGE_WRITE)
			r.fails(unix.EIO, unix.SYS_FSYNC, fw.fd)
		}},
		{"each description once", func(r *replayer, fw failedWrite, _ map[uint64][]byte) {
			fd2 := r.open("/tmp/failed", unix.O_RDONLY)
			r.fails(unix.EIO, unix.SYS_FSYNC, fw.fd)
			r.ok(1, unix.SYS_FSYNC, fw.fd)
			r.fails(unix.EIO, unix.SYS_FSYNC, fd2)
			r.ok(1, unix.SYS_FSYNC, fd2)
		}},
		{"syncfs once, apart from fsync", func(r *replayer, fw failedWrite, _ map[uint64][]byte) {
			r.fails(unix.EIO, unix.SYS_SYNCFS, fw.fd)
			r.ok(1, unix.SYS_SYNCFS, fw.fd)
			r.fails(unix.EIO, unix.SYS_FSYNC, fw.fd)
			r.ok(1, unix.SYS_FSYNC, fw.fd)
			other := r.open("/tmp/other", unix.O_CREAT|unix.O_WRONLY)
			r.fails(unix.EIO, unix.SYS_SYNCFS, other)
			r.ok(1, unix.SYS_SYNCFS, other)
		}},
		{"another file's fsync", func(r *replayer, fw failedWrite, _ map[uint64][]byte) {
			other := r.open("/tmp/other", unix.O_CREAT|unix.O_WRONLY)
			r.ok(1, unix.SYS_FSYNC, other)
			r.fails(unix.EIO, unix.SYS_FSYNC, fw.fd)
		}},
		{"superseded by a truncation to 0", func(r *replayer, fw failedWrite, _ map[uint64][]byte) {
			r.ok(1, unix.SYS_FTRUNCATE, fw.fd, 0)
			r.ok(1, unix.SYS_FSYNC, fw.fd)
			r.ok(1, unix.SYS_SYNCFS, fw.fd)
		}},
		{"made at the next recovery", func(r *replayer, fw failedWrite, written map[uint64][]byte) {
			r.crash()
			r.restartGofer() // its reply cache would answer the Rewrite unwritten
			r.recover(written)
			r.rewriteRetained(written)
			r.ok(1, unix.SYS_FSYNC, fw.fd)
			r.ok(1, unix.SYS_SYNCFS, fw.fd)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReplayer(t)
			r.start()
			written := make(map[uint64][]byte)
			tc.after(r, r.failRewrite("/tmp/failed", false, false, written), written)
		})
	}
}

// TestRewriteFailedReceivedAgain: a Rewrite whose write failed through a
// restored description, received again by the same server (a duplicate),
// is made through that description: made, it ends the failure, so the
// description's Durable covers it and the writes after it (the client
// drops them) and a resize is made; failing again, it is a new failure,
// reported once more to the next fsync; superseded meanwhile by a
// truncation to 0, nothing is written (it would bring back what the
// truncation removed) and the client drops it. Before, the duplicate
// reopened the file, and the failed entry held the description's
// Durable below it until the server's end: the client kept every later
// write of the description, and resizes failed EIO.
func TestRewriteFailedReceivedAgain(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(r *replayer, fw failedWrite, written map[uint64][]byte)
	}{
		{"made", func(r *replayer, fw failedWrite, written map[uint64][]byte) {
			laterSeq := r.pwrite(fw.fd, []byte("later"), 100, written)
			r.fails(unix.EIO, unix.SYS_FSYNC, fw.fd)
			r.rewriteAgain(fw, 0)
			r.ok(1, unix.SYS_FSYNC, fw.fd)
			if got := r.durableSeq(fw.file); got < laterSeq {
				r.t.Errorf("Durable after the Rewrite made and an fsync: %d, want %d (the later write's)", got, laterSeq)
			}
			if r.retains(fw.seq) || r.retains(laterSeq) {
				r.t.Errorf("retained: the Rewrite's write %v, the later one %v; want neither", r.retains(fw.seq), r.retains(laterSeq))
			}
			r.ok(1, unix.SYS_FTRUNCATE, fw.fd, 30)
		}},
		{"failing again", func(r *replayer, fw failedWrite, _ map[uint64][]byte) {
			r.fails(unix.EIO, unix.SYS_FSYNC, fw.fd)
			fw.rc.mu.Lock()
			fw.rc.failWrites = true
			fw.rc.mu.Unlock()
			r.rewriteAgain(fw, unix.ENOSPC)
			r.fails(unix.EIO, unix.SYS_FSYNC, fw.fd)
			r.ok(1, unix.SYS_FSYNC, fw.fd)
			fw.rc.mu.Lock()
			fw.rc.failWrites = false
			fw.rc.mu.Unlock()
			r.rewriteAgain(fw, 0)
			r.ok(1, unix.SYS_FSYNC, fw.fd)
			if got := r.durableSeq(fw.file); got < fw.seq {
				r.t.Errorf("Durable after the third Rewrite: %d, want %d", got, fw.seq)
			}
		}},
		{"superseded", func(r *replayer, fw failedWrite, _ map[uint64][]byte) {
			r.ok(1, unix.SYS_FTRUNCATE, fw.fd, 0)
			fw.rc.take()
			if rep := r.rewriteAgain(fw, 0); !rep.RewriteDurable {
				r.t.Error("the superseded Rewrite is not answered rewrite_durable: the client keeps it")
			}
			if n := fw.rc.take()["Write"]; n != 0 {
				r.t.Errorf("%d gofer writes for a Rewrite a truncation to 0 superseded, want none", n)
			}
			if st, err := os.Stat(fw.host); err != nil || st.Size() != 0 {
				r.t.Errorf("the truncated file: %v, %v; want it empty", st, err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReplayer(t)
			r.start()
			written := make(map[uint64][]byte)
			tc.run(r, r.failRewrite("/tmp/failed", false, false, written), written)
		})
	}
}

// TestRewriteFailedCovered: a later write that covers a failed Rewrite's
// write whole, through its description or another of the file, takes its
// place: the client drops the failed one when it retains the later one
// (replaylog's overlapLocked), and the server no longer holds the
// description's Durable below it, so its later writes are dropped too
// once durable and a resize is made. A write that covers part of it, or
// another file's, leaves it held (fsync EIO, resize EIO). Before, the
// failed entry held the description's Durable, and the file's resizes,
// for the rest of the session.
func TestRewriteFailedCovered(t *testing.T) {
	whole := bytes.Repeat([]byte("later;"), 10) // the failed write's 60 bytes, at 0
	for _, tc := range []struct {
		name string
		// write makes the later write (returning its fd) after the
		// failed Rewrite of fw.
		write   func(r *replayer, fw failedWrite, written map[uint64][]byte) uint64
		covered bool
	}{
		{"through its description", func(r *replayer, fw failedWrite, written map[uint64][]byte) uint64 {
			r.pwrite(fw.fd, whole, 0, written)
			return fw.fd
		}, true},
		{"through another description", func(r *replayer, fw failedWrite, written map[uint64][]byte) uint64 {
			fd := r.open("/tmp/failed", unix.O_WRONLY)
			r.pwrite(fd, append(whole, "more"...), 0, written)
			return fd
		}, true},
		{"part of it", func(r *replayer, fw failedWrite, written map[uint64][]byte) uint64 {
			r.pwrite(fw.fd, whole[:30], 0, written)
			return fw.fd
		}, false},
		{"another file", func(r *replayer, fw failedWrite, written map[uint64][]byte) uint64 {
			fd := r.open("/tmp/other", unix.O_CREAT|unix.O_WRONLY)
			r.pwrite(fd, whole, 0, written)
			return fd
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReplayer(t)
			r.start()
			written := make(map[uint64][]byte)
			fw := r.failRewrite("/tmp/failed", false, false, written)
			fd := tc.write(r, fw, written)
			if !tc.covered {
				r.fails(unix.EIO, unix.SYS_FSYNC, fw.fd)
				if !r.retains(fw.seq) {
					t.Errorf("Durable %d: the failed write %d is not retained", r.durableSeq(fw.file), fw.seq)
				}
				r.fails(unix.EIO, unix.SYS_FTRUNCATE, fw.fd, 30)
				return
			}
			r.ok(1, unix.SYS_FSYNC, fd)
			laterSeq := r.pwrite(fw.fd, []byte("after"), 100, written)
			r.ok(1, unix.SYS_FSYNC, fw.fd) // nothing held: nothing to report
			if got := r.durableSeq(fw.file); got < laterSeq {
				t.Errorf("Durable %d, want %d: the covered write still holds it", got, laterSeq)
			}
			if r.retains(fw.seq) || r.retains(laterSeq) {
				t.Errorf("retained: the covered write %v, the one after %v; want neither", r.retains(fw.seq), r.retains(laterSeq))
			}
			r.ok(1, unix.SYS_FTRUNCATE, fw.fd, 30)
			if got, _ := os.ReadFile(fw.host); !bytes.Equal(got, whole[:30]) {
				t.Errorf("the file holds %q, want %q", got, whole[:30])
			}
		})
	}
}

// rewriteAgain sends fw's Rewrite again and checks that it fails with e
// (0: succeeds).
func (r *replayer) rewriteAgain(fw failedWrite, e unix.Errno) *sentrypb.Reply {
	r.t.Helper()
	rep := r.call(&sentrypb.Call{Op: &sentrypb.Call_Rewrite{Rewrite: fw.rewrite}}, false)
	if unix.Errno(rep.Errno) != e {
		r.t.Fatalf("Rewrite of seq %d received again: errno %v, want %v", fw.seq, unix.Errno(rep.Errno), e)
	}
	return rep
}

// failedWrite is a retained write whose Rewrite failed (failRewrite).
type failedWrite struct {
	fd, seq, file uint64 // the write's fd, call seq and file id
	data          []byte // its bytes, at offset 0
	host          string // the file's host path
	rewrite       *sentrypb.Rewrite
	rc            *rpcCounter // the servers' gofer RPCs from the failure on
}

// failRewrite writes a retained write at offset 0 of path (made anew)
// through a new fd, has the host lose its bytes (else the Rewrite finds
// them there and writes nothing), kills the server before the write's
// Durable reached the client and sends its Rewrite to the successor,
// whose gofer writes fail (ENOSPC; short: write half their bytes, EIO),
// and checks that the Rewrite fails. With reopened the fd is closed
// before the kill and the client keeps no record of its description:
// the Rewrite reopens the file. The gofer's writes succeed again
// afterwards.
func (r *replayer) failRewrite(path string, short, reopened bool, written map[uint64][]byte) failedWrite {
	t := r.t
	t.Helper()
	fw := failedWrite{host: filepath.Join(r.root, path), data: bytes.Repeat([]byte("first;"), 10)}
	fw.fd = r.open(path, unix.O_CREAT|unix.O_WRONLY)
	fw.seq = r.pwrite(fw.fd, fw.data, 0, written)
	writeRec, fileRec := r.retainedRecords(fw.seq)
	fw.file = writeRec.GetWrite().GetFile()
	if reopened {
		r.ok(1, unix.SYS_CLOSE, fw.fd)
	}
	if err := os.WriteFile(fw.host, bytes.Repeat([]byte("x"), len(fw.data)), 0o644); err != nil {
		t.Fatal(err)
	}

	fw.rc = &rpcCounter{counts: make(map[string]int), failWrites: !short, shortWrites: short}
	r.rc = fw.rc
	r.logs = &logBuffer{}
	r.crash()
	// Killed before the Durable covering the write reached the client.
	if reopened {
		r.fold([]*sentrypb.StateRecord{writeRec, {Key: fileRec.Key, Deleted: true}})
	} else {
		r.fold([]*sentrypb.StateRecord{writeRec, fileRec})
	}
	if short {
		// Else its reply cache answers the write in full.
		r.restartGofer()
	}
	r.recover(written)
	fw.rewrite = &sentrypb.Rewrite{Seq: fw.seq, FileHandle: fileRec.GetFile().GetFileHandle(), Path: fileRec.GetFile().GetPath(), Data: fw.data}
	wantErr := unix.ENOSPC
	if short {
		wantErr = unix.EIO
	}
	if rep := r.call(&sentrypb.Call{Op: &sentrypb.Call_Rewrite{Rewrite: fw.rewrite}}, false); rep.Errno != int32(wantErr) || rep.RewriteDurable {
		t.Fatalf("Rewrite: ret %d errno %v durable %v, want %v", rep.Ret, unix.Errno(rep.Errno), rep.RewriteDurable, wantErr)
	}
	// The warning names the file as text (before, as its bytes'
	// numbers: path=[47, 116, ...]).
	if logs := r.logs.String(); !strings.Contains(logs, "rewrite failed") || !strings.Contains(logs, "path="+path) {
		t.Errorf("the server's log does not name %s in a failed Rewrite's warning:\n%s", path, logs)
	}
	fw.rc.mu.Lock()
	fw.rc.failWrites, fw.rc.shortWrites = false, false
	fw.rc.mu.Unlock()
	return fw
}

// TestRewriteFailedAppending: an application appending to a file whose
// Rewrite failed keeps, at the client, the failed write alone: each
// later write is dropped once durable (the Durable passes the failed
// write, naming it held), so what the client retains does not grow with
// the writes. The fsyncs report the failure once. Before, the Durable
// stayed below the failed write and the client kept every later write of
// the description until the next recovery.
func TestRewriteFailedAppending(t *testing.T) {
	r := newReplayer(t)
	r.start()
	written := make(map[uint64][]byte)
	fw := r.failRewrite("/tmp/failed", false, false, written)
	r.fails(unix.EIO, unix.SYS_FSYNC, fw.fd)
	const rounds, perRound = 8, 16
	var last uint64
	for i := range rounds * perRound {
		last = r.pwrite(fw.fd, bytes.Repeat([]byte{'a' + byte(i%26)}, 100), int64(100+100*i), written)
		if (i+1)%perRound == 0 {
			r.ok(1, unix.SYS_FSYNC, fw.fd)
			n := 0
			for _, rec := range r.records() {
				if rec.GetWrite() != nil {
					n++
				}
			}
			if n != 1 || !r.retains(fw.seq) {
				t.Fatalf("after %d appends and an fsync: %d writes retained (the failed one %v), want the failed one alone", i+1, n, r.retains(fw.seq))
			}
		}
	}
	if got := r.durableSeq(fw.file); got < last {
		t.Errorf("Durable %d, want %d (the last append's)", got, last)
	}
}

// TestRewriteFailedTruncation: a truncation to 0 supersedes a failed
// Rewrite's write only once it is made: one that fails (the gofer's
// SetStat or O_TRUNC Open, EIO) leaves it held, so the client keeps it,
// the next fsync reports it, and the next recovery's Rewrite puts it in
// the file. Before, the truncation cleared the failure, and the Durable
// announced before it dropped the write at the client, whose bytes
// were then lost. One that succeeds drops it.
func TestRewriteFailedTruncation(t *testing.T) {
	const path = "/tmp/failed"
	for _, how := range []struct {
		name string
		// truncate truncates the file to 0, failing with EIO when fail;
		// set makes the gofer fail it.
		truncate func(r *replayer, fw failedWrite, fail bool)
		set      func(rc *rpcCounter, on bool)
	}{
		{"ftruncate", func(r *replayer, fw failedWrite, fail bool) {
			r.check(fail, unix.SYS_FTRUNCATE, fw.fd, 0)
		}, func(rc *rpcCounter, on bool) { rc.failSetStats = on }},
		{"truncate", func(r *replayer, fw failedWrite, fail bool) {
			r.check(fail, unix.SYS_TRUNCATE, r.mem.str(path), 0)
		}, func(rc *rpcCounter, on bool) { rc.failSetStats = on }},
		{"open O_TRUNC", func(r *replayer, fw failedWrite, fail bool) {
			r.check(fail, unix.SYS_OPENAT, uint64(atFDCWD64), r.mem.str(path), unix.O_WRONLY|unix.O_TRUNC, 0)
		}, func(rc *rpcCounter, on bool) { rc.failTruncOpens = on }},
	} {
		for _, fail := range []bool{true, false} {
			name := how.name + "/made"
			if fail {
				name = how.name + "/failing"
			}
			t.Run(name, func(t *testing.T) {
				r := newReplayer(t)
				r.start()
				written := make(map[uint64][]byte)
				fw := r.failRewrite(path, false, false, written)
				fw.rc.mu.Lock()
				how.set(fw.rc, fail)
				fw.rc.mu.Unlock()
				how.truncate(r, fw, fail)
				fw.rc.mu.Lock()
				how.set(fw.rc, false)
				fw.rc.mu.Unlock()
				if r.retains(fw.seq) != fail {
					t.Fatalf("the failed write retained %v after the truncation, want %v", r.retains(fw.seq), fail)
				}
				if !fail {
					r.ok(1, unix.SYS_FSYNC, fw.fd)
					if got, _ := os.ReadFile(fw.host); len(got) != 0 {
						t.Errorf("the truncated file holds %q", got)
					}
					return
				}
				r.fails(unix.EIO, unix.SYS_FSYNC, fw.fd)
				r.crash()
				r.restartGofer()
				r.recover(written)
				r.rewriteRetained(written)
				if got, _ := os.ReadFile(fw.host); !bytes.Equal(got, fw.data) {
					t.Errorf("after the next recovery the file holds %q, want %q", got, fw.data)
				}
			})
		}
	}
}

// check makes system call sysno, which must fail with EIO when fail,
// else succeed.
func (r *replayer) check(fail bool, sysno uintptr, args ...uint64) {
	r.t.Helper()
	if fail {
		r.fails(unix.EIO, sysno, args...)
		return
	}
	r.ok(1, sysno, args...)
}

// TestRewriteUnderResentWrite: a write the dead server made but whose
// reply was lost (in flight, re-sent after the Rewrites), over part of a
// retained write of a lower seq: the file must end with the in-flight
// write's bytes there, not the retained write's older ones. The
// retained write's Rewrite finds the file without its bytes (the later
// write changed them), so writes them when the gofer's reply cache
// cannot answer it (its entry evicted, or a restarted gofer); the re-sent
// write, answered from the cache (made by the dead server), must still
// put its bytes back. Before, it was answered unwritten and the older
// bytes stayed.
func TestRewriteUnderResentWrite(t *testing.T) {
	for _, tc := range []struct {
		name string
		// evicted: the retained write's entry is gone from the gofer's
		// reply cache, the in-flight one's is not.
		evicted, restartGofer, donate bool
		// lost: the host loses the retained write's bytes (the
		// Rewrite writes them).
		lost bool
		// off is the in-flight write's offset (4 unless set), want the
		// file's bytes at the end; writes the gofer Writes of its
		// re-send (not counted with donate): 2 when made again.
		off    int64
		want   string
		writes int
	}{
		{name: "evicted", evicted: true, writes: 2},
		{name: "donated/evicted", evicted: true, donate: true},
		{name: "gofer-restarted", restartGofer: true, writes: 2},
		// The Rewrite answered from the cache (WriteReply.cached)
		// wrote nothing: the re-sent write is not made again.
		{name: "cached", writes: 1},
		{name: "disjoint/evicted", evicted: true, lost: true, off: 12, want: "0123456789\x00\x00ab", writes: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReplayerDonating(t, tc.donate)
			r.start()
			const path = "/tmp/f"
			host := filepath.Join(r.root, path)
			fd := r.open(path, unix.O_CREAT|unix.O_RDWR)
			written := make(map[uint64][]byte)
			old := []byte("0123456789")
			// Retained at the kill: the server dies before a flusher
			// pass's Durable reaches the client.
			r.mu.Lock()
			r.dropDurables = true
			r.mu.Unlock()
			oldSeq := r.pwrite(fd, old, 0, written)
			off, want := uint64(4), "0123ab6789"
			if tc.off != 0 {
				off, want = uint64(tc.off), tc.want
			}
			later := r.syscallCall(1, unix.SYS_PWRITE64, fd, r.mem.alloc([]byte("ab")), 2, off)
			if rep := r.call(later, true); rep.Errno != 0 {
				t.Fatalf("pwrite: errno %v", unix.Errno(rep.Errno))
			}
			if !r.retains(oldSeq) {
				t.Fatalf("the write of seq %d is not retained", oldSeq)
			}
			if tc.lost {
				f, err := os.OpenFile(host, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				_, err = f.WriteAt(bytes.Repeat([]byte("x"), len(old)), 0)
				f.Close()
				if err != nil {
					t.Fatal(err)
				}
			}
			rc := &rpcCounter{counts: make(map[string]int)}
			if tc.evicted {
				rc.uncached = oldSeq
			}
			r.rc = rc
			r.crash()
			r.mu.Lock()
			r.dropDurables = false
			r.mu.Unlock()
			if tc.restartGofer {
				r.restartGofer()
			}
			r.recover(written)
			r.rewriteRetained(written)
			rc.take()
			if rep := r.call(later, false); rep.Errno != 0 || rep.Ret != 2 {
				t.Fatalf("re-sent pwrite: ret %d errno %v", rep.Ret, unix.Errno(rep.Errno))
			}
			if n := rc.take()["Write"]; !tc.donate && n != tc.writes {
				t.Errorf("%d gofer Writes for the re-sent write, want %d", n, tc.writes)
			}
			if got := readHost(t, host); got != want {
				t.Errorf("the file holds %q, want %q", got, want)
			}
		})
	}
}

func readHost(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRewriteFailedTruncationLost: a truncation to 0 made over a failed
// Rewrite's write whose server dies before the Durable that lets the
// write go reaches the client (the truncation's reply lost with it): the
// next recovery's Rewrite makes the write again, and the re-sent
// truncation, answered from the gofer's reply cache, would leave its
// bytes; it is made again, so the file ends empty as the application
// truncated it.
func TestRewriteFailedTruncationLost(t *testing.T) {
	const path = "/tmp/failed"
	for _, tc := range []struct {
		name     string
		truncate func(r *replayer, fw failedWrite) *sentrypb.Call
	}{
		{"ftruncate", func(r *replayer, fw failedWrite) *sentrypb.Call {
			return r.syscallCall(1, unix.SYS_FTRUNCATE, fw.fd, 0)
		}},
		{"truncate", func(r *replayer, fw failedWrite) *sentrypb.Call {
			return r.syscallCall(1, unix.SYS_TRUNCATE, r.mem.str(path), 0)
		}},
		{"open O_TRUNC", func(r *replayer, fw failedWrite) *sentrypb.Call {
			return r.syscallCall(1, unix.SYS_OPENAT, uint64(atFDCWD64), r.mem.str(path), unix.O_WRONLY|unix.O_TRUNC, 0)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReplayer(t)
			r.start()
			written := make(map[uint64][]byte)
			fw := r.failRewrite(path, false, false, written)
			trunc := tc.truncate(r, fw)
			r.mu.Lock()
			r.dropDurables = true
			r.mu.Unlock()
			if rep := r.call(trunc, true); rep.Errno != 0 {
				t.Fatalf("truncation: errno %v", unix.Errno(rep.Errno))
			}
			r.crash()
			r.mu.Lock()
			r.dropDurables = false
			r.mu.Unlock()
			if !r.retains(fw.seq) {
				t.Fatal("the failed write is not retained: the test lost nothing")
			}
			// The gofer's reply cache cannot answer the Rewrite (the
			// write it cached is the first one, evicted), but answers
			// the re-sent truncation.
			fw.rc.mu.Lock()
			fw.rc.uncached = fw.seq
			fw.rc.mu.Unlock()
			r.recover(written)
			r.rewriteRetained(written)
			if rep := r.call(trunc, false); rep.Errno != 0 {
				t.Fatalf("re-sent truncation: errno %v", unix.Errno(rep.Errno))
			}
			if got := readHost(t, fw.host); got != "" {
				t.Errorf("the file holds %q after the re-sent truncation to 0, want nothing", got)
			}
			if r.retains(fw.seq) {
				t.Error("the superseded write is still retained")
			}
		})
	}
}
