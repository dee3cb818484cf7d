package syscalls

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/copybehind"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// sendfileChunk bounds one read of sendfile's loop.
const sendfileChunk = 64 << 10

// linuxMaxRW is Linux's MAX_RW_COUNT, the most one read, write or
// sendfile moves (INT_MAX rounded down to a page).
const linuxMaxRW = 0x7ffff000

// Sendfile copies from in_fd to out_fd inside the server. The bytes
// are in no call, so the write records carry them (dataNotInCall) for the
// client to retain. To a regular file, up to spliceChunk bytes go in one
// read and one write (a call has one write record); more go in chunks of
// spliceChunk made durable before the reply instead (syncedCopy), so that
// one call moves what Linux's does without the client's log carrying it.
func Sendfile(c *kernel.Task) (int64, error) {
	out, err := c.GetFile(ArgInt(c, 0))
	if err != nil {
		return 0, err
	}
	defer out.DecRef()
	in, err := c.GetFile(ArgInt(c, 1))
	if err != nil {
		return 0, err
	}
	defer in.DecRef()
	if !in.Readable() || !out.Writable() {
		return 0, unix.EBADF
	}
	defer notePipeRoom(c, out)
	_, toFile := out.Impl.(*vfs.GoferFile)
	if _, ok := out.Impl.(fdesc.SeqFile); !ok && !toFile {
		switch o := out.Impl.(type) {
		case *kernel.PipeEnd, *kernel.StdioFile:
		case *vfs.DevFile:
			if o.Kind == vfs.DevFull {
				// Linux's /dev/full has no splice_write.
				return 0, unix.EINVAL
			}
		default:
			return 0, unix.EINVAL
		}
	}
	if toFile && out.Flags.Load()&unix.O_APPEND != 0 {
		return 0, unix.EINVAL
	}
	if in.Impl.Stream() {
		// Linux reads only from files that can be mapped.
		return 0, unix.EINVAL
	}
	count := int64(c.Args[3])
	if count < 0 {
		return 0, unix.EINVAL
	}
	synced := toFile && count > spliceChunk
	if synced {
		count = min(count, linuxMaxRW)
	} else {
		count = min(count, maxRW)
	}
	offAddr := c.Args[2]
	off := int64(-1)
	if offAddr != 0 {
		b, err := c.Mem.CopyIn(offAddr, 8)
		if err != nil {
			return 0, err
		}
		if off = int64(binary.LittleEndian.Uint64(b)); off < 0 {
			return 0, unix.EINVAL
		}
	}
	if c.LeasedData != nil {
		return leasedCopy(c, in, out, off, offAddr, -1, 0, count)
	}
	// The bytes written come from in_fd: the write records carry them,
	// or they are durable before the reply.
	c.DataNotInCall = !synced
	c.SyncedWrites = synced
	var total int64
	for total < count {
		n := int(min(count-total, sendfileChunk))
		if toFile {
			n = int(min(count-total, spliceChunk))
		}
		if synced && total > 0 && abandoned(c) {
			break
		}
		at := int64(-1)
		if off >= 0 {
			at = off + total
		}
		b, err := readFile(c, in, n, at)
		if err != nil {
			if total > 0 {
				break
			}
			return 0, err
		}
		if len(b) == 0 {
			break
		}
		w, err := sendfileWrite(c, out, b)
		total += int64(w)
		if w < len(b) && at < 0 && w >= 0 {
			// Put back the input offset past what was not written.
			in.OffMu.Lock()
			in.SetOffLocked(c, in.Off-int64(len(b)-w))
			in.OffMu.Unlock()
		}
		if err != nil {
			if total > 0 {
				break
			}
			return 0, err
		}
		if w < len(b) || len(b) < n || (toFile && !synced) {
			break
		}
	}
	if synced && total > 0 {
		if err := syncedCopyDone(c, out); err != nil {
			return 0, err
		}
	}
	if offAddr != 0 {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], uint64(off+total))
		if err := c.Mem.CopyOut(offAddr, b[:]); err != nil {
			return 0, err
		}
	}
	return total, nil
}

