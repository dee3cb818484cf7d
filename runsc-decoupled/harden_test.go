package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"4096", 4096, true},
		{"64K", 64 << 10, true},
		{"512M", 512 << 20, true},
		{"2G", 2 << 30, true},
		{"", 0, false},
		{"M", 0, false},
		{"1T", 0, false},
		{"-1M", 0, false},
		{"99999999999G", 0, false},
	} {
		got, err := parseSize(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("parseSize(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// TestBadHardeningFlags: the hardening flags refuse bad values at once,
// before a daemon starts anything.
func TestBadHardeningFlags(t *testing.T) {
	dir := t.TempDir()
	bin := tu.Binary(t)
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"gofer bad seccomp", []string{"gofer", "--listen", "unix:" + filepath.Join(dir, "g.sock"), "--seccomp", "permissive"}, 1, `seccomp mode "permissive"`},
		{"server bad seccomp", []string{"server", "--listen", "unix:" + filepath.Join(dir, "s.sock"), "--gofer", "unix:/x", "--seccomp", "KILL"}, 1, `seccomp mode "KILL"`},
		{"do bad seccomp", []string{"do", "--seccomp", "none", "--", "/bin/true"}, 2, `seccomp mode "none"`},
		{"server bad memory", []string{"server", "--listen", "unix:" + filepath.Join(dir, "s2.sock"), "--gofer", "unix:/x", "--max-client-memory", "lots"}, 1, "--max-client-memory"},
		{"server zero memory", []string{"server", "--listen", "unix:" + filepath.Join(dir, "s3.sock"), "--gofer", "unix:/x", "--max-client-memory", "0"}, 1, "--max-client-memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tu.Run(t, 30*time.Second, dir, "", append([]string{bin}, tc.args...)...)
			out := r.Stdout + r.Stderr
			if r.ExitCode != tc.wantCode || !strings.Contains(out, tc.wantErr) {
				t.Errorf("exit %d, output %q; want exit %d mentioning %q", r.ExitCode, out, tc.wantCode, tc.wantErr)
			}
		})
	}
}
