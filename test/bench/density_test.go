package bench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// idleClients is how many sleeping clients BenchmarkIdleClients starts
// ($BENCH_IDLE_CLIENTS overrides it, for a smaller machine).
func idleClients(b *testing.B) int {
	if v := os.Getenv("BENCH_IDLE_CLIENTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("BENCH_IDLE_CLIENTS=%q: want a positive number", v)
		}
		return n
	}
	return 100
}

// rssKB reads a field of /proc/PID/status (VmRSS, RssAnon) in KB.
func rssKB(b *testing.B, pid int, field string) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatalf("status of %d: %v", pid, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				b.Fatalf("%s of %d: %q", field, pid, line)
			}
			return kb
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// densitySettle is how long the daemons get after the clients started
// before their memory is read: longer than their free-heap trim interval
// (runsc-decoupled/memtrim.go), so that what is read is what the idle
// clients hold, not the garbage of their start.
const densitySettle = 15 * time.Second

// BenchmarkIdleClients reports the server's and the gofer's memory (RSS
// and its anonymous part, in MB) with N clients sleeping on one server
// (`do --server ... -- busybox sleep`), and the server's anonymous memory
// per idle client (KB/client) over a server that ran one client and
// holds none.
func BenchmarkIdleClients(b *testing.B) {
	tu.RequireRoot(b)
	n := idleClients(b)
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		bin := tu.Binary(b)
		g := tu.StartDaemon(b, dir, "gofer", "gofer", "--root", "/")
		s := tu.StartDaemon(b, dir, "server", "server", "--gofer", g.Target)
		// The baseline: a server that has run one client.
		if r := tu.Run(b, time.Minute, dir, "", bin, "do", "--server", s.Target, "--cwd", dir, "--", tu.Busybox, "true"); r.ExitCode != 0 {
			b.Fatalf("do: exit %d: %s", r.ExitCode, r.Stderr)
		}
		time.Sleep(densitySettle)
		baseAnon := rssKB(b, s.Cmd.Process.Pid, "RssAnon")
		clients := make([]*exec.Cmd, 0, n)
		b.Cleanup(func() {
			for _, c := range clients {
				syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
				c.Wait()
			}
		})
		for j := 0; j < n; j++ {
			c := exec.Command(bin, "do", "--server", s.Target, "--cwd", dir, "--", tu.Busybox, "sh", "-c", "echo up; exec sleep 3600")
			c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			out, err := c.StdoutPipe()
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Start(); err != nil {
				b.Fatalf("client %d: %v", j, err)
			}
			clients = append(clients, c)
			// Started when its shell speaks: one at a time, as
			// clients arriving, not a stampede.
			if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "up\n" {
				b.Fatalf("client %d: %q, %v", j, line, err)
			}
		}
		time.Sleep(densitySettle)
		for _, d := range []struct {
			name string
			pid  int
		}{{"server", s.Cmd.Process.Pid}, {"gofer", g.Cmd.Process.Pid}} {
			b.ReportMetric(rssKB(b, d.pid, "VmRSS")/1024, d.name+"-RSS-MB")
			b.ReportMetric(rssKB(b, d.pid, "RssAnon")/1024, d.name+"-anon-MB")
		}
		b.ReportMetric((rssKB(b, s.Cmd.Process.Pid, "RssAnon")-baseAnon)/float64(n), "server-KB/client")
		b.ReportMetric(float64(n), "clients")
	}
}

// concurrentTarFiles is the size of each client's tarball in
// BenchmarkConcurrentTar.
const concurrentTarFiles = 1000

// makeSmallTarball archives concurrentTarFiles small files (10 directories)
// under dir/files1000 natively with busybox tar.
func makeSmallTarball(b *testing.B, dir string) string {
	src := filepath.Join(dir, "files1000")
	data := strings.Repeat("0123456789abcdef", tarFileSize/16)
	for d := 0; d < 10; d++ {
		sub := filepath.Join(src, fmt.Sprintf("d%02d", d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			b.Fatalf("tar source: %v", err)
		}
		for f := 0; f < concurrentTarFiles/10; f++ {
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%03d.txt", f)), []byte(data), 0o644); err != nil {
				b.Fatalf("tar source: %v", err)
			}
		}
	}
	tarball := filepath.Join(dir, "files1000.tar")
	if r := tu.Run(b, time.Minute, dir, "", tu.Busybox, "tar", "-cf", tarball, "files1000"); r.ExitCode != 0 {
		b.Fatalf("busybox tar -c: exit %d: %s", r.ExitCode, r.Stderr)
	}
	if err := os.RemoveAll(src); err != nil {
		b.Fatalf("tar source: %v", err)
	}
	return tarball
}

// BenchmarkConcurrentTar extracts a tarball of 1,000 files in 1 and in 4
// clients at once on one server (natively: 1 and 4 processes) and reports
// files/s over all clients: with linear scaling the 4-client row is up
// to 4× the 1-client row, as far as the cores go.
func BenchmarkConcurrentTar(b *testing.B) {
	tu.RequireRoot(b)
	dir := b.TempDir()
	tarball := makeSmallTarball(b, dir)
	bin := tu.Binary(b)
	g := tu.StartDaemon(b, dir, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemon(b, dir, "server", "server", "--gofer", g.Target)
	argvs := map[string]func(cwd string) []string{
		"native": func(string) []string { return []string{tu.Busybox, "tar", "-xf", tarball} },
		"sandbox-unix": func(cwd string) []string {
			return []string{bin, "do", "--server", s.Target, "--cwd", cwd, "--", tu.Busybox, "tar", "-xf", tarball}
		},
	}
	for _, clients := range []int{1, 4} {
		for _, mode := range []string{"native", "sandbox-unix"} {
			b.Run(fmt.Sprintf("clients%d/%s", clients, mode), func(b *testing.B) {
				var elapsed time.Duration
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					cwds := make([]string, clients)
					for j := range cwds {
						var err error
						if cwds[j], err = os.MkdirTemp(dir, "tar-"); err != nil {
							b.Fatal(err)
						}
					}
					b.StartTimer()
					start := time.Now()
					var wg sync.WaitGroup
					errs := make([]error, clients)
					for j := range cwds {
						wg.Add(1)
						go func(j int) {
							// Not tu.Run: a benchmark may fail only on
							// its own goroutine.
							defer wg.Done()
							ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
							defer cancel()
							argv := argvs[mode](cwds[j])
							c := exec.CommandContext(ctx, argv[0], argv[1:]...)
							c.Dir = cwds[j]
							if out, err := c.CombinedOutput(); err != nil {
								errs[j] = fmt.Errorf("%q: %v: %s", argv, err, out)
							}
						}(j)
					}
					wg.Wait()
					elapsed += time.Since(start)
					b.StopTimer()
					for j, err := range errs {
						if err != nil {
							b.Fatalf("client %d: %v", j, err)
						}
						if n, err := countFiles(cwds[j]); err != nil || n != concurrentTarFiles {
							b.Fatalf("client %d left %d files (err %v), want %d", j, n, err, concurrentTarFiles)
						}
						os.RemoveAll(cwds[j])
					}
					b.StartTimer()
				}
				b.ReportMetric(float64(clients*concurrentTarFiles*b.N)/elapsed.Seconds(), "files/s")
			})
		}
	}
}
