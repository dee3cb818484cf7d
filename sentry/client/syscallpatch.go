package client

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/memmap"
	"gvisor.dev/gvisor/pkg/sentry/platform/systrap/sysmsg"
	"gvisor.dev/gvisor/pkg/usermem"
)

// Syscall patching on systrap (issue 10: the trap cost).
//
// A system call the application makes with a syscall instruction traps
// through the stub's seccomp filter: the host kernel delivers SIGSYS to
// the stub's signal handler, which hands the thread to us. Inline
// wrappers (glibc's, busybox's) make their calls from a 7-byte site
// "mov $nr,%eax; syscall". Once a thread has trapped from such a site
// patchAfterTraps times, the client rewrites it into "jmp *entry", where
// entry is a slot of a per-address-space trap table holding a trampoline
// that enters the stub's syscall handler (sysmsg's Syshandler) directly,
// as a function call on the thread's sysmsg stack: later calls from the
// site skip the kernel's signal delivery. gVisor's own patcher (usertrap) needs a kernel.Task,
// which the client has not (platform/doc.go), so this file does the
// same job on the client's own state.
//
// The table lives in a private VMA named [usertrap] in [0x60000,
// 0x70000): below 2 GiB, so the jmp's 32-bit absolute operand reaches
// it, and with 0x06 as the third byte of every entry's address. That
// byte lands where the syscall instruction was, and 0x06 is an invalid
// opcode in 64-bit mode: a thread that executed the old mov before the
// rewrite, or that restarts a call by rewinding RIP by the width of a
// syscall instruction (signal.go, a tracer), faults with SIGILL at
// site+5, and illegalAtSite sends it to the jump (or, for
// restart_syscall, runs the call). The table's first slot holds the
// index of the next free one, so fork (which copies the VMA) inherits
// the allocation and exec (a new address space) starts without a table.
//
// Who changes what: syscallPatcher.mu orders every table allocation and
// site rewrite of the client, and the reading of a site after a SIGILL,
// so a thread faulting in the middle of a rewrite sees it finished. It
// is taken with no other client lock held, and mm's locks are taken
// under it. Each task caches, per syscall RIP, what it found there
// (task.patchSites, its own).
//
// Not patched: a traced process (single-stepping into a trampoline would
// step through the stub's handler; sites patched before a tracer
// attached stay patched), the ptrace and kvm platforms, and everything
// with Config.NoSyscallPatching (--systrap-disable-syscall-patching).

const (
	// trapTableName names the table's VMA (/proc/<pid>/maps shows it).
	trapTableName = "[usertrap]"
	// trapTableSize holds trapEntries entries of trapEntrySize bytes.
	// An entry never crosses a page (4096 is a multiple of 128).
	trapTableSize = 32 << 10
	trapEntrySize = 128
	trapEntries   = trapTableSize / trapEntrySize
	// patchSiteLen is the length of "mov $imm32,%eax; syscall", which a
	// patched site's "jmp *disp32" exactly replaces.
	patchSiteLen = 7
	// siteSyscallOffset is the syscall instruction's offset in a site.
	siteSyscallOffset = 5
	// invalidOpcode is 0x06 (push %es in 32-bit mode), invalid in 64-bit
	// mode: the third byte of every trap table address.
	invalidOpcode = 0x06
	// maxCachedSites bounds a task's patchSites (it starts over).
	maxCachedSites = 4096
)

// trapTableRange is where a trap table may be mapped: every address in
// it has invalidOpcode as its third byte and fits in 31 bits.
var trapTableRange = hostarch.AddrRange{Start: 0x60000, End: 0x70000}

// Encodings used below.
const (
	opMovImm32EAX = 0xb8 // mov $imm32,%eax
	opGSPrefix    = 0x65 // %gs segment override: the thread's sysmsg.Msg
	opREXW        = 0x48 // 64-bit operand size
	// modRMSIBDisp32 with the SIB byte sibDisp32 addresses [disp32]:
	// no base, no index.
	modRMSIBDisp32 = 0x04
	sibDisp32      = 0x25
	regRAX         = 0
	regRSP         = 4
)

// jmpIndirectAbs is "jmp *disp32" (FF /4): it jumps to the 8-byte
// address stored at disp32.
var jmpIndirectAbs = [3]byte{0xff, modRMSIBDisp32 | 4<<3, sibDisp32}

// syscallInsn is the syscall instruction.
var syscallInsn = [2]byte{0x0f, 0x05}

