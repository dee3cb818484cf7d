package client

import (
	"testing"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	"gvisor.dev/gvisor/pkg/bpf"
)

// denyNr returns a filter giving ret to system call nr, ALLOW to others.
func denyNr(nr uint32, ret uint32) []bpf.Instruction {
	return []bpf.Instruction{
		bpf.Stmt(bpf.Ld|bpf.W|bpf.Abs, 0),
		bpf.Jump(bpf.Jmp|bpf.Jeq|bpf.K, nr, 0, 1),
		bpf.Stmt(bpf.Ret|bpf.K, ret),
		bpf.Stmt(bpf.Ret|bpf.K, uint32(linux.SECCOMP_RET_ALLOW)),
	}
}

func TestCompileSeccompFilter(t *testing.T) {
	for _, tc := range []struct {
		name  string
		insns []bpf.Instruction
		ok    bool
	}{
		{"allow", []bpf.Instruction{bpf.Stmt(bpf.Ret|bpf.K, uint32(linux.SECCOMP_RET_ALLOW))}, true},
		{"deny one", denyNr(39, uint32(linux.SECCOMP_RET_ERRNO)|1), true},
		{"empty", nil, false},
		{"no return", []bpf.Instruction{bpf.Stmt(bpf.Ld|bpf.W|bpf.Abs, 0)}, false},
		{"byte load", []bpf.Instruction{bpf.Stmt(bpf.Ld|bpf.B|bpf.Abs, 0), bpf.Stmt(bpf.Ret|bpf.A, 0)}, false},
		{"unaligned load", []bpf.Instruction{bpf.Stmt(bpf.Ld|bpf.W|bpf.Abs, 2), bpf.Stmt(bpf.Ret|bpf.A, 0)}, false},
		{"load past data", []bpf.Instruction{bpf.Stmt(bpf.Ld|bpf.W|bpf.Abs, 64), bpf.Stmt(bpf.Ret|bpf.A, 0)}, false},
		{"indirect load", []bpf.Instruction{bpf.Stmt(bpf.Ld|bpf.W|bpf.Ind, 0), bpf.Stmt(bpf.Ret|bpf.A, 0)}, false},
		{"length load", []bpf.Instruction{bpf.Stmt(bpf.Ld|bpf.W|bpf.Len, 0), bpf.Stmt(bpf.Ret|bpf.A, 0)}, true},
		{"jump out", []bpf.Instruction{bpf.Jump(bpf.Jmp|bpf.Ja, 5, 0, 0), bpf.Stmt(bpf.Ret|bpf.K, 0)}, false},
		{"too long", make([]bpf.Instruction, bpf.MaxInstructions+1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := compileSeccompFilter(tc.insns)
			if (err == nil) != tc.ok {
				t.Fatalf("compileSeccompFilter: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestSeccompEvaluate(t *testing.T) {
	mk := func(insns []bpf.Instruction) *seccompFilter {
		f, err := compileSeccompFilter(insns)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	errnoEPERM := uint32(linux.SECCOMP_RET_ERRNO) | uint32(unix.EPERM)
	errnoEACCES := uint32(linux.SECCOMP_RET_ERRNO) | uint32(unix.EACCES)
	var s *seccompState
	var err error
	for _, f := range []*seccompFilter{
		mk(denyNr(39, errnoEPERM)),
		mk(denyNr(39, errnoEACCES)),
		mk(denyNr(40, uint32(linux.SECCOMP_RET_KILL_PROCESS))),
		mk(denyNr(40, uint32(linux.SECCOMP_RET_TRAP))),
		mk(denyNr(41, uint32(linux.SECCOMP_RET_TRACE))),
		mk(denyNr(41, uint32(seccompRetLog))),
	} {
		if s, err = s.with(f); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		nr   uintptr
		want uint32
	}{
		{39, errnoEACCES}, // same action: the newest filter's data
		{40, uint32(linux.SECCOMP_RET_KILL_PROCESS)}, // KILL_PROCESS is the least permissive
		{41, uint32(linux.SECCOMP_RET_TRACE)},        // TRACE < LOG
		{42, uint32(linux.SECCOMP_RET_ALLOW)},
	} {
		if got, _ := s.evaluate(tc.nr, [6]uint64{}, 0); got != tc.want {
			t.Errorf("syscall %d: got %#x, want %#x", tc.nr, got, tc.want)
		}
	}
	if s.mode() != linux.SECCOMP_MODE_FILTER || (*seccompState)(nil).mode() != linux.SECCOMP_MODE_NONE {
		t.Errorf("mode: %d", s.mode())
	}
}

func TestSeccompLimitsAndTsyncAncestry(t *testing.T) {
	big := make([]bpf.Instruction, bpf.MaxInstructions)
	for i := range big {
		big[i] = bpf.Stmt(bpf.Ret|bpf.K, uint32(linux.SECCOMP_RET_ALLOW))
	}
	f, err := compileSeccompFilter(big)
	if err != nil {
		t.Fatal(err)
	}
	var s *seccompState
	n := 0
	for ; n < 10; n++ {
		next, err := s.with(f)
		if err != nil {
			break
		}
		s = next
	}
	// 8 filters of 4096 plus 7×4: 32796 > 32768; 7 fit.
	if n != 7 {
		t.Errorf("%d filters of %d instructions fit, want 7", n, bpf.MaxInstructions)
	}
	small, _ := compileSeccompFilter(denyNr(1, 0))
	a, _ := (*seccompState)(nil).with(small)
	b, _ := a.with(small)
	small2, _ := compileSeccompFilter(denyNr(1, 0))
	other, _ := (*seccompState)(nil).with(small2) // equal code, another filter
	for _, tc := range []struct {
		name   string
		caller *seccompState
		target *seccompState
		want   bool
	}{
		{"no filter", a, nil, true},
		{"same", a, a, true},
		{"ancestor", b, a, true},
		{"descendant", a, b, false},
		{"foreign", b, other, false},
		{"strict", a, &seccompState{strict: true}, false},
		{"caller none", nil, a, false},
	} {
		if got := tc.caller.hasPrefix(tc.target); got != tc.want {
			t.Errorf("%s: hasPrefix = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestSeccompCache checks that the per-number cache gives what running
// the filters gives, and is not used for calls whose result depends on
// their arguments.
func TestSeccompCache(t *testing.T) {
	byArg := []bpf.Instruction{ // ERRNO for write(2, ...), else ALLOW
		bpf.Stmt(bpf.Ld|bpf.W|bpf.Abs, 0),
		bpf.Jump(bpf.Jmp|bpf.Jeq|bpf.K, 1, 0, 3),
		bpf.Stmt(bpf.Ld|bpf.W|bpf.Abs, 16), // args[0], low half
		bpf.Jump(bpf.Jmp|bpf.Jeq|bpf.K, 2, 0, 1),
		bpf.Stmt(bpf.Ret|bpf.K, uint32(linux.SECCOMP_RET_ERRNO)|5),
		bpf.Stmt(bpf.Ret|bpf.K, uint32(linux.SECCOMP_RET_ALLOW)),
	}
	f1, err := compileSeccompFilter(byArg)
	if err != nil {
		t.Fatal(err)
	}
	f2, err := compileSeccompFilter(denyNr(39, uint32(linux.SECCOMP_RET_ERRNO)|1))
	if err != nil {
		t.Fatal(err)
	}
	s := newSeccompState([]*seccompFilter{f1, f2})
	for _, tc := range []struct {
		nr       uintptr
		arg0     uint64
		cachedOK bool
	}{
		{1, 2, false}, {1, 3, false}, {39, 0, true}, {0, 0, true}, {400, 0, true},
	} {
		if got := s.cache[tc.nr].ok; got != tc.cachedOK {
			t.Errorf("syscall %d: cached=%v, want %v", tc.nr, got, tc.cachedOK)
		}
		got, _ := s.evaluate(tc.nr, [6]uint64{tc.arg0}, 0)
		want, _ := s.run(tc.nr, [6]uint64{tc.arg0}, 0)
		if got != want {
			t.Errorf("syscall %d(%d): evaluate %#x, run %#x", tc.nr, tc.arg0, got, want)
		}
	}
	if got, _ := s.evaluate(1, [6]uint64{2}, 0); got != uint32(linux.SECCOMP_RET_ERRNO)|5 {
		t.Errorf("write(2): %#x", got)
	}
}
