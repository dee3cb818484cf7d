package e2e

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestCoreDumpNative runs the cases of testdata/coredump/coredump.c that
// leave /proc/sys alone natively and in the sandbox, when the host writes
// core files as the sandbox does by default (core_pattern "core",
// core_uses_pid 0; a pipe to systemd-coredump or apport keeps them from
// the cwd: then TestCoreDump alone checks the cores), and compares how the
// children died and what their cores hold: the notes of the dumping
// thread, the threads, the markers (private and shared anonymous memory
// in, MADV_DONTDUMP out, coredump_filter 0 none), the program in NT_FILE.
func TestCoreDumpNative(t *testing.T) {
	tu.RequireRoot(t)
	pattern, _ := os.ReadFile("/proc/sys/kernel/core_pattern")
	usesPID, _ := os.ReadFile("/proc/sys/kernel/core_uses_pid")
	if string(pattern) != "core\n" || string(usesPID) != "0\n" {
		t.Logf("the host's core_pattern is %q, core_uses_pid %q: no native cores to compare with", pattern, usesPID)
		return
	}
	prog := tu.StaticProgram(t, t.TempDir(), "coredump", testdataSource(t, "coredump", "coredump"))
	nativeDir, sandboxDir := t.TempDir(), t.TempDir()
	want := tu.Run(t, timeout, nativeDir, "", prog, "native")
	got := tu.Sandbox(t, timeout, sandboxDir, "", nil, prog, "native")
	pidRE := regexp.MustCompile(`pid \d+ `)
	want.Stdout, got.Stdout = pidRE.ReplaceAllString(want.Stdout, "pid P "), pidRE.ReplaceAllString(got.Stdout, "pid P ")
	compare(t, want, got)
	// The cut core is left out: what fits in RLIMIT_CORE depends on the
	// notes' sizes (Linux's auxv has more entries).
	for _, name := range []string{"default", "filter0", "threads", "handler"} {
		w, g := coreSummary(t, filepath.Join(nativeDir, "out."+name+".core"), prog), coreSummary(t, filepath.Join(sandboxDir, "out."+name+".core"), prog)
		if w != g {
			t.Errorf("%s: core\n%s\nwant (Linux's)\n%s", name, g, w)
		}
	}
}

// coreSummary describes what a core holds that does not depend on the
// address space's layout.
func coreSummary(t *testing.T, path, prog string) string {
	t.Helper()
	c := readCore(t, path)
	var b strings.Builder
	var types []string
	for _, typ := range c.order {
		if typ == 1 && len(types) > 0 {
			break // the next thread's
		}
		if typ == 0x205 {
			continue // NT_X86_XSAVE_LAYOUT (Linux 6.x) is not written
		}
		types = append(types, fmt.Sprintf("%#x", typ))
	}
	fmt.Fprintf(&b, "notes of the dumping thread: %s\n", strings.Join(types, " "))
	fmt.Fprintf(&b, "threads: %d\n", len(c.notes[1]))
	if ps := c.notes[1]; len(ps) > 0 {
		fmt.Fprintf(&b, "signal: %d\n", binary.LittleEndian.Uint16(ps[0][12:]))
	}
	for _, m := range []string{"MARKER-ANON-PRIVATE-7301", "MARKER-ANON-SHARED-4721", "MARKER-DONTDUMP-9131"} {
		fmt.Fprintf(&b, "%s: %v\n", m, c.inLoad(m))
	}
	if f := c.notes[0x46494c45]; len(f) == 1 {
		fmt.Fprintf(&b, "NT_FILE names the program: %v\n", bytes.Contains(f[0], []byte(prog+"\x00")))
	}
	return b.String()
}

