package client

import (
	"os"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// inFreshNetNS runs f on a thread of its own in a new network namespace
// (only a loopback, down). The thread is never reused: its goroutine
// ends locked.
func inFreshNetNS(t *testing.T, f func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("must run as root (a new network namespace)")
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- err
			return
		}
		f()
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatalf("unshare: %v", err)
	}
}

// TestOpenSandboxNetworkRefuses checks what OpenSandboxNetwork refuses
// before it touches anything: a namespace with nothing to bring (only a
// loopback), and the machine's own namespace, recognised as such.
func TestOpenSandboxNetworkRefuses(t *testing.T) {
	inFreshNetNS(t, func() {
		if err := notInitialNetNS(); err != nil {
			t.Errorf("a new namespace taken for the machine's own: %v", err)
		}
		n, err := OpenSandboxNetwork(nil)
		if err == nil {
			n.Close()
			t.Errorf("OpenSandboxNetwork in a namespace with only a loopback succeeded")
		} else if !strings.Contains(err.Error(), "no interface") {
			t.Errorf("OpenSandboxNetwork: %v, want no interface", err)
		}
	})
	// The test's own namespace: the machine's own when it has the
	// initial namespace's sysctl.
	_, statErr := os.Stat("/proc/sys/net/core/dev_weight")
	if err := notInitialNetNS(); (err != nil) != (statErr == nil) {
		t.Errorf("notInitialNetNS in the test's namespace: %v (dev_weight: %v)", err, statErr)
	}
}
