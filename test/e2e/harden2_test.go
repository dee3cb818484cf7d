package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// searchableDir returns a new directory that uid 1000 may search (t's
// TempDir is 0700 under a 0700 parent), removed when t ends.
func searchableDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "harden2-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestSetIDBits: set-id bits as Linux keeps them inside the sandbox
// (testdata/harden2/setid.c, compared with a native run as root), while
// the host files the sandbox left carry none.
func TestSetIDBits(t *testing.T) {
	tu.RequireRoot(t)
	prog := tu.StaticProgramFile(t, searchableDir(t), filepath.Join("testdata", "harden2", "setid.c"))
	want := tu.Run(t, timeout, searchableDir(t), "", prog)
	dir := searchableDir(t)
	got := tu.Sandbox(t, timeout, dir, "", nil, prog)
	compare(t, want, got)
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		// No regular file keeps a set-id bit on the host (a directory
		// may: it runs nothing).
		if st.Mode&unix.S_IFMT == unix.S_IFREG && st.Mode&(unix.S_ISUID|unix.S_ISGID) != 0 {
			t.Errorf("host file %s has mode %#o", p, st.Mode&0o7777)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestManyFDs: RLIMIT_NOFILE above 1024 and the errnos at the limit
// (testdata/harden2/manyfds.c, compared with a native run as root), and
// up to nr_open in the sandbox, which can raise the hard limit (the test
// host may not: its root lacks CAP_SYS_RESOURCE in a container).
func TestManyFDs(t *testing.T) {
	tu.RequireRoot(t)
	prog := tu.StaticProgramFile(t, t.TempDir(), filepath.Join("testdata", "harden2", "manyfds.c"))
	want := tu.Run(t, timeout, t.TempDir(), "", prog)
	got := tu.Sandbox(t, timeout, t.TempDir(), "", nil, prog)
	compare(t, want, got)

	// At nr_open: the same answers with top = 1048576 (a native run
	// that may raise its limit prints this too).
	got = tu.Sandbox(t, timeout, t.TempDir(), "", nil, prog, "nropen")
	wantNrOpen := strings.NewReplacer(
		"setrlimit 4096: 0", "setrlimit nr_open: 0",
		"limit 4096 4096", "limit 1048576 1048576",
	).Replace(want.Stdout)
	if got.Stdout != wantNrOpen {
		t.Errorf("at nr_open:\n%s\nwant:\n%s\nstderr:\n%s", got.Stdout, wantNrOpen, got.Stderr)
	}
}

// TestOCIRlimitsReachServer: an OCI container's process.rlimits hold
// where the fds are made, on the server: above 1024 when the spec says
// so, and not beyond a lower soft limit (busybox's `exec N<` dups to N;
// a failed redirection of exec ends the shell, hence the subshells).
func TestOCIRlimitsReachServer(t *testing.T) {
	tu.RequireRoot(t)
	r := newOCIRuntime(t)
	for i, tc := range []struct {
		name       string
		soft, hard uint64
		script     string
		want       string
	}{
		{"raised to 4000", 4000, 4096, `(exec 3500</dev/null) && echo opened; (exec 3999</dev/null) && echo opened; (exec 4000</dev/null) 2>/dev/null || echo refused`, "opened\nopened\nrefused\n"},
		{"lowered to 77", 77, 88, `(exec 76</dev/null) && echo opened; (exec 77</dev/null) 2>/dev/null || echo refused`, "opened\nrefused\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bundle := busyboxBundle(t, r, func(s *specs.Spec) {
				sh(tc.script)(s)
				s.Process.Rlimits = []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: tc.soft, Hard: tc.hard}}
			})
			id := "rlimits" + strconv.Itoa(i)
			c, msg, code := r.create(id, bundle)
			if code != 0 {
				t.Fatalf("create: exit %d: %s", code, msg)
			}
			r.must("start", id)
			exit := c.wait(t)
			if got := c.out(t); exit != 0 || got != tc.want {
				t.Errorf("exit %d, output %q; want 0, %q", exit, got, tc.want)
			}
			r.must("delete", id)
		})
	}
}
