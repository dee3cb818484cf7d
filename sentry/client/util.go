package client

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"runtime/metrics"
	"slices"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/mm"
	"gvisor.dev/gvisor/pkg/usermem"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// Kernel-internal restart errnos (include/linux/errno.h).
const (
	errRestartSys          = unix.Errno(512)
	errRestartNoIntr       = unix.Errno(513)
	errRestartNoHand       = unix.Errno(514)
	errRestartRestartBlock = unix.Errno(516)
)

func isRestartErrno(e unix.Errno) bool {
	return e == errRestartSys || e == errRestartNoIntr || e == errRestartNoHand || e == errRestartRestartBlock
}

func randRead(b []byte) {
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
}

func termiosBytes(t *unix.Termios) []byte {
	b := make([]byte, 36)
	binary.LittleEndian.PutUint32(b[0:], t.Iflag)
	binary.LittleEndian.PutUint32(b[4:], t.Oflag)
	binary.LittleEndian.PutUint32(b[8:], t.Cflag)
	binary.LittleEndian.PutUint32(b[12:], t.Lflag)
	b[16] = t.Line
	copy(b[17:36], t.Cc[:])
	return b
}

func winsizeBytes(w *unix.Winsize) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint16(b[0:], w.Row)
	binary.LittleEndian.PutUint16(b[2:], w.Col)
	binary.LittleEndian.PutUint16(b[4:], w.Xpixel)
	binary.LittleEndian.PutUint16(b[6:], w.Ypixel)
	return b
}

// appMemory implements sysabi.AppMemory over a task's address space.
type appMemory struct{ t *task }

var (
	_ sysabi.AppMemory    = appMemory{}
	_ sysabi.WriteChecker = appMemory{}
)

// ReadAt implements sysabi.AppMemory.ReadAt.
func (m appMemory) ReadAt(addr uint64, n int) ([]byte, error) {
	if n < 0 {
		return nil, unix.EFAULT
	}
	b := make([]byte, n)
	if _, err := m.t.mm.CopyIn(m.t.gctx, hostarch.Addr(addr), b, usermem.IOOpts{}); err != nil {
		return nil, unix.EFAULT
	}
	return b, nil
}

// Writable implements sysabi.WriteChecker.Writable: whether the
// application may write n bytes at addr, found as a write fault would
// (breaking copy-on-write, as the write to come will) without writing.
func (m appMemory) Writable(addr uint64, n int) bool {
	if n <= 0 {
		return true
	}
	end, ok := hostarch.Addr(addr).AddLength(uint64(n))
	if !ok {
		return false
	}
	start := hostarch.Addr(addr).RoundDown()
	end, ok = end.RoundUp()
	if !ok {
		return false
	}
	prs, err := m.t.mm.Pin(m.t.gctx, hostarch.AddrRange{Start: start, End: end}, hostarch.Write, false)
	mm.Unpin(prs)
	return err == nil
}

// callMemo is what one system call read of the application's memory and
// made of it: the last string ReadString read (a posted open's path was
// read five times: the ENOENT answer's key, the open's key, the opened
// path, its stat's key and the call's input), and the key of the last
// read-only open openKeyOf made. A call sees one version of its path,
// whichever of its handlers asks.
type callMemo struct {
	str      readString
	openKey  openKeyMemo
	strValid bool
	// cloneFlags are a clone3's flags, with the exit signal in the low
	// byte as clone's, once applyClone made the child (for ptrace's
	// event stop).
	cloneFlags uint64
}

// readString is one ReadString's arguments and result.
type readString struct {
	addr uint64
	max  int
	raw  []byte
	err  error
}

// openKeyMemo is one openKeyOf's arguments (sysno, its first three
// arguments) and results; valid says it was made.
type openKeyMemo struct {
	valid bool
	sysno uintptr
	args  [3]uint64
	key   pathKey
	flags uint32
	ok    bool
}

// ReadString implements sysabi.AppMemory.ReadString, once per system
// call for a string at one address (callMemo). It reads in chunks
// that never cross a page, so that a string ending just before an
// unmapped page is found; the first chunk is small and each next one
// twice as big, as most strings are short paths (a page-sized buffer per
// path was a tenth of the client's CPU in a loop of posted opens).
func (m appMemory) ReadString(addr uint64, max int) ([]byte, error) {
	memo := &m.t.callMemo
	if s := &memo.str; memo.strValid && s.addr == addr && s.max == max {
		return s.raw, s.err
	}
	raw, err := m.readString(addr, max)
	memo.str, memo.strValid = readString{addr: addr, max: max, raw: raw, err: err}, true
	return raw, err
}

// readString is ReadString without the memo.
func (m appMemory) readString(addr uint64, max int) ([]byte, error) {
	const firstChunk = 256
	var out []byte
	for chunk := firstChunk; len(out) < max; chunk *= 2 {
		cur := addr + uint64(len(out))
		n := min(chunk, int(hostarch.PageSize-cur%hostarch.PageSize), max-len(out))
		out = slices.Grow(out, n)
		b := out[len(out) : len(out)+n]
		got, err := m.t.mm.CopyIn(m.t.gctx, hostarch.Addr(cur), b, usermem.IOOpts{})
		if i := bytes.IndexByte(b[:got], 0); i >= 0 {
			return out[:len(out)+i+1], nil
		}
		if err != nil {
			return nil, unix.EFAULT
		}
		out = out[:len(out)+n]
	}
	return nil, unix.ENAMETOOLONG
}

func toPBRegions(rs []sysabi.Region) []*pb.Region {
	if len(rs) == 0 {
		return nil
	}
	out := make([]*pb.Region, len(rs))
	for i, r := range rs {
		out[i] = &pb.Region{Addr: r.Addr, Data: r.Data}
	}
	return out
}

func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// runtimeCounts are this process's counts the end-of-run line logs:
// goroutines started (a posted call should start none), and the heap's
// allocations and bytes allocated and the garbage collector's cycles
// (what a call costs in memory: test/e2e TestPostedWriteAllocs).
type runtimeCounts struct {
	goroutines, allocs, allocBytes, gcCycles uint64
}

// readRuntimeCounts returns this process's runtimeCounts now.
func readRuntimeCounts() runtimeCounts {
	s := []metrics.Sample{
		{Name: "/sched/goroutines-created:goroutines"},
		{Name: "/gc/heap/allocs:objects"},
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
	}
	metrics.Read(s)
	var v [4]uint64
	for i := range s {
		if s[i].Value.Kind() == metrics.KindUint64 {
			v[i] = s[i].Value.Uint64()
		}
	}
	return runtimeCounts{goroutines: v[0], allocs: v[1], allocBytes: v[2], gcCycles: v[3]}
}
