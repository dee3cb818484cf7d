package sysabi

import (
	"bytes"
	"cmp"
	"slices"
	"sort"

	"golang.org/x/sys/unix"
)

// Region is a copy of application memory at Addr.
type Region struct {
	Addr uint64
	Data []byte
}

// Memory is the server's view of a forwarded call's application memory:
// the input regions the client sent, and the outputs the call writes. It is
// used by one call at a time and needs no lock.
type Memory struct {
	// inputs are sorted by Addr and do not overlap.
	inputs []Region
	// outputs are the writes, in call order.
	outputs []Region
	// outputBytes is the total size of outputs, bounded by MaxOutput.
	outputBytes int
}

// MaxOutput bounds the bytes one call may write back.
const MaxOutput = 32 << 20

// NewMemory returns a view over inputs (MakeMemory).
func NewMemory(inputs []Region) *Memory {
	m := MakeMemory(inputs)
	return &m
}

// MakeMemory returns a view over inputs, which it sorts and merges in
// place: the slice is the Memory's from then on (the regions' bytes are
// not written). Overlapping or adjacent regions are merged (they are
// copies of the same application memory).
func MakeMemory(inputs []Region) Memory {
	rs := inputs[:0]
	for _, r := range inputs {
		if len(r.Data) > 0 && r.Addr+uint64(len(r.Data)) > r.Addr {
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		return Memory{}
	}
	slices.SortStableFunc(rs, func(a, b Region) int { return cmp.Compare(a.Addr, b.Addr) })
	// Merged into the front of rs: an element is written only once it
	// was read.
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 {
			last := &out[n-1]
			lend := last.Addr + uint64(len(last.Data))
			if r.Addr <= lend {
				if rend := r.Addr + uint64(len(r.Data)); rend > lend {
					last.Data = append(last.Data[:len(last.Data):len(last.Data)], r.Data[lend-r.Addr:]...)
				}
				continue
			}
		}
		out = append(out, Region{Addr: r.Addr, Data: r.Data})
	}
	return Memory{inputs: out}
}

// CopyIn returns n bytes at addr. It fails with EFAULT unless a single
// input region holds all of them. Bytes the call already wrote are seen.
func (m *Memory) CopyIn(addr uint64, n int) ([]byte, error) {
	in, err := m.inputAt(addr, n)
	if err != nil || in == nil {
		return nil, err
	}
	b := append([]byte(nil), in...)
	// Apply this call's own earlier writes (e.g. readv then use).
	for _, o := range m.outputs {
		overlay(b, addr, o)
	}
	return b, nil
}

// CopyInView is CopyIn without the copy when the call wrote none of the
// bytes itself: the input as the call brought it, which the caller must
// not change (it may keep it: nothing changes a call's inputs). A write
// of a 4 KiB buffer to a gofer file allocates and copies nothing more.
func (m *Memory) CopyInView(addr uint64, n int) ([]byte, error) {
	in, err := m.inputAt(addr, n)
	if err != nil || in == nil {
		return nil, err
	}
	end := addr + uint64(n)
	for _, o := range m.outputs {
		if o.Addr < end && o.Addr+uint64(len(o.Data)) > addr {
			return m.CopyIn(addr, n)
		}
	}
	return in, nil
}

// inputAt returns the n bytes at addr of the one input region that
// holds them all (capacity n: an append copies), nil for n == 0, or
// EFAULT.
func (m *Memory) inputAt(addr uint64, n int) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	if n < 0 || addr+uint64(n) < addr {
		return nil, unix.EFAULT
	}
	i := sort.Search(len(m.inputs), func(i int) bool {
		r := m.inputs[i]
		return r.Addr+uint64(len(r.Data)) > addr
	})
	if i == len(m.inputs) || m.inputs[i].Addr > addr {
		return nil, unix.EFAULT
	}
	r := m.inputs[i]
	off := addr - r.Addr
	if off+uint64(n) > uint64(len(r.Data)) {
		return nil, unix.EFAULT
	}
	return r.Data[off : off+uint64(n) : off+uint64(n)], nil
}

