package wberr

import (
	"sync"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// Table is a client's kept write-behind errors. The zero value is ready.
type Table struct {
	mu sync.Mutex
	// byIno is the unseen error of each file, by inode number. Changed
	// by Keep, Take, TakeAny, Seen and Restore under mu.
	byIno map[uint64]unix.Errno
}

// Keep records that a write behind of file ino failed with e; an error
// kept and not yet seen stays (Linux reports the first). It reports
// whether e was kept (the file's record changed).
func (t *Table) Keep(ino uint64, e unix.Errno) bool {
	if e == 0 {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.byIno[ino]; ok {
		return false
	}
	if t.byIno == nil {
		t.byIno = make(map[uint64]unix.Errno)
	}
	t.byIno[ino] = e
	return true
}

// Take returns file ino's unseen error (0: none) and forgets it: an
// fsync or fdatasync of the file reports it.
func (t *Table) Take(ino uint64) unix.Errno {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.byIno[ino]
	delete(t.byIno, ino)
	return e
}

// TakeAny returns one unseen error of any file (0: none) and forgets
// them all: a syncfs reports it. inos are the files whose error went.
func (t *Table) TakeAny() (e unix.Errno, inos []uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for ino, k := range t.byIno {
		if e == 0 {
			e = k
		}
		inos = append(inos, ino)
		delete(t.byIno, ino)
	}
	return e, inos
}

// Seen forgets file ino's error: a description's own call reported it.
// It reports whether there was one.
func (t *Table) Seen(ino uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.byIno[ino]
	delete(t.byIno, ino)
	return ok
}

// Record returns file ino's replay record: its kept error, or the
// record's deletion.
func (t *Table) Record(ino uint64) *sentrypb.StateRecord {
	key := statekey.WBErr(ino).String()
	t.mu.Lock()
	e, ok := t.byIno[ino]
	t.mu.Unlock()
	if !ok {
		return &sentrypb.StateRecord{Key: key, Deleted: true}
	}
	return &sentrypb.StateRecord{Key: key, Value: &sentrypb.StateRecord_WriteError{
		WriteError: &sentrypb.WriteErrorState{Ino: ino, Errno: int32(e)}}}
}

// maxErrno is Linux's MAX_ERRNO.
const maxErrno = 4095

// Restore keeps the errors of a Restore's records (a restored server's
// table starts empty). A record of no errno is ignored.
func (t *Table) Restore(states []*sentrypb.WriteErrorState) {
	for _, st := range states {
		if n := st.GetErrno(); n > 0 && n <= maxErrno {
			t.Keep(st.GetIno(), unix.Errno(n))
		}
	}
}
