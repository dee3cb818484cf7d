package vfs

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/donated"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
)

// Writes ahead. A batch of writes behind (a loop of 4 KiB writes to one
// file) arrives as a thread's queue of posted write and pwrite64 calls,
// each starting where the one before ends. Its worker plans them
// (WriteAhead.Plan, with the calls queued behind the one it runs); the
// first call's write, through a donated fd, writes their bytes too, in
// one pwritev (donated.Ahead); each later call then runs as it would
// alone (its fd, checks, offset, durability tracking, records and reply
// are its own), but its write finds its bytes in the file, where it
// writes them, and makes no host call (donated.Prewritten) but the statx
// of the last. A call that finds its bytes not written ahead, or that
// writes elsewhere than planned, writes them itself: the plan only
// saves host calls, and a call that writes them again writes the same
// bytes at the same place.
//
// The bytes of a later call are in the file before its call runs: that
// call's result was given to the application when it was posted, so
// no one can tell them apart, except a process that shares the
// description (not the fd table: the client posts only then) and moves
// its offset back between the calls (a race the application has with
// itself).

// WriteAheadPart is a queued write a plan may write ahead: call Seq's
// bytes Data, at Off (-1: at the description's offset, where the part
// before it ends).
type WriteAheadPart struct {
	Seq  uint64
	Off  int64
	Data []byte
	// at is where the leader's write put Data (written parts only).
	at int64
}

// WriteAhead is a thread's plan of writes ahead. Owned by the thread's
// worker goroutine (the front's threadWorker, which calls Plan and
// Clear, and the handlers of the calls it runs, through
// WriteAheadCall): no lock.
type WriteAhead struct {
	// leader is the seq of the call whose write may write parts ahead
	// (0: none).
	leader uint64
	// parts are the calls queued after the leader, in order; written
	// counts those whose bytes the leader's write put in the file,
	// next the first of them no call has claimed yet. file is the
	// description written through.
	parts   []WriteAheadPart
	written int
	next    int
	file    *fdesc.File
}

// WriteAheadCall is a call that may write ahead or find its bytes
// written ahead (kernel.Task: its thread's plan; nil: none).
type WriteAheadCall interface {
	WriteAhead() *WriteAhead
}

// Clear forgets the plan (and the bytes its parts hold).
func (w *WriteAhead) Clear() {
	clear(w.parts)
	w.parts = w.parts[:0]
	w.leader, w.written, w.next, w.file = 0, 0, 0, nil
}

// Pending says whether call seq's bytes were written ahead and its call
// has not yet claimed them: the plan stays for it.
func (w *WriteAhead) Pending(seq uint64) bool {
	return w.next < w.written && w.parts[w.next].Seq == seq
}

// Plan makes call leader the plan's leader with parts (which the plan
// keeps). Fewer than one part clears the plan.
func (w *WriteAhead) Plan(leader uint64, parts []WriteAheadPart) {
	w.Clear()
	if len(parts) == 0 {
		return
	}
	w.leader, w.parts = leader, parts
}

// Parts returns the plan's parts slice, emptied, for the next Plan to
// fill (the array is reused).
func (w *WriteAhead) Parts() []WriteAheadPart {
	p := w.parts[:0]
	w.Clear()
	return p
}

// maxWriteAhead bounds the bytes one write takes ahead.
const maxWriteAhead = 1 << 20

// aheadOf returns the bytes to write after b, written at off of f by
// call seq, if seq leads the plan: the parts that start where the one
// before ends (through f's offset or at that place), within
// maxWriteAhead. The plan then awaits their writing (wrote).
func (w *WriteAhead) aheadOf(seq uint64, f *fdesc.File, b []byte, off int64) [][]byte {
	if w.leader != seq || seq == 0 || w.file != nil || len(w.parts) == 0 || f == nil ||
		f.Flags.Load()&(unix.O_APPEND|unix.O_SYNC|unix.O_DSYNC|unix.O_DIRECT) != 0 {
		return nil
	}
	end, total := off+int64(len(b)), 0
	var data [][]byte
	for i := range w.parts {
		p := &w.parts[i]
		if (p.Off >= 0 && p.Off != end) || total+len(p.Data) > maxWriteAhead || len(p.Data) == 0 {
			break
		}
		p.at = end
		end += int64(len(p.Data))
		total += len(p.Data)
		data = append(data, p.Data)
	}
	if len(data) == 0 {
		return nil
	}
	w.file = f
	return data
}

// wrote records that the leader's write put n bytes of the parts ahead
// in the file: the parts they cover whole are written.
func (w *WriteAhead) wrote(n int) {
	w.written = 0
	for _, p := range w.parts {
		if n < len(p.Data) {
			break
		}
		n -= len(p.Data)
		w.written++
	}
	if w.written == 0 {
		w.Clear()
	}
}

// claim reports whether call seq's write of b at off of f is a written
// part's (the same bytes, the same place) and whether it is the last
// written part; the part is then claimed. A write that is not the next
// part's ends the plan.
func (w *WriteAhead) claim(seq uint64, f *fdesc.File, b []byte, off int64) (ok, last bool) {
	if w.next >= w.written {
		return false, false
	}
	p := w.parts[w.next]
	if p.Seq != seq || f != w.file || off != p.at || len(b) != len(p.Data) || len(b) == 0 || &b[0] != &p.Data[0] {
		w.Clear()
		return false, false
	}
	w.next++
	last = w.next == w.written
	if last {
		w.Clear()
	}
	return true, last
}

// writeAheadOpt returns the option of call c's gofer write of b at off of
// f: a Prewritten one when its bytes were written ahead, an Ahead one
// when it leads a plan with parts to write, else nil.
func writeAheadOpt(c fdesc.Call, f *fdesc.File, b []byte, off int64) (pre *donated.Prewritten, ahead *donated.Ahead, w *WriteAhead) {
	wc, ok := c.(WriteAheadCall)
	if !ok {
		return nil, nil, nil
	}
	if w = wc.WriteAhead(); w == nil {
		return nil, nil, nil
	}
	seq := c.Seq()
	if ok, last := w.claim(seq, f, b, off); ok {
		return &donated.Prewritten{Stat: last}, nil, nil
	}
	if data := w.aheadOf(seq, f, b, off); data != nil {
		return nil, &donated.Ahead{Data: data}, w
	}
	return nil, nil, nil
}
