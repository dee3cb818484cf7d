package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/runsc-decoupled/runsc-decoupled/oci"
)

func TestSweepStaleTempDirs(t *testing.T) {
	self := os.Getpid()
	selfStart, err := oci.ProcStart(self)
	if err != nil {
		t.Fatal(err)
	}
	// A process that has exited and been reaped: its pid is gone.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadPid := dead.Process.Pid
	tmp := t.TempDir()
	for _, tc := range []struct {
		name, dir string
		owner     *string // nil: no owner file
		wantGone  bool
	}{
		{"owner alive", tempDirPrefix + "live", ptr(fmt.Sprintf("%d %d\n", self, selfStart)), false},
		{"owner gone", tempDirPrefix + "dead", ptr(fmt.Sprintf("%d 12345\n", deadPid)), true},
		{"pid reused by another process", tempDirPrefix + "reused", ptr(fmt.Sprintf("%d %d\n", self, selfStart+1)), true},
		{"no owner file yet", tempDirPrefix + "new", nil, false},
		{"malformed owner", tempDirPrefix + "bad", ptr("x y\n"), false},
		{"not ours", "other-dead", ptr(fmt.Sprintf("%d 12345\n", deadPid)), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(tmp, tc.dir)
			if err := os.MkdirAll(filepath.Join(dir, "scratch"), 0o700); err != nil {
				t.Fatal(err)
			}
			if tc.owner != nil {
				if err := os.WriteFile(filepath.Join(dir, tempDirOwnerFile), []byte(*tc.owner), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			sweepStaleTempDirs(tmp)
			_, err := os.Stat(dir)
			if gone := os.IsNotExist(err); gone != tc.wantGone {
				t.Errorf("%s removed: %v, want %v", tc.dir, gone, tc.wantGone)
			}
		})
	}
}

func TestMakeOwnedTempDir(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	dir, err := makeOwnedTempDir()
	if err != nil {
		t.Fatal(err)
	}
	pid, start, ok := readTempDirOwner(dir)
	if !ok || pid != os.Getpid() || !oci.Alive(pid, start) {
		t.Fatalf("owner of %s: %d %d %v, want this live process", dir, pid, start, ok)
	}
	// Its own sweep leaves it alone.
	if removed := sweepStaleTempDirs(os.TempDir()); len(removed) != 0 {
		t.Fatalf("swept a live directory: %v", removed)
	}
}

func ptr(s string) *string { return &s }
