package client

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"
	"gvisor.dev/gvisor/pkg/hostarch"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// Application seccomp (seccomp(2), prctl PR_SET_SECCOMP/PR_GET_SECCOMP).
//
// A thread's filters are client state, like its signal mask: they are
// evaluated here, before a call is handled locally or forwarded, so a
// denied call never reaches the remote sentry, and they survive a server
// failure untouched (nothing to replay). Each thread holds an immutable
// seccompState (task.seccomp); installing a filter publishes a new one.
// clone copies the pointer (threads and processes inherit the filters),
// exec keeps it (the task outlives its image). One difference from
// Linux, which copies the filters and makes the thread visible to TSYNC
// under one lock: a thread being cloned while a sibling installs a
// filter with TSYNC can start with the filters from before it.

// Linux's limits (kernel/seccomp.c): the instructions of all of a
// thread's filters, plus 4 per filter, at most MAX_INSNS_PER_PATH.
const (
	maxSeccompPathInsns = 1 << 15
	seccompDataSize     = 64 // sizeof(struct seccomp_data)
	auditArchX86_64     = linux.AUDIT_ARCH_X86_64
	maxErrno            = 4095

	// Linux's seccomp(2) operations and filter flags not in pkg/abi.
	seccompSetModeStrict        = 0
	seccompFilterFlagLog        = 1 << 1
	seccompFilterFlagSpecAllow  = 1 << 2
	seccompFilterFlagTsyncESRCH = 1 << 4
	seccompFilterFlagWaitKill   = 1 << 5
	seccompModeStrict           = 1
	seccompRetLog               = 0x7ffc0000
)

// seccompFilter is one installed filter program.
type seccompFilter struct {
	prog bpf.Program
	// insns is the program's length as the application gave it (the
	// limit counts it, not the optimised length).
	insns int
	// log says SECCOMP_FILTER_FLAG_LOG: actions other than ALLOW are
	// logged.
	log bool
}

// seccompState is a thread's seccomp mode and filters. Never changed
// once published in task.seccomp.
type seccompState struct {
	// strict is SECCOMP_MODE_STRICT (filters is then empty).
	strict bool
	// filters are in the order of installation; the last one installed
	// runs first, and the least permissive action wins.
	filters []*seccompFilter
	// cache holds, for each call number whose result depends on nothing
	// but the number (and the architecture, always x86-64 here), that
	// result: most calls of a container profile then cost one lookup
	// rather than a run of every filter (as gVisor's kernel caches).
	cache *[seccompCacheSize]seccompCached
}

// seccompCacheSize covers the x86-64 system call numbers; calls above it
// are always evaluated.
const seccompCacheSize = 512

// seccompCached is the result of the filters for one call number, if ok.
type seccompCached struct {
	ret uint32
	log bool
	ok  bool
}

// newSeccompState makes the state of filters and fills its cache.
func newSeccompState(filters []*seccompFilter) *seccompState {
	s := &seccompState{filters: filters, cache: new([seccompCacheSize]seccompCached)}
	// Past the number and the architecture: the caller's address, then
	// the arguments.
	const ipAt = 8
	var buf [seccompDataSize]byte
	for nr := range seccompCacheSize {
		d := linux.SeccompData{Nr: int32(nr), Arch: auditArchX86_64}
		d.MarshalBytes(buf[:])
		c := seccompCached{ret: uint32(linux.SECCOMP_RET_ALLOW), ok: true}
		for i := len(filters) - 1; i >= 0 && c.ok; i-- {
			m, err := bpf.InstrumentedExec[bpf.NativeEndian](filters[i].prog, buf[:])
			if err != nil {
				c.ok = false
				break
			}
			for off, read := range m.InputAccessed {
				if read && off >= ipAt {
					c.ok = false // it looks at the arguments or the caller
				}
			}
			if int32(m.ReturnValue&linux.SECCOMP_RET_ACTION_FULL) < int32(c.ret&linux.SECCOMP_RET_ACTION_FULL) {
				c.ret, c.log = m.ReturnValue, filters[i].log
			}
		}
		s.cache[nr] = c
	}
	return s
}

