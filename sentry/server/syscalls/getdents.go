package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/sysvipc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// Getdents64 lists a directory: "." and ".." first, then the entries.
func Getdents64(c *kernel.Task) (int64, error) {
	f, err := c.GetFile(ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer f.DecRef()
	if f.IsPath() {
		return 0, unix.EBADF
	}
	d := vfs.DentryOf(f)
	if d == nil || !d.IsDir() {
		return 0, unix.ENOTDIR
	}
	count := int(min(uint64(c.Args[2]), 1<<20))
	if c.Args[1] == 0 {
		return 0, unix.EFAULT
	}
	v := c.Kernel.VFS
	f.OffMu.Lock()
	defer f.OffMu.Unlock()
	var buf []byte
	pending := false // an entry did not fit
	emit := func(name string, ino uint64, typ uint8, off uint64) bool {
		if len(buf)+direntLen(name) > count {
			pending = true
			return false
		}
		buf = AppendDirent(buf, name, ino, typ, off)
		return true
	}
	cur := &f.Dir
	if c.AheadCookie != nil {
		return 0, aheadAnswered(c, f, *c.AheadCookie)
	}
	if cur.Phase == 0 {
		if !emit(".", d.Ino(), unix.DT_DIR, 1) {
			return 0, unix.EINVAL
		}
		cur.Phase = 1
	}
	if cur.Phase == 1 {
		if emit("..", v.ParentOf(d).Ino(), unix.DT_DIR, 2) {
			cur.Phase = 2
		}
	}
	if cur.Phase == 2 && !pending {
		if g, ok := f.Impl.(*vfs.GoferDir); ok {
			// SysV segments' files are not listed in /dev/shm.
			shm, _ := v.ShmIfMade()
			inShm := d == shm
		rpc:
			for !cur.EOF {
				ctx, cancel := v.RPCCtx()
				seen := v.RemovalsSeen()
				r, seq, err := c.Kernel.Attrs.GetdentsSeq(ctx, &goferpb.GetdentsRequest{Dir: g.Handle, Offset: cur.Cookie, Count: 256, Plus: true})
				cancel()
				if err == nil && r.GetErrno() == 0 {
					// The entries' dentries and attributes: a stat of
					// each (ls -l, find) needs no Walk nor Stat.
					v.NoteListing(d, r.Entries, r.Stats, seq, seen)
				}
				if err := syserr.FromGofer("getdents", r.GetErrno(), err); err != nil {
					if len(buf) > 0 {
						break
					}
					return 0, err
				}
				if len(r.Entries) == 0 {
					cur.EOF = true
					break
				}
				for _, e := range r.Entries {
					if name := string(e.Name); name != "." && name != ".." && name != "" && !(inShm && sysvipc.IsSegmentFile(name)) {
						if !emit(name, e.Ino, uint8(e.Type), uint64(fdesc.CookieOffset(e.Offset))) {
							break rpc
						}
					}
					cur.Cookie = e.Offset
				}
				if r.Eof {
					cur.EOF = true // every entry emitted, and no more
				}
			}
		} else {
			ents := c.Kernel.Synth.List(c.MountNS(), d)
			for i := int(cur.Cookie); i < len(ents); i++ {
				e := ents[i]
				if !emit(e.Name, e.Ino, e.Type, uint64(i)+3) {
					break
				}
				cur.Cookie = uint64(i) + 1
			}
		}
	}
	f.SetDirLocked(c, *cur)
	if len(buf) == 0 && pending {
		return 0, unix.EINVAL
	}
	if c.Reply != nil {
		// Every later getdents64 returns 0 until an lseek.
		c.Reply.ListingEof = cur.EOF && !pending
	}
	if err := c.Mem.CopyOut(c.Args[1], buf); err != nil {
		return 0, err
	}
	return int64(len(buf)), nil
}

// aheadAnswered moves gofer directory description f, whose listing has
// not begun, to the end of the listing the client answered its
// getdents64 from (Syscall.ahead_cookie: the gofer's cookie of its last
// entry, 0 for none), as a getdents64 that listed every entry leaves it;
// nothing is listed. A call re-sent after a Restore finds the description
// at that cookie already (its replay record's offset). Precondition:
// f.OffMu.
func aheadAnswered(c *kernel.Task, f *fdesc.File, cookie uint64) error {
	if _, ok := f.Impl.(*vfs.GoferDir); !ok {
		return unix.EINVAL
	}
	cur := f.Dir
	if cur.Phase != 0 && (cur.Phase != 2 || cur.Cookie != cookie) {
		return unix.EINVAL // the client's copy of the cursor was wrong
	}
	f.SetDirLocked(c, fdesc.DirCursor{Phase: 2, Cookie: cookie, EOF: true})
	if c.Reply != nil {
		c.Reply.ListingEof = true
	}
	return nil
}

// direntLen is the length of name's struct linux_dirent64 record.
func direntLen(name string) int { return (19 + len(name) + 1 + 7) &^ 7 }

// AppendDirent appends the struct linux_dirent64 record of name to b, as
// getdents64 makes it (the listings sent ahead make theirs so too).
func AppendDirent(b []byte, name string, ino uint64, typ uint8, off uint64) []byte {
	reclen := direntLen(name)
	start := len(b)
	b = append(b, make([]byte, reclen)...)
	rec := b[start:]
	binary.LittleEndian.PutUint64(rec[0:], ino)
	binary.LittleEndian.PutUint64(rec[8:], off)
	binary.LittleEndian.PutUint16(rec[16:], uint16(reclen))
	rec[18] = typ
	copy(rec[19:], name)
	return b
}
