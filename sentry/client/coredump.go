package client

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/context"
	"gvisor.dev/gvisor/pkg/cpuid"
	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/limits"
	"gvisor.dev/gvisor/pkg/sentry/mm"
	"gvisor.dev/gvisor/pkg/usermem"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// Core dumps (Linux's fs/coredump.c do_coredump and fs/binfmt_elf.c
// elf_core_dump). The server decides that a signal ends a process; the
// client, which has the memory and the registers, writes the core. A
// Fault whose signal would end the process with a core (the client sets
// Fault.can_dump) is answered with a CoreDumpPlan instead of the end: the
// faulting thread stops the process's other threads (each parks with its
// full register state pulled: parkWhileDumping), writes the core file
// through ordinary forwarded calls of its own (unlink, open, fstat,
// pwrite64, close: as the process, in its cwd, through the gofer, and in
// the replay log like any call, so that a server failure during the dump
// is recovered like any write), then sends the Fault again with
// dump_done, and the server ends the process with WCOREDUMP if the core
// was written. The parent cannot see the exit before the core is
// complete, as on Linux.

// coreSignals are the signals whose default action dumps core.
var coreSignals = linux.MakeSignalSet(linux.SIGQUIT, linux.SIGILL, linux.SIGTRAP, linux.SIGABRT,
	linux.SIGBUS, linux.SIGFPE, linux.SIGSEGV, linux.SIGXCPU, linux.SIGXFSZ, linux.SIGSYS)

// coreChunk is the most bytes one pwrite64 of the core carries.
const coreChunk = 256 << 10

// prepareDump fills f for a signal that may end t's process: can_dump
// (with the process's mapped server files) when a core would be written,
// dump_done without a core when the process may not dump (Linux's
// __get_dumpable 0, an RLIMIT_CORE below min_coredump), nothing when the
// signal dumps no core or RLIMIT_CORE is 0 (the server's own knowledge).
func (t *task) prepareDump(f *pb.Fault) {
	if coreSignals&linux.SignalSetOf(linux.Signal(f.Signo)) == 0 || t.mm == nil {
		return
	}
	lim := t.proc.limits.Get(limits.Core).Cur
	if lim == 0 {
		return
	}
	t.proc.mu.Lock()
	dumpable := t.proc.dumpable
	t.proc.mu.Unlock()
	if dumpable == 0 || lim < elfCorePage {
		f.DumpDone = true
		return
	}
	f.CanDump = true
	if act, ok := t.c.sigs.action(t.proc.pid, linux.Signal(f.Signo)); ok && !f.Blocked && act.Handler != linux.SIG_DFL && act.Handler != linux.SIG_IGN {
		// A handler will most likely take it (a JVM's SIGSEGV): no walk
		// of the mappings for names on every fault. Should the handler
		// be gone by the time the server sees the Fault, the core's
		// NT_FILE lacks the server files' names.
		return
	}
	seen := map[uint64]bool{}
	for _, v := range coreVMAs(t.mm) {
		if v.fileID != 0 && !seen[v.fileID] {
			seen[v.fileID] = true
			f.MappedFiles = append(f.MappedFiles, v.fileID)
		}
	}
}

// coreDumpFault runs the dump the server asked for with plan, then ends
// the process with the Fault f again (dump_done). A thread that finds
// another one of its process dumping waits to be killed with it.
func (t *task) coreDumpFault(f *pb.Fault, info *linux.SignalInfo, plan *pb.CoreDumpPlan) {
	p := t.proc
	if !p.dumper.CompareAndSwap(nil, t) {
		t.parkWhileDumping()
		return
	}
	p.dumping.Store(true)
	dumped := t.coreDump(info, plan, f.MappedFiles)
	if t.isKilled() {
		// SIGKILL ended the dump (Linux's dump_interrupted).
		return
	}
	reply, err := t.call(&pb.Call{Tid: t.tid, Op: &pb.Call_Fault{Fault: &pb.Fault{
		Signo: f.Signo, Siginfo: f.Siginfo, Blocked: true, DumpDone: true, CoreDumped: dumped,
	}}})
	if err == nil {
		if ex := reply.GetExit(); ex != nil {
			t.applyExit(ex)
		}
	}
	// The process ends: wait for the kill with the other threads, never
	// running application code again.
	t.parkWhileDumping()
}