// mode is prctl(PR_GET_SECCOMP)'s answer.
func (s *seccompState) mode() uint64 {
	switch {
	case s == nil:
		return linux.SECCOMP_MODE_NONE
	case s.strict:
		return seccompModeStrict
	default:
		return linux.SECCOMP_MODE_FILTER
	}
}

// hasPrefix says the filters of o are an ancestor chain of s's (the
// first filters of s are o's, the same objects): the condition for
// SECCOMP_FILTER_FLAG_TSYNC to replace o's filters with s's.
func (s *seccompState) hasPrefix(o *seccompState) bool {
	if o == nil {
		return true
	}
	if s == nil || o.strict || s.strict || len(o.filters) > len(s.filters) {
		return false
	}
	for i, f := range o.filters {
		if s.filters[i] != f {
			return false
		}
	}
	return true
}

// errSeccompInsn is a filter instruction Linux's seccomp refuses.
var errSeccompInsn = errors.New("instruction not allowed in a seccomp filter")

// checkSeccompInsns applies the restrictions Linux's seccomp_check_filter
// adds to classic BPF: loads only of aligned 32-bit words of
// seccomp_data (or its length), no packet-relative loads.
func checkSeccompInsns(insns []bpf.Instruction) error {
	for pc := range insns {
		ins := &insns[pc]
		switch ins.OpCode {
		case bpf.Ld | bpf.W | bpf.Abs:
			if ins.K >= seccompDataSize || ins.K&3 != 0 {
				return fmt.Errorf("instruction %d: load at offset %d: %w", pc, ins.K, errSeccompInsn)
			}
		case bpf.Ld | bpf.W | bpf.Len:
			// Linux rewrites it to load the constant length.
			*ins = bpf.Stmt(bpf.Ld|bpf.Imm|bpf.W, seccompDataSize)
		case bpf.Ldx | bpf.W | bpf.Len:
			*ins = bpf.Stmt(bpf.Ldx|bpf.Imm|bpf.W, seccompDataSize)
		case bpf.Ld | bpf.Imm | bpf.W, bpf.Ldx | bpf.Imm | bpf.W,
			bpf.Ld | bpf.Mem | bpf.W, bpf.Ldx | bpf.Mem | bpf.W,
			bpf.St, bpf.Stx, bpf.Ret | bpf.K, bpf.Ret | bpf.A,
			bpf.Misc | bpf.Tax, bpf.Misc | bpf.Txa:
		default:
			switch ins.OpCode & 0x07 {
			case bpf.Alu, bpf.Jmp:
				// Validated by bpf.Compile.
			default:
				return fmt.Errorf("instruction %d: opcode %#x: %w", pc, ins.OpCode, errSeccompInsn)
			}
		}
	}
	return nil
}

// compileSeccompFilter checks and compiles a filter program (the
// instructions of a struct sock_fprog).
func compileSeccompFilter(insns []bpf.Instruction) (*seccompFilter, error) {
	if len(insns) == 0 || len(insns) > bpf.MaxInstructions {
		return nil, fmt.Errorf("filter of %d instructions: %w", len(insns), unix.EINVAL)
	}
	insns = append([]bpf.Instruction(nil), insns...)
	if err := checkSeccompInsns(insns); err != nil {
		return nil, fmt.Errorf("%w: %w", err, unix.EINVAL)
	}
	prog, err := bpf.Compile(insns, true /* optimize */)
	if err != nil {
		return nil, fmt.Errorf("compile filter: %v: %w", err, unix.EINVAL)
	}
	return &seccompFilter{prog: prog, insns: len(insns)}, nil
}

// with returns s with f appended, or ENOMEM past Linux's length limit.
func (s *seccompState) with(f *seccompFilter) (*seccompState, error) {
	total := f.insns
	var prev []*seccompFilter
	if s != nil {
		prev = s.filters
	}
	for _, p := range prev {
		total += p.insns + 4
	}
	if total > maxSeccompPathInsns {
		return nil, unix.ENOMEM
	}
	filters := make([]*seccompFilter, len(prev), len(prev)+1)
	copy(filters, prev)
	return newSeccompState(append(filters, f)), nil
}