// syscallPatcher is the client's part of syscall patching.
type syscallPatcher struct {
	// enabled says the client patches (systrap, and not turned off).
	// Immutable.
	enabled bool

	// mu orders table allocations, site rewrites and the reading of a
	// site after a SIGILL (see the file comment).
	mu sync.Mutex

	// sites counts the sites patched, tables the trap tables mapped,
	// patchNS the wall time spent patching (from the lock's wait to the
	// rewrite's end), resumed the SIGILLs at patched sites sent to the
	// jump, restarts those run as restart_syscall, and viaPatch and
	// trapped the system call entries from a patched site and through a
	// trap (added by each task at its exit). Atomic.
	sites, tables, patchNS, resumed, restarts, viaPatch, trapped atomic.Int64
}

// patchableSite says code, the patchSiteLen bytes that end at the RIP of
// a trapped system call sysno, are "mov $sysno,%eax; syscall". The
// immediate must be sysno: the trampoline makes the call with it.
func patchableSite(code [patchSiteLen]byte, sysno uintptr) bool {
	return code[0] == opMovImm32EAX &&
		uintptr(binary.LittleEndian.Uint32(code[1:5])) == sysno &&
		code[siteSyscallOffset] == syscallInsn[0] && code[siteSyscallOffset+1] == syscallInsn[1]
}

// patchedSite returns the trap entry a site patched by the client jumps
// to; ok is false when code is no such site.
func patchedSite(code [patchSiteLen]byte) (entry hostarch.Addr, ok bool) {
	if [3]byte(code[:3]) != jmpIndirectAbs {
		return 0, false
	}
	entry = hostarch.Addr(binary.LittleEndian.Uint32(code[3:]))
	return entry, trapTableRange.Contains(entry) && code[siteSyscallOffset] == invalidOpcode
}

// siteJump is the code that replaces a site: "jmp *entry".
func siteJump(entry hostarch.Addr) [patchSiteLen]byte {
	var j [patchSiteLen]byte
	copy(j[:], jmpIndirectAbs[:])
	binary.LittleEndian.PutUint32(j[3:], uint32(entry))
	return j
}

// msgOffsets are the offsets of the sysmsg.Msg fields a trampoline uses
// (the stub addresses the thread's Msg through %gs).
var msgOffsets = func() (o struct{ state, appStack, syshandlerStack, retAddr, syshandler uint32 }) {
	var m sysmsg.Msg
	o.state = uint32(unsafe.Offsetof(m.State))
	o.appStack = uint32(unsafe.Offsetof(m.AppStack))
	o.syshandlerStack = uint32(unsafe.Offsetof(m.SyshandlerStack))
	o.retAddr = uint32(unsafe.Offsetof(m.RetAddr))
	o.syshandler = uint32(unsafe.Offsetof(m.Syshandler))
	return o
}()

// gsMem appends an instruction with the given opcode bytes whose memory
// operand is %gs:disp and whose ModRM reg field is reg.
func gsMem(b []byte, opcode []byte, reg byte, disp uint32) []byte {
	b = append(b, opGSPrefix)
	b = append(b, opcode...)
	b = append(b, modRMSIBDisp32|reg<<3, sibDisp32)
	return binary.LittleEndian.AppendUint32(b, disp)
}

// trapEntryCode is the trap entry at entry for a site that made system
// call sysno and continues at ret: first the address the site's jmp
// loads (the code right after it), then the code. The stub's syscall
// handler expects what its signal handler would have saved: it finds
// the thread's Msg marked ThreadStatePrep (so a signal arriving now
// leaves it alone), the application's stack pointer in AppStack, the
// return address in RetAddr, the call number in %eax, and runs on
// SyshandlerStack (the application's stack must not be touched).
func trapEntryCode(entry, ret hostarch.Addr, sysno uint32) []byte {
	o := msgOffsets
	b := make([]byte, 0, trapEntrySize)
	b = binary.LittleEndian.AppendUint64(b, uint64(entry)+8)
	// movl $ThreadStatePrep, %gs:State
	b = gsMem(b, []byte{0xc7}, 0, o.state)
	b = binary.LittleEndian.AppendUint32(b, uint32(sysmsg.ThreadStatePrep))
	// mov %rsp, %gs:AppStack
	b = gsMem(b, []byte{opREXW, 0x89}, regRSP, o.appStack)
	// mov %gs:SyshandlerStack, %rsp
	b = gsMem(b, []byte{opREXW, 0x8b}, regRSP, o.syshandlerStack)
	// movabs $ret, %rax; mov %rax, %gs:RetAddr
	b = append(b, opREXW, opMovImm32EAX|regRAX)
	b = binary.LittleEndian.AppendUint64(b, uint64(ret))
	b = gsMem(b, []byte{opREXW, 0x89}, regRAX, o.retAddr)
	// mov $sysno, %eax
	b = append(b, opMovImm32EAX)
	b = binary.LittleEndian.AppendUint32(b, sysno)
	// jmp *%gs:Syshandler
	b = gsMem(b, []byte{0xff}, 4, o.syshandler)
	return b
}

