package client

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/platform/systrap/sysmsg"
)

// site builds the 7 bytes of a code site from its parts.
func site(b ...byte) (s [patchSiteLen]byte) {
	copy(s[:], b)
	return s
}

func TestPatchableSite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		code  [patchSiteLen]byte
		sysno uintptr
		want  bool
	}{
		{"getppid", site(0xb8, 110, 0, 0, 0, 0x0f, 0x05), 110, true},
		{"futex", site(0xb8, 202, 0, 0, 0, 0x0f, 0x05), 202, true},
		{"immediate is another call", site(0xb8, 110, 0, 0, 0, 0x0f, 0x05), 39, false},
		{"mov to another register", site(0xbf, 110, 0, 0, 0, 0x0f, 0x05), 110, false},
		{"sysenter, not syscall", site(0xb8, 110, 0, 0, 0, 0x0f, 0x34), 110, false},
		{"syscall after a register move", site(0x48, 0x89, 0xf8, 0x90, 0x90, 0x0f, 0x05), 110, false},
		{"already patched", siteJump(0x60080), 110, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := patchableSite(tc.code, tc.sysno); got != tc.want {
				t.Errorf("patchableSite(% x, %d) = %v, want %v", tc.code, tc.sysno, got, tc.want)
			}
		})
	}
}

func TestPatchedSite(t *testing.T) {
	for _, tc := range []struct {
		name      string
		code      [patchSiteLen]byte
		wantEntry hostarch.Addr
		wantOK    bool
	}{
		{"first entry", siteJump(0x60080), 0x60080, true},
		{"last entry", siteJump(0x67f80), 0x67f80, true},
		{"end of the range", siteJump(0x6ff80), 0x6ff80, true},
		{"jump below the range", site(0xff, 0x24, 0x25, 0x80, 0x00, 0x05, 0x00), 0, false},
		{"jump above the range", site(0xff, 0x24, 0x25, 0x00, 0x00, 0x07, 0x00), 0, false},
		{"jump above 16 MiB", site(0xff, 0x24, 0x25, 0x80, 0x00, 0x06, 0x01), 0, false},
		{"jmp through a register", site(0xff, 0xe0, 0x25, 0x80, 0x00, 0x06, 0x00), 0, false},
		{"unpatched", site(0xb8, 110, 0, 0, 0, 0x0f, 0x05), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entry, ok := patchedSite(tc.code)
			if ok != tc.wantOK || (ok && entry != tc.wantEntry) {
				t.Errorf("patchedSite(% x) = %#x, %v; want %#x, %v", tc.code, entry, ok, tc.wantEntry, tc.wantOK)
			}
		})
	}
}

func TestSiteJumpPutsInvalidOpcodeAtSyscall(t *testing.T) {
	for e := trapTableRange.Start; e < trapTableRange.End; e += trapEntrySize {
		j := siteJump(e)
		if j[siteSyscallOffset] != invalidOpcode {
			t.Fatalf("siteJump(%#x) = % x: byte %d is %#x, want the invalid opcode %#x", e, j, siteSyscallOffset, j[siteSyscallOffset], invalidOpcode)
		}
	}
}

func TestClassifyIllegal(t *testing.T) {
	for _, tc := range []struct {
		name string
		code [patchSiteLen]byte
		rax  uint64
		want illegalAction
	}{
		{"restart of a call", siteJump(0x60100), 202, resumeAtJump},
		{"raced with the rewrite", siteJump(0x60100), 0x24, resumeAtJump},
		{"restart_syscall", siteJump(0x60100), 219, runRestartSyscall},
		{"the application's own ud2", site(0x90, 0x90, 0x90, 0x90, 0x90, 0x0f, 0x0b), 219, notPatchedSite},
		{"0x06 without our jump", site(0xb8, 1, 2, 3, 4, 0x06, 0x00), 202, notPatchedSite},
		{"a jump elsewhere", site(0xff, 0x24, 0x25, 0x00, 0x10, 0x40, 0x00), 202, notPatchedSite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := classifyIllegal(tc.code, tc.rax); got != tc.want {
				t.Errorf("classifyIllegal(% x, %d) = %v, want %v", tc.code, tc.rax, got, tc.want)
			}
		})
	}
}

