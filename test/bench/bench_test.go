package bench

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// syscallsC times one system call in a loop and prints nanoseconds per call
// and the number of calls timed. It stops after MAXCALLS calls or once
// BUDGET_MS have passed (checked every 100 calls, so the clock read costs
// under 1%), which keeps a forwarded open+close (~1.6 ms) from taking
// half a minute per run while native and runsc still make 20,000 calls.
// Every call's result is checked: a call that fails fast is not a
// measurement.
const syscallsC = `
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
static long long now(void) {
	struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
static void die(const char *what) { perror(what); exit(1); }
static volatile long caught;
static void onSignal(int sig) { (void)sig; caught++; }
int main(int argc, char **argv) {
	if (argc != 4) { fprintf(stderr, "usage: OP MAXCALLS BUDGET_MS\n"); return 2; }
	const char *op = argv[1]; long n = atol(argv[2]);
	long long budget = atoll(argv[3]) * 1000000LL;
	char buf[4096]; memset(buf, 'x', sizeof buf);
	int fd = open("bench.tmp", O_CREAT|O_TRUNC|O_RDWR, 0644);
	if (fd < 0) die("open bench.tmp");
	/* read4k rereads one 4 KiB block at offset 0 with pread, so the loop
	   needs no big file and no lseek per call. */
	if (!strcmp(op, "read4k") && pwrite(fd, buf, sizeof buf, 0) != sizeof buf) die("pwrite");
	struct sigaction sa = {0};
	sa.sa_handler = onSignal;
	if (sigaction(SIGUSR1, &sa, NULL) != 0) die("sigaction");
	pid_t tid = syscall(SYS_gettid);
	long long t0 = now(), t1 = t0;
	long i = 0;
	while (i < n) {
		for (long j = 0; j < 100 && i < n; j++, i++) {
			if (!strcmp(op, "getppid")) syscall(SYS_getppid);
			/* umask is posted: the client answers from the server's
			   record and sends it without waiting. getgroups is
			   forwarded and answered at once: the hop alone (getppid
			   is answered on the client). */
			else if (!strcmp(op, "umask")) umask(022);
			else if (!strcmp(op, "hop")) { if (getgroups(0, NULL) < 0) die("getgroups"); }
			else if (!strcmp(op, "openclose")) {
				int f = open("bench.tmp", O_RDONLY);
				if (f < 0 || close(f) != 0) die("open+close");
			}
			else if (!strcmp(op, "stat")) {
				struct stat st;
				if (stat("bench.tmp", &st) != 0 || !S_ISREG(st.st_mode)) die("stat");
			}
			else if (!strcmp(op, "write4k")) { if (write(fd, buf, sizeof buf) != sizeof buf) die("write"); }
			else if (!strcmp(op, "read4k")) { if (pread(fd, buf, sizeof buf, 0) != sizeof buf) die("pread"); }
			else if (!strcmp(op, "clock")) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); }
			/* A signal to the calling thread, caught: raise(3),
			   pthread_kill(3), Go's preemption. */
			else if (!strcmp(op, "signal")) {
				long before = caught;
				if (syscall(SYS_tkill, tid, SIGUSR1) != 0 || caught != before + 1) die("tkill");
			}
			else { fprintf(stderr, "unknown op %s\n", op); return 2; }
		}
		t1 = now();
		if (t1 - t0 > budget) break;
	}
	close(fd); unlink("bench.tmp");
	printf("%lld %ld\n", (t1 - t0) / i, i);
	return 0;
}
`

// mode is one way a benchmark runs its program (one column of the table).
type mode struct {
	name string
	// argv returns the command line running prog in cwd.
	argv func(cwd string, prog ...string) []string
	// skip, when set, says why this mode cannot run here.
	skip string
}

