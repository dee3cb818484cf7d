package e2e

import (
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestMqueue runs testdata/mqueue against a native run: mq_open's name,
// access and attribute checks, priorities, blocking and non-blocking
// sends and receives, timeouts, a signal interrupting a receive, a
// child's send waking a receive, mq_notify, read(2) of a descriptor's
// status line, poll, dup, another user's permissions, and mq_unlink of
// an open queue.
func TestMqueue(t *testing.T) {
	stracedTestdata(t, "mqueue", "mqueue")
}

// TestMqueueSysctl runs testdata/sysctl/mq_sysctl in the sandbox only (a
// native run would change the host's limits): /proc/sys/fs/mqueue's
// defaults, the bounds of a write, and mq_open under the limits written,
// against Linux's answers.
func TestMqueueSysctl(t *testing.T) {
	tu.RequireRoot(t)
	prog := tu.StaticProgram(t, t.TempDir(), "mq_sysctl", testdataSource(t, "sysctl", "mq_sysctl"))
	got := tu.Sandbox(t, timeout, "", "", nil, prog)
	if got.ExitCode != 0 {
		t.Fatalf("exit %d\n%s%s", got.ExitCode, got.Stdout, got.Stderr)
	}
	if got.Stdout != mqSysctlWant {
		t.Errorf("got\n%s\nwant (Linux's)\n%s", got.Stdout, mqSysctlWant)
	}
}

const mqSysctlWant = `default queues_max = 256
default msg_max = 10
default msgsize_max = 8192
default msg_default = 10
default msgsize_default = 8192
open no attr = 10 8192
msg_max 0 = -1 EINVAL
msg_max 65537 = -1 EINVAL
msgsize_max 127 = -1 EINVAL
msgsize_max 16777217 = -1 EINVAL
msg_default 0 = -1 EINVAL
msgsize_default 127 = -1 EINVAL
msg_max junk = -1 EINVAL
msg_max 65536 = 0
msgsize_max 16777216 = 0
msg_max read = 65536
msgsize_max read = 16777216
msg_default 5 = 0
msgsize_default 256 = 0
open defaults = 5 256
msg_max 3 = 0
msgsize_max 200 = 0
open defaults capped = 3 200
user open 4 = -1 EINVAL
user open 3 = 3 100
user open size 201 = -1 EINVAL
root open 4 = 4 201
queues_max 1 = 0
keep = 0
user open at queues_max = -1 ENOSPC
user open unlinked counts = -1 ENOSPC
root open at queues_max = 3 100
user open after close = 3 100
queues_max -1 = 0
queues_max read = -1
user write = -1 EACCES
user read = 3
`

// TestMqueueThread runs testdata/mqueue/mq_thread natively and in the
// sandbox: glibc's SIGEV_THREAD mq_notify (its callback in a new thread),
// the raw call's error order, and the cookie a netlink socket receives
// when the registration fires or its owner removes it.
func TestMqueueThread(t *testing.T) {
	stracedTestdata(t, "mqueue", "mq_thread")
}

// TestMqueueDev runs testdata/mqueue/mq_dev in a container whose
// config.json mounts mqueue at /dev/mqueue (the host has none mounted to
// compare with): the directory lists the sandbox's queues, and open,
// O_CREAT, stat and unlink there are the queues', against Linux's
// answers.
func TestMqueueDev(t *testing.T) {
	tu.RequireRoot(t)
	prog := tu.StaticProgram(t, t.TempDir(), "mq_dev", testdataSource(t, "mqueue", "mq_dev"))
	r := newOCIRuntime(t)
	bundle := busyboxBundle(t, r, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}})
		s.Process.Args = []string{"/bin/mq_dev"}
	})
	b, err := os.ReadFile(prog)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "rootfs", "bin", "mq_dev"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	c, errOut, code := r.create("mq-dev", bundle)
	if code != 0 {
		t.Fatalf("create: exit %d: %s", code, errOut)
	}
	r.must("start", "mq-dev")
	if code := c.wait(t); code != 0 {
		t.Errorf("exit %d", code)
	}
	if got := c.out(t); got != mqDevWant {
		t.Errorf("got\n%s\nwant (Linux's)\n%s", got, mqDevWant)
	}
	r.must("delete", "mq-dev")
}

const mqDevWant = `/dev/mqueue = 41777 size 40 uid 0
list =
mq_send = 0
list = q1
/dev/mqueue/q1 = 100640 size 80 uid 0
read = 60
line = QSIZE:5          NOTIFY:0     SIGNO:0     NOTIFY_PID:0     
fstat size = 80
mq_getattr of open(2)'s fd = 0
attr = 4 64 1
mq_receive on O_RDONLY = 5
create q2 = 0
/dev/mqueue/q2 = 100644 size 80 uid 0
q2 attr = 10 8192
create q2 again = -1 EEXIST
open missing = -1 ENOENT
send through open(2)'s fd = 0
receive through mq_open's = 1
list = q1 q2
/dev/mqueue = 41777 size 80 uid 0
unlink q1 = 0
mq_open q1 = -1 ENOENT
send to unlinked q1 = 0
/dev/mqueue/q1 = -1 ENOENT
list = q2
user open q2 for writing = -1 EACCES
user open q2 for reading = 0
user unlink q2 = -1 EACCES
user create u1 = 0
/dev/mqueue/u1 = 100600 size 80 uid 65534
user unlink u1 = 0
/dev/mqueue/q2 = 100644 size 80 uid 0
/dev/mqueue/q2 = 100644 size 80 uid 0
mq_unlink q2 = 0
/dev/mqueue/q2 = -1 ENOENT
unlink q2 again = -1 ENOENT
list =
`
