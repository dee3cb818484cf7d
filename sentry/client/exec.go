package client

import (
	"debug/elf"
	"fmt"
	"path"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/cpuid"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/arch"
	"gvisor.dev/gvisor/pkg/sentry/memmap"
	"gvisor.dev/gvisor/pkg/sentry/mm"
	"gvisor.dev/gvisor/pkg/usermem"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// image is one ELF mapped into a new address space.
type loadedImage struct {
	bias  hostarch.Addr // load bias (0 for ET_EXEC)
	start hostarch.Addr // first PT_LOAD address (with bias)
	end   hostarch.Addr // end of the highest segment (with bias)
	entry hostarch.Addr
}

// loadPlan executes an ExecPlan: a fresh MemoryManager with the image
// (and interpreter) mapped from server files, a new stack, new registers.
// On success it replaces t's address space and registers.
func (t *task) loadPlan(plan *pb.ExecPlan) error {
	if plan.Image == nil {
		return fmt.Errorf("exec plan without an image: %w", unix.ENOEXEC)
	}
	m, err := mm.NewMemoryManager(t.c.plat, t.c.mf)
	if err != nil {
		return fmt.Errorf("new address space: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			m.DecUsers(t.gctx)
		}
	}()
	ac := arch.New(arch.AMD64)
	layout, err := m.SetMmapLayout(ac, t.proc.limits)
	if err != nil {
		return fmt.Errorf("mmap layout: %w", err)
	}
	name := plan.Execfn
	main, err := t.mapImage(m, plan.Image, ac.PIELoadAddress(layout), string(name))
	if err != nil {
		return fmt.Errorf("map %s: %w", name, err)
	}
	auxv := arch.Auxv{
		{Key: linux.AT_PHDR, Value: main.bias + hostarch.Addr(plan.Image.PhdrVaddr)},
		{Key: linux.AT_PHENT, Value: hostarch.Addr(plan.Image.Phent)},
		{Key: linux.AT_PHNUM, Value: hostarch.Addr(plan.Image.Phnum)},
		{Key: linux.AT_ENTRY, Value: main.entry},
	}
	entry := main.entry
	if plan.Interp != nil {
		interp, err := t.mapImage(m, plan.Interp, 0, "")
		if err != nil {
			return fmt.Errorf("map interpreter: %w", err)
		}
		auxv = append(auxv, arch.AuxEntry{Key: linux.AT_BASE, Value: interp.start})
		entry = interp.entry
	} else {
		auxv = append(auxv, arch.AuxEntry{Key: linux.AT_BASE, Value: 0})
	}
	brk, okb := main.end.RoundUp()
	if !okb {
		return unix.ENOEXEC
	}
	m.BrkSetup(t.gctx, brk)

	// The stack: execfn, AT_RANDOM bytes, then argv/envp/auxv.
	sar, err := m.MapStack(t.gctx)
	if err != nil {
		return fmt.Errorf("map stack: %w", err)
	}
	// The vDSO, where mmap puts it, as gVisor's loader maps it after
	// the stack; without one (newVDSO failed) the clock reads trap.
	var vdsoAddr hostarch.Addr
	if t.c.vdso != nil {
		if vdsoAddr, err = t.c.vdso.mapInto(t.gctx, m); err != nil {
			return fmt.Errorf("map the vdso: %w", err)
		}
		auxv = append(arch.Auxv{{Key: linux.AT_SYSINFO_EHDR, Value: vdsoAddr}}, auxv...)
	}
	st := &arch.Stack{Arch: ac, IO: m, Bottom: sar.End}
	if _, err := st.PushNullTerminatedByteSlice([]byte(plan.Execfn)); err != nil {
		return fmt.Errorf("push execfn: %w", err)
	}
	execfn := st.Bottom
	var rnd [16]byte
	randRead(rnd[:])
	if _, err := st.PushNullTerminatedByteSlice(rnd[:]); err != nil {
		return fmt.Errorf("push AT_RANDOM: %w", err)
	}
	random := st.Bottom
	fs := cpuid.HostFeatureSet()
	auxv = append(auxv, arch.Auxv{
		{Key: linux.AT_UID, Value: hostarch.Addr(plan.Uid)},
		{Key: linux.AT_EUID, Value: hostarch.Addr(plan.Euid)},
		{Key: linux.AT_GID, Value: hostarch.Addr(plan.Gid)},
		{Key: linux.AT_EGID, Value: hostarch.Addr(plan.Egid)},
		// Set-id execs (the server applied the program's bits) run in
		// secure mode, as Linux's bprm->secureexec.
		{Key: linux.AT_SECURE, Value: hostarch.Addr(secureExec(plan))},
		{Key: linux.AT_CLKTCK, Value: linux.CLOCKS_PER_SEC},
		{Key: linux.AT_EXECFN, Value: execfn},
		{Key: linux.AT_RANDOM, Value: random},
		{Key: linux.AT_PAGESZ, Value: hostarch.PageSize},
		{Key: linux.AT_HWCAP, Value: hostarch.Addr(fs.AllowedHWCap1())},
		{Key: linux.AT_HWCAP2, Value: hostarch.Addr(fs.AllowedHWCap2())},
	}...)
	argv := plan.Argv
	sl, err := st.Load(pb.StringList(argv), pb.StringList(plan.Env), auxv)
	if err != nil {
		return fmt.Errorf("load stack: %w", err)
	}
	m.SetArgvStart(sl.ArgvStart)
	m.SetArgvEnd(sl.ArgvEnd)
	m.SetEnvvStart(sl.EnvvStart)
	m.SetEnvvEnd(sl.EnvvEnd)
	m.SetAuxv(auxv)
	ac.SetIP(uintptr(entry))
	ac.SetStack(uintptr(st.Bottom))

	// Point of no return: switch t to the new image.
	ok = true
	old := t.mm
	if old != nil {
		t.proc.noteMaxRSS(old)         // Linux keeps the peak across exec
		t.proc.membarrierRegs.Store(0) // the new address space has none
		t.pctx.PrepareExecve()
		t.clearChildTID()
	}
	t.mu.Lock()
	t.mm = m
	t.mu.Unlock()
	t.setStub(newStubCPU(m.AddressSpace()))
	t.futexes = t.c.futexRoot.Fork()
	t.ac = ac
	t.pctx.FullStateChanged()
	if old != nil {
		old.DecUsers(t.gctx)
	}
	t.robustList.Store(0)
	t.restartBlock = nil
	t.restartErrno = 0
	comm := plan.Comm
	if len(comm) == 0 {
		comm = []byte(path.Base(string(plan.Execfn)))
	}
	if len(comm) > linux.TASK_COMM_LEN-1 {
		comm = comm[:linux.TASK_COMM_LEN-1]
	}
	t.mu.Lock()
	t.name = string(comm)
	t.mu.Unlock()
	t.mu.Lock()
	t.altStack = linux.SignalStack{Flags: linux.SS_DISABLE}
	t.haveSavedMask = false
	t.mu.Unlock()
	t.proc.mu.Lock()
	t.proc.creds = creds{plan.Uid, plan.Gid, plan.Euid, plan.Egid}
	// Linux's begin_new_exec: dumpable again, unless the program runs
	// with ids not the caller's (set-user-ID or set-group-ID), which
	// takes suid_dumpable (0); the new image has no VM_DONTDUMP.
	t.proc.dumpable = 1
	if plan.Euid != plan.Uid || plan.Egid != plan.Gid {
		t.proc.dumpable = 0
	}
	t.proc.dontDump = nil
	t.proc.mu.Unlock()
	t.proc.forgetCPUPosixTimers()
	if t.vforkDone != nil {
		close(t.vforkDone)
		t.vforkDone = nil
	}
	return nil
}

// secureExec is AT_SECURE for plan: 1 when the new image runs with an
// effective uid or gid other than its real one.
func secureExec(plan *pb.ExecPlan) uint64 {
	if plan.Euid != plan.Uid || plan.Egid != plan.Gid {
		return 1
	}
	return 0
}

// applyExec handles an execve reply. Failures after the server committed
// the exec kill the process (Linux: SIGKILL past the point of no return).
func (t *task) applyExec(plan *pb.ExecPlan) (uint64, unix.Errno) {
	t.noReturn = true
	if plan.Tid != 0 && plan.Tid != t.tid {
		t.changeTID(plan.Tid)
	}
	if err := t.loadPlan(plan); err != nil {
		t.c.log.Warn("exec failed after the point of no return", "tid", t.tid, "err", err)
		t.forwardKillSelf(linux.SIGKILL)
		t.kill()
		return 0, 0
	}
	t.reraiseAfterExec()
	return 0, 0
}

// changeTID renames t (a non-leader thread that exec'd takes the thread
// group leader's ID).
func (t *task) changeTID(tid int32) {
	old := t.tid
	t.c.mu.Lock()
	if t.c.tasks[old] == t {
		delete(t.c.tasks, old)
	}
	t.c.tasks[tid] = t
	t.tid = tid
	t.c.mu.Unlock()
	t.proc.mu.Lock()
	if t.proc.threads[old] == t {
		delete(t.proc.threads, old)
	}
	t.proc.threads[tid] = t
	t.proc.mu.Unlock()
}

// mapImage maps one ELF image like Linux's load_elf_binary: file-backed
// private mappings of each PT_LOAD (pages from the client's cache of the
// server file), the partial last page zeroed, anonymous memory for the
// rest of the bss. hint is where an ET_DYN image should go.
func (t *task) mapImage(m *mm.MemoryManager, img *pb.Image, hint hostarch.Addr, name string) (loadedImage, error) {
	if len(img.Segments) == 0 {
		return loadedImage{}, unix.ENOEXEC
	}
	var lo, hi uint64
	for i, s := range img.Segments {
		e := s.Vaddr + s.Memsz
		if e < s.Vaddr || s.Filesz > s.Memsz || s.Offset+s.Filesz < s.Offset {
			return loadedImage{}, unix.ENOEXEC
		}
		if i == 0 || s.Vaddr < lo {
			lo = s.Vaddr
		}
		if e > hi {
			hi = e
		}
	}
	var bias hostarch.Addr
	switch elf.Type(img.ElfType) {
	case elf.ET_EXEC:
	case elf.ET_DYN:
		// Find room for the whole image, then map segments into it.
		span, ok := hostarch.Addr(hi - lo&^(hostarch.PageSize-1)).RoundUp()
		if !ok || span == 0 {
			return loadedImage{}, unix.ENOEXEC
		}
		base, err := m.MMap(t.gctx, memmap.MMapOpts{Length: uint64(span), Addr: hint, Private: true})
		if err != nil {
			return loadedImage{}, err
		}
		if err := m.MUnmap(t.gctx, base, uint64(span)); err != nil {
			return loadedImage{}, err
		}
		bias = base - hostarch.Addr(lo&^(hostarch.PageSize-1))
	default:
		return loadedImage{}, unix.ENOEXEC
	}

	f := t.c.files.get(t.gctx, img.FileId, img.FileSize, img.FileGen, name, img.FileData)
	defer f.DecRef(t.gctx)
	f.markCode()
	for _, s := range img.Segments {
		if s.Memsz == 0 {
			continue
		}
		if err := t.mapSegment(m, f, s, bias); err != nil {
			return loadedImage{}, err
		}
	}
	return loadedImage{
		bias:  bias,
		start: bias + hostarch.Addr(lo),
		end:   bias + hostarch.Addr(hi),
		entry: bias + hostarch.Addr(img.Entry),
	}, nil
}

func (t *task) mapSegment(m *mm.MemoryManager, f *serverFile, s *pb.Segment, bias hostarch.Addr) error {
	adjust := s.Vaddr % hostarch.PageSize
	if s.Offset%hostarch.PageSize != adjust {
		return unix.ENOEXEC
	}
	addr := bias + hostarch.Addr(s.Vaddr-adjust)
	prot := protPerms(uint64(s.Prot))
	fileSize := s.Filesz + adjust
	ms, ok := hostarch.Addr(fileSize).RoundUp()
	if !ok {
		return unix.ENOEXEC
	}
	mapSize := uint64(ms)
	if s.Filesz > 0 {
		if _, err := m.MMap(t.gctx, memmap.MMapOpts{
			Length:          mapSize,
			Offset:          s.Offset - adjust,
			Addr:            addr,
			Fixed:           true,
			Unmap:           true,
			Private:         true,
			Perms:           prot,
			MaxPerms:        hostarch.AnyAccess,
			Mappable:        f,
			MappingIdentity: f,
		}); err != nil {
			return err
		}
		if s.Memsz > s.Filesz && mapSize > fileSize {
			// Zero the tail of the last file page (it belongs to bss).
			if _, err := m.ZeroOut(t.gctx, addr+hostarch.Addr(fileSize), int64(mapSize-fileSize), usermem.IOOpts{IgnorePermissions: true}); err != nil {
				return err
			}
		}
	} else {
		mapSize = 0
	}
	memSize := s.Memsz + adjust
	if mapSize < memSize {
		anonSize, ok := hostarch.Addr(memSize - mapSize).RoundUp()
		if !ok {
			return unix.ENOEXEC
		}
		aprot := hostarch.ReadWrite
		aprot.Execute = prot.Execute
		if _, err := m.MMap(t.gctx, memmap.MMapOpts{
			Length:   uint64(anonSize),
			Addr:     addr + hostarch.Addr(mapSize),
			Fixed:    true,
			Unmap:    true,
			Private:  true,
			Perms:    aprot,
			MaxPerms: hostarch.AnyAccess,
		}); err != nil {
			return err
		}
	}
	return nil
}
