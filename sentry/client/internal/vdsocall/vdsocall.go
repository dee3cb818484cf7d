// Package vdsocall runs gVisor's vDSO image (pkg/sentry/loader/vdsodata)
// in the calling process, over a parameter page the caller writes: the
// client's tests compare its clock arithmetic with the vDSO's own code.
// It is for tests; nothing in the sandbox uses it.
package vdsocall

import (
	"bytes"
	"debug/elf"
	"fmt"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/sentry/loader/vdsodata"
)

// Image is the vDSO mapped in this process: Params is its [vvar] page,
// the page just below the image, where the image's code finds it.
type Image struct {
	mem          []byte
	Params       []byte
	clockGettime uintptr
}

// Map maps the image and a zeroed parameter page below it.
func Map() (*Image, error) {
	bin := vdsodata.Binary
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return nil, fmt.Errorf("vdso: %w", err)
	}
	var base uint64
	found := false
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			base, found = p.Vaddr, true
			break
		}
	}
	if !found {
		return nil, fmt.Errorf("vdso: no PT_LOAD")
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		return nil, fmt.Errorf("vdso symbols: %w", err)
	}
	var off uint64
	for _, s := range syms {
		if s.Name == "__vdso_clock_gettime" {
			off = s.Value - base
		}
	}
	if off == 0 {
		return nil, fmt.Errorf("vdso: no __vdso_clock_gettime")
	}
	const page = 4096
	size := (len(bin) + page - 1) / page * page
	mem, err := unix.Mmap(-1, 0, page+size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("mmap: %w", err)
	}
	copy(mem[page:], bin)
	if err := unix.Mprotect(mem[page:], unix.PROT_READ|unix.PROT_EXEC); err != nil {
		unix.Munmap(mem)
		return nil, fmt.Errorf("mprotect: %w", err)
	}
	img := &Image{mem: mem, Params: mem[:page]}
	img.clockGettime = addrOf(mem[page:]) + uintptr(off)
	return img, nil
}

// ClockGettime calls the image's clock_gettime(clk, &ts).
func (i *Image) ClockGettime(clk int32) (unix.Timespec, int64) {
	var ts unix.Timespec
	r := call(i.clockGettime, uintptr(clk), &ts)
	return ts, r
}

// Unmap releases the image.
func (i *Image) Unmap() error {
	return unix.Munmap(i.mem)
}
