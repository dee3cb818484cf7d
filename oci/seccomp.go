package oci

import (
	"fmt"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"
	"gvisor.dev/gvisor/pkg/seccomp"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// SeccompFilter is linux.seccomp as a classic BPF program over struct
// seccomp_data, for the client sentry to install on the container's
// processes (its first process, and each exec, as runc does).
type SeccompFilter struct {
	Insns []bpf.Instruction
	// Log is SECCOMP_FILTER_FLAG_LOG.
	Log bool
	// Ignored are the syscall names the profile lists that this
	// architecture does not have (runc ignores them too).
	Ignored []string
}

// maxSyscallNumber bounds the x86-64 call numbers the ENOSYS stub covers
// (the highest is below 512).
const maxSyscallNumber = 512

// retLog is SECCOMP_RET_LOG, which pkg/seccomp's actions lack: rules
// with SCMP_ACT_LOG are built with SECCOMP_RET_USER_NOTIF (refused in a
// profile, so never otherwise in the program) and rewritten.
const retLog = 0x7ffc0000

// seccompArchs are the libseccomp architecture names a profile may list.
// The sandbox runs x86-64 code only, so the filter checks for
// AUDIT_ARCH_X86_64 whatever else is listed.
var seccompArchs = map[specs.Arch]bool{
	specs.ArchX86: true, specs.ArchX86_64: true, specs.ArchX32: true, specs.ArchARM: true,
	specs.ArchAARCH64: true, specs.ArchMIPS: true, specs.ArchMIPS64: true, specs.ArchMIPS64N32: true,
	specs.ArchMIPSEL: true, specs.ArchMIPSEL64: true, specs.ArchMIPSEL64N32: true, specs.ArchPPC: true,
	specs.ArchPPC64: true, specs.ArchPPC64LE: true, specs.ArchS390: true, specs.ArchS390X: true,
	specs.ArchPARISC: true, specs.ArchPARISC64: true, specs.ArchRISCV64: true,
	specs.ArchLOONGARCH64: true, specs.ArchM68K: true, specs.ArchSH: true, specs.ArchSHEB: true,
}

// seccompAction converts an OCI action, with its errnoRet (EPERM when
// nil, as runc), to pkg/seccomp's.
func seccompAction(field string, act specs.LinuxSeccompAction, errnoRet *uint) (seccomp.Action, error) {
	code := uint(unix.EPERM)
	if errnoRet != nil {
		if act != specs.ActErrno && act != specs.ActTrace {
			return "", fieldError(field, "errnoRet is only for SCMP_ACT_ERRNO and SCMP_ACT_TRACE, not %s", act)
		}
		if *errnoRet > 0xffff {
			return "", fieldError(field, "errnoRet %d out of range", *errnoRet)
		}
		code = *errnoRet
	}
	switch act {
	case specs.ActKill, specs.ActKillThread:
		return seccomp.KillThread, nil
	case specs.ActKillProcess:
		return seccomp.KillProcess, nil
	case specs.ActTrap:
		return seccomp.Trap, nil
	case specs.ActErrno:
		return seccomp.ReturnError.Code(uint16(code)), nil
	case specs.ActTrace:
		return seccomp.Trace.Code(uint16(code)), nil
	case specs.ActAllow:
		return seccomp.Allow, nil
	case specs.ActLog:
		return seccomp.UserNotify, nil // rewritten to SECCOMP_RET_LOG
	case specs.ActNotify:
		return "", fieldError(field, "SCMP_ACT_NOTIFY: seccomp user notification is not supported")
	}
	return "", fieldError(field, "%q: unknown action", act)
}

// seccompArgRule converts one argument condition.
func seccompArgRule(field string, a specs.LinuxSeccompArg) (seccomp.ValueMatcher, error) {
	switch a.Op {
	case specs.OpEqualTo:
		return seccomp.EqualTo(a.Value), nil
	case specs.OpNotEqual:
		return seccomp.NotEqual(a.Value), nil
	case specs.OpGreaterThan:
		return seccomp.GreaterThan(a.Value), nil
	case specs.OpGreaterEqual:
		return seccomp.GreaterThanOrEqual(a.Value), nil
	case specs.OpLessThan:
		return seccomp.LessThan(a.Value), nil
	case specs.OpLessEqual:
		return seccomp.LessThanOrEqual(a.Value), nil
	case specs.OpMaskedEqual:
		// libseccomp: (arg & value) == valueTwo.
		return seccomp.MaskedEqual(uintptr(a.Value), uintptr(a.ValueTwo)), nil
	}
	return nil, fieldError(field+".op", "%q: unknown operator", a.Op)
}

// seccompArgsRule converts a syscall entry's args as runc does: all
// conditions on one rule (AND), unless some index has several, which
// runc takes as one rule per condition (OR).
func seccompArgsRule(field string, args []specs.LinuxSeccompArg) (seccomp.SyscallRule, error) {
	if len(args) == 0 {
		return seccomp.MatchAll{}, nil
	}
	var count [6]int
	for i, a := range args {
		if a.Index >= 6 {
			return nil, fieldError(fmt.Sprintf("%s[%d].index", field, i), "%d: a system call has 6 arguments", a.Index)
		}
		count[a.Index]++
	}
	repeated := false
	for _, n := range count {
		repeated = repeated || n > 1
	}
	if repeated {
		var or seccomp.Or
		for i, a := range args {
			m, err := seccompArgRule(fmt.Sprintf("%s[%d]", field, i), a)
			if err != nil {
				return nil, err
			}
			rule := seccomp.PerArg{}
			rule[a.Index] = m
			or = append(or, rule)
		}
		return or, nil
	}
	rule := seccomp.PerArg{}
	for i, a := range args {
		m, err := seccompArgRule(fmt.Sprintf("%s[%d]", field, i), a)
		if err != nil {
			return nil, err
		}
		rule[a.Index] = m
	}
	return rule, nil
}

// SeccompFrom converts linux.seccomp into the filter the container's
// processes get. Fields and values the sandbox cannot honour are errors
// naming them.
func SeccompFrom(s *specs.LinuxSeccomp) (*SeccompFilter, error) {
	const field = "linux.seccomp"
	if s.ListenerPath != "" || s.ListenerMetadata != "" {
		return nil, fieldError(field+".listenerPath", "seccomp user notification is not supported")
	}
	var out SeccompFilter
	for i, f := range s.Flags {
		switch f {
		case specs.LinuxSeccompFlagLog:
			out.Log = true
		case specs.LinuxSeccompFlagSpecAllow, "SECCOMP_FILTER_FLAG_TSYNC":
			// The filter goes on a process with one thread; the sandbox
			// has no speculative-store mitigation to turn off.
		default:
			return nil, fieldError(fmt.Sprintf("%s.flags[%d]", field, i), "%q: not supported", f)
		}
	}
	for i, a := range s.Architectures {
		if !seccompArchs[a] {
			return nil, fieldError(fmt.Sprintf("%s.architectures[%d]", field, i), "%q: unknown", a)
		}
	}
	if s.DefaultErrnoRet != nil && s.DefaultAction != specs.ActErrno {
		return nil, fieldError(field+".defaultErrnoRet", "only with defaultAction SCMP_ACT_ERRNO")
	}
	def, err := seccompAction(field+".defaultAction", s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		return nil, err
	}
	var sets []seccomp.RuleSet
	highest := uintptr(0) // the highest call number the profile names
	for i, sc := range s.Syscalls {
		sf := fmt.Sprintf("%s.syscalls[%d]", field, i)
		act, err := seccompAction(sf+".action", sc.Action, sc.ErrnoRet)
		if err != nil {
			return nil, err
		}
		if act == def {
			continue // libseccomp refuses a rule that does what the default does; runc skips it
		}
		rule, err := seccompArgsRule(sf+".args", sc.Args)
		if err != nil {
			return nil, err
		}
		rules := seccomp.NewSyscallRules()
		for _, name := range sc.Names {
			nr, ok := sysabi.Number(name)
			if !ok {
				out.Ignored = append(out.Ignored, name)
				continue
			}
			rules.Add(nr, rule)
			highest = max(highest, nr)
		}
		if rules.Size() > 0 {
			sets = append(sets, seccomp.RuleSet{Rules: rules, Action: act})
		}
	}
	// As runc: calls newer than any the profile names fail with ENOSYS
	// rather than the default action, so that a program falls back to
	// an older call (clone3 to clone) as it does on a kernel without
	// them.
	if s.DefaultAction != specs.ActAllow && s.DefaultAction != specs.ActLog && highest > 0 {
		newer := seccomp.NewSyscallRules()
		for nr := highest + 1; nr < maxSyscallNumber; nr++ {
			newer.Add(nr, seccomp.MatchAll{})
		}
		if newer.Size() > 0 {
			sets = append(sets, seccomp.RuleSet{Rules: newer, Action: seccomp.ReturnError.Code(uint16(unix.ENOSYS))})
		}
	}
	prog := &seccomp.Program{
		RuleSets: sets,
		Options:  seccomp.ProgramOptions{DefaultAction: def, BadArchAction: seccomp.KillThread},
	}
	insns, _, err := prog.Build()
	if err != nil {
		return nil, fieldError(field, "building the filter: %v", err)
	}
	for i := range insns {
		if insns[i].OpCode == bpf.Ret|bpf.K && insns[i].K&linux.SECCOMP_RET_ACTION_FULL == uint32(linux.SECCOMP_RET_USER_NOTIF) {
			insns[i].K = retLog
		}
	}
	if len(insns) > bpf.MaxInstructions {
		return nil, fieldError(field, "the filter has %d instructions, more than seccomp's %d", len(insns), bpf.MaxInstructions)
	}
	out.Insns = insns
	return &out, nil
}

// SeccompFeatures is what `features` reports of linux.seccomp.
func SeccompFeatures() *features.Seccomp {
	yes := true
	f := &features.Seccomp{
		Enabled: &yes,
		Actions: []string{string(specs.ActKill), string(specs.ActKillProcess), string(specs.ActKillThread),
			string(specs.ActTrap), string(specs.ActErrno), string(specs.ActTrace), string(specs.ActAllow), string(specs.ActLog)},
		Operators: []string{string(specs.OpNotEqual), string(specs.OpLessThan), string(specs.OpLessEqual),
			string(specs.OpEqualTo), string(specs.OpGreaterEqual), string(specs.OpGreaterThan), string(specs.OpMaskedEqual)},
		KnownFlags:     []string{"SECCOMP_FILTER_FLAG_TSYNC", string(specs.LinuxSeccompFlagLog), string(specs.LinuxSeccompFlagSpecAllow)},
		SupportedFlags: []string{"SECCOMP_FILTER_FLAG_TSYNC", string(specs.LinuxSeccompFlagLog), string(specs.LinuxSeccompFlagSpecAllow)},
	}
	for a := range seccompArchs {
		f.Archs = append(f.Archs, string(a))
	}
	sort.Strings(f.Archs)
	return f
}
