package wberr

import (
	"sync"

	"golang.org/x/sys/unix"
)

// Table is a client's kept write-behind errors. The zero value is ready.
type Table struct {
	mu sync.Mutex
	// byIno is the unseen error of each file, by inode number. Changed
	// by Keep, Take, TakeAny and Seen under mu.
	byIno map[uint64]unix.Errno
}

// Keep records that a write behind of file ino failed with e; an error
// kept and not yet seen stays (Linux reports the first).
func (t *Table) Keep(ino uint64, e unix.Errno) {
	if e == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.byIno[ino]; ok {
		return
	}
	if t.byIno == nil {
		t.byIno = make(map[uint64]unix.Errno)
	}
	t.byIno[ino] = e
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
// them all: a syncfs reports it.
func (t *Table) TakeAny() unix.Errno {
	t.mu.Lock()
	defer t.mu.Unlock()
	var e unix.Errno
	for ino, k := range t.byIno {
		if e == 0 {
			e = k
		}
		delete(t.byIno, ino)
	}
	return e
}

// Seen forgets file ino's error: a description's own call reported it.
func (t *Table) Seen(ino uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.byIno, ino)
}