// modes are the columns, side by side: native, runsc-decoupled's do with
// the remote sentry on a Unix socket (systrap, systrap without the replay
// log, ptrace) and on TCP loopback, and gVisor's own runsc (in-process
// sentry) on systrap and ptrace as the reference.
func modes(b *testing.B, dir string) []mode {
	bin := tu.Binary(b)
	g := tu.StartDaemon(b, dir, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemon(b, dir, "server", "server", "--gofer", g.Target)
	// Plaintext TCP needs --insecure, loopback included.
	tcp := tu.StartDaemonTCP(b, "server", "--gofer", g.Target, "--insecure").Target
	// With --server, do starts the command in / unless told otherwise
	// (the server's filesystem need not be ours), so the directory is
	// always given.
	do := func(target string, flags ...string) func(cwd string, prog ...string) []string {
		return func(cwd string, prog ...string) []string {
			argv := append([]string{bin, "do", "--server", target, "--cwd", cwd}, flags...)
			return append(append(argv, "--"), prog...)
		}
	}
	ms := []mode{
		{name: "native", argv: func(_ string, prog ...string) []string { return prog }},
		{name: "sandbox-unix", argv: do(s.Target)},
		// The same, with the threads' calls on the socket instead of
		// call channels: the hop's two paths side by side.
		{name: "sandbox-unix-socket", argv: do(s.Target, "--channels=false")},
		{name: "sandbox-unix-nolog", argv: do(s.Target, "--replay-log=false")},
		// The client and the application on one CPU, the daemons on all
		// (docs/BENCHMARKS.md, "cpuplace").
		{name: "sandbox-unix-cpu1", argv: do(s.Target, "--cpuset-cpus", firstCPU(b))},
		// sandbox-unix without the client's CPU placement
		// (docs/BENCHMARKS.md, "cpuplace").
		{name: "sandbox-unix-fixed", argv: do(s.Target, "--cpu-placement=false")},
		// sandbox-unix with every mapped file's pages read by PageRead,
		// none through a lent host fd (docs/BENCHMARKS.md, "mappedfd").
		{name: "sandbox-unix-pageread", argv: do(s.Target, "--mapped-fds=false")},
		{name: "sandbox-unix-ptrace", argv: do(s.Target, "--platform", "ptrace")},
		{name: "sandbox-tcp", argv: do(tcp, "--insecure")},
	}
	for _, platform := range []string{"systrap", "ptrace"} {
		rbin, why := runscUnavailable(dir, platform)
		ms = append(ms, mode{
			name: "runsc-" + platform,
			// runsc do starts the command in its own working directory.
			argv: func(_ string, prog ...string) []string { return tu.RunscArgv(rbin, platform, prog...) },
			skip: why,
		})
	}
	return ms
}

// BenchmarkSyscall reports ns per system call, measured inside the
// application, for each mode side by side.
func BenchmarkSyscall(b *testing.B) {
	tu.RequireRoot(b)
	dir := b.TempDir()
	prog := tu.StaticProgram(b, dir, "syscalls", syscallsC)
	ms := modes(b, dir)
	const maxCalls, budgetMS = 20000, 2000
	for _, op := range []string{"clock", "getppid", "umask", "hop", "openclose", "stat", "write4k", "read4k", "signal"} {
		for _, m := range ms {
			b.Run(op+"/"+m.name, func(b *testing.B) {
				if m.skip != "" {
					b.Skip(m.skip)
				}
				var total, calls float64
				for i := 0; i < b.N; i++ {
					argv := m.argv(dir, prog, op, strconv.Itoa(maxCalls), strconv.Itoa(budgetMS))
					r := tu.Run(b, 2*time.Minute, dir, "", argv...)
					if r.ExitCode != 0 {
						b.Fatalf("%q: exit %d: %s", argv, r.ExitCode, r.Stderr)
					}
					var ns, n float64
					if _, err := fmt.Sscan(r.Stdout, &ns, &n); err != nil {
						b.Fatalf("%q: output %q: %v", argv, r.Stdout, err)
					}
					total, calls = total+ns, calls+n
				}
				b.ReportMetric(total/float64(b.N), "ns/syscall")
				b.ReportMetric(calls/float64(b.N), "calls")
			})
		}
	}
}

// tarDirs × tarFilesPerDir small files make the archive extracted by the
// tar4000 workload.
const (
	tarDirs        = 40
	tarFilesPerDir = 100
	tarFileSize    = 512
)

// makeTarball writes tarDirs×tarFilesPerDir small files under
// dir/files4000 and archives them natively with busybox tar; only the
// extraction is timed. Everything in the archive is under one top
// directory, so an extraction in the wrong place leaves one stray folder.
func makeTarball(b *testing.B, dir string) string {
	src := filepath.Join(dir, "files4000")
	data := bytes.Repeat([]byte("0123456789abcdef"), tarFileSize/16)
	for d := 0; d < tarDirs; d++ {
		sub := filepath.Join(src, fmt.Sprintf("d%02d", d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			b.Fatalf("tar source: %v", err)
		}
		for f := 0; f < tarFilesPerDir; f++ {
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%03d.txt", f)), data, 0o644); err != nil {
				b.Fatalf("tar source: %v", err)
			}
		}
	}
	tarball := filepath.Join(dir, "files4000.tar")
	r := tu.Run(b, time.Minute, dir, "", tu.Busybox, "tar", "-cf", tarball, "files4000")
	if r.ExitCode != 0 {
		b.Fatalf("busybox tar -c: exit %d: %s", r.ExitCode, r.Stderr)
	}
	if err := os.RemoveAll(src); err != nil {
		b.Fatalf("tar source: %v", err)
	}
	return tarball
}

// countFiles counts the regular files under dir.
func countFiles(dir string) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	})
	return n, err
}

