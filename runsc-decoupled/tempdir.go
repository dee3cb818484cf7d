package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/runsc-decoupled/runsc-decoupled/oci"
)

// tempDirPrefix names the socket directories do makes in $TMPDIR.
const tempDirPrefix = "runsc-decoupled-"

// tempDirOwnerFile, inside such a directory, holds "PID START" of the do
// that made it (START: the process's start time in clock ticks, so a
// reused pid is not taken for the owner).
const tempDirOwnerFile = "owner"

// makeOwnedTempDir makes do's socket directory and records its owner in
// it. A do killed with SIGKILL cannot remove its directory (its daemons
// die with it, Pdeathsig, but nothing runs to clean up), so every do first
// removes the directories whose owner is gone (sweepStaleTempDirs).
func makeOwnedTempDir() (string, error) {
	sweepStaleTempDirs(os.TempDir())
	dir, err := os.MkdirTemp("", tempDirPrefix)
	if err != nil {
		return "", err
	}
	pid := os.Getpid()
	start, err := oci.ProcStart(pid)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, tempDirOwnerFile), fmt.Appendf(nil, "%d %d\n", pid, start), 0o600)
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("record owner of %s: %w", dir, err)
	}
	return dir, nil
}

// sweepStaleTempDirs removes the socket directories under tmp whose owner
// process is gone. A directory without a readable owner file (another
// do between MkdirTemp and writing it, or not ours) is left alone.
// Errors are ignored: the sweep is best effort and must not stop do.
func sweepStaleTempDirs(tmp string) (removed []string) {
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return nil
	}
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), tempDirPrefix) {
			continue
		}
		dir := filepath.Join(tmp, e.Name())
		pid, start, ok := readTempDirOwner(dir)
		if !ok || oci.Alive(pid, start) {
			continue
		}
		if os.RemoveAll(dir) == nil {
			removed = append(removed, dir)
		}
	}
	return removed
}

// readTempDirOwner parses dir's owner file; ok is false when it is absent
// or malformed.
func readTempDirOwner(dir string) (pid int, start uint64, ok bool) {
	b, err := os.ReadFile(filepath.Join(dir, tempDirOwnerFile))
	if err != nil {
		return 0, 0, false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0, false
	}
	pid, err1 := strconv.Atoi(f[0])
	start, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 || start == 0 {
		return 0, 0, false
	}
	return pid, start, true
}
