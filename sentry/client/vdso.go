package client

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"

	"gvisor.dev/gvisor/pkg/context"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/safemem"
	"gvisor.dev/gvisor/pkg/sentry/loader/vdsodata"
	"gvisor.dev/gvisor/pkg/sentry/memmap"
	"gvisor.dev/gvisor/pkg/sentry/mm"
	"gvisor.dev/gvisor/pkg/sentry/pgalloc"
	"gvisor.dev/gvisor/pkg/sentry/usage"
)

// The application's vDSO: gVisor's (pkg/sentry/loader/vdsodata), mapped
// into every address space exec makes as gVisor's loader does (its
// loadVDSO, unexported, in the client's words): the [vvar] parameter
// page just below the [vdso] image, AT_SYSINFO_EHDR naming the image.
// Its clock_gettime, gettimeofday and time read the TSC and the
// parameters appClock writes to the page (clock.go); so the
// application's clock reads do not trap into the client.

// vdsoParams is the parameter page after its sequence count: the layout
// of gVisor's vdsoParams (pkg/sentry/kernel/vdso.go, unexported), which
// the vDSO binary reads (vdso/vdso_time.cc's params). Every field is 8
// bytes, little-endian, in this order.
type vdsoParams struct {
	monotonicReady      uint64
	monotonicBaseCycles int64
	monotonicBaseRef    int64
	monotonicFrequency  uint64

	realtimeReady      uint64
	realtimeBaseCycles int64
	realtimeBaseRef    int64
	realtimeFrequency  uint64

	monotonicRawAlias      uint64
	monotonicRawReady      uint64
	monotonicRawBaseCycles int64
	monotonicRawBaseRef    int64
	monotonicRawFrequency  uint64
}

// vdsoParamsSize is vdsoParams' size on the page.
const vdsoParamsSize = 13 * 8

// marshal writes p as the vDSO reads it.
func (p *vdsoParams) marshal(b []byte) {
	for i, v := range []uint64{
		p.monotonicReady, uint64(p.monotonicBaseCycles), uint64(p.monotonicBaseRef), p.monotonicFrequency,
		p.realtimeReady, uint64(p.realtimeBaseCycles), uint64(p.realtimeBaseRef), p.realtimeFrequency,
		p.monotonicRawAlias, p.monotonicRawReady, uint64(p.monotonicRawBaseCycles), uint64(p.monotonicRawBaseRef), p.monotonicRawFrequency,
	} {
		binary.LittleEndian.PutUint64(b[i*8:], v)
	}
}

// vdsoParamPage is one client's [vvar] page: a uint64 sequence count at
// offset 0, odd while a write is under way (a vDSO reader retries then,
// or when the count changed across its read), then vdsoParams. Only
// appClock writes it, under appClock.mu.
type vdsoParamPage struct {
	mf *pgalloc.MemoryFile
	fr memmap.FileRange
	// seq is the count last written to the page. Under appClock.mu.
	seq uint64
	// buf is the marshalled parameters. Under appClock.mu.
	buf [vdsoParamsSize]byte
}

// block maps the page into the client.
func (v *vdsoParamPage) block() (safemem.Block, error) {
	bs, err := v.mf.MapInternal(v.fr, hostarch.ReadWrite)
	if err != nil {
		return safemem.Block{}, fmt.Errorf("map the vdso parameter page: %w", err)
	}
	if bs.NumBlocks() != 1 {
		return safemem.Block{}, fmt.Errorf("the vdso parameter page maps as %d blocks", bs.NumBlocks())
	}
	return bs.Head(), nil
}

// bump moves the page's count one on, atomically (the vDSO reads it
// while it changes).
func (v *vdsoParamPage) bump(b safemem.Block) error {
	old, err := safemem.SwapUint64(b, v.seq+1)
	if err != nil {
		return fmt.Errorf("write the vdso sequence count: %w", err)
	}
	if old != v.seq {
		return fmt.Errorf("vdso sequence count was %d, not the %d written last", old, v.seq)
	}
	v.seq++
	return nil
}

// begin starts a write: the count becomes odd.
func (v *vdsoParamPage) begin() error {
	b, err := v.block()
	if err != nil {
		return err
	}
	return v.bump(b)
}

// end writes p and ends the write begun: the count becomes even.
func (v *vdsoParamPage) end(p vdsoParams) error {
	b, err := v.block()
	if err != nil {
		return err
	}
	p.marshal(v.buf[:])
	if _, err := safemem.Copy(b.DropFirst(8), safemem.BlockFromSafeSlice(v.buf[:])); err != nil {
		return fmt.Errorf("write the vdso parameters: %w", err)
	}
	return v.bump(b)
}

// write is a whole write of the parameters f returns.
func (v *vdsoParamPage) write(f func() vdsoParams) error {
	if err := v.begin(); err != nil {
		return err
	}
	return v.end(f())
}

// vdso is one client's vDSO: the image and its parameter page, in the
// client's memory file, mapped by every exec. Immutable once made;
// released with the client.
type vdso struct {
	image  *mm.SpecialMappable
	vvar   *mm.SpecialMappable
	params *vdsoParamPage
	// loads are the image's PT_LOAD headers: the permissions of its
	// pages.
	loads []elf.ProgHeader
}

