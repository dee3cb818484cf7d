package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestDoTempDirAfterSIGKILL checks that a do killed with SIGKILL, which
// cannot clean up, does not leave its temp directory for good: the next
// do removes it, and leaves a live do's directory alone.
func TestDoTempDirAfterSIGKILL(t *testing.T) {
	tu.RequireRoot(t)
	tmp := t.TempDir()
	killed, out := doIn(t, tmp, nil, "echo ready; exec sleep 100")
	waitFor(t, func() bool { return strings.Contains(out.String(), "ready") })
	killed.Process.Signal(syscall.SIGKILL)
	if code := waitExit(t, killed); code != 128+int(syscall.SIGKILL) {
		t.Fatalf("killed do: exit %d", code)
	}
	left, _ := filepath.Glob(filepath.Join(tmp, "runsc-decoupled-*"))
	if len(left) != 1 {
		t.Fatalf("after SIGKILL: %v, want do's directory (nothing could remove it yet)", left)
	}

	// A live do's directory survives another do's sweep.
	live, liveOut := doIn(t, tmp, nil, "echo ready; exec sleep 100")
	defer live.Process.Kill()
	waitFor(t, func() bool { return strings.Contains(liveOut.String(), "ready") })
	liveDirs, _ := filepath.Glob(filepath.Join(tmp, "runsc-decoupled-*"))
	if len(liveDirs) != 1 || liveDirs[0] == left[0] {
		t.Fatalf("with a live do: %v, want only the live do's directory (the stale one swept)", liveDirs)
	}
	next, nextOut := doIn(t, tmp, nil, "true")
	if code := waitExit(t, next); code != 0 {
		t.Fatalf("second do: exit %d: %s", code, nextOut)
	}
	if _, err := os.Stat(liveDirs[0]); err != nil {
		t.Fatalf("the live do's directory was swept: %v", err)
	}
	live.Process.Kill()
	waitExit(t, live)
}
