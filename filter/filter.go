package filter

import (
	"fmt"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"
	"gvisor.dev/gvisor/pkg/seccomp"
)

// Mode is what a filter does with a system call outside its list.
type Mode int

const (
	// Kill kills the daemon (SECCOMP_RET_KILL_PROCESS): the default, so
	// a missing entry shows up at once (and in CI) instead of as a
	// silently widened attack surface.
	Kill Mode = iota
	// Trap sends SIGSYS, which the Go runtime turns into a crash with the
	// goroutine's stack: to find which code made the call.
	Trap
	// Log lets the call through and has the kernel log it
	// (SECCOMP_RET_LOG, to the audit log or dmesg): to collect what a
	// workload needs without stopping it.
	Log
	// Off installs no filter.
	Off
)

// ModeNames are the values ParseMode takes, for flag help.
const ModeNames = "kill, trap, log or off"

// ParseMode parses a --seccomp flag value.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "kill":
		return Kill, nil
	case "trap":
		return Trap, nil
	case "log":
		return Log, nil
	case "off":
		return Off, nil
	}
	return 0, fmt.Errorf("seccomp mode %q: want %s", s, ModeNames)
}

func (m Mode) String() string {
	switch m {
	case Kill:
		return "kill"
	case Trap:
		return "trap"
	case Log:
		return "log"
	case Off:
		return "off"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// secRetLog is SECCOMP_RET_LOG (Linux 4.14), which gVisor's abi package
// does not name.
const secRetLog = linux.BPFAction(0x7ffc0000)

// Build compiles the program that allows rules (and no new executable
// mappings) and treats everything else as mode says. Mode Off has no
// program.
func Build(rules seccomp.SyscallRules, mode Mode) ([]bpf.Instruction, error) {
	var miss seccomp.Action
	switch mode {
	case Kill, Log:
		// Log is built as Kill and its kill returns rewritten below:
		// pkg/seccomp has no log action.
		miss = seccomp.KillProcess
	case Trap:
		miss = seccomp.Trap
	default:
		return nil, fmt.Errorf("no filter in seccomp mode %v", mode)
	}
	p := &seccomp.Program{
		RuleSets: []seccomp.RuleSet{
			// A daemon never needs to create code: a write-then-execute
			// exploit must not get an executable mapping.
			{Rules: seccomp.DenyNewExecMappings, Action: miss},
			{Rules: rules, Action: seccomp.Allow},
		},
		Options: seccomp.ProgramOptions{DefaultAction: miss, BadArchAction: miss},
	}
	insns, _, err := p.Build()
	if err != nil {
		return nil, fmt.Errorf("build seccomp program: %w", err)
	}
	if mode == Log {
		for i := range insns {
			if insns[i].OpCode == bpf.Ret|bpf.K && linux.BPFAction(insns[i].K) == linux.SECCOMP_RET_KILL_PROCESS {
				insns[i].K = uint32(secRetLog)
			}
		}
	}
	return insns, nil
}

// Install builds the filter for rules and installs it on every thread of
// the process (with no_new_privs, which seccomp requires). It cannot be
// undone. Mode Off does nothing.
func Install(rules seccomp.SyscallRules, mode Mode) error {
	if mode == Off {
		return nil
	}
	insns, err := Build(rules, mode)
	if err != nil {
		return err
	}
	if err := seccomp.SetFilter(insns); err != nil {
		return fmt.Errorf("install seccomp filter (%d instructions): %w", len(insns), err)
	}
	return nil
}