// evaluate runs the filters on one call and returns the least
// permissive result (action and data), and whether the filter that gave
// it asked for logging.
func (s *seccompState) evaluate(sysno uintptr, args [6]uint64, ip uint64) (uint32, bool) {
	if s.cache != nil && sysno < seccompCacheSize {
		if c := &s.cache[sysno]; c.ok {
			return c.ret, c.log
		}
	}
	return s.run(sysno, args, ip)
}

// run runs every filter on one call (evaluate without the cache).
func (s *seccompState) run(sysno uintptr, args [6]uint64, ip uint64) (uint32, bool) {
	d := linux.SeccompData{Nr: int32(sysno), Arch: auditArchX86_64, InstructionPointer: ip, Args: args}
	var buf [seccompDataSize]byte
	d.MarshalBytes(buf[:])
	ret := uint32(linux.SECCOMP_RET_ALLOW)
	logIt := false
	for i := len(s.filters) - 1; i >= 0; i-- {
		r, err := bpf.Exec[bpf.NativeEndian](s.filters[i].prog, buf[:])
		if err != nil {
			// A run-time fault of the program (Linux cannot have one:
			// its checker refuses such programs) kills, as gVisor does.
			r = uint32(linux.SECCOMP_RET_KILL_THREAD)
		}
		// Actions compare as signed numbers: KILL_PROCESS (the sign
		// bit) is the least permissive (Linux's ACTION_ONLY).
		if int32(r&linux.SECCOMP_RET_ACTION_FULL) < int32(ret&linux.SECCOMP_RET_ACTION_FULL) {
			ret, logIt = r, s.filters[i].log
		}
	}
	return ret, logIt
}

// strictAllowed are the calls SECCOMP_MODE_STRICT allows.
var strictAllowed = map[uintptr]bool{
	unix.SYS_READ: true, unix.SYS_WRITE: true, unix.SYS_EXIT: true, unix.SYS_RT_SIGRETURN: true,
}

// seccompCheck applies t's seccomp state to the call that ended the last
// Switch. It returns the call to run (a tracer may change it at a
// PTRACE_EVENT_SECCOMP stop), or refused when the call must not run: its
// result is then in the registers, or the thread is dying.
func (t *task) seccompCheck(s *seccompState, sysno uintptr, args [6]uint64) (uintptr, [6]uint64, bool) {
	refused := t.seccompApply(s, sysno, args, false)
	if refused == seccompTraced {
		// The tracer saw the call at its PTRACE_EVENT_SECCOMP stop and
		// may have changed it, or skipped it (orig_rax -1: the result
		// is what it left in rax). As Linux (since 4.8), the filters
		// then see the call again, a second SECCOMP_RET_TRACE allowing
		// it.
		if t.isKilled() {
			return sysno, args, true
		}
		r := &t.ac.StateData().Regs
		if int64(r.Orig_rax) < 0 {
			return sysno, args, true
		}
		sysno, args = t.ac.SyscallNo(), [6]uint64{r.Rdi, r.Rsi, r.Rdx, r.R10, r.R8, r.R9}
		refused = t.seccompApply(s, sysno, args, true)
	}
	return sysno, args, refused == seccompRefused
}

// seccompOutcome is what seccompApply did with a call.
type seccompOutcome int

const (
	seccompAllowed seccompOutcome = iota
	seccompRefused
	// seccompTraced: the tracer had a PTRACE_EVENT_SECCOMP stop.
	seccompTraced
)