// makeProject writes the make workload's project (testutil's
// WriteMakeProject) under dir/mk for `make -j2` to build from scratch in
// each run.
func makeProject(b *testing.B, dir string) string {
	mk := filepath.Join(dir, "mk")
	if err := os.MkdirAll(mk, 0o755); err != nil {
		b.Fatalf("make project: %v", err)
	}
	if err := tu.WriteMakeProject(mk); err != nil {
		b.Fatal(err)
	}
	return mk
}

// BenchmarkWorkload times whole busybox workloads per mode. Each time
// includes starting the sandbox; the start row is that cost alone.
func BenchmarkWorkload(b *testing.B) {
	tu.RequireRoot(b)
	dir := b.TempDir()
	ws := workloads(b, dir)
	ms := modes(b, dir)
	for _, w := range ws {
		for _, m := range ms {
			b.Run(w.name+"/"+m.name, func(b *testing.B) { runWorkload(b, dir, w, m) })
		}
	}
}

// workload is one row of BenchmarkWorkload.
type workload struct {
	name string
	argv []string
	// fresh runs each iteration in a new empty directory (untimed
	// setup, natively, then cleanup) and checks it then holds
	// wantFiles files.
	fresh     bool
	setup     func(cwd string) error
	wantFiles int
	// anyFiles skips the count of fresh's directory (a build's
	// cache).
	anyFiles bool
}

// workloads are BenchmarkWorkload's rows, their inputs made under dir.
func workloads(b *testing.B, dir string) []workload {
	tarball := makeTarball(b, dir)
	mk := makeProject(b, dir)
	sh := func(script string) []string { return []string{tu.Busybox, "sh", "-c", script} }
	// cp -r copies a tree of headers (~800 files in ~20 directories);
	// rm -r removes a copy of all of them (~8,000 files in ~800).
	const copied, removed = "/usr/include/c++/12", "/usr/include"
	copiedFiles, err := countFiles(copied)
	if err != nil {
		b.Fatalf("count %s: %v", copied, err)
	}
	copyTree := func(cwd string) error {
		if out, err := exec.Command("/usr/bin/cp", "-r", removed, filepath.Join(cwd, "t")).CombinedOutput(); err != nil {
			return fmt.Errorf("cp -r %s: %v: %s", removed, err, out)
		}
		return nil
	}
	return []workload{
		{name: "start", argv: []string{tu.Busybox, "true"}},
		{name: "forkexec200", argv: sh(`i=0; while [ $i -lt 200 ]; do /bin/busybox true; i=$((i+1)); done`)},
		{name: "pipeline", argv: sh(`seq 1 200000 | sort -rn | md5sum`)},
		{name: "files500", argv: sh(`mkdir w && cd w && i=0; while [ $i -lt 500 ]; do echo $i > f$i; i=$((i+1)); done; cat f* | wc -l; cd .. && rm -r w`)},
		{name: "tar4000", argv: []string{tu.Busybox, "tar", "-xf", tarball}, fresh: true, wantFiles: tarDirs * tarFilesPerDir},
		// A find that stats every file of a tree of ~8,000 (Debian's
		// headers; -size needs the file's attributes, as most finds do).
		{name: "find", argv: []string{tu.Busybox, "find", "/usr/include", "-type", "f", "-size", "+0"}},
		// The same with GNU find, which walks with fts: each
		// subdirectory opened relative to its parent's fd, fstat'ed and
		// listed through that fd (coreutils' rm -r, du and chmod -R walk
		// so too).
		{name: "findfts", argv: []string{"/usr/bin/find", "/usr/include", "-type", "f", "-size", "+0"}},
		// busybox find into a pipe another process reads: the
		// reader's blocked read and the walk's posted calls share the
		// session (a reply held for the read's stayed held for 100 ms).
		{name: "findpipe", argv: sh(`busybox find /usr/include -type f | wc -l`)},
		// GNU cp -r: per file an lstat, open, fstat, FICLONE, fadvise
		// and copy_file_range, and the copy's creation and fstat.
		{name: "cpr", argv: []string{"/usr/bin/cp", "-r", copied, "t"}, fresh: true, wantFiles: copiedFiles},
		// GNU rm -r (fts: each directory listed through its fd, each
		// file unlinked relative to it) of such a copy.
		{name: "rmr", argv: []string{"/usr/bin/rm", "-r", "t"}, fresh: true, setup: copyTree},
		// The host's make and gcc build the project from scratch, two
		// jobs at a time.
		{name: "make", argv: sh(`cd ` + mk + ` && make -s clean && make -s -j2 && ./prog`)},
		// The host's Go builds a hello world with goroutines from a
		// cold cache (the standard library compiled anew): many
		// processes and threads, a clock read at every scheduling step.
		{name: "gobuild", argv: sh(`GOCACHE=$PWD/cache HOME=$PWD GOENV=off GOFLAGS= GOTOOLCHAIN=local ` + goTool(b) + ` build -o hello . && ./hello`),
			fresh: true, setup: writeGoProject, anyFiles: true},
	}
}

