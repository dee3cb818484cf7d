package fdesc

import "math"

// DirCursor is a directory description's getdents position: phase 0
// and 1 emit "." and "..", phase 2 continues the directory after Cookie:
// 0 for its first entry, else the gofer's cookie of the entry last
// listed (the host directory's own position after it,
// goferpb.Dirent.offset), or, in a synthesized directory, the index of
// its next entry.
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
// and "..", CookieOffset(Cookie) after, so that no entry's offset is
// "."'s or ".."'s and the offset names the same host position to any
// server and any gofer.
func (c DirCursor) Offset() int64 {
	if c.Phase < 2 {
		return int64(c.Phase)
	}
	return CookieOffset(c.Cookie)
}

// CookieOffset is the offset of the cursor after an entry of cookie
// cookie: 2+cookie. Host positions are below 2^63 (lseek's offset is
// signed): the 2 highest do not fit, and stand for the highest, ext4's
// end of a hash-ordered directory (math.MaxInt64), the only one of the
// three a file system gives (the others are ext4 hashes of one chance in
// 2^62).
func CookieOffset(cookie uint64) int64 {
	if cookie >= math.MaxInt64-2 {
		return math.MaxInt64
	}
	return 2 + int64(cookie)
}

// DirCursorAt is the cursor an offset stands for (a replay record's, or
// lseek's: the inverse of Offset; a negative offset is the start).
func DirCursorAt(off int64) DirCursor {
	switch {
	case off < 2:
		return DirCursor{Phase: int(max(off, 0))}
	case off == math.MaxInt64:
		return DirCursor{Phase: 2, Cookie: math.MaxInt64}
	}
	return DirCursor{Phase: 2, Cookie: uint64(off - 2)}
}
