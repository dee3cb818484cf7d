package server

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// TestSizeChangeOrderOnReplay checks that a size change (ftruncate,
// truncate, an O_TRUNC open, fallocate) between two writes to one file
// keeps its place when a new server replays the client's log: the
// client re-sends its retained writes (Rewrite, at their offsets) and
// the calls in flight, and the file must end as the application left
// it, neither with the bytes of a write made before the change (the
// change applied, then the write re-applied over it) nor without the
// write made after it. With donated fds, and with the gofer restarted
// too, a Rewrite is applied again, not answered from the gofer's reply
// cache: a write retained across the change brings its bytes back.
func TestSizeChangeOrderOnReplay(t *testing.T) {
	const path = "/tmp/t"
	changes := []struct {
		name string
		// first is the write before the change, at offset 0.
		first int
		// change is the size change's call.
		change func(r *replayer, fd uint64) *sentrypb.Call
	}{
		{"ftruncate-0", 300, func(r *replayer, fd uint64) *sentrypb.Call {
			return r.syscallCall(1, unix.SYS_FTRUNCATE, fd, 0)
		}},
		{"ftruncate-shorter", 300, func(r *replayer, fd uint64) *sentrypb.Call {
			return r.syscallCall(1, unix.SYS_FTRUNCATE, fd, 100)
		}},
		{"ftruncate-same-size", 300, func(r *replayer, fd uint64) *sentrypb.Call {
			return r.syscallCall(1, unix.SYS_FTRUNCATE, fd, 300)
		}},
		{"ftruncate-longer", 300, func(r *replayer, fd uint64) *sentrypb.Call {
			return r.syscallCall(1, unix.SYS_FTRUNCATE, fd, 500)
		}},
		{"truncate-path", 300, func(r *replayer, fd uint64) *sentrypb.Call {
			return r.syscallCall(1, unix.SYS_TRUNCATE, r.mem.str(path), 0)
		}},
		{"open-trunc", 300, func(r *replayer, fd uint64) *sentrypb.Call {
			return r.syscallCall(1, unix.SYS_OPENAT, uint64(atFDCWD64), r.mem.str(path), unix.O_WRONLY|unix.O_TRUNC, 0)
		}},
		{"punch-hole", 300, func(r *replayer, fd uint64) *sentrypb.Call {
			return r.syscallCall(1, unix.SYS_FALLOCATE, fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 2, 200)
		}},
		{"collapse-range", 3 * 4096, func(r *replayer, fd uint64) *sentrypb.Call {
			return r.syscallCall(1, unix.SYS_FALLOCATE, fd, unix.FALLOC_FL_COLLAPSE_RANGE, 0, 4096)
		}},
	}
	modes := []struct {
		name   string
		donate bool
		// inFlight: the server dies with the change's reply lost; the
		// client re-sends it after the Rewrites, then writes again.
		inFlight bool
		// restartGofer: the gofer dies too (its reply cache with it).
		restartGofer bool
		// writeAfter, with inFlight: the write after the change is made
		// before the server dies, so the Rewrites put it back before
		// the change is re-sent, which must not undo it.
		writeAfter bool
	}{
		{"donated", true, false, false, false},
		{"donated-in-flight", true, true, false, false},
		{"gofer-calls", false, false, false, false},
		{"gofer-calls-in-flight", false, true, false, false},
		{"gofer-restarted", false, false, true, false},
		{"donated-gofer-restarted", true, false, true, false},
		{"in-flight-write-after", false, true, false, true},
		{"donated-in-flight-write-after", true, true, false, true},
	}
	for _, ch := range changes {
		for _, m := range modes {
			t.Run(ch.name+"/"+m.name, func(t *testing.T) {
				r := newReplayerDonating(t, m.donate)
				r.start()
				host := filepath.Join(r.root, strings.TrimPrefix(path, "/"))
				fd := r.open(path, unix.O_CREAT|unix.O_RDWR)
				written := make(map[uint64][]byte)
				first := bytes.Repeat([]byte("first write;"), ch.first/12+1)[:ch.first]
				// Retained when the change comes (a flusher pass may
				// just have made it durable: write it again).
				var firstSeq uint64
				for i := 0; i < 5 && (firstSeq == 0 || !r.retains(firstSeq)); i++ {
					firstSeq = r.pwrite(fd, first, 0, written)
				}
				if !r.retains(firstSeq) {
					t.Fatalf("the log holds no write of seq %d", firstSeq)
				}
				change := ch.change(r, fd)
				rep := r.call(change, m.inFlight)
				if rep.Errno != 0 {
					t.Fatalf("%s: errno %v", ch.name, unix.Errno(rep.Errno))
				}
				second := []byte("second")
				if !m.inFlight || m.writeAfter {
					r.pwrite(fd, second, 0, written)
				}
				want, err := os.ReadFile(host)
				if err != nil {
					t.Fatal(err)
				}
				if m.inFlight && !m.writeAfter {
					// What the file holds once the re-sent change and
					// the write after it are done.
					want = append(append([]byte(nil), second...), want[min(len(want), len(second)):]...)
				}

				r.crash()
				if m.restartGofer {
					r.restartGofer()
				}
				r.recover(written)
				r.rewriteRetained(written)
				if m.inFlight {
					rep := r.call(change, false)
					if rep.Errno != 0 {
						t.Fatalf("re-sent %s: errno %v", ch.name, unix.Errno(rep.Errno))
					}
					if !m.writeAfter {
						r.pwrite(fd, second, 0, written)
					}
				}
				got, err := os.ReadFile(host)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("after the replay the file holds %d bytes %q, want %d bytes %q", len(got), clip(got), len(want), clip(want))
				}
			})
		}
	}
}