// newVDSO copies gVisor's vDSO into mf, allocates its parameter page and
// registers the page with appClock.
func newVDSO(mf *pgalloc.MemoryFile) (*vdso, error) {
	bin := vdsodata.Binary
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return nil, fmt.Errorf("vdso: %w", err)
	}
	var loads []elf.ProgHeader
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		// The image is mapped as it is in the file, so each segment
		// must sit at its file offset from the first, whole (gVisor's
		// validateVDSO).
		if len(loads) == 0 && p.Off != 0 || len(loads) > 0 && p.Vaddr-loads[0].Vaddr != p.Off ||
			p.Memsz != p.Filesz || p.Off+p.Filesz > uint64(len(bin)) {
			return nil, fmt.Errorf("vdso: PT_LOAD at offset %#x (vaddr %#x, size %#x/%#x) cannot be mapped from the image", p.Off, p.Vaddr, p.Filesz, p.Memsz)
		}
		loads = append(loads, p.ProgHeader)
	}
	if len(loads) == 0 {
		return nil, fmt.Errorf("vdso: no PT_LOAD segment")
	}
	size, ok := hostarch.Addr(len(bin)).RoundUp()
	if !ok {
		return nil, fmt.Errorf("vdso: size %#x overflows", len(bin))
	}
	img, err := mf.Allocate(uint64(size), pgalloc.AllocOpts{Kind: usage.System})
	if err != nil {
		return nil, fmt.Errorf("vdso: allocate the image: %w", err)
	}
	ims, err := mf.MapInternal(img, hostarch.ReadWrite)
	if err == nil {
		_, err = safemem.CopySeq(ims, safemem.BlockSeqOf(safemem.BlockFromSafeSlice(bin)))
	}
	if err != nil {
		mf.DecRef(img)
		return nil, fmt.Errorf("vdso: copy the image: %w", err)
	}
	pfr, err := mf.Allocate(hostarch.PageSize, pgalloc.AllocOpts{Kind: usage.System})
	if err != nil {
		mf.DecRef(img)
		return nil, fmt.Errorf("vdso: allocate the parameter page: %w", err)
	}
	v := &vdso{
		image:  mm.NewSpecialMappable("[vdso]", mf, img),
		vvar:   mm.NewSpecialMappable("[vvar]", mf, pfr),
		params: &vdsoParamPage{mf: mf, fr: pfr},
		loads:  loads,
	}
	if err := appClock.register(v.params); err != nil {
		v.release()
		return nil, fmt.Errorf("vdso: %w", err)
	}
	return v, nil
}

// release stops the page's updates and drops the client's references
// (address spaces still mapping them keep theirs).
func (v *vdso) release() {
	appClock.unregister(v.params)
	v.image.DecRef(context.Background())
	v.vvar.DecRef(context.Background())
}

// mapInto maps the parameter page and, just above it, the image into m
// (where mmap puts a mapping of their size), as gVisor's loadVDSO does,
// and returns the image's address (AT_SYSINFO_EHDR).
func (v *vdso) mapInto(ctx context.Context, m *mm.MemoryManager) (hostarch.Addr, error) {
	vvarLen, imgLen := v.vvar.Length(), v.image.Length()
	addr, err := m.MMap(ctx, memmap.MMapOpts{Length: vvarLen + imgLen, Private: true})
	if err != nil {
		return 0, fmt.Errorf("reserve the vdso's addresses: %w", err)
	}
	if _, err := m.MMap(ctx, memmap.MMapOpts{
		Length: vvarLen, MappingIdentity: v.vvar, Mappable: v.vvar,
		Addr: addr, Fixed: true, Unmap: true, Private: true,
		Perms: hostarch.Read, MaxPerms: hostarch.Read,
	}); err != nil {
		return 0, fmt.Errorf("map [vvar]: %w", err)
	}
	img := addr + hostarch.Addr(vvarLen)
	if _, err := m.MMap(ctx, memmap.MMapOpts{
		Length: imgLen, MappingIdentity: v.image, Mappable: v.image,
		Addr: img, Fixed: true, Unmap: true, Private: true,
		Perms: hostarch.Read, MaxPerms: hostarch.AnyAccess,
	}); err != nil {
		return 0, fmt.Errorf("map [vdso]: %w", err)
	}
	// Each segment's pages get its permissions (the text executable).
	for _, p := range v.loads {
		start := (img + hostarch.Addr(p.Vaddr-v.loads[0].Vaddr)).RoundDown()
		end, ok := (img + hostarch.Addr(p.Vaddr-v.loads[0].Vaddr+p.Memsz)).RoundUp()
		if !ok || end > img+hostarch.Addr(imgLen) {
			return 0, fmt.Errorf("vdso segment at %#x beyond the image", p.Vaddr)
		}
		perms := hostarch.AccessType{Read: p.Flags&elf.PF_R != 0, Write: p.Flags&elf.PF_W != 0, Execute: p.Flags&elf.PF_X != 0}
		if perms == hostarch.Read {
			continue
		}
		if err := m.MProtect(start, uint64(end-start), perms, false); err != nil {
			return 0, fmt.Errorf("protect vdso segment at %#x: %w", p.Vaddr, err)
		}
	}
	return img, nil
}