// assemble assembles x86-64 GNU assembler source and returns its code.
// binutils (gcc's assembler) is required, as for the C test programs.
func assemble(t *testing.T, src string) []byte {
	t.Helper()
	for _, tool := range []string{"as", "objcopy"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s (binutils) is required to check the encodings: %v", tool, err)
		}
	}
	dir := t.TempDir()
	s, o, bin := filepath.Join(dir, "a.s"), filepath.Join(dir, "a.o"), filepath.Join(dir, "a.bin")
	if err := os.WriteFile(s, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("as", "--64", "-o", o, s).CombinedOutput(); err != nil {
		t.Fatalf("as: %v\n%s\n%s", err, out, src)
	}
	if out, err := exec.Command("objcopy", "-O", "binary", "-j", ".text", o, bin).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTrapEntryCodeAssembles checks the hand-encoded trampoline and
// site jump against the assembler's encoding of the same instructions.
func TestTrapEntryCodeAssembles(t *testing.T) {
	o := msgOffsets
	for _, tc := range []struct {
		entry, ret hostarch.Addr
		sysno      uint32
	}{
		{0x60080, 0x401234, 110},
		{0x67f80, 0x7f0012345678, 202},
	} {
		t.Run(fmt.Sprintf("%#x", tc.entry), func(t *testing.T) {
			src := fmt.Sprintf(`.text
	.quad %#x
	movl $%d, %%gs:%#x
	mov %%rsp, %%gs:%#x
	mov %%gs:%#x, %%rsp
	movabs $%#x, %%rax
	mov %%rax, %%gs:%#x
	mov $%d, %%eax
	jmp *%%gs:%#x
	jmp *%#x
`, tc.entry+8, sysmsg.ThreadStatePrep, o.state, o.appStack, o.syshandlerStack, tc.ret, o.retAddr, tc.sysno, o.syshandler, tc.entry)
			want := assemble(t, src)
			jump := siteJump(tc.entry)
			got := append(trapEntryCode(tc.entry, tc.ret, tc.sysno), jump[:]...)
			if !bytes.Equal(got, want) {
				t.Errorf("trap entry and jump:\n got % x\nwant % x", got, want)
			}
			if n := len(trapEntryCode(tc.entry, tc.ret, tc.sysno)); n > trapEntrySize {
				t.Errorf("trap entry is %d bytes, more than a slot (%d)", n, trapEntrySize)
			}
		})
	}
}

// patchSrc makes its system calls from inline "mov $nr,%eax; syscall"
// sites: from four threads at once (threads race to patch the same
// site), a futex wait interrupted by an SA_RESTART signal after its site
// was patched (the restart rewinds RIP onto the patched site), code in
// a shared and a private mapping, a site called too few times to patch, a call through the vsyscall page, then the same sites in a forked child (the
// table is inherited) and after an exec (a new address space).
const patchSrc = `
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

// jitGetpid is "mov $39,%eax; syscall; ret".
static const unsigned char jitGetpid[] = {0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0xc3};

// jit copies jitGetpid into a new mapping with flags, calls it n times
// (20 are enough to patch it, 10 are not), and returns whether its code
// is unchanged: 1 unchanged, 0 patched, -1 a wrong result.
static int jit(int flags, int n) {
	unsigned char *code = mmap(0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, flags | MAP_ANONYMOUS, -1, 0);
	if (code == MAP_FAILED) return -1;
	memcpy(code, jitGetpid, sizeof jitGetpid);
	long (*fn)(void) = (long (*)(void))code;
	for (int i = 0; i < n; i++)
		if (fn() != getpid()) return -1;
	return memcmp(code, jitGetpid, sizeof jitGetpid) == 0;
}

static long sys_getpid(void) {
	long r;
	__asm__ volatile("mov $39, %%eax\n\tsyscall" : "=a"(r) : : "rcx", "r11", "memory");
	return r;
}
static long sys_gettid(void) {
	long r;
	__asm__ volatile("mov $186, %%eax\n\tsyscall" : "=a"(r) : : "rcx", "r11", "memory");
	return r;
}
__attribute__((noinline)) static long sys_futex(int *addr, long op, long val) {
	long r;
	register long r10 __asm__("r10") = 0;
	__asm__ volatile("mov $202, %%eax\n\tsyscall" : "=a"(r) : "D"(addr), "S"(op), "d"(val), "r"(r10) : "rcx", "r11", "memory");
	return r;
}

static void out(const char *s) { write(1, s, strlen(s)); }
static void msleep(long ms) { struct timespec ts = {0, ms * 1000000}; nanosleep(&ts, 0); }

static long pid;
static void *loop(void *arg) {
	long tid = sys_gettid();
	for (int i = 0; i < 3000; i++) {
		if (sys_getpid() != pid || sys_gettid() != tid) return (void *)1;
	}
	return 0;
}

static int word;
static volatile int waiting, handled;
static void on_usr1(int sig) { handled++; }
static void *waiter(void *arg) {
	// A value that does not match: EAGAIN at once, until the site is
	// patched (the client patches a site after 16 traps).
	for (int i = 0; i < 20; i++)
		if (sys_futex(&word, 128, 1) != -11) return (void *)1;
	waiting = 1;
	while (__atomic_load_n(&word, __ATOMIC_SEQ_CST) == 0) {
		long r = sys_futex(&word, 128, 0);
		if (r != 0 && r != -11) return (void *)2; // EINTR: not restarted
	}
	return 0;
}

static int loops(void) {
	pid = sys_getpid();
	pthread_t th[4];
	for (long i = 0; i < 4; i++) pthread_create(&th[i], 0, loop, 0);
	int bad = 0;
	for (long i = 0; i < 4; i++) {
		void *r;
		pthread_join(th[i], &r);
		bad |= r != 0;
	}
	return bad;
}

int main(int argc, char **argv) {
	if (argc > 1) {
		out(loops() ? "exec bad\n" : "exec ok\n");
		return 0;
	}
	out(loops() ? "threads bad\n" : "threads ok\n");

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, 0);
	pthread_t w;
	pthread_create(&w, 0, waiter, 0);
	while (!waiting) msleep(1);
	msleep(200);
	pthread_kill(w, SIGUSR1);
	while (!handled) msleep(1);
	msleep(50);
	__atomic_store_n(&word, 1, __ATOMIC_SEQ_CST);
	sys_futex(&word, 129, 1);
	void *r;
	pthread_join(w, &r);
	out(r == 0 && handled == 1 ? "restart ok\n" : "restart bad\n");

	// A shared mapping is never written (the file or other mappers
	// would see it); a private one is.
	out(jit(MAP_SHARED, 20) == 1 ? "shared unchanged\n" : "shared bad\n");
	out(jit(MAP_PRIVATE, 10) == 1 ? "cold unchanged\n" : "cold bad\n");
	int priv = jit(MAP_PRIVATE, 20);
	out(priv == -1 ? "private bad\n" : priv == 0 ? "private patched\n" : "private unchanged\n");

	long (*vtime)(long *) = (long (*)(long *))0xffffffffff600400;
	long vt = vtime(0), now = time(0);
	out(vt > 0 && vt <= now && now - vt < 5 ? "vsyscall ok\n" : "vsyscall bad\n");

	pid_t child = fork();
	if (child == 0) {
		if (loops()) { out("child bad\n"); _exit(1); }
		out("child ok\n");
		char *args[] = {argv[0], "exec", 0};
		execv(argv[0], args);
		_exit(2);
	}
	int st;
	waitpid(child, &st, 0);
	out(st == 0 ? "done\n" : "done bad\n");
	return 0;
}
`

// patchCounts matches the client's end-of-run line on syscall patching.
var patchCounts = regexp.MustCompile(`syscall entries: enabled=(\w+) patched_sites=(\d+) trap_tables=(\d+) patching_us=\d+ via_patch=(\d+) trapped=(\d+) sigill_resumed=(\d+) sigill_restarts=(\d+)`)

// runFakeDebug is runFake with the client's debug log returned.
func runFakeDebug(t *testing.T, platform string, argv []string) (runResult, string) {
	t.Helper()
	var logs syncBuffer
	logger := hclog.New(&hclog.LoggerOptions{Name: "client", Level: hclog.Debug, Output: &logs})
	res, _ := runFakeWith(t, platform, argv, 90*time.Second, logger, false)
	return res, logs.String()
}

func TestSyscallPatching(t *testing.T) {
	forEachPlatform(t, func(t *testing.T, p string) {
		bin := buildC(t, "patch", patchSrc)
		res, logs := runFakeDebug(t, p, []string{bin})
		private := "private patched\n"
		if p != "systrap" {
			private = "private unchanged\n"
		}
		want := "threads ok\nrestart ok\nshared unchanged\ncold unchanged\n" + private + "vsyscall ok\nchild ok\nexec ok\ndone\n"
		if res.stdout != want || res.status != 0 {
			t.Errorf("stdout = %q, status %#x; want %q, 0", res.stdout, res.status, want)
		}
		m := patchCounts.FindStringSubmatch(logs)
		if m == nil {
			t.Fatalf("no syscall patching line in the client log:\n%s", logs)
		}
		n := func(i int) int64 { v, _ := strconv.ParseInt(m[i], 10, 64); return v }
		t.Logf("%s", m[0])
		if p != "systrap" {
			if m[1] != "false" || n(2) != 0 {
				t.Errorf("%s: patching on a platform other than systrap: %s", p, m[0])
			}
			return
		}
		// Three inline sites in the first image (getpid, gettid, futex)
		// and two after exec, besides glibc's own.
		if n(2) < 5 {
			t.Errorf("patched_sites = %d, want at least 5", n(2))
		}
		// One table before the exec, one after; the child inherits.
		if n(3) != 2 {
			t.Errorf("trap_tables = %d, want 2 (the fork inherits the first, the exec makes the second)", n(3))
		}
		// 3 rounds (threads, child, exec) of 4 threads x 6000 calls,
		// of which each thread's first patchAfterTraps from each of
		// its 2 sites may trap.
		if want := int64(3*4*6000 - 3*4*2*patchAfterTraps); n(4) < want {
			t.Errorf("via_patch = %d, want at least %d of the %d inline calls", n(4), want, 3*4*6000)
		}
		if n(4) < 10*n(5) {
			t.Errorf("trapped = %d against via_patch = %d: patched sites still trap", n(5), n(4))
		}
		if n(6) < 1 {
			t.Errorf("sigill_resumed = 0: the restart of the interrupted futex wait did not come back through the patched site")
		}
	})
}