// seccompApply evaluates s for the call and carries out the action;
// afterTrace is the second evaluation after a tracer's seccomp stop, in
// which SECCOMP_RET_TRACE allows the call.
func (t *task) seccompApply(s *seccompState, sysno uintptr, args [6]uint64, afterTrace bool) seccompOutcome {
	if s.strict {
		if strictAllowed[sysno] {
			return seccompAllowed
		}
		t.c.log.Debug("seccomp strict mode: killed on a system call", "tid", t.tid, "syscall", sysName(sysno))
		t.seccompKillThread(linux.SIGKILL, nil)
		return seccompRefused
	}
	ip := uint64(t.ac.IP())
	ret, logIt := s.evaluate(sysno, args, ip)
	action, data := linux.BPFAction(ret&linux.SECCOMP_RET_ACTION_FULL), ret&linux.SECCOMP_RET_DATA
	if logIt && action != linux.SECCOMP_RET_ALLOW {
		t.c.log.Info("seccomp", "tid", t.tid, "syscall", sysName(sysno), "action", action.String())
	}
	if t.c.cfg.Strace && action != linux.SECCOMP_RET_ALLOW {
		t.c.log.Info(fmt.Sprintf("%s: seccomp %s", sysName(sysno), action), "tid", t.tid)
	}
	switch action {
	case linux.SECCOMP_RET_ALLOW:
		return seccompAllowed
	case seccompRetLog:
		t.c.log.Info("seccomp: logged system call", "tid", t.tid, "syscall", sysName(sysno))
		return seccompAllowed
	case linux.SECCOMP_RET_ERRNO:
		t.ac.SetReturn(negErrno(unix.Errno(min(data, maxErrno))))
		return seccompRefused
	case linux.SECCOMP_RET_TRACE:
		if afterTrace {
			return seccompAllowed
		}
		if t.ptraceSeccompTrace(uint16(data)) {
			return seccompTraced
		}
		// No tracer asked for seccomp events: Linux returns ENOSYS
		// without running the call.
		t.ac.SetReturn(negErrno(unix.ENOSYS))
		return seccompRefused
	case linux.SECCOMP_RET_USER_NOTIF:
		// No listener can exist (SECCOMP_FILTER_FLAG_NEW_LISTENER is
		// refused): Linux returns ENOSYS without running the call.
		t.ac.SetReturn(negErrno(unix.ENOSYS))
		return seccompRefused
	case linux.SECCOMP_RET_TRAP:
		// The handler sees the call's number in the return register
		// (Linux's syscall_rollback) and the call's details in siginfo.
		t.ac.SetReturn(uintptr(sysno))
		info := seccompSiginfo(int32(data), int32(sysno), ip)
		t.mu.Lock()
		blocked := t.mask&linux.SignalSetOf(linux.SIGSYS) != 0
		t.mu.Unlock()
		// As Linux's force_sig: blocked or ignored is the default
		// action (the server applies the disposition).
		t.reportFault(info, blocked)
		return seccompRefused
	case linux.SECCOMP_RET_KILL_THREAD:
		t.seccompKillThread(linux.SIGSYS, seccompSiginfo(int32(data), int32(sysno), ip))
		return seccompRefused
	default:
		// KILL_PROCESS, and unknown actions, as Linux.
		t.reportFault(seccompSiginfo(int32(data), int32(sysno), ip), true)
		return seccompRefused
	}
}

// seccompSiginfo is the SIGSYS of a SECCOMP_RET_TRAP or a kill.
func seccompSiginfo(data, sysno int32, ip uint64) *linux.SignalInfo {
	info := &linux.SignalInfo{Signo: int32(linux.SIGSYS), Errno: data, Code: linux.SYS_SECCOMP}
	info.SetCallAddr(ip)
	info.SetSyscall(sysno)
	info.SetArch(auditArchX86_64)
	return info
}

// seccompKillThread ends t as Linux's seccomp does: the process, with
// sig (SIGKILL, or the SIGSYS of info), when t is its last thread; else
// t alone.
func (t *task) seccompKillThread(sig linux.Signal, info *linux.SignalInfo) {
	t.proc.mu.Lock()
	alone := len(t.proc.threads) <= 1
	t.proc.mu.Unlock()
	if alone {
		if sig == linux.SIGKILL {
			t.forwardKillSelf(sig)
			t.kill()
			return
		}
		t.reportFault(info, true)
		return
	}
	t.forwardInternal(unix.SYS_EXIT, [6]uint64{}, nil)
	t.noReturn = true
}