// TestCoreDump runs testdata/coredump/coredump.c in the sandbox: children
// die of core-dumping signals with RLIMIT_CORE, PR_SET_DUMPABLE,
// coredump_filter, MADV_DONTDUMP, threads and core_pattern set, and the
// cores are read here (debug/elf, readelf, gdb) against what Linux writes.
// Sandbox only: the cases write /proc/sys/kernel/core_pattern, which a
// native run must not (TestCoreDumpNative compares the others).
func TestCoreDump(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgram(t, t.TempDir(), "coredump", testdataSource(t, "coredump", "coredump"))
	got := tu.Sandbox(t, timeout, dir, "", nil, prog)
	if got.ExitCode != 0 {
		t.Fatalf("exit %d\n%s%s", got.ExitCode, got.Stdout, got.Stderr)
	}
	pids := map[string]int{}
	re := regexp.MustCompile(`pid (\d+) `)
	var norm strings.Builder
	for _, line := range strings.SplitAfter(got.Stdout, "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			name, _, _ := strings.Cut(line, ":")
			pids[name], _ = strconv.Atoi(m[1])
			line = strings.Replace(line, m[0], "pid P ", 1)
		}
		line = strings.Replace(line, "core."+strconv.Itoa(pids["pattern"])+".", "core.P.", 1)
		line = strings.Replace(line, "core."+strconv.Itoa(pids["usespid"])+" ", "core.P ", 1)
		norm.WriteString(line)
	}
	// Linux's answers (6.x, suid_dumpable 0).
	const want = `default: pid P signal 6 core 1
  file core mode 600
nolimit: pid P signal 6 core 0
notdumpable: pid P signal 11 core 0
tiny: pid P signal 11 core 0
cut: pid P signal 11 core 1
  file core mode 600
filter0: pid P signal 3 core 1
  file core mode 600
threads: pid P signal 11 core 1
  file core mode 600
handler: pid P signal 11 core 1
  file core mode 600
pattern core.%p.%e.%s.%%
pattern: pid P signal 11 core 1
  file core.P.coredump.11.% mode 600
pipe: pid P signal 11 core 0
usespid: pid P signal 11 core 1
  file core.P mode 600
long pattern read 128
`
	if norm.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", norm.String(), want)
	}

	def := filepath.Join(dir, "out.default.core")
	c := readCore(t, def)
	if n := len(c.notes[1]); n != 1 {
		t.Errorf("default: %d NT_PRSTATUS, want 1", n)
	}
	if ps := c.notes[1]; len(ps) == 1 {
		le := binary.LittleEndian
		if sig, pid := le.Uint16(ps[0][12:]), le.Uint32(ps[0][32:]); sig != 6 || int(pid) != pids["default"] {
			t.Errorf("default: NT_PRSTATUS signal %d pid %d, want 6 %d", sig, pid, pids["default"])
		}
	}
	if ps := c.notes[3]; len(ps) != 1 || !bytes.HasPrefix(ps[0][40:56], []byte("coredump\x00")) || !bytes.HasPrefix(ps[0][56:], []byte(prog)) {
		t.Errorf("default: NT_PRPSINFO %q, want fname coredump, psargs %s", ps, prog)
	}
	if si := c.notes[0x53494749]; len(si) != 1 || binary.LittleEndian.Uint32(si[0]) != 6 {
		t.Errorf("default: NT_SIGINFO %v, want signal 6", si)
	}
	if len(c.notes[6]) != 1 || len(c.notes[2]) != 1 {
		t.Errorf("default: %d NT_AUXV, %d NT_PRFPREG, want 1 each", len(c.notes[6]), len(c.notes[2]))
	}
	if f := c.notes[0x46494c45]; len(f) != 1 || !bytes.Contains(f[0], []byte(prog+"\x00")) {
		t.Errorf("default: NT_FILE does not name %s", prog)
	}
	for _, m := range []struct {
		marker string
		in     bool
	}{{"MARKER-ANON-PRIVATE-7301", true}, {"MARKER-ANON-SHARED-4721", true}, {"MARKER-DONTDUMP-9131", false}} {
		if c.inLoad(m.marker) != m.in {
			t.Errorf("default: %s in a PT_LOAD: %v, want %v", m.marker, !m.in, m.in)
		}
	}
	if c.has("MARKER-DONTDUMP-9131") {
		t.Errorf("default: the MADV_DONTDUMP marker is in the core")
	}

	f0 := readCore(t, filepath.Join(dir, "out.filter0.core"))
	if f0.has("MARKER-ANON-PRIVATE-7301") || f0.has("MARKER-ANON-SHARED-4721") {
		t.Errorf("coredump_filter 0: anonymous memory dumped")
	}
	if th := readCore(t, filepath.Join(dir, "out.threads.core")); len(th.notes[1]) != 3 {
		t.Errorf("threads: %d NT_PRSTATUS, want 3", len(th.notes[1]))
	}
	if h := readCore(t, filepath.Join(dir, "out.handler.core")); len(h.notes[0x46494c45]) != 1 || !bytes.Contains(h.notes[0x46494c45][0], []byte(prog+"\x00")) {
		t.Errorf("handler: NT_FILE does not name %s", prog)
	}
	pat := readCore(t, filepath.Join(dir, "out.pattern.core."+strconv.Itoa(pids["pattern"])+".coredump.11.%"))
	if !pat.inLoad("MARKER-ANON-PRIVATE-7301") {
		t.Errorf("pattern: the core lacks the anonymous marker")
	}
	// RLIMIT_CORE 12288 cuts the core at a note or page that does not fit.
	if st, err := os.Stat(filepath.Join(dir, "out.cut.core")); err != nil || st.Size() > 12288 || st.Size() < 64 {
		t.Errorf("cut: %v %v, want 64 to 12288 bytes", st, err)
	}

	// readelf (binutils) reads the notes and the segments.
	out, err := exec.Command("readelf", "-n", "-l", "-W", def).CombinedOutput()
	if err != nil {
		t.Fatalf("readelf: %v\n%s", err, out)
	}
	for _, w := range []string{"CORE (Core file)", "LOAD", "NT_PRSTATUS", "NT_PRPSINFO", "NT_SIGINFO", "NT_AUXV", "NT_FILE", "NT_FPREGSET"} {
		if !bytes.Contains(out, []byte(w)) {
			t.Errorf("readelf -n -l lacks %q", w)
		}
	}
	if gdb, err := exec.LookPath("gdb"); err == nil {
		out, err := exec.Command(gdb, "-batch", "-ex", "bt", prog, def).CombinedOutput()
		if err != nil || !bytes.Contains(out, []byte("signal SIGABRT")) || !bytes.Contains(out, []byte("in raise")) || !bytes.Contains(out, []byte("in main")) {
			t.Errorf("gdb bt: %v\n%s", err, out)
		}
	}
}