// illegalAction is what a SIGILL at a site patched by the client means.
type illegalAction int

const (
	// notPatchedSite: an application SIGILL.
	notPatchedSite illegalAction = iota
	// resumeAtJump: the thread ran the old mov before the rewrite, or
	// came back to the syscall instruction to restart its call; the
	// jump makes the call.
	resumeAtJump
	// runRestartSyscall: the client restarted a call through
	// restart_syscall (RAX), which the trampoline's own call number
	// would lose: run it here.
	runRestartSyscall
)

// classifyIllegal says what a SIGILL means whose RIP is at code[5], code
// being the patchSiteLen bytes from RIP-5, with rax the thread's RAX.
func classifyIllegal(code [patchSiteLen]byte, rax uint64) illegalAction {
	if _, ok := patchedSite(code); !ok {
		return notPatchedSite
	}
	if rax == unix.SYS_RESTART_SYSCALL {
		return runRestartSyscall
	}
	return resumeAtJump
}

var (
	errTrapTableFull = errors.New("the trap table is full")
	errNoTrapTable   = errors.New("no room for a trap table")
)

// readCode reads n bytes of application code at addr (code may be
// execute-only).
func (t *task) readCode(addr hostarch.Addr, dst []byte) bool {
	_, err := t.mm.CopyIn(t.gctx, addr, dst, usermem.IOOpts{IgnorePermissions: true})
	return err == nil
}

// writeCode writes application code or the trap table.
func (t *task) writeCode(addr hostarch.Addr, src []byte) error {
	if _, err := t.mm.CopyOut(t.gctx, addr, src, usermem.IOOpts{IgnorePermissions: true}); err != nil {
		return fmt.Errorf("writing %d bytes at %#x: %w", len(src), addr, err)
	}
	return nil
}

// siteState is what a task knows of the site a system call entered
// from: a count of traps from a patchable site, or one of the states
// below.
type siteState int8

const (
	siteUnpatchable siteState = -1
	sitePatched     siteState = -2
)

// patchAfterTraps is how many traps from a patchable site a thread takes
// before it patches the site. A patch costs what 10-40 trapped calls do
// (a copy of the code page, the stub's mapping of it dropped and faulted
// back, the table mapped once per address space: 0.1-0.5 ms of the
// client's wall time a site on a loaded machine, patching_us), so a site
// is patched once it has cost about as much as its patch; most of the
// sites an exec'd program calls a few times are then never patched.
const patchAfterTraps = 16

// noteSyscallSite runs when a system call enters the client (not from a
// SIGILL or the vsyscall page): it counts how the call came in and
// patches the site it came from once it is hot (patchAfterTraps).
func (t *task) noteSyscallSite() {
	if !t.c.patcher.enabled {
		return
	}
	ret := hostarch.Addr(t.ac.IP())
	if t.patchSitesMM != t.mm || len(t.patchSites) >= maxCachedSites {
		t.patchSites = make(map[hostarch.Addr]siteState)
		t.patchSitesMM = t.mm
	}
	st, ok := t.patchSites[ret]
	switch {
	case ok && st == sitePatched:
		t.patchEntries++
		return
	case ok && st == siteUnpatchable:
		t.trapEntries++
		return
	case ok:
		t.trapEntries++
		if st+1 < patchAfterTraps {
			t.patchSites[ret] = st + 1
			return
		}
		t.patchSites[ret] = t.patchHotSite(ret)
		return
	}
	// First seen: what is there?
	var code [patchSiteLen]byte
	readable := ret >= patchSiteLen && t.readCode(ret-patchSiteLen, code[:])
	if _, ok := patchedSite(code); readable && ok {
		// Patched by another thread, or before a fork.
		t.patchEntries++
		t.patchSites[ret] = sitePatched
		return
	}
	t.trapEntries++
	if readable && patchableSite(code, t.ac.SyscallNo()) {
		t.patchSites[ret] = 1
	} else {
		t.patchSites[ret] = siteUnpatchable
	}
}

