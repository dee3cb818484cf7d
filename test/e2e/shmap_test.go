package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestSharedFileMappings runs testdata/shmap.c (writable MAP_SHARED file
// mappings: fork and a child's stores, write(2) seen through a mapping,
// msync, munmap then reopen, ftruncate with SIGBUS, a file growing under
// its mapping, MAP_PRIVATE and read-only mappings, fsync, two processes
// storing in turn) natively and in the sandbox: the outputs must match.
func TestSharedFileMappings(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgramFile(t, dir, filepath.Join("testdata", "shmap.c"))
	for _, p := range platforms {
		t.Run(p, func(t *testing.T) {
			native := t.TempDir()
			want := tu.Run(t, timeout, "", "", prog, native)
			if want.ExitCode != 0 {
				t.Fatalf("native run failed (%d): %s", want.ExitCode, want.Stderr)
			}
			sandboxed := t.TempDir()
			got := tu.Sandbox(t, timeout, "", "", []string{"--platform", p}, prog, sandboxed)
			compare(t, want, got)
		})
	}
}

// TestSharedMappingsMadeSeparately runs testdata/shmap_separate.c: exec'd
// children mapping one file each on their own share the parent's pages
// (the server gave a mapping made while another process's write-back was
// landing a second file id, so a second page cache, and stores were lost).
func TestSharedMappingsMadeSeparately(t *testing.T) {
	tu.RequireRoot(t)
	prog := tu.StaticProgramFile(t, t.TempDir(), filepath.Join("testdata", "shmap_separate.c"))
	want := tu.Run(t, timeout, t.TempDir(), "", prog)
	for range 3 { // the loss was a race: a few rounds make it show
		compare(t, want, tu.Sandbox(t, timeout, t.TempDir(), "", nil, prog))
	}
}

// TestSharedMappingWrittenBackAtExit: stores through a shared mapping by
// an application that exits without msync or munmap reach the file on the
// host.
func TestSharedMappingWrittenBackAtExit(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgramFile(t, dir, filepath.Join("testdata", "shmap_exit.c"))
	out := filepath.Join(dir, "out.bin")
	if r := tu.Sandbox(t, timeout, "", "", []string{"--force-overlay=false"}, prog, out); r.ExitCode != 0 {
		t.Fatalf("exit %d: %s", r.ExitCode, r.Stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 8192 || string(b[:10]) != "first page" || string(b[4096:4107]) != "second page" {
		t.Errorf("file after exit: %d bytes, %q ... %q", len(b), b[:min(len(b), 10)], b[min(len(b), 4096):min(len(b), 4107)])
	}
}

// TestDevShm runs testdata/shm_open.c (shm_open, a shared mapping written
// by a child, named semaphores between processes, shm_unlink) natively
// and in the sandbox, and checks that the sandbox's /dev/shm directory is
// gone from the host afterwards.
func TestDevShm(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	prog := tu.StaticProgramFile(t, dir, filepath.Join("testdata", "shm_open.c"))
	before, _ := filepath.Glob("/dev/shm/rd-shm-*")
	suffix := strconv.Itoa(os.Getpid())
	args := []string{prog, "/rd-e2e-shm-" + suffix, "/rd-e2e-sem-" + suffix}
	want := tu.Run(t, timeout, "", "", args...)
	if want.ExitCode != 0 {
		t.Fatalf("native run failed (%d): %s", want.ExitCode, want.Stderr)
	}
	got := tu.Sandbox(t, timeout, "", "", []string{"--force-overlay=false"}, args...)
	compare(t, want, got)
	// Another sandbox running meanwhile may hold a directory of its own
	// for a while: only one left for good fails.
	var left []string
	for deadline := time.Now().Add(10 * time.Second); ; {
		left = newEntries(before, "/dev/shm/rd-shm-*")
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("the sandbox's /dev/shm directory was left on the host: %v", left)
	}
}

// newEntries returns the paths matching pattern that are not in before.
func newEntries(before []string, pattern string) []string {
	old := make(map[string]bool, len(before))
	for _, p := range before {
		old[p] = true
	}
	now, _ := filepath.Glob(pattern)
	var out []string
	for _, p := range now {
		if !old[p] {
			out = append(out, p)
		}
	}
	return out
}