// sysSeccomp implements seccomp(2).
func sysSeccomp(t *task, a [6]uint64) (uint64, unix.Errno) {
	op, flags, addr := a[0], a[1], a[2]
	switch op {
	case seccompSetModeStrict:
		if flags != 0 || addr != 0 {
			return 0, unix.EINVAL
		}
		return t.setSeccompStrict()
	case linux.SECCOMP_SET_MODE_FILTER:
		return t.setSeccompFilter(flags, addr)
	case linux.SECCOMP_GET_ACTION_AVAIL:
		if flags != 0 {
			return 0, unix.EINVAL
		}
		var b [4]byte
		if e := t.copyIn(addr, b[:]); e != 0 {
			return 0, e
		}
		switch linux.BPFAction(hostarch.ByteOrder.Uint32(b[:])) {
		case linux.SECCOMP_RET_KILL_PROCESS, linux.SECCOMP_RET_KILL_THREAD, linux.SECCOMP_RET_TRAP,
			linux.SECCOMP_RET_ERRNO, linux.SECCOMP_RET_TRACE, seccompRetLog, linux.SECCOMP_RET_ALLOW:
			return 0, 0
		}
		// SECCOMP_RET_USER_NOTIF included: no listener can be made.
		return 0, unix.EOPNOTSUPP
	case linux.SECCOMP_GET_NOTIF_SIZES:
		if flags != 0 {
			return 0, unix.EINVAL
		}
		t.logUnsupportedOnce("seccomp(SECCOMP_GET_NOTIF_SIZES)")
		return 0, unix.ENOSYS
	default:
		return 0, unix.EINVAL
	}
}

// seccompPrctl implements prctl PR_SET_SECCOMP and PR_GET_SECCOMP.
func seccompPrctl(t *task, a [6]uint64) (uint64, unix.Errno) {
	if a[0] == linux.PR_GET_SECCOMP {
		return t.seccomp.Load().mode(), 0
	}
	switch a[1] {
	case seccompModeStrict:
		return t.setSeccompStrict()
	case linux.SECCOMP_MODE_FILTER:
		return t.setSeccompFilter(0, a[2])
	}
	return 0, unix.EINVAL
}

// setSeccompStrict enters SECCOMP_MODE_STRICT; only a thread without
// filters may.
func (t *task) setSeccompStrict() (uint64, unix.Errno) {
	t.proc.mu.Lock()
	defer t.proc.mu.Unlock()
	if cur := t.seccomp.Load(); cur != nil {
		return 0, unix.EINVAL
	}
	t.seccomp.Store(&seccompState{strict: true})
	return 0, 0
}

// setSeccompFilter implements SECCOMP_SET_MODE_FILTER.
func (t *task) setSeccompFilter(flags, addr uint64) (uint64, unix.Errno) {
	const known = linux.SECCOMP_FILTER_FLAG_TSYNC | seccompFilterFlagLog | seccompFilterFlagSpecAllow |
		linux.SECCOMP_FILTER_FLAG_NEW_LISTENER | seccompFilterFlagTsyncESRCH | seccompFilterFlagWaitKill
	if flags&^known != 0 {
		return 0, unix.EINVAL
	}
	if flags&linux.SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
		t.logUnsupportedOnce("seccomp(SECCOMP_FILTER_FLAG_NEW_LISTENER)")
		return 0, unix.ENOSYS
	}
	if flags&seccompFilterFlagWaitKill != 0 {
		// Meaningful only with a listener (Linux: EINVAL without).
		return 0, unix.EINVAL
	}
	// struct sock_fprog: u16 len, 6 bytes of padding, the filter's address.
	var fprog [16]byte
	if e := t.copyIn(addr, fprog[:]); e != 0 {
		return 0, e
	}
	n := int(hostarch.ByteOrder.Uint16(fprog[0:]))
	if n == 0 || n > bpf.MaxInstructions {
		return 0, unix.EINVAL
	}
	raw := make([]byte, n*8)
	if e := t.copyIn(hostarch.ByteOrder.Uint64(fprog[8:]), raw); e != 0 {
		return 0, e
	}
	insns, err := bpf.ParseBytecode(raw)
	if err != nil {
		return 0, unix.EINVAL
	}
	f, err := compileSeccompFilter(insns)
	if err != nil {
		t.c.log.Debug("seccomp filter refused", "tid", t.tid, "err", err)
		return 0, unix.EINVAL
	}
	f.log = flags&seccompFilterFlagLog != 0
	if !t.mayInstallSeccomp() {
		return 0, unix.EACCES
	}
	return t.installSeccomp(f, flags&linux.SECCOMP_FILTER_FLAG_TSYNC != 0, flags&seccompFilterFlagTsyncESRCH != 0)
}

