package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

func TestSandboxCgroupOwner(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pid   int
		start uint64
		ok    bool
	}{
		{"runsc-decoupled-42-1234", 42, 1234, true},
		{sandboxCgroupName(7, 99), 7, 99, true},
		{"runsc-decoupled-42", 42, 0, true}, // an earlier version's
		{"runsc-decoupled-42-", 0, 0, false},
		{"runsc-decoupled-42-0", 0, 0, false},
		{"runsc-decoupled-42-x", 0, 0, false},
		{"runsc-decoupled-42-1-2", 0, 0, false},
		{"runsc-decoupled-42-+3", 0, 0, false},
		{"runsc-decoupled-+42-3", 0, 0, false},
		{"runsc-decoupled-", 0, 0, false},
		{"runsc-decoupled-0-5", 0, 0, false},
		{"runsc-decoupled--3", 0, 0, false},
		{"runsc-decoupled-4x", 0, 0, false},
		{"runsc-12", 0, 0, false},
		{"user.slice", 0, 0, false},
	} {
		pid, start, ok := sandboxCgroupOwner(tc.name)
		if ok != tc.ok || (ok && (pid != tc.pid || start != tc.start)) {
			t.Errorf("sandboxCgroupOwner(%q) = %d, %d, %v; want %d, %d, %v", tc.name, pid, start, ok, tc.pid, tc.start, tc.ok)
		}
	}
}

// TestCgroupV2JoinAndRemove runs the cgroup v2 path of the sandbox
// cgroup on the host's unified hierarchy (mounted beside v1 on hybrid
// hosts): the test process moves into a new child of its cgroup and
// back, and the child is removed. Whether the cpu controller could be
// handed down is reported as the hierarchy allows.
func TestCgroupV2JoinAndRemove(t *testing.T) {
	tu.RequireRoot(t)
	mount, own := unifiedCgroup(t)
	dir := filepath.Join(mount, own, sandboxCgroupPrefix+strconv.Itoa(os.Getpid()))
	s, noCPU, err := joinCgroupAt(dir, true)
	if err != nil {
		t.Fatalf("join %s: %v", dir, err)
	}
	if _, in := unifiedCgroup(t); in != filepath.Join(own, filepath.Base(dir)) {
		s.remove()
		t.Fatalf("after the join the test is in %s, want %s", in, filepath.Join(own, filepath.Base(dir)))
	}
	if hasCPU := hasController(dir, "cpu"); hasCPU != (noCPU == nil) {
		t.Errorf("cpu controller in %s: %v, but join said %v", dir, hasCPU, noCPU)
	}
	if err := s.remove(); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if _, in := unifiedCgroup(t); in != own {
		t.Errorf("after remove the test is in %s, want %s", in, own)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s after remove: %v; want it gone", dir, err)
	}
}

// unifiedCgroup is where the cgroup v2 hierarchy is mounted and this
// process's path in it; the test is skipped on a host without one.
func unifiedCgroup(t *testing.T) (mount, path string) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			path = p
		}
	}
	for _, m := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		if _, err := os.Stat(filepath.Join(m, "cgroup.subtree_control")); err == nil && path != "" {
			return m, path
		}
	}
	t.Skip("no cgroup v2 hierarchy mounted")
	return "", ""
}
