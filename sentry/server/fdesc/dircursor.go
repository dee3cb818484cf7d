package fdesc

// DirCursor is a directory description's getdents position: phase 0
// and 1 emit "." and "..", phase 2 continues the directory at Cookie
// (the gofer's offset of the next entry, or the index of a synthesized
// directory's next entry).
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
// also the d_off getdents64 gives the last entry it returned (lseek and
// the replay record take it back): 0 and 1 before "." and "..", 2+Cookie
// after, so that no entry's offset is "."'s or ".."'s.
func (c DirCursor) Offset() int64 {
	if c.Phase < 2 {
		return int64(c.Phase)
	}
	return 2 + int64(c.Cookie)
}

// DirCursorAt is the cursor an offset stands for (a replay record's, or
// lseek's: the inverse of Offset; a negative offset is the start).
func DirCursorAt(off int64) DirCursor {
	if off < 2 {
		return DirCursor{Phase: int(max(off, 0))}
	}
	return DirCursor{Phase: 2, Cookie: uint64(off - 2)}
}