// TestTruncateKeepsRetainedWrites checks which truncations sync the
// writes the client retains first (SyncBeforeTruncate): one that removes
// bytes of a retained write announces it durable before the change;
// one to the size written or longer leaves it retained, with no fsync
// (TestSizeChangeOrderOnReplay's ftruncate-same-size and -longer cases
// replay such a write across the change).
func TestTruncateKeepsRetainedWrites(t *testing.T) {
	const path = "/tmp/t"
	cases := []struct {
		name     string
		length   uint64
		retained bool
	}{
		{"shorter", 100, false},
		{"to-zero", 0, false},
		{"same-size", 300, true},
		{"longer", 4096, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newReplayerDonating(t, false)
			r.start()
			fd := r.open(path, unix.O_CREAT|unix.O_RDWR)
			written := make(map[uint64][]byte)
			data := bytes.Repeat([]byte("x"), 300)
			for try := 0; try < 5; try++ {
				seq := r.pwrite(fd, data, 0, written)
				if rep := r.call(r.syscallCall(1, unix.SYS_FTRUNCATE, fd, tc.length), false); rep.Errno != 0 {
					t.Fatalf("ftruncate: errno %v", unix.Errno(rep.Errno))
				}
				got := r.retains(seq)
				if got == tc.retained {
					return
				}
				if got {
					t.Fatalf("after ftruncate to %d the write of 300 bytes is still retained: the change removed its bytes", tc.length)
				}
				// A flusher pass (every 500 ms) may have made it
				// durable between the two calls: again.
			}
			t.Fatalf("after ftruncate to %d the write of 300 bytes was announced durable in 5 tries, want it retained", tc.length)
		})
	}
}

func clip(b []byte) []byte {
	if len(b) > 48 {
		return b[:48]
	}
	return b
}

// pwrite writes b at off of fd and remembers the data by the call's seq
// (the client's retained-write data).
func (r *replayer) pwrite(fd uint64, b []byte, off int64, written map[uint64][]byte) uint64 {
	r.t.Helper()
	c := r.syscallCall(1, unix.SYS_PWRITE64, fd, r.mem.alloc(b), uint64(len(b)), uint64(off))
	rep := r.call(c, false)
	if rep.Errno != 0 || rep.Ret != int64(len(b)) {
		r.t.Fatalf("pwrite %d bytes at %d: %v", len(b), off, rep)
	}
	written[c.Seq] = b
	return c.Seq
}

// retainedRecords returns copies of the records the client holds until
// a Durable covers the write of call seq: the write's, and its file's
// (whose handle and path re-send the write once the file is closed).
func (r *replayer) retainedRecords(seq uint64) (writeRec, fileRec *sentrypb.StateRecord) {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.log[statekey.Write(seq).String()]
	f := r.log[statekey.File(w.GetWrite().GetFile()).String()]
	if w.GetWrite() == nil || f.GetFile() == nil {
		r.t.Fatalf("no WriteState or FileState for the write (seq %d)", seq)
	}
	return proto.Clone(w).(*sentrypb.StateRecord), proto.Clone(f).(*sentrypb.StateRecord)
}

// retains says the log still holds the write of call seq.
func (r *replayer) retains(seq uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log[statekey.Write(seq).String()] != nil
}

// rewriteRetained re-sends every retained file write of the log with
// Rewrite, in seq order, as the client does after Restore.
func (r *replayer) rewriteRetained(written map[uint64][]byte) {
	r.t.Helper()
	var ws []*sentrypb.WriteState
	for _, rec := range r.records() {
		if w := rec.GetWrite(); w != nil && w.Pipe == 0 {
			ws = append(ws, w)
		}
	}
	sort.Slice(ws, func(i, j int) bool { return ws[i].Seq < ws[j].Seq })
	for _, w := range ws {
		r.mu.Lock()
		f := r.log[statekey.File(w.File).String()].GetFile()
		r.mu.Unlock()
		rw := &sentrypb.Rewrite{Seq: w.Seq, FileHandle: f.GetFileHandle(), Path: f.GetPath(), Offset: w.Offset, Data: written[w.Seq]}
		if rep := r.call(&sentrypb.Call{Op: &sentrypb.Call_Rewrite{Rewrite: rw}}, false); rep.Errno != 0 {
			r.t.Fatalf("Rewrite %d: errno %v", w.Seq, unix.Errno(rep.Errno))
		}
	}
}
