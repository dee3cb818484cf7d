package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// revokeProgram compiles testdata/revoke/name.c.
func revokeProgram(t *testing.T, name string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "revoke", name+".c"))
	if err != nil {
		t.Fatal(err)
	}
	return tu.StaticProgram(t, t.TempDir(), name, string(src))
}

// TestRevokeBeforeChange runs testdata/revoke/churn.c as a reader and a
// writer in two sandboxes on one server (one gofer), and as two host
// processes: the reader opens (posted opens, once its path cache holds
// the answer), reads and re-reads a file in a loop while the writer
// removes it, renames another file over it or renames its directory
// away, many rounds. A change of another sandbox is made only once the
// reader's sandbox acknowledged the revocation of its leases, and that
// acknowledgment counts only after the posted calls it sent before it
// ran: so a posted open never meets the change on the server (it would
// fail there, and the fd the application was told of answer EBADF), and
// the reader sees only what Linux allows (ENOENT after a removal,
// versions that never go back, the old contents through a descriptor
// opened before). The server's leases last a minute: a change that
// waited for their expiry instead of an acknowledgment would time the
// test out.
func TestRevokeBeforeChange(t *testing.T) {
	tu.RequireRoot(t)
	prog := revokeProgram(t, "churn")
	const rounds = 60
	run := func(t *testing.T, argv func(role, dir string) []string) string {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "d", "f"), []byte("v0"), 0o644); err != nil {
			t.Fatal(err)
		}
		r, wout, werr := tu.RunBeside(t, 3*time.Minute, dir, append(argv("writer", dir), strconv.Itoa(rounds)), argv("reader", dir))
		if werr != nil || wout != "writer: "+strconv.Itoa(rounds)+" rounds done\n" {
			t.Fatalf("writer: %v\n%s", werr, wout)
		}
		if r.ExitCode != 0 {
			t.Errorf("reader: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
		}
		return r.Stdout
	}
	native := run(t, func(role, dir string) []string { return []string{prog, role, dir} })
	sock, logs := t.TempDir(), t.TempDir()
	g := tu.StartDaemon(t, sock, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemon(t, sock, "server", "server", "--gofer", g.Target, "--read-lease-ttl", "60s")
	start := time.Now()
	sandboxed := run(t, func(role, dir string) []string {
		return []string{tu.Binary(t), "do", "--force-overlay=false", "--server", s.Target, "--cwd", dir,
			"--debug-log", filepath.Join(logs, role+".log"), "--", prog, role, dir}
	})
	t.Logf("%d changes in %v", rounds, time.Since(start))
	if sandboxed != native {
		t.Errorf("the reader in a sandbox said %q, natively %q", sandboxed, native)
	}
	log, err := os.ReadFile(filepath.Join(logs, "reader.log"))
	if err != nil {
		t.Fatal(err)
	}
	_, opens := logCounts(t, log)
	t.Logf("the reader posted %d opens", opens)
	if opens < rounds {
		t.Errorf("the reader posted %d opens in %d rounds: the test tested little", opens, rounds)
	}
}