// patchHotSite patches the site that ends at ret, unless t's process is
// traced, and returns the site's new state.
func (t *task) patchHotSite(ret hostarch.Addr) siteState {
	t.mu.Lock()
	traced := t.trace.tracer != 0
	t.mu.Unlock()
	if traced {
		return 0 // counted again: patched once the tracer has gone
	}
	start := cpuNow()
	err := t.patchSite(ret, uint32(t.ac.SyscallNo()))
	t.c.patcher.patchNS.Add(cpuNow() - start)
	if err != nil {
		t.c.log.Debug("syscall site not patched", "tid", t.tid, "site", fmt.Sprintf("%#x", ret-patchSiteLen), "err", err)
		return siteUnpatchable
	}
	return sitePatched
}

// patchSite rewrites the site that ends at ret into a jump to a new
// trap entry for sysno.
func (t *task) patchSite(ret hostarch.Addr, sysno uint32) error {
	p := &t.c.patcher
	p.mu.Lock()
	defer p.mu.Unlock()
	site := ret - patchSiteLen
	var code [patchSiteLen]byte
	if !t.readCode(site, code[:]) {
		return fmt.Errorf("site %#x unreadable", site)
	}
	if _, ok := patchedSite(code); ok {
		return nil // another thread was first
	}
	if !patchableSite(code, uintptr(sysno)) {
		return fmt.Errorf("site %#x changed", site)
	}
	if !t.privateCode(site) {
		// A write would reach the file or the other mappers.
		return fmt.Errorf("site %#x is in a shared mapping", site)
	}
	table, err := t.trapTable()
	if err != nil {
		return err
	}
	entry, err := t.allocTrapEntry(table)
	if err != nil {
		return err
	}
	if err := t.writeCode(entry, trapEntryCode(entry, ret, sysno)); err != nil {
		return err
	}
	// Rewrite so that any thread sees only valid prefixes: first the
	// syscall instruction's byte turns invalid (a thread past the mov
	// faults), then the mov's operand and the rest (a thread in the mov
	// then faults on the same byte), last the jmp's opcode.
	jump := siteJump(entry)
	if err := t.writeCode(site+siteSyscallOffset, jump[siteSyscallOffset:siteSyscallOffset+1]); err != nil {
		return err
	}
	if err := t.writeCode(site+1, jump[1:]); err != nil {
		return err
	}
	if err := t.writeCode(site, jump[:1]); err != nil {
		return err
	}
	p.sites.Add(1)
	return nil
}

// privateCode says the patchSiteLen bytes at site are all in private
// mappings. It walks the VMAs (mm exports no lookup of one): once per
// site patched.
func (t *task) privateCode(site hostarch.Addr) bool {
	want := hostarch.AddrRange{Start: site, End: site + patchSiteLen}
	var covered hostarch.Addr
	shared := false
	t.mm.ReadMapsDataInto(t.gctx, func(start, end hostarch.Addr, _ hostarch.AccessType, private string, _ uint64, _, _ uint32, _ uint64, _ string) {
		if ov := want.Intersect(hostarch.AddrRange{Start: start, End: end}); ov.Length() > 0 {
			covered += ov.Length()
			shared = shared || private != "p"
		}
	})
	return !shared && covered == patchSiteLen
}

// trapTable returns the address of t's address space's trap table,
// mapping one if it has none.
//
// Preconditions: c.patcher.mu is locked.
func (t *task) trapTable() (hostarch.Addr, error) {
	if addr, off, err := t.mm.FindVMAByName(trapTableRange, trapTableName); err == nil {
		if off != 0 || (addr-trapTableRange.Start)%trapTableSize != 0 {
			return 0, fmt.Errorf("the trap table's VMA at %#x (offset %d) was remapped", addr, off)
		}
		return addr, nil
	}
	// The first free slot of the range: never over an application
	// mapping (NoReplace).
	for addr := trapTableRange.Start; addr+trapTableSize <= trapTableRange.End; addr += trapTableSize {
		_, err := t.mm.MMap(t.gctx, memmap.MMapOpts{
			Length:    trapTableSize,
			Addr:      addr,
			Fixed:     true,
			NoReplace: true,
			Private:   true,
			Name:      trapTableName,
			Perms:     hostarch.ReadExecute,
			MaxPerms:  hostarch.AnyAccess,
		})
		if err == nil {
			t.c.patcher.tables.Add(1)
			return addr, nil
		}
	}
	return 0, errNoTrapTable
}

