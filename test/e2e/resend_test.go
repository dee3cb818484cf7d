package e2e

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

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

var resentRE = regexp.MustCompile(`(\d+) writes \((\d+) bytes\) re-sent and durable`)

// TestResendAfterClientDeath is the durable client log (docs/ARCHITECTURE.md, "Recovery") at
// work: the server, then the client, then the gofer's machine die while
// the application appends to a file, and the file's data not yet on disk
// is lost (all of it, here); `resend` writes what the client's log
// retained back at the offsets the application wrote it, and those bytes
// are what the application wrote.
func TestResendAfterClientDeath(t *testing.T) {
	tu.RequireRoot(t)
	work, sockDir, logDir := t.TempDir(), t.TempDir(), t.TempDir()
	g := tu.StartDaemon(t, sockDir, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemon(t, sockDir, "server", "server", "--gofer", g.Target)
	do := exec.Command(tu.Binary(t), "do", "--server", s.Target, "--log-dir", logDir, "--cwd", work, "--",
		tu.Busybox, "sh", "-c", `i=0; while true; do echo "line $i" >> f; i=$((i+1)); done`)
	if err := do.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	// The server first, so that no Durable push empties the log.
	s.Kill()
	s.Cmd.Process.Wait()
	do.Process.Kill()
	do.Wait()
	// The gofer's machine crashes: what it had not written to disk is
	// lost (here: everything), and so is its reply cache.
	g.Kill()
	g.Cmd.Process.Wait()
	if err := os.Truncate(filepath.Join(work, "f"), 0); err != nil {
		t.Fatal(err)
	}

	tu.StartDaemonAt(t, g.Target, "gofer", "--root", "/")
	s2 := tu.StartDaemon(t, sockDir, "server2", "server", "--gofer", g.Target)
	r := tu.Run(t, timeout, work, "", tu.Binary(t), "resend", "--server", s2.Target, "--remove", logDir)
	if r.ExitCode != 0 {
		t.Fatalf("resend: exit %d\nstdout:\n%s\nstderr:\n%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	m := resentRE.FindStringSubmatch(r.Stdout)
	if m == nil {
		t.Fatalf("resend printed no count:\n%s", r.Stdout)
	}
	n, _ := strconv.Atoi(m[1])
	size, _ := strconv.Atoi(m[2])
	if n == 0 {
		t.Fatalf("no write was retained: %s", r.Stdout)
	}
	got, err := os.ReadFile(filepath.Join(work, "f"))
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	for i := 0; want.Len() < len(got); i++ {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	written := 0
	for i, b := range got {
		if b == 0 {
			continue // a hole: data that had been made durable, lost here on purpose
		}
		written++
		if b != want.Bytes()[i] {
			t.Fatalf("byte %d is %q, the application wrote %q there", i, b, want.Bytes()[i])
		}
	}
	if written != size {
		t.Fatalf("%d bytes on disk after resend, it reported %d", written, size)
	}
	if ents, _ := os.ReadDir(logDir); len(ents) != 0 {
		t.Fatalf("--remove left %v", ents)
	}
	t.Logf("%d writes, %d bytes re-sent", n, size)
}