// coreFile is a core as the test reads it.
type coreFile struct {
	raw   []byte
	loads []*elf.Prog
	// notes are the notes' descriptions by type; order their types in
	// the file's order.
	notes map[uint32][][]byte
	order []uint32
}

func readCore(t *testing.T, path string) *coreFile {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if f.Type != elf.ET_CORE {
		t.Fatalf("%s: type %v", path, f.Type)
	}
	c := &coreFile{raw: raw, notes: map[uint32][][]byte{}}
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_LOAD:
			c.loads = append(c.loads, p)
		case elf.PT_NOTE:
			b := raw[min(p.Off, uint64(len(raw))):min(p.Off+p.Filesz, uint64(len(raw)))]
			for len(b) >= 12 {
				le := binary.LittleEndian
				nsz, dsz, typ := le.Uint32(b), le.Uint32(b[4:]), le.Uint32(b[8:])
				b = b[12:]
				nsz = (nsz + 3) &^ 3
				if int(nsz) > len(b) {
					t.Fatalf("%s: bad note", path)
				}
				b = b[nsz:]
				if int(dsz) > len(b) {
					t.Fatalf("%s: bad note", path)
				}
				c.notes[typ] = append(c.notes[typ], b[:dsz])
				c.order = append(c.order, typ)
				b = b[(dsz+3)&^3:]
			}
		}
	}
	return c
}

// has says the core's bytes hold s anywhere.
func (c *coreFile) has(s string) bool { return bytes.Contains(c.raw, []byte(s)) }

// inLoad says a PT_LOAD's dumped bytes hold s.
func (c *coreFile) inLoad(s string) bool {
	for _, p := range c.loads {
		if p.Off+p.Filesz <= uint64(len(c.raw)) && bytes.Contains(c.raw[p.Off:p.Off+p.Filesz], []byte(s)) {
			return true
		}
	}
	return false
}

// TestCoreDumpRecovery kills the remote sentry during the core dump of a
// child with 96 MiB of memory that died of SIGSEGV, once the core file
// exists (its writes take about half a second): the dump's calls in
// flight are re-sent after the recovery, and the core is whole, as
// natively.
func TestCoreDumpRecovery(t *testing.T) {
	tu.RequireRoot(t)
	want, got, k := killAtMarker(t, tu.StaticProgram(t, t.TempDir(), "recover", testdataSource(t, "coredump", "recover")), "core")
	compare(t, want, got)
	if !strings.Contains(got.Stdout, "marker found") {
		t.Errorf("no whole core:\n%s", got.Stdout)
	}
	if t.Failed() {
		t.Logf("server log:\n%s", k.server.Log)
	}
}