// sendfileWrite writes b to a socket, a pipe or the client's stdio.
func sendfileWrite(c *kernel.Task, out *fdesc.File, b []byte) (int, error) {
	if sf, ok := out.Impl.(fdesc.SeqFile); ok {
		n, err := sf.WriteSeq(c, out, usermem.BytesIOSequence(b))
		return int(n), err
	}
	return writeFile(c, out, b, -1)
}

// Synced copies (docs/ARCHITECTURE.md, "Recovery"): a write the server
// makes from bytes in no call is retained by the client from its write
// record until the gofer makes it durable, which bounds such a write to
// what one reply may carry (spliceChunk). A larger copy to a regular file
// instead writes in chunks without write records (kernel.Task.SyncedWrites)
// and makes the file durable before the reply, so the client has nothing
// to retain: what the application sees acknowledged is on stable storage.
// A call re-sent after a server failure copies again from the offsets of
// before the call (its offset changes commit with its reply), and the
// gofer answers the chunk writes the first execution made from its reply
// cache (each has its own Origin part).

// abandoned says the call's thread was killed or its client freed: a long
// copy stops at a chunk boundary with what it copied.
func abandoned(c *kernel.Task) bool {
	select {
	case <-c.Dead:
		return true
	case <-c.Kernel.Done:
		return true
	default:
		return false
	}
}

// syncedCopyDone makes out's data durable before the reply of a synced
// copy, as fdatasync: the writes out made before it are announced
// durable too, so that the client's log no longer holds them (a restore
// would write them again over the bytes copied after them). A failure is
// EIO (the copy's bytes are in no write record to retain).
func syncedCopyDone(c *kernel.Task, out *fdesc.File) error {
	h, ok := vfs.HandleOfFile(out)
	if !ok {
		return unix.EIO
	}
	if err := syncFile(c, out, h, true); err != nil {
		c.Kernel.Log.Warn("fsync after a large server-side copy failed", "err", err)
		return unix.EIO
	}
	return nil
}

// leasedCopy is a sendfile or copy_file_range of the bytes the client
// read from its read lease of in (Syscall.leased_data, package
// copybehind): they are written to out at outOff (-1: its offset), and
// in's offset (inOff -1) or *inOffAddr, and *outOffAddr, move past them.
// The bytes are in the call, so the write records need not carry them.
// out is a regular file, or, for sendfile, a pipe's write end (a copy
// posted within the pipe's room, sentry/client/pipebehind.go).
func leasedCopy(c *kernel.Task, in, out *fdesc.File, inOff int64, inOffAddr uint64, outOff int64, outOffAddr uint64, count int64) (int64, error) {
	_, fromFile := in.Impl.(*vfs.GoferFile)
	_, toFile := out.Impl.(*vfs.GoferFile)
	pe, toPipe := out.Impl.(*kernel.PipeEnd)
	toPipe = toPipe && pe.Writes && !pe.Reads && c.Sysno == unix.SYS_SENDFILE
	if !fromFile || !(toFile || toPipe) || int64(len(c.LeasedData)) > min(count, spliceChunk) {
		return 0, unix.EINVAL
	}
	res, err := copybehind.Apply(c, copybehind.Copy{In: in, Out: out, Data: c.LeasedData, InOff: inOff, Posted: c.Posted, ToPipe: toPipe},
		func(b []byte) (int, error) { return writeFile(c, out, b, outOff) })
	if res.Kept != 0 {
		out.Changed() // its record keeps the error (posted.go)
		c.Kernel.Log.Warn("a posted copy failed; the next fsync, fdatasync, write or close of the file reports it",
			"name", Name(c.Sysno), "errno", res.Kept.Error(), "written", res.Written, "of", len(c.LeasedData))
	}
	if inOff >= 0 && res.Moved > 0 {
		if perr := putOffset(c, inOffAddr, inOff+int64(res.Moved)); perr != nil && err == nil {
			err = perr
		}
	}
	if outOff >= 0 && res.Written > 0 {
		if perr := putOffset(c, outOffAddr, outOff+int64(res.Written)); perr != nil && err == nil {
			err = perr
		}
	}
	if err != nil && res.Written == 0 {
		return 0, err
	}
	return int64(res.Written), nil
}