// mayInstallSeccomp says t has no_new_privs or CAP_SYS_ADMIN, Linux's
// condition for an unprivileged filter (it cannot then fool a set-id
// program). Capabilities are credentials, on the server.
func (t *task) mayInstallSeccomp() bool {
	t.proc.mu.Lock()
	nnp := t.proc.noNewPrivs
	t.proc.mu.Unlock()
	if nnp {
		return true
	}
	// capget(&{_LINUX_CAPABILITY_VERSION_3, 0}, data): the effective
	// set's first word is the first u32 of data.
	hdr := make([]byte, 8)
	hostarch.ByteOrder.PutUint32(hdr, linux.LINUX_CAPABILITY_VERSION_3)
	reply := t.forwardInternal(unix.SYS_CAPGET, [6]uint64{scratchAddr, scratchAddr + 8}, []*pb.Region{{Addr: scratchAddr, Data: hdr}})
	if reply == nil || reply.Errno != 0 {
		return false
	}
	for _, o := range reply.Outputs {
		if o.Addr == scratchAddr+8 && len(o.Data) >= 4 {
			return hostarch.ByteOrder.Uint32(o.Data)&(1<<linux.CAP_SYS_ADMIN) != 0
		}
	}
	return false
}

// installSeccomp appends f to t's filters; with tsync, every thread of
// the process gets t's new filters, provided each one's filters are an
// ancestor chain of t's (else the call fails with that thread's id, or
// ESRCH with tsyncESRCH, and nothing changes).
func (t *task) installSeccomp(f *seccompFilter, tsync, tsyncESRCH bool) (uint64, unix.Errno) {
	t.proc.mu.Lock()
	defer t.proc.mu.Unlock()
	cur := t.seccomp.Load()
	if cur != nil && cur.strict {
		return 0, unix.EINVAL
	}
	next, err := cur.with(f)
	if err != nil {
		return 0, unix.ENOMEM
	}
	if tsync {
		for tid, o := range t.proc.threads {
			if o == t {
				continue
			}
			if !cur.hasPrefix(o.seccomp.Load()) {
				if tsyncESRCH {
					return 0, unix.ESRCH
				}
				return uint64(tid), 0
			}
		}
		for _, o := range t.proc.threads {
			o.seccomp.Store(next)
		}
	}
	t.seccomp.Store(next)
	return 0, 0
}

// SeccompProgram is a filter a root process (the OCI runtime's first
// process, or an exec) starts with, installed as if by seccomp(2)
// without the privilege check: classic BPF over struct seccomp_data.
type SeccompProgram struct {
	Insns []bpf.Instruction
	// Log is SECCOMP_FILTER_FLAG_LOG.
	Log bool
}

// installRootSeccomp gives a process that has not run yet its first
// filter.
func (t *task) installRootSeccomp(p *SeccompProgram) error {
	if p == nil {
		return nil
	}
	f, err := compileSeccompFilter(p.Insns)
	if err != nil {
		return fmt.Errorf("seccomp program: %w", err)
	}
	f.log = p.Log
	t.seccomp.Store(newSeccompState([]*seccompFilter{f}))
	return nil
}

// logUnsupportedOnce logs, once per name, a feature the sandbox answers
// ENOSYS for.
func (t *task) logUnsupportedOnce(name string) {
	if _, seen := t.c.enosys.LoadOrStore(name, true); !seen {
		t.c.log.Info("not implemented in the client sentry", "syscall", name)
	}
}