// runWorkload runs w in mode m b.N times, each in a new directory under
// dir when w is fresh.
func runWorkload(b *testing.B, dir string, w workload, m mode) {
	if m.skip != "" {
		b.Skip(m.skip)
	}
	for i := 0; i < b.N; i++ {
		cwd := dir
		if w.fresh {
			b.StopTimer()
			var err error
			if cwd, err = os.MkdirTemp(dir, w.name+"-"); err != nil {
				b.Fatalf("fresh dir: %v", err)
			}
			if w.setup != nil {
				if err := w.setup(cwd); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
		}
		argv := m.argv(cwd, w.argv...)
		r := tu.Run(b, 5*time.Minute, cwd, "", argv...)
		if r.ExitCode != 0 {
			b.Fatalf("%q: exit %d: %s", argv, r.ExitCode, r.Stderr)
		}
		if w.fresh {
			b.StopTimer()
			if n, err := countFiles(cwd); !w.anyFiles && (err != nil || n != w.wantFiles) {
				b.Fatalf("%q left %d files (err %v), want %d", argv, n, err, w.wantFiles)
			}
			if err := os.RemoveAll(cwd); err != nil {
				b.Fatalf("clean up: %v", err)
			}
			b.StartTimer()
		}
	}
}

// goTool is the host's go command, by its GOROOT.
func goTool(b *testing.B) string {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		b.Fatalf("go env GOROOT: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "bin", "go")
}

// writeGoProject writes the gobuild workload's module into cwd: a main
// that sums in 100 goroutines and prints the sum.
func writeGoProject(cwd string) error {
	files := map[string]string{
		"go.mod": "module hello\n\ngo 1.22\n",
		"main.go": `package main

import (
	"fmt"
	"sync"
)

func main() {
	var wg sync.WaitGroup
	var mu sync.Mutex
	sum := 0
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) { defer wg.Done(); mu.Lock(); sum += i; mu.Unlock() }(i)
	}
	wg.Wait()
	fmt.Println("sum", sum)
}
`,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(cwd, name), []byte(text), 0o644); err != nil {
			return fmt.Errorf("go project: %w", err)
		}
	}
	return nil
}

// firstCPU is the lowest CPU this process may run on, as a CPU list.
func firstCPU(b *testing.B) string {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		b.Fatalf("sched_getaffinity: %v", err)
	}
	for cpu := 0; ; cpu++ {
		if set.IsSet(cpu) {
			return strconv.Itoa(cpu)
		}
	}
}
