package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestConcurrentClientsKeepPathLeases runs busybox tar -xf of 200 files
// under do while two other clients of the same server extract the same
// archive in directories of their own in a loop, and counts the tar's
// waited calls. A path grant fails only when a change made during its
// walk revokes one of its keys (sentry/server/readlease/pathchanges.go):
// the other clients' changes, in other directories, leave the tar's
// answers. With one counter of all changes, each of their changes
// failed every grant in flight, and the tar waited for a large share of
// its stats and unlinks.
func TestConcurrentClientsKeepPathLeases(t *testing.T) {
	tu.RequireRoot(t)
	const files = 200
	archive := tarOf(t, files)
	sock := t.TempDir()
	g := tu.StartDaemon(t, sock, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemon(t, sock, "server", "server", "--gofer", g.Target)
	do := func(dir string, flags ...string) []string {
		return append([]string{tu.Binary(t), "do", "--force-overlay=false", "--server", s.Target, "--cwd", dir}, flags...)
	}

	// Two other clients extract the same archive in directories of
	// their own, over and over, until they are killed.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var others []*exec.Cmd
	var otherDirs []string
	for range 2 {
		otherDir := t.TempDir()
		argv := append(do(otherDir, "--"), tu.Busybox, "sh", "-c", `i=0; while [ $i -lt 100000 ]; do tar -xf `+archive+` && rm -r top; i=$((i+1)); done`)
		other := exec.CommandContext(ctx, argv[0], argv[1:]...)
		if err := other.Start(); err != nil {
			t.Fatalf("another client: %v", err)
		}
		defer other.Wait()
		others, otherDirs = append(others, other), append(otherDirs, otherDir)
	}
	defer cancel()
	// They run once each has made files.
	deadline := time.Now().Add(time.Minute)
	for _, otherDir := range otherDirs {
		for {
			if _, err := os.Stat(filepath.Join(otherDir, "top")); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("another client made no file in a minute")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	dir := t.TempDir()
	logFile := filepath.Join(t.TempDir(), "do.log")
	r := tu.Run(t, 3*time.Minute, dir, "", append(do(dir, "--debug-log", logFile, "--"), tu.Busybox, "tar", "-xf", archive)...)
	if r.ExitCode != 0 {
		t.Fatalf("tar -x: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
	}
	for _, other := range others {
		if other.ProcessState != nil {
			t.Fatal("another client ended before the tar did")
		}
	}
	got, err := os.ReadFile(filepath.Join(dir, "top", "d1", "f199"))
	if err != nil || string(got) != strings.Repeat("0123456789abcdef", 32) {
		t.Fatalf("the last file extracted: %q, %v", got, err)
	}
	log, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	perFile := float64(waitedCalls(t, string(log))) / files
	t.Logf("%.3f waited calls a file beside two other clients", perFile)
	if perFile > 0.2 {
		t.Errorf("%.3f waited calls a file while two other clients changed their own files, want at most 0.2", perFile)
	}
}