func overlay(b []byte, addr uint64, o Region) {
	end := addr + uint64(len(b))
	oend := o.Addr + uint64(len(o.Data))
	if o.Addr >= end || oend <= addr {
		return
	}
	lo, hi := max(addr, o.Addr), min(end, oend)
	copy(b[lo-addr:hi-addr], o.Data[lo-o.Addr:hi-o.Addr])
}

// CopyInString returns the NUL-terminated string at addr, of at most max
// bytes (ENAMETOOLONG if longer).
func (m *Memory) CopyInString(addr uint64, max int) (string, error) {
	i := sort.Search(len(m.inputs), func(i int) bool {
		r := m.inputs[i]
		return r.Addr+uint64(len(r.Data)) > addr
	})
	if addr == 0 || i == len(m.inputs) || m.inputs[i].Addr > addr {
		return "", unix.EFAULT
	}
	r := m.inputs[i]
	b := r.Data[addr-r.Addr:]
	n := bytes.IndexByte(b, 0)
	if n < 0 {
		if len(b) >= max {
			return "", unix.ENAMETOOLONG
		}
		return "", unix.EFAULT
	}
	if n >= max {
		return "", unix.ENAMETOOLONG
	}
	return string(b[:n]), nil
}

// CopyInUint64 reads a little-endian 64-bit value at addr.
func (m *Memory) CopyInUint64(addr uint64) (uint64, error) {
	b, err := m.CopyIn(addr, 8)
	if err != nil {
		return 0, err
	}
	return le64(b), nil
}

// CopyInStringVector reads a NULL-terminated array of string pointers
// (execve's argv and envp), at most maxCount entries and maxTotal bytes.
func (m *Memory) CopyInStringVector(addr uint64, maxCount, maxTotal int) ([]string, error) {
	if addr == 0 {
		return nil, nil
	}
	var out []string
	total := 0
	for i := 0; ; i++ {
		if i >= maxCount {
			return nil, unix.E2BIG
		}
		p, err := m.CopyInUint64(addr + uint64(8*i))
		if err != nil {
			return nil, err
		}
		if p == 0 {
			return out, nil
		}
		s, err := m.CopyInString(p, maxTotal-total)
		if err != nil {
			if err == unix.ENAMETOOLONG {
				return nil, unix.E2BIG
			}
			return nil, err
		}
		total += len(s) + 1
		out = append(out, s)
	}
}

// CopyInIovecs reads an iovec array of cnt entries.
func (m *Memory) CopyInIovecs(addr uint64, cnt int) ([]Iovec, error) {
	if cnt < 0 || cnt > MaxIovecs {
		return nil, unix.EINVAL
	}
	b, err := m.CopyIn(addr, 16*cnt)
	if err != nil {
		return nil, err
	}
	iov := make([]Iovec, cnt)
	for i := range iov {
		iov[i] = Iovec{Base: le64(b[16*i:]), Len: le64(b[16*i+8:])}
	}
	return iov, nil
}

// CopyOut records that the call writes b at addr.
func (m *Memory) CopyOut(addr uint64, b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if addr == 0 || addr+uint64(len(b)) < addr {
		return unix.EFAULT
	}
	if m.outputBytes+len(b) > MaxOutput {
		return unix.EFAULT
	}
	m.outputBytes += len(b)
	m.outputs = append(m.outputs, Region{Addr: addr, Data: append([]byte(nil), b...)})
	return nil
}

// Outputs returns the writes the call made, in order.
func (m *Memory) Outputs() []Region { return m.outputs }

func le64(b []byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// Iovec is struct iovec.
type Iovec struct {
	Base uint64
	Len  uint64
}

// MaxIovecs is UIO_MAXIOV.
const MaxIovecs = 1024
