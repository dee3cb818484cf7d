package fdesc

import (
	"math"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// DirCursor is a directory description's getdents position: phase 0
// and 1 emit "." and "..", phase 2 continues the directory after Cookie:
// 0 for its first entry, else the gofer's cookie of the entry last
// listed (the host directory's position after it: goferpb.Dirent.offset,
// at least goferpb.MinDirCookie), or, in a synthesized directory, the
// next entry's index plus goferpb.MinDirCookie.
type DirCursor struct {
	Phase  int
	Cookie uint64
	// EOF says the gofer reported the end of the listing at Cookie: a
	// getdents there returns nothing without asking it again (its
	// snapshot is renewed only from offset 0, which a seek makes). Not
	// part of the replay state: a restored cursor asks once more.
	EOF bool
}

// Offset is the cursor as a directory description's offset, which is
// also the d_off getdents64 gives the last entry it returned (lseek, the
// replay record and a restarted gofer take it back): 0 and 1 before "."
// and "..", 2 before the first entry, and after an entry its cookie
// itself, so that the offset means the same position to any server and
// any gofer.
func (c DirCursor) Offset() int64 {
	switch {
	case c.Phase < 2:
		return int64(c.Phase)
	case c.Cookie == 0:
		return 2
	}
	return int64(c.Cookie)
}

// DirCursorAt is the cursor an offset stands for (a replay record's, or
// lseek's: the inverse of Offset; a negative offset is the start).
func DirCursorAt(off int64) DirCursor {
	if off < 2 {
		return DirCursor{Phase: int(max(off, 0))}
	}
	if off < goferpb.MinDirCookie {
		return DirCursor{Phase: 2}
	}
	return DirCursor{Phase: 2, Cookie: uint64(off)}
}

// SynthIndex is the index of the entry of a synthesized directory that
// the cursor lists next (phase 2): the one after the entry whose cookie
// (SynthCookie) it holds.
func (c DirCursor) SynthIndex() int {
	if c.Cookie < goferpb.MinDirCookie {
		return 0
	}
	return int(min(c.Cookie-goferpb.MinDirCookie, math.MaxInt32)) + 1
}

// SynthCookie is the cookie of a synthesized directory's entry i: the
// cursor after it, and its d_off.
func SynthCookie(i int) uint64 {
	return uint64(i) + goferpb.MinDirCookie
}
