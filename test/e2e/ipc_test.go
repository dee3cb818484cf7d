package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// System V IPC: each program in testdata/ipc prints every call's result
// or errno name (ids and addresses as "ok"), and its output in the
// sandbox must match a native run.

// ipcProgram compiles testdata/ipc/NAME.c with common.h prepended.
func ipcProgram(t *testing.T, dir, name string) string {
	t.Helper()
	return tu.StaticProgram(t, dir, name, testdataSource(t, "ipc", name))
}

func TestSysvIPC(t *testing.T) {
	tu.RequireRoot(t)
	for _, name := range []string{"sem", "msg", "shm"} {
		t.Run(name, func(t *testing.T) {
			bin := ipcProgram(t, t.TempDir(), name)
			want := tu.Run(t, timeout, t.TempDir(), "", bin)
			if want.ExitCode != 0 || strings.Contains(want.Stdout, "setup ") {
				t.Fatalf("native run failed (exit %d):\n%s%s", want.ExitCode, want.Stdout, want.Stderr)
			}
			got := tu.Sandbox(t, timeout, t.TempDir(), "", nil, bin)
			compare(t, want, got)
			if t.Failed() {
				t.Logf("program: test/e2e/testdata/ipc/%s.c", name)
			}
		})
	}
}

// TestSysvIPCAcrossServerKill kills the remote sentry (kill -9, then a
// restart on the same address) in the middle of an exchange through a
// semaphore set, a message queue and a shared memory segment between
// two processes: the replay log rebuilds the objects with their ids,
// values, queued messages and SEM_UNDO adjustments, the blocked calls
// are re-sent, and the output matches a native run.
func TestSysvIPCAcrossServerKill(t *testing.T) {
	tu.RequireRoot(t)
	bin := ipcProgram(t, t.TempDir(), "recover")
	nativeDir, sandboxDir, sockDir := t.TempDir(), t.TempDir(), t.TempDir()
	want := tu.Run(t, timeout, nativeDir, "", bin, "300")
	if !strings.Contains(want.Stdout, " 0 unexpected results") {
		t.Fatalf("native run:\n%s%s", want.Stdout, want.Stderr)
	}
	k := startKillable(t, sockDir, sandboxDir, "5s", bin, "300")
	progress := func() int {
		b, _ := os.ReadFile(filepath.Join(sandboxDir, "progress"))
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	for _, at := range []int{60, 160} {
		if !k.waitUntil(func() bool { return progress() >= at }) {
			t.Fatalf("the program ended or stalled before round %d", at)
		}
		t.Logf("killing the server at round %d", progress())
		k.killServer()
	}
	got := k.wait()
	if k.recoveries() < 2 {
		t.Errorf("%d recoveries logged, want 2", k.recoveries())
	}
	compare(t, want, got)
}

// TestSysvIPCTools: util-linux's ipcmk, ipcs (which reads /proc/sysvipc)
// and ipcrm see the sandbox's objects and nothing else.
func TestSysvIPCTools(t *testing.T) {
	tu.RequireRoot(t)
	for _, tool := range []string{"/usr/bin/ipcmk", "/usr/bin/ipcs", "/usr/bin/ipcrm"} {
		if _, err := os.Stat(tool); err != nil {
			t.Fatalf("util-linux (%s) is required: %v", tool, err)
		}
	}
	got := tu.Sandbox(t, timeout, t.TempDir(), "", nil, "/bin/sh", "-c",
		"ipcs | grep -c root; ipcmk -Q >/dev/null && ipcmk -S 2 >/dev/null && ipcmk -M 4096 >/dev/null && ipcs | grep -c root; ipcrm --all && ipcs | grep -c root")
	if got.Stdout != "0\n3\n0\n" {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", got.ExitCode, got.Stdout, got.Stderr)
	}
}

// TestSysvNextID: /proc/sys/kernel/{msg,sem,shm}_next_id give the next
// object made its id, as Linux's ipc_idr_alloc (testdata/ipc/next_id.c).
// In the sandbox only: a native run would change the host's IPC
// namespace; the expected output is Linux's documented semantics: mode
// 0444, writable only with CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE
// (EACCES at open: ipc_permissions), 0 to INT_MAX (proc_dointvec_minmax),
// the id's index or the lowest free one above it with the id's
// sequence, -1 once used, left pending by a creation that fails first.
func TestSysvNextID(t *testing.T) {
	tu.RequireRoot(t)
	bin := ipcProgram(t, t.TempDir(), "next_id")
	got := tu.Sandbox(t, timeout, t.TempDir(), "", nil, bin)
	if got.ExitCode != 0 || got.Stdout != sysvNextIDWant {
		t.Errorf("exit %d\ngot:\n%s\nwant (Linux's):\n%s\nstderr:\n%s", got.ExitCode, got.Stdout, sysvNextIDWant, got.Stderr)
	}
}

const sysvNextIDWant = `msg_next_id = -1
sem_next_id = -1
shm_next_id = -1
stat("/proc/sys/kernel/msg_next_id", &st) = 0
mode 444
set msg_next_id -1: write = -1 EINVAL
set msg_next_id 2147483648: write = -1 EINVAL
set msg_next_id junk: write = -1 EINVAL
msg_next_id = -1
set msg_next_id 98311: write = 5
msg_next_id = 98311
msgget = 98311
msg_next_id = -1
msgctl(q, IPC_STAT, &mds) = 0
set msg_next_id 98311: write = 5
msgget at a used index = 98312
msgctl(q, IPC_RMID, NULL) = 0
msgctl(q2, IPC_RMID, NULL) = 0
set sem_next_id 12345: write = 5
semget(IPC_PRIVATE, 0, IPC_CREAT | 0600) = -1 EINVAL
sem_next_id = 12345
semget = 12345
sem_next_id = -1
semctl(s, 1, SETVAL, arg) = 0
semctl(s, 1, GETVAL) = 3
semctl(s, 0, IPC_RMID) = 0
set shm_next_id 2147483647: write = 10
shmget = 2147483647
shm_next_id = -1
(long)p = ok
read back shared
shmdt(p) = 0
shmdt(p2) = 0
shmctl(m, IPC_RMID, NULL) = 0
effective(all & ~(1ULL << CAP_SYS_ADMIN) & ~(1ULL << CAP_CHECKPOINT_RESTORE)) = 0
set msg_next_id 5: open = -1 EACCES
msg_next_id = -1
effective(1ULL << CAP_CHECKPOINT_RESTORE) = 0
set msg_next_id 5: write = 1
msg_next_id = 5
effective(1ULL << CAP_SYS_ADMIN) = 0
set msg_next_id 6: write = 1
msg_next_id = 6
effective(all) = 0
setuid(1000) = 0
set msg_next_id 7: open = -1 EACCES
msg_next_id = 6
child exited 0
msgget = 6
msgctl(q3, IPC_RMID, NULL) = 0
`
