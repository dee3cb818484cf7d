package testutil

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// SyscallCounts returns how many times process pid (all its threads)
// made each system call while f ran, as strace -f -c counts them (a
// test counting its own in-process server's host calls passes
// os.Getpid()). strace is required (test/setup.sh installs it).
func SyscallCounts(t testing.TB, pid int, f func()) map[string]int {
	t.Helper()
	if _, err := exec.LookPath("strace"); err != nil {
		t.Fatalf("strace is required (run test/setup.sh): %v", err)
	}
	out := filepath.Join(t.TempDir(), "strace.out")
	st := exec.Command("strace", "-f", "-c", "-o", out, "-p", strconv.Itoa(pid))
	stderr, err := st.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Start(); err != nil {
		t.Fatalf("strace: %v", err)
	}
	// strace says "Process N attached" once it traces the threads.
	attached := make(chan bool, 1)
	var log strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if !sent && strings.Contains(sc.Text(), "attached") {
				attached <- true
				sent = true
			}
		}
		if !sent {
			attached <- false
		}
	}()
	select {
	case ok := <-attached:
		if !ok {
			st.Wait()
			<-done
			t.Fatalf("strace did not attach: %s", log.String())
		}
	case <-time.After(30 * time.Second):
		st.Process.Kill()
		st.Wait()
		t.Fatal("strace did not attach within 30 s")
	}
	time.Sleep(200 * time.Millisecond) // the other threads
	f()
	st.Process.Signal(os.Interrupt)
	st.Wait()
	<-done
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("strace's summary: %v (%s)", err, log.String())
	}
	counts := ParseStraceSummary(b)
	if len(counts) == 0 {
		t.Fatalf("no counts in strace's summary:\n%s", b)
	}
	return counts
}

// ParseStraceSummary returns the calls of each system call in strace -c's
// summary b.
func ParseStraceSummary(b []byte) map[string]int {
	counts := make(map[string]int)
	for _, l := range strings.Split(string(b), "\n") {
		// "% time seconds usecs/call calls [errors] syscall"
		f := strings.Fields(l)
		if len(f) < 5 || f[len(f)-1] == "total" {
			continue
		}
		n, err := strconv.Atoi(f[3])
		if err != nil {
			continue
		}
		counts[f[len(f)-1]] = n
	}
	return counts
}