// allocTrapEntry takes the next free entry of the table at table.
//
// Preconditions: c.patcher.mu is locked.
func (t *task) allocTrapEntry(table hostarch.Addr) (hostarch.Addr, error) {
	var hdr [4]byte
	if !t.readCode(table, hdr[:]) {
		return 0, fmt.Errorf("trap table header at %#x unreadable", table)
	}
	next := binary.LittleEndian.Uint32(hdr[:])
	if next == 0 {
		next = 1 // a new table; slot 0 is the header
	}
	if next >= trapEntries {
		return 0, errTrapTableFull
	}
	binary.LittleEndian.PutUint32(hdr[:], next+1)
	if err := t.writeCode(table, hdr[:]); err != nil {
		return 0, err
	}
	return table + hostarch.Addr(next)*trapEntrySize, nil
}

// illegalAtSite resolves a SIGILL at a site the client patched (see
// illegalAction). It returns whether the SIGILL was one, and whether the
// thread now makes a system call.
func (t *task) illegalAtSite() (handled, isSyscall bool) {
	if !t.c.patcher.enabled {
		return false, false
	}
	ip := hostarch.Addr(t.ac.IP())
	if ip < siteSyscallOffset {
		return false, false
	}
	site := ip - siteSyscallOffset
	var code [patchSiteLen]byte
	p := &t.c.patcher
	p.mu.Lock() // wait for a rewrite in progress
	ok := t.readCode(site, code[:])
	p.mu.Unlock()
	if !ok {
		return false, false
	}
	regs := &t.ac.StateData().Regs
	switch classifyIllegal(code, regs.Rax) {
	case resumeAtJump:
		p.resumed.Add(1)
		t.ac.SetIP(uintptr(site))
		return true, false
	case runRestartSyscall:
		p.restarts.Add(1)
		regs.Orig_rax = regs.Rax
		t.ac.SetIP(uintptr(site + patchSiteLen))
		return true, true
	}
	return false, false
}

// vsyscallCalls are the calls of the x86-64 vsyscall page's entries.
var vsyscallCalls = map[uint64]uintptr{
	linux.VSyscallStartAddr:         unix.SYS_GETTIMEOFDAY,
	linux.VSyscallStartAddr + 0x400: unix.SYS_TIME,
	linux.VSyscallStartAddr + 0x800: unix.SYS_GETCPU,
}

// vsyscall turns a call into the vsyscall page into the system call it
// stands for. With patching on, systrap reports the host's vsyscall
// emulation as an execute fault at the entry, with the caller's return
// address on the stack; the call then returns to that caller. It
// returns false when addr is no vsyscall entry or the stack is bad (the
// fault then stands).
func (t *task) vsyscall(addr uint64) bool {
	sysno, ok := vsyscallCalls[addr]
	if !ok || uint64(t.ac.IP()) != addr {
		return false
	}
	var caller [8]byte
	sp := hostarch.Addr(t.ac.Stack())
	if _, err := t.mm.CopyIn(t.gctx, sp, caller[:], usermem.IOOpts{}); err != nil {
		return false
	}
	regs := &t.ac.StateData().Regs
	regs.Orig_rax = uint64(sysno)
	t.ac.SetIP(uintptr(binary.LittleEndian.Uint64(caller[:])))
	t.ac.SetStack(uintptr(sp + 8))
	return true
}

// retirePatchCounts adds the task's syscall entry counts to the
// client's (at the task's exit).
func (t *task) retirePatchCounts() {
	t.c.patcher.viaPatch.Add(t.patchEntries)
	t.c.patcher.trapped.Add(t.trapEntries)
	t.patchEntries, t.trapEntries = 0, 0
}

// logPatchCounts logs what syscall patching did (the end of a run;
// tests read this line).
func (c *client) logPatchCounts() {
	p := &c.patcher
	c.log.Debug("syscall entries", "enabled", p.enabled, "patched_sites", p.sites.Load(), "trap_tables", p.tables.Load(), "patching_us", p.patchNS.Load()/1000,
		"via_patch", p.viaPatch.Load(), "trapped", p.trapped.Load(), "sigill_resumed", p.resumed.Load(), "sigill_restarts", p.restarts.Load())
}