// parkWhileDumping keeps a thread of a process that dumps core out of
// the application until the kill that ends the dump (the dumper, once
// it is done, waits there too). A thread parks with its full state
// pulled: the dump reads its registers (Linux's zap_threads and
// coredump_wait).
func (t *task) parkWhileDumping() {
	p := t.proc
	if !p.dumping.Load() && p.dumper.Load() == nil {
		return
	}
	if err := t.pctx.PullFullState(t.mm.AddressSpace(), t.ac); err != nil {
		t.c.log.Warn("cannot pull thread state for a core dump", "tid", t.tid, "err", err)
	}
	t.mu.Lock()
	t.dumpParked = true
	for !t.killed {
		t.state = stateBlocked
		t.mu.Unlock()
		<-t.wake
		t.mu.Lock()
	}
	t.state = stateKernel
	t.mu.Unlock()
}

// dumpingElsewhereLocked says another thread of t's process dumps core:
// t's waits end, and it parks.
//
// Preconditions: t.mu is locked.
func (t *task) dumpingElsewhereLocked() bool {
	return t.proc.dumping.Load() && t.proc.dumper.Load() != t
}

// stopForDump gets every other thread of t's process parked, waiting up
// to a few seconds for those in a call the server does not interrupt. It
// returns the threads that parked.
func (t *task) stopForDump() []*task {
	others := t.proc.liveThreads()
	for _, o := range others {
		if o == t {
			continue
		}
		o.mu.Lock()
		o.notifyLocked()
		o.mu.Unlock()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		var parked []*task
		waiting := false
		for _, o := range others {
			if o == t {
				continue
			}
			o.mu.Lock()
			switch {
			case o.dumpParked:
				parked = append(parked, o)
			case !o.killed && !o.cleanedUp:
				waiting = true
			}
			o.mu.Unlock()
		}
		if !waiting || time.Now().After(deadline) || t.isKilled() {
			return parked
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// coreVMA is one mapping of an address space as the dump sees it.
type coreVMA struct {
	start, end uint64
	perms      hostarch.AccessType
	shared     bool
	offset     uint64
	// fileID is the server file mapped (0: none); name is mm's name of
	// the mapping ("[stack]", a host path, "/dev/zero (deleted)").
	fileID uint64
	name   string
	inode  uint64
	// dontDump says madvise(MADV_DONTDUMP) covers it (VM_DONTDUMP).
	dontDump bool
}

// isFile says the mapping maps a file (Linux's vma->vm_file): a server
// file, or another file mm names with an inode (shared anonymous
// memory's "/dev/zero (deleted)").
func (v *coreVMA) isFile() bool {
	return v.fileID != 0 || v.inode != 0 && !strings.HasPrefix(v.name, "[")
}

// coreVMAs lists m's mappings.
func coreVMAs(m *mm.MemoryManager) []coreVMA {
	var out []coreVMA
	m.ReadMapsDataInto(context.Background(), func(start, end hostarch.Addr, perms hostarch.AccessType, private string, offset uint64, devMajor, devMinor uint32, inode uint64, path string) {
		v := coreVMA{start: uint64(start), end: uint64(end), perms: perms, shared: private == "s", offset: offset, name: path, inode: inode}
		if uint64(devMajor)<<20|uint64(devMinor) == serverFileDevice {
			v.fileID = inode
		}
		out = append(out, v)
	})
	return out
}

// splitWritten splits the private file mappings of vmas where their
// private copies (written pages) begin and end: gVisor's mm merges what
// Linux keeps apart (RELRO, mprotected after relocation, beside the
// read-only data: Linux's anon_vma tells them apart), and a written
// piece is dumped whole, the rest not (vma_dump_size).
func splitWritten(vmas []coreVMA, private []hostarch.AddrRange) []coreVMA {
	var out []coreVMA
	for _, v := range vmas {
		if v.shared || !v.isFile() {
			out = append(out, v)
			continue
		}
		cuts := []uint64{v.start, v.end}
		for _, r := range private {
			for _, a := range []uint64{uint64(r.Start), uint64(r.End)} {
				if a > v.start && a < v.end {
					cuts = append(cuts, a)
				}
			}
		}
		slices.Sort(cuts)
		cuts = slices.Compact(cuts)
		for i := 0; i+1 < len(cuts); i++ {
			piece := v
			piece.start, piece.end = cuts[i], cuts[i+1]
			piece.offset = v.offset + (cuts[i] - v.start)
			out = append(out, piece)
		}
	}
	return out
}

// backedSpans returns the ranges of t's private anonymous memory (pmas
// mm made for anonymous mappings and copies on write) and of every page
// its address space has backed (private or not), from mm's debug dump
// (mincore.go reads the same).
func (t *task) backedSpans() (private, backed []hostarch.AddrRange) {
	dump := t.mm.DebugString(t.gctx)
	const header = "\nPMAs:\n"
	i := strings.LastIndex(dump, header)
	if i < 0 {
		return nil, nil
	}
	for _, line := range strings.Split(dump[i+len(header):], "\n") {
		f := strings.Fields(line)
		if len(f) != 5 || len(f[1]) != 4 {
			continue
		}
		s, e, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(s, 16, 64)
		end, err2 := strconv.ParseUint(e, 16, 64)
		if err1 != nil || err2 != nil || start >= end {
			continue
		}
		ar := hostarch.AddrRange{Start: hostarch.Addr(start), End: hostarch.Addr(end)}
		backed = append(backed, ar)
		if f[1][3] == 'p' {
			private = append(private, ar)
		}
	}
	return private, backed
}

func overlapsAny(spans []hostarch.AddrRange, start, end uint64) bool {
	for _, s := range spans {
		if uint64(s.Start) < end && uint64(s.End) > start {
			return true
		}
	}
	return false
}

// dumpSize is Linux's vma_dump_size: how many of v's bytes the core
// holds under coredump_filter filter. written says the mapping has
// private anonymous pages (Linux: an anon_vma).
func (t *task) dumpSize(v *coreVMA, filter uint32, written bool) uint64 {
	whole := v.end - v.start
	if v.name == "[vdso]" || v.name == "[vvar]" || v.name == "[vsyscall]" {
		// always_dump_vma: the gate and special mappings.
		return whole
	}
	if v.dontDump {
		return 0 // VM_DONTDUMP
	}
	if v.shared {
		anon := !v.isFile() || v.fileID == 0 && strings.HasSuffix(v.name, " (deleted)")
		if anon && filter&dumpAnonShared != 0 || !anon && filter&dumpMappedShared != 0 {
			return whole
		}
		return 0
	}
	if written && filter&dumpAnonPrivate != 0 {
		return whole
	}
	if !v.isFile() {
		return 0
	}
	if filter&dumpMappedPrivate != 0 {
		return whole
	}
	if filter&dumpELFHeaders != 0 && v.offset == 0 && v.perms.Read {
		// The first page of an ELF file (Linux: of an executable file,
		// or one starting with the ELF magic).
		var magic [4]byte
		if _, err := t.mm.CopyIn(t.gctx, hostarch.Addr(v.start), magic[:], usermem.IOOpts{IgnorePermissions: true}); err == nil && string(magic[:]) == "\x7fELF" {
			return elfCorePage
		}
	}
	return 0
}

// coreFile writes the core through the dumping thread's forwarded calls,
// as Linux's dump_emit and dump_skip: an emit that would take the bytes
// written past RLIMIT_CORE fails, and every later one (the core is cut
// there); skipped ranges stay holes.
type coreFile struct {
	t       *task
	fd      int32
	limit   uint64
	pos     uint64 // the next byte's offset
	written uint64 // the bytes emitted (not skipped)
	buf     []byte // emitted bytes from pos-len(buf), not yet written
	// cut says an emit did not fit (or SIGKILL came); werr that a write
	// failed. Either ends the core.
	cut, werr bool
}

// emit appends b; false once the core is cut or a write failed.
func (cf *coreFile) emit(b []byte) bool {
	if cf.cut || cf.werr || cf.written+uint64(len(b)) > cf.limit || cf.t.isKilled() {
		cf.cut = true
		return false
	}
	cf.buf = append(cf.buf, b...)
	cf.pos += uint64(len(b))
	cf.written += uint64(len(b))
	if len(cf.buf) >= coreChunk {
		return cf.flush()
	}
	return true
}

// skipTo leaves a hole up to off.
func (cf *coreFile) skipTo(off uint64) bool {
	if cf.cut || cf.werr || !cf.flush() {
		return false
	}
	if off <= cf.pos {
		return true
	}
	cf.pos = off
	return true
}

// flush writes the buffered bytes (those emitted before a cut too).
func (cf *coreFile) flush() bool {
	if cf.werr {
		return false
	}
	for len(cf.buf) > 0 {
		n := min(len(cf.buf), coreChunk)
		off := cf.pos - uint64(len(cf.buf))
		r := cf.t.forwardInternal(unix.SYS_PWRITE64, [6]uint64{uint64(cf.fd), scratchAddr, uint64(n), off},
			[]*pb.Region{{Addr: scratchAddr, Data: cf.buf[:n]}})
		if r == nil || r.Errno != 0 || r.Ret <= 0 {
			cf.werr = true
			return false
		}
		cf.buf = cf.buf[r.Ret:]
	}
	cf.buf = cf.buf[:0]
	return true
}

// openCore creates the core file name as Linux's do_coredump: an
// existing file is unlinked first, then created O_EXCL|O_NOFOLLOW, mode
// 0600 (less the umask), and refused unless it is a regular file of the
// process's fs uid with one link and exactly mode 0600.
func (t *task) openCore(name string, fsuid uint32) (int32, bool) {
	path := append([]byte(name), 0)
	in := []*pb.Region{{Addr: scratchAddr, Data: path}}
	cwd := int64(linux.AT_FDCWD)
	atFDCWD := uint64(cwd)
	t.forwardInternal(unix.SYS_UNLINKAT, [6]uint64{atFDCWD, scratchAddr, 0}, in)
	if t.isKilled() {
		return 0, false
	}
	flags := uint64(linux.O_CREAT | linux.O_WRONLY | linux.O_NOFOLLOW | linux.O_LARGEFILE | linux.O_EXCL | linux.O_CLOEXEC)
	r := t.forwardInternal(unix.SYS_OPENAT, [6]uint64{atFDCWD, scratchAddr, flags, 0600}, in)
	if r == nil || r.Errno != 0 {
		if r != nil {
			t.c.log.Debug("cannot create the core file", "tid", t.tid, "name", name, "errno", unix.Errno(r.Errno))
		}
		return 0, false
	}
	fd := int32(r.Ret)
	var st linux.Stat
	r = t.forwardInternal(unix.SYS_FSTAT, [6]uint64{uint64(fd), scratchAddr}, nil)
	ok := r != nil && r.Errno == 0
	if ok {
		b := make([]byte, st.SizeBytes())
		for _, o := range r.Outputs {
			if o.Addr >= scratchAddr && o.Addr < scratchAddr+uint64(len(b)) {
				copy(b[o.Addr-scratchAddr:], o.Data)
			}
		}
		st.UnmarshalBytes(b)
		ok = st.Mode&linux.S_IFMT == linux.S_IFREG && st.Nlink <= 1 && st.UID == fsuid && st.Mode&0677 == 0600
	}
	if !ok {
		t.forwardInternal(unix.SYS_CLOSE, [6]uint64{uint64(fd)}, nil)
		return 0, false
	}
	return fd, true
}

// coreDump writes t's process's core as plan says, and says whether it
// did (the wait status's WCOREDUMP).
func (t *task) coreDump(info *linux.SignalInfo, plan *pb.CoreDumpPlan, mappedFiles []uint64) bool {
	others := t.stopForDump()
	if err := t.pctx.PullFullState(t.mm.AddressSpace(), t.ac); err != nil {
		t.c.log.Warn("cannot pull thread state for a core dump", "tid", t.tid, "err", err)
	}
	lim := t.proc.limits.Get(limits.Core).Cur
	t.mu.Lock()
	comm := t.name
	t.mu.Unlock()
	t.c.uts.mu.Lock()
	hostname := string(t.c.uts.hostname)
	t.c.uts.mu.Unlock()
	limit := lim
	if lim == limits.Infinity {
		limit = ^uint64(0)
	}
	name := expandCorePattern(string(plan.Pattern), plan.UsesPid, coreNameFacts{
		pid: t.proc.pid, tid: t.tid, uid: plan.Uid, gid: plan.Gid, sig: info.Signo, time: time.Now(),
		hostname: hostname, comm: comm, exe: string(plan.Exe), limit: limit,
	})
	if name == "" {
		return false
	}

	// The notes: the dumping thread first (with the process's notes
	// after its NT_PRSTATUS), then the others (write_note_info).
	fileNames := map[uint64]string{}
	for i, id := range mappedFiles {
		if i < len(plan.FileNames) {
			fileNames[id] = string(plan.FileNames[i])
		}
	}
	private, backed := t.backedSpans()
	vmas := splitWritten(t.proc.splitDontDump(coreVMAs(t.mm)), private)
	var files []fileMapping
	for _, v := range vmas {
		if !v.isFile() {
			continue
		}
		n := v.name
		if v.fileID != 0 {
			n = fileNames[v.fileID]
		}
		files = append(files, fileMapping{start: v.start, end: v.end, offset: v.offset, name: n})
	}
	siginfo := make([]byte, sizeofSiginfo)
	info.MarshalBytes(siginfo)
	auxv := auxvBytes(t.mm)
	var notes [][]byte
	notesSize := 0
	for i, th := range append([]*task{t}, others...) {
		notes = append(notes, th.threadNotes(info.Signo, plan, i == 0, func() [][]byte {
			ps := [][]byte{
				coreNote{"CORE", ntPrpsinfo, prpsinfo(plan.Uid, plan.Gid, t.proc.pid, plan.Ppid, plan.Pgrp, plan.Sid, comm, t.argv())}.bytes(),
				coreNote{"CORE", ntSiginfo, siginfo}.bytes(),
				coreNote{"CORE", ntAuxv, auxv}.bytes(),
			}
			if len(files) > 0 {
				ps = append(ps, coreNote{"CORE", ntFile, ntFileNote(files)}.bytes())
			}
			return ps
		})...)
	}
	for _, n := range notes {
		notesSize += len(n)
	}

	segs := make([]coreSegment, len(vmas))
	for i := range vmas {
		v := &vmas[i]
		segs[i] = coreSegment{start: v.start, end: v.end}
		if v.perms.Read {
			segs[i].flags |= pfR
		}
		if v.perms.Write {
			segs[i].flags |= pfW
		}
		if v.perms.Execute {
			segs[i].flags |= pfX
		}
		segs[i].dumpSize = t.dumpSize(v, plan.Filter, overlapsAny(private, v.start, v.end))
	}
	headers, dataOff := coreHeaders(notesSize, segs)

	fd, ok := t.openCore(name, plan.Fsuid)
	if !ok {
		return false
	}
	defer t.forwardInternal(unix.SYS_CLOSE, [6]uint64{uint64(fd)}, nil)
	cf := &coreFile{t: t, fd: fd, limit: lim}
	if lim == limits.Infinity {
		cf.limit = ^uint64(0)
	}
	// The header, each program header, the notes and each page as
	// separate emits: the cut falls about where Linux's would.
	if !cf.emit(headers[:elfHeaderSize]) {
		return cf.finish()
	}
	for off := elfHeaderSize; off < len(headers); off += elfPhdrSize {
		if !cf.emit(headers[off : off+elfPhdrSize]) {
			return cf.finish()
		}
	}
	for _, n := range notes {
		if !cf.emit(n) {
			return cf.finish()
		}
	}
	if !cf.skipTo(dataOff) {
		return cf.finish()
	}
	page := make([]byte, elfCorePage)
	for i := range vmas {
		v := &vmas[i]
		for a := v.start; a < v.start+segs[i].dumpSize; a += elfCorePage {
			// A page never backed reads as zeros: a hole, as Linux
			// skips the zero page (get_dump_page).
			if !v.isFile() && !overlapsAny(backed, a, a+elfCorePage) {
				if !cf.skipTo(cf.pos + elfCorePage) {
					return cf.finish()
				}
				continue
			}
			if _, err := t.mm.CopyIn(t.gctx, hostarch.Addr(a), page, usermem.IOOpts{IgnorePermissions: true}); err != nil {
				if !cf.skipTo(cf.pos + elfCorePage) {
					return cf.finish()
				}
				continue
			}
			if !cf.emit(page) {
				return cf.finish()
			}
		}
	}
	if len(cf.buf) == 0 && cf.pos > 0 {
		// The file ends with a hole: its last byte is written, so
		// that the file has its size (Linux's dump_skip at the end).
		cf.pos--
		cf.emit([]byte{0})
	}
	return cf.finish()
}

// finish writes what the core holds so far; the core counts as dumped
// even when cut short (elf_core_dump's has_dumped).
func (cf *coreFile) finish() bool {
	cf.flush()
	return true
}

// threadNotes are th's notes: NT_PRSTATUS, then (first) the process's,
// then its floating point state (NT_PRFPREG and, on x86, NT_X86_XSTATE).
func (th *task) threadNotes(sig int32, plan *pb.CoreDumpPlan, first bool, procNotes func() [][]byte) [][]byte {
	var regs bytes.Buffer
	if _, err := th.ac.PtraceGetRegs(&regs); err != nil {
		th.c.log.Warn("cannot read registers for a core dump", "tid", th.tid, "err", err)
	}
	var fp, xstate bytes.Buffer
	_, fpErr := th.ac.PtraceGetRegSet(linux.NT_PRFPREG, &fp, 512, cpuid.HostFeatureSet())
	th.mu.Lock()
	pending, blocked := uint64(th.pendingSetLocked()), uint64(th.mask)
	th.mu.Unlock()
	out := [][]byte{coreNote{"CORE", ntPrstatus, prstatus(sig, pending, blocked, th.tid, plan.Ppid, plan.Pgrp, plan.Sid, regs.Bytes(), fpErr == nil)}.bytes()}
	if first {
		out = append(out, procNotes()...)
	}
	if fpErr == nil {
		out = append(out, coreNote{"CORE", ntPrfpreg, fp.Bytes()}.bytes())
		if _, err := th.ac.PtraceGetRegSet(ntX86Xstate, &xstate, 1<<16, cpuid.HostFeatureSet()); err == nil && xstate.Len() > 0 {
			out = append(out, coreNote{"LINUX", ntX86Xstate, xstate.Bytes()}.bytes())
		}
	}
	return out
}

// argv is the process's command line as its memory holds it.
func (t *task) argv() []byte {
	start, end := t.mm.ArgvStart(), t.mm.ArgvEnd()
	if end <= start {
		return nil
	}
	n := min(uint64(end-start), elfPrargsz)
	b := make([]byte, n)
	if _, err := t.mm.CopyIn(t.gctx, start, b, usermem.IOOpts{IgnorePermissions: true}); err != nil {
		return nil
	}
	return b
}
