package kobj

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/context"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/safemem"
	"gvisor.dev/gvisor/pkg/usermem"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// IO is a usermem.IO over one forwarded call's memory. A copy that is not
// wholly inside one region the client sent fails with EFAULT, as a copy
// from unmapped memory does.
type IO struct {
	Mem *sysabi.Memory
}

var _ usermem.IO = (*IO)(nil)

// CopyOut implements usermem.IO.CopyOut: the bytes become outputs of the
// call.
func (m *IO) CopyOut(_ context.Context, addr hostarch.Addr, src []byte, _ usermem.IOOpts) (int, error) {
	if err := m.Mem.CopyOut(uint64(addr), src); err != nil {
		return 0, err
	}
	return len(src), nil
}

// CopyIn implements usermem.IO.CopyIn.
func (m *IO) CopyIn(_ context.Context, addr hostarch.Addr, dst []byte, _ usermem.IOOpts) (int, error) {
	b, err := m.Mem.CopyIn(uint64(addr), len(dst))
	if err != nil {
		return 0, err
	}
	return copy(dst, b), nil
}

// ZeroOut implements usermem.IO.ZeroOut.
func (m *IO) ZeroOut(ctx context.Context, addr hostarch.Addr, toZero int64, opts usermem.IOOpts) (int64, error) {
	if toZero < 0 || toZero > sysabi.MaxOutput {
		return 0, unix.EFAULT
	}
	n, err := m.CopyOut(ctx, addr, make([]byte, toZero), opts)
	return int64(n), err
}

// CopyOutFrom implements usermem.IO.CopyOutFrom: it reads from src
// (once, as the interface requires) into a buffer per range and records
// what was read as outputs.
func (m *IO) CopyOutFrom(ctx context.Context, ars hostarch.AddrRangeSeq, src safemem.Reader, opts usermem.IOOpts) (int64, error) {
	if ars.NumBytes() > sysabi.MaxOutput {
		return 0, unix.EFAULT
	}
	var blocks []safemem.Block
	var bufs [][]byte
	var addrs []hostarch.Addr
	for ; !ars.IsEmpty(); ars = ars.Tail() {
		ar := ars.Head()
		if ar.Length() == 0 {
			continue
		}
		b := make([]byte, ar.Length())
		bufs = append(bufs, b)
		addrs = append(addrs, ar.Start)
		blocks = append(blocks, safemem.BlockFromSafeSlice(b))
	}
	n, rerr := src.ReadToBlocks(safemem.BlockSeqFromSlice(blocks))
	var done int64
	for i, b := range bufs {
		if n == 0 {
			break
		}
		k := min(n, uint64(len(b)))
		if _, err := m.CopyOut(ctx, addrs[i], b[:k], opts); err != nil {
			return done, err
		}
		done += int64(k)
		n -= k
	}
	return done, rerr
}

// CopyInTo implements usermem.IO.CopyInTo: it hands every range's input
// bytes to dst in one call. A range outside the inputs ends the sequence
// there (EFAULT if it is the first).
func (m *IO) CopyInTo(ctx context.Context, ars hostarch.AddrRangeSeq, dst safemem.Writer, opts usermem.IOOpts) (int64, error) {
	var blocks []safemem.Block
	var ferr error
	for ; !ars.IsEmpty(); ars = ars.Tail() {
		ar := ars.Head()
		if ar.Length() == 0 {
			continue
		}
		b, err := m.Mem.CopyIn(uint64(ar.Start), int(ar.Length()))
		if err != nil {
			ferr = err
			break
		}
		blocks = append(blocks, safemem.BlockFromSafeSlice(b))
	}
	if len(blocks) == 0 {
		return 0, ferr
	}
	n, werr := dst.WriteFromBlocks(safemem.BlockSeqFromSlice(blocks))
	if werr != nil {
		return int64(n), werr
	}
	return int64(n), nil
}

// The atomic operations work on application memory in place, which only
// the client has (futexes are the client's): they fail with EFAULT.

// SwapUint32 implements usermem.IO.SwapUint32.
func (m *IO) SwapUint32(context.Context, hostarch.Addr, uint32, usermem.IOOpts) (uint32, error) {
	return 0, unix.EFAULT
}

// CompareAndSwapUint32 implements usermem.IO.CompareAndSwapUint32.
func (m *IO) CompareAndSwapUint32(context.Context, hostarch.Addr, uint32, uint32, usermem.IOOpts) (uint32, error) {
	return 0, unix.EFAULT
}

// LoadUint32 implements usermem.IO.LoadUint32.
func (m *IO) LoadUint32(_ context.Context, addr hostarch.Addr, _ usermem.IOOpts) (uint32, error) {
	b, err := m.Mem.CopyIn(uint64(addr), 4)
	if err != nil {
		return 0, err
	}
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24, nil
}

// Sequence returns an IOSequence over the application buffers iov of
// call memory mem. An iovec whose range wraps around fails with EFAULT.
func Sequence(mem *sysabi.Memory, iov []sysabi.Iovec) (usermem.IOSequence, error) {
	ars := make([]hostarch.AddrRange, 0, len(iov))
	for _, v := range iov {
		if v.Len == 0 {
			continue
		}
		ar, ok := hostarch.Addr(v.Base).ToRange(v.Len)
		if !ok {
			return usermem.IOSequence{}, unix.EFAULT
		}
		ars = append(ars, ar)
	}
	return usermem.IOSequence{
		IO:    &IO{Mem: mem},
		Addrs: hostarch.AddrRangeSeqFromSlice(ars),
	}, nil
}

// BufferSequence returns an IOSequence over one application buffer.
func BufferSequence(mem *sysabi.Memory, addr, n uint64) (usermem.IOSequence, error) {
	return Sequence(mem, []sysabi.Iovec{{Base: addr, Len: n}})
}
