package bench

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// syscallsC times one system call in a loop and prints nanoseconds per call.
const syscallsC = `
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
static long long now(void) {
	struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
int main(int argc, char **argv) {
	const char *op = argv[1]; long n = atol(argv[2]);
	char buf[4096]; memset(buf, 'x', sizeof buf);
	int fd = open("bench.tmp", O_CREAT|O_TRUNC|O_WRONLY, 0644);
	long long t0 = now();
	for (long i = 0; i < n; i++) {
		if (!strcmp(op, "getppid")) syscall(SYS_getppid);
		else if (!strcmp(op, "openclose")) close(open("bench.tmp", O_RDONLY));
		else if (!strcmp(op, "write4k")) write(fd, buf, sizeof buf);
		else if (!strcmp(op, "clock")) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); }
	}
	long long t1 = now();
	close(fd); unlink("bench.tmp");
	printf("%lld\n", (t1 - t0) / n);
	return 0;
}
`

// modes are the ways a benchmark runs its program.
type mode struct {
	name string
	// argv returns the command line running prog.
	argv func(b *testing.B, prog ...string) []string
}

func modes(b *testing.B, dir string) []mode {
	bin := tu.Binary(b)
	g := tu.StartDaemon(b, dir, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemon(b, dir, "server", "server", "--gofer", g.Target)
	tcp := startTCPServer(b, dir, g.Target)
	return []mode{
		{"native", func(b *testing.B, prog ...string) []string { return prog }},
		{"sandbox-unix", func(b *testing.B, prog ...string) []string {
			return append([]string{bin, "do", "--server", s.Target, "--"}, prog...)
		}},
		{"sandbox-unix-nolog", func(b *testing.B, prog ...string) []string {
			return append([]string{bin, "do", "--server", s.Target, "--replay-log=false", "--"}, prog...)
		}},
		{"sandbox-tcp", func(b *testing.B, prog ...string) []string {
			return append([]string{bin, "do", "--server", tcp, "--"}, prog...)
		}},
	}
}

// startTCPServer starts a remote sentry on a free loopback TCP port.
func startTCPServer(b *testing.B, dir, gofer string) string {
	for port := 17000 + os.Getpid()%1000; port < 19000; port++ {
		target := "127.0.0.1:" + strconv.Itoa(port)
		d := tu.StartDaemonAt(b, target, "server", "--gofer", gofer)
		if d != nil {
			return target
		}
	}
	b.Fatal("no free loopback port for the TCP server")
	return ""
}

// BenchmarkSyscall reports ns per system call, measured inside the
// application, for each mode side by side.
func BenchmarkSyscall(b *testing.B) {
	tu.RequireRoot(b)
	dir := b.TempDir()
	prog := tu.StaticProgram(b, dir, "syscalls", syscallsC)
	ms := modes(b, dir)
	for _, op := range []string{"clock", "getppid", "openclose", "write4k"} {
		for _, m := range ms {
			b.Run(op+"/"+m.name, func(b *testing.B) {
				n := 20000
				var total float64
				for i := 0; i < b.N; i++ {
					r := tu.Run(b, 2*time.Minute, dir, "", m.argv(b, prog, op, strconv.Itoa(n))...)
					if r.ExitCode != 0 {
						b.Fatalf("exit %d: %s", r.ExitCode, r.Stderr)
					}
					v, err := strconv.ParseFloat(strings.TrimSpace(r.Stdout), 64)
					if err != nil {
						b.Fatalf("output %q: %v", r.Stdout, err)
					}
					total += v
				}
				b.ReportMetric(total/float64(b.N), "ns/syscall")
			})
		}
	}
}

// BenchmarkWorkload times whole busybox workloads per mode.
func BenchmarkWorkload(b *testing.B) {
	tu.RequireRoot(b)
	dir := b.TempDir()
	ms := modes(b, dir)
	workloads := []struct{ name, script string }{
		{"forkexec200", `i=0; while [ $i -lt 200 ]; do /bin/busybox true; i=$((i+1)); done`},
		{"pipeline", `seq 1 200000 | sort -rn | md5sum`},
		{"files500", `mkdir w && cd w && i=0; while [ $i -lt 500 ]; do echo $i > f$i; i=$((i+1)); done; cat f* | wc -l; cd .. && rm -r w`},
	}
	for _, w := range workloads {
		for _, m := range ms {
			b.Run(w.name+"/"+m.name, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					r := tu.Run(b, 5*time.Minute, dir, "", m.argv(b, tu.Busybox, "sh", "-c", w.script)...)
					if r.ExitCode != 0 {
						b.Fatalf("exit %d: %s", r.ExitCode, r.Stderr)
					}
				}
			})
		}
	}
}
