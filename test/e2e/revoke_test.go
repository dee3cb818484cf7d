package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// revokeProgram compiles testdata/revoke/name.c.
func revokeProgram(t *testing.T, name string) string {
	t.Helper()
	return tu.StaticProgramFile(t, t.TempDir(), filepath.Join("testdata", "revoke", name+".c"))
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
	start := time.Now()
	native := run(t, func(role, dir string) []string { return []string{prog, role, dir} })
	t.Logf("natively: %d changes in %v", rounds, time.Since(start))
	sock, logs := t.TempDir(), t.TempDir()
	g := tu.StartDaemon(t, sock, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemon(t, sock, "server", "server", "--gofer", g.Target, "--read-lease-ttl", "60s")
	start = time.Now()
	sandboxed := run(t, func(role, dir string) []string {
		return []string{tu.Binary(t), "do", "--force-overlay=false", "--server", s.Target, "--cwd", dir,
			"--debug-log", filepath.Join(logs, role+".log"), "--", prog, role, dir}
	})
	t.Logf("in two sandboxes: %d changes in %v", rounds, time.Since(start))
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

// TestWriteBehindErrorServerKill runs testdata/revoke/wbkill.c natively
// and in the sandbox in a full tmpfs (fullTmpfs): a write behind to each
// of two files fails there after the application was told it succeeded
// (one file is closed, posted, the other left open); once the sandbox's
// client has the failures, the remote sentry is killed with kill -9 and
// another started on its address. The kept errors are in the client's
// replay state (the files' "wberr/<ino>" records, the open description's
// FileState.write_error), so the new server reports each once, to the
// first fsync of the file after the kill, as natively the write did: the
// outputs must be the same.
func TestWriteBehindErrorServerKill(t *testing.T) {
	tu.RequireRoot(t)
	prog := revokeProgram(t, "wbkill")
	const want = "closed: ENOSPC reported 1 time(s), other errors 0, second fsync 0\n" +
		"open: ENOSPC reported 1 time(s), other errors 0, second fsync 0\n"
	nativeSync := t.TempDir()
	if err := os.WriteFile(filepath.Join(nativeSync, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	native := tu.Run(t, timeout, nativeSync, "", prog, fullTmpfs(t), nativeSync)
	if native.ExitCode != 0 || native.Stdout != want {
		t.Fatalf("natively: exit %d\n%s\nwant:\n%s\nstderr:\n%s", native.ExitCode, native.Stdout, want, native.Stderr)
	}
	dir, syncDir, sockDir := fullTmpfs(t), t.TempDir(), t.TempDir()
	g := tu.StartDaemon(t, sockDir, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemon(t, sockDir, "server", "server", "--gofer", g.Target)
	logFile := filepath.Join(sockDir, "client.log")
	done := make(chan tu.Result, 1)
	go func() {
		done <- tu.Sandbox(t, 2*timeout, syncDir, "", []string{
			"--server", s.Target, "--cwd", syncDir, "--grace", "1s", "--heartbeat", "50ms", "--debug-log", logFile,
		}, prog, dir, syncDir)
	}()
	for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(syncDir, "ready")); err == nil {
			break
		}
		select {
		case r := <-done:
			t.Fatalf("the program ended before it was ready: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
		default:
		}
		if time.Since(start) > timeout {
			t.Fatal("the program never got ready")
		}
	}
	s.Kill()
	time.Sleep(100 * time.Millisecond)
	if s = tu.StartDaemonAt(t, s.Target, "server", "--gofer", g.Target); s == nil {
		t.Fatal("server did not restart")
	}
	if err := os.WriteFile(filepath.Join(syncDir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got := <-done
	if got.ExitCode != 0 || got.Stdout != want {
		t.Errorf("in the sandbox: exit %d\n%s\nwant:\n%s\nstderr:\n%s", got.ExitCode, got.Stdout, want, got.Stderr)
	}
	log, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(log, []byte("recovered from a remote sentry failure")) {
		t.Error("no recovery logged")
	}
	// The writes were written behind (else the write itself reported
	// the error and the test tested nothing of the replay state). The
	// "closed" file's error comes at its close when the write's reply
	// was in before it (as NFS reports a write-back error at close),
	// else at its first fsync.
	if n := strings.Count(got.Stderr, ": write: "); n != 0 {
		t.Errorf("%d writes reported their error, want 0 (written behind):\n%s", n, got.Stderr)
	}
	if n := strings.Count(got.Stderr, ": fsync: No space left on device") + strings.Count(got.Stderr, "closed: close: No space left on device"); n != 2 {
		t.Errorf("%d fsyncs or closes reported ENOSPC, want 2 (the writes written behind):\n%s", n, got.Stderr)
	}
}

// TestRevokeBeforeCreate runs testdata/revoke/createrace.c as a creator
// and another party in two sandboxes on one server (one gofer), and as
// two host processes: both create (O_EXCL) and remove one name, over and
// over; the creator's creations are posted while its path cache holds
// the name's absence (its unlink's ENOENT). A creation in a directory is
// made only once the other holders of leases on its names acknowledged
// their revocation, after the calls they posted before: so a posted
// creation never meets the other's on the server (it would fail there
// with EEXIST, and the fd the application was told of answer EBADF), and
// the creator sees what Linux allows (EEXIST, or an fd that is open).
// The other posts a creation only when its own unlink's ENOENT found no
// lease of the creator on the directory (readlease.Registry.OthersHold):
// two clients posting creations in one directory would wait for each
// other until their leases expired (a minute here: the test would time
// out, and the later creation fail).
func TestRevokeBeforeCreate(t *testing.T) {
	tu.RequireRoot(t)
	prog := revokeProgram(t, "createrace")
	const rounds = 3000
	run := func(t *testing.T, argv func(role, dir string) []string) string {
		dir := createRaceDir(t, false)
		r, out, err := tu.RunBeside(t, 3*time.Minute, dir, argv("other", dir), append(argv("creator", dir), strconv.Itoa(rounds)))
		if err != nil || out != "other: done\n" {
			t.Fatalf("other: %v\n%s", err, out)
		}
		if r.ExitCode != 0 {
			t.Errorf("creator: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
		}
		t.Log(strings.TrimSpace(r.Stderr))
		return r.Stdout
	}
	start := time.Now()
	native := run(t, func(role, dir string) []string { return []string{prog, role, dir} })
	t.Logf("natively: %d rounds in %v", rounds, time.Since(start))
	sock, logs := t.TempDir(), t.TempDir()
	g := tu.StartDaemon(t, sock, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemon(t, sock, "server", "server", "--gofer", g.Target, "--read-lease-ttl", "60s",
		"--debug-log", filepath.Join(logs, "server.log"))
	bin := tu.Binary(t)
	start = time.Now()
	sandboxed := run(t, func(role, dir string) []string {
		return []string{bin, "do", "--force-overlay=false", "--server", s.Target, "--cwd", dir,
			"--debug-log", filepath.Join(logs, role+".log"), "--", prog, role, dir}
	})
	t.Logf("in two sandboxes: %d rounds in %v", rounds, time.Since(start))
	if sandboxed != native {
		t.Errorf("the creator in a sandbox said %q, natively %q", sandboxed, native)
	}
	checkAllAcknowledged(t, filepath.Join(logs, "server.log"))
	log, err := os.ReadFile(filepath.Join(logs, "creator.log"))
	if err != nil {
		t.Fatal(err)
	}
	n := createsOf(t, string(log))
	t.Logf("the creator posted %d creations", n)
	if n < rounds/20 {
		t.Errorf("the creator posted %d creations in %d rounds: the test tested little", n, rounds)
	}
}

// TestPostedCreationsOfTwoClients runs two creators of
// testdata/revoke/createrace.c, of two names in one directory, in two
// sandboxes on one server: each posts the creation of its name after its
// unlink's ENOENT when the server let it (PathLease.creatable), and each
// creation of one waits for the other's acknowledgment of its leases'
// revocation, which follows the creations the other posted. Were both
// let post, each posted creation would wait for the other's until the
// leases expired (a minute: "did not acknowledge the revocation" in the
// server's log, and a round that takes a minute); the server lets one
// client at a time (readlease.Registry.OthersHold). Both must say what
// they say natively, every revocation acknowledged.
func TestPostedCreationsOfTwoClients(t *testing.T) {
	tu.RequireRoot(t)
	prog := revokeProgram(t, "createrace")
	const rounds = "1500"
	run := func(t *testing.T, argv func(name, dir string) []string) (string, string) {
		dir := createRaceDir(t, true)
		r, out, err := tu.RunBeside(t, 3*time.Minute, dir, argv("a", dir), argv("b", dir))
		if err != nil {
			t.Fatalf("creator a: %v\n%s", err, out)
		}
		if r.ExitCode != 0 {
			t.Errorf("creator b: exit %d\n%s%s", r.ExitCode, r.Stdout, r.Stderr)
		}
		return out, r.Stdout
	}
	creator := func(name, dir string) []string { return []string{prog, "creator", dir, rounds, name} }
	nativeA, nativeB := run(t, creator)
	sock, logs := t.TempDir(), t.TempDir()
	g := tu.StartDaemon(t, sock, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemon(t, sock, "server", "server", "--gofer", g.Target, "--read-lease-ttl", "60s",
		"--debug-log", filepath.Join(logs, "server.log"))
	bin := tu.Binary(t)
	start := time.Now()
	a, b := run(t, func(name, dir string) []string {
		return append([]string{bin, "do", "--force-overlay=false", "--server", s.Target, "--cwd", dir,
			"--debug-log", filepath.Join(logs, name+".log"), "--"}, creator(name, dir)...)
	})
	t.Logf("in two sandboxes: %s rounds each in %v", rounds, time.Since(start))
	if a != nativeA || b != nativeB {
		t.Errorf("the creators in sandboxes said %q and %q, natively %q and %q", a, b, nativeA, nativeB)
	}
	checkAllAcknowledged(t, filepath.Join(logs, "server.log"))
	posted := 0
	for _, name := range []string{"a", "b"} {
		log, err := os.ReadFile(filepath.Join(logs, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		n := createsOf(t, string(log))
		t.Logf("creator %s posted %d creations", name, n)
		posted += n
	}
	if posted == 0 {
		t.Error("neither creator posted a creation: the test tested nothing")
	}
}

// createRaceDir makes the directory createrace.c runs in, with its
// names/ (and ready, for two creators).
func createRaceDir(t *testing.T, ready bool) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "names"), 0o755); err != nil {
		t.Fatal(err)
	}
	if ready {
		if err := os.WriteFile(filepath.Join(dir, "ready"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// checkAllAcknowledged fails t if the server's log (file serverLog) says
// a change waited for leases to expire: a client did not acknowledge a
// revocation in time.
func checkAllAcknowledged(t *testing.T, serverLog string) {
	t.Helper()
	log, err := os.ReadFile(serverLog)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, "did not acknowledge the revocation") {
			t.Errorf("a change waited for leases to expire: %s", line)
		}
	}
}
