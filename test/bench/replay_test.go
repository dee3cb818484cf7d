package bench

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// seeksC makes N offset-changing calls on one file (lseek + 1-byte read),
// says "ready", sleeps locally while the harness kills the server, then
// makes one more forwarded call.
const seeksC = `
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
	long n = atol(argv[1]);
	int fd = open("replay.tmp", O_CREAT|O_TRUNC|O_RDWR, 0644);
	char buf[128] = {0};
	write(fd, buf, sizeof buf);
	for (long i = 0; i < n; i++) { lseek(fd, i % 100, SEEK_SET); read(fd, buf, 1); }
	printf("ready\n"); fflush(stdout);
	struct timespec ts = {1, 0}; nanosleep(&ts, 0);
	printf("offset %ld\n", (long)lseek(fd, 0, SEEK_CUR));
	close(fd); unlink("replay.tmp");
	return 0;
}
`

var recoveredRE = regexp.MustCompile(`recovered from a remote sentry failure.* records=([0-9]+).* log_bytes=([0-9]+) pause_ms=([0-9]+)`)

// BenchmarkReplay shows that recovery cost follows live state, not
// history: the same live state after 1,000 and 100,000 prior calls gives
// the same replay log size and pause when the server is killed.
func BenchmarkReplay(b *testing.B) {
	tu.RequireRoot(b)
	dir := b.TempDir()
	prog := tu.StaticProgram(b, dir, "seeks", seeksC)
	bin := tu.Binary(b)
	for _, n := range []int{1000, 100000} {
		b.Run("calls="+strconv.Itoa(n), func(b *testing.B) {
			var records, bytes, pause float64
			for i := 0; i < b.N; i++ {
				r, by, p := replayOnce(b, bin, prog, n)
				records, bytes, pause = records+r, bytes+by, pause+p
			}
			b.ReportMetric(records/float64(b.N), "records")
			b.ReportMetric(bytes/float64(b.N), "log-bytes")
			b.ReportMetric(pause/float64(b.N), "pause-ms")
		})
	}
}

func replayOnce(b *testing.B, bin, prog string, n int) (records, bytes, pause float64) {
	dir := b.TempDir()
	g := tu.StartDaemon(b, dir, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemon(b, dir, "server", "server", "--gofer", g.Target)
	log := filepath.Join(dir, "client.log")
	cmd := exec.Command(bin, "do", "--server", s.Target, "--cwd", dir, "--debug-log", log, "--log-level", "info", "--", prog, strconv.Itoa(n))
	cmd.Dir = dir
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "ready" {
		b.Fatalf("program did not get ready: %q", sc.Text())
	}
	s.Kill()
	time.Sleep(50 * time.Millisecond)
	tu.StartDaemon(b, dir, "server", "server", "--gofer", g.Target)
	want := "offset " + strconv.Itoa((n-1)%100+1)
	if !sc.Scan() || sc.Text() != want {
		b.Fatalf("after recovery the program printed %q, want %q", sc.Text(), want)
	}
	for sc.Scan() {
	}
	if err := cmd.Wait(); err != nil {
		b.Fatalf("do: %v", err)
	}
	logb, _ := os.ReadFile(log)
	m := recoveredRE.FindSubmatch(logb)
	if m == nil {
		b.Fatalf("no recovery logged:\n%s", logb)
	}
	f := func(x []byte) float64 { v, _ := strconv.ParseFloat(string(x), 64); return v }
	return f(m[1]), f(m[2]), f(m[3])
}
