package server

import (
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// answerProcQueries plays the client's side of ProcQuery: it answers each
// query with answer's result (nil: no answer). It consumes e.pushCh.
func answerProcQueries(e *env, answer func(*sentrypb.ProcQuery) *sentrypb.ProcAnswer) {
	go func() {
		for p := range e.pushCh {
			q := p.GetProcQuery()
			if q == nil {
				continue
			}
			a := answer(q)
			if a == nil {
				continue
			}
			a.Id = q.Id
			e.conn.Send(&sentrypb.ClientMessage{Msg: &sentrypb.ClientMessage_ProcAnswer{ProcAnswer: a}})
		}
	}()
}

// readProc reads path whole from tid, or returns the errno.
func readProc(e *env, tid int32, path string) (string, unix.Errno) {
	m := e.mem
	r := e.sys(tid, unix.SYS_OPEN, m.str(path), unix.O_RDONLY, 0)
	if r.Errno != 0 {
		return "", unix.Errno(r.Errno)
	}
	fd := uint64(r.Ret)
	defer e.ok(tid, unix.SYS_CLOSE, fd)
	buf := m.zeros(8192)
	var out []byte
	for {
		n := e.ok(tid, unix.SYS_READ, fd, buf, 8192)
		if n == 0 {
			return string(out), 0
		}
		out = append(out, m.bytes(buf, int(n))...)
	}
}

func TestProcQueryAnswered(t *testing.T) {
	e := newEnv(t)
	r := e.start(busybox, "sh")
	if r.Errno != 0 {
		t.Fatalf("Start: %v", unix.Errno(r.Errno))
	}
	imageID := r.GetExec().GetImage().GetFileId()
	var blocked atomic.Bool
	answerProcQueries(e, func(q *sentrypb.ProcQuery) *sentrypb.ProcAnswer {
		switch q.Kind {
		case sentrypb.ProcQuery_MACHINE:
			return &sentrypb.ProcAnswer{Machine: &sentrypb.MachineInfo{MemTotal: 1 << 30, Cpus: 1, Release: "6.1.0"}}
		case sentrypb.ProcQuery_TASKS:
			return &sentrypb.ProcAnswer{Tasks: []*sentrypb.TaskActivity{{Tid: 1, Blocked: blocked.Load(), Comm: []byte("renamed")}}}
		case sentrypb.ProcQuery_MAPS, sentrypb.ProcQuery_SMAPS:
			return &sentrypb.ProcAnswer{Maps: []*sentrypb.VMA{
				{Start: 0x400000, End: 0x401000, Perms: 5, FileId: imageID, Smaps: "Size: 4 kB\n"},
				{Start: 0x7ff000, End: 0x800000, Perms: 6, Name: []byte("[stack]")},
			}}
		}
		return &sentrypb.ProcAnswer{Errno: int32(unix.EINVAL)}
	})
	for _, c := range []struct {
		path, want string
		blocked    bool
	}{
		{"/proc/meminfo", `(?m)^MemTotal:        1048576 kB$`, false},
		{"/proc/sys/kernel/osrelease", `^6\.1\.0\n$`, false},
		// The image is named by its path on the server, with its inode.
		{"/proc/self/maps", `^00400000-00401000 r-xp 00000000 [0-9a-f]+:[0-9a-f]+ [1-9]\d* +/bin/busybox\n007ff000-00800000 rw-p 00000000 00:00 0 +\[stack\]\n$`, false},
		// The caller's own stat: running (the server executes its read).
		{"/proc/self/stat", `^1 \(renamed\) R 0 1 1 `, false},
		// The client reports the thread blocked in a local wait.
		{"/proc/1/stat", `^1 \(renamed\) S `, true},
		{"/proc/1/task/1/status", `(?s)^Name:\trenamed\n.*State:\tS \(sleeping\)\n`, true},
		{"/proc/1/smaps", `^00400000-00401000 r-xp 00000000 [0-9a-f]+:[0-9a-f]+ [1-9]\d* +/bin/busybox\nSize: 4 kB\n007ff000-00800000 rw-p 00000000 00:00 0 +\[stack\]\n$`, false},
	} {
		blocked.Store(c.blocked)
		got, errno := readProc(e, 1, c.path)
		if errno != 0 {
			t.Errorf("%s: %v", c.path, errno)
			continue
		}
		if !regexp.MustCompile(c.want).MatchString(got) {
			t.Errorf("%s = %q, want match of %q", c.path, got, c.want)
		}
	}
}

func TestProcQueryUnanswered(t *testing.T) {
	old := procQueryTimeout
	procQueryTimeout = 200 * time.Millisecond
	defer func() { procQueryTimeout = old }()
	e := started(t)
	answerProcQueries(e, func(*sentrypb.ProcQuery) *sentrypb.ProcAnswer { return nil })
	t0 := time.Now()
	for _, p := range []string{"/proc/meminfo", "/proc/self/maps", "/proc/cpuinfo"} {
		if _, errno := readProc(e, 1, p); errno != unix.EIO {
			t.Errorf("%s without an answer: errno %v, want EIO", p, errno)
		}
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("three unanswered queries took %v", d)
	}
	// Thread states fall back to what the server knows.
	got, errno := readProc(e, 1, "/proc/self/stat")
	if errno != 0 || !strings.HasPrefix(got, "1 (busybox) R 0 1 1 ") {
		t.Errorf("/proc/self/stat = %q, %v", got, errno)
	}
	// Files of server state do not ask the client.
	if got, errno := readProc(e, 1, "/proc/sys/kernel/pid_max"); errno != 0 || got != "4194304\n" {
		t.Errorf("pid_max = %q, %v", got, errno)
	}
}

func TestProcTree(t *testing.T) {
	e := started(t)
	m := e.mem
	list := func(p string) string {
		return strings.Join(dirNames(e, p), " ")
	}
	for _, c := range []struct{ dir, want string }{
		{"/proc/sys", "fs kernel net vm"},
		{"/proc/self/task", "1"},
		{"/proc/1/task/1", "auxv cgroup cmdline comm environ io limits maps oom_adj oom_score oom_score_adj pagemap personality schedstat smaps smaps_rollup stat statm status syscall wchan"},
		{"/proc/self/fdinfo", "0 1 2 3"}, // 3: the directory being listed
	} {
		if got := list(c.dir); got != c.want {
			t.Errorf("%s lists %q, want %q", c.dir, got, c.want)
		}
	}
	top := list("/proc")
	for _, n := range []string{"1", "self", "thread-self", "meminfo", "cpuinfo", "mounts", "sys"} {
		if !strings.Contains(" "+top+" ", " "+n+" ") {
			t.Errorf("/proc lacks %s: %q", n, top)
		}
	}
	buf := m.zeros(64)
	if n := e.ok(1, unix.SYS_READLINK, m.str("/proc/thread-self"), buf, 64); string(m.bytes(buf, int(n))) != "1/task/1" {
		t.Errorf("thread-self -> %q", m.bytes(buf, int(n)))
	}
	if got, errno := readProc(e, 1, "/proc/self/environ"); errno != 0 || got != "PATH=/bin\x00" {
		t.Errorf("environ = %q, %v", got, errno)
	}
	if got, errno := readProc(e, 1, "/proc/self/fdinfo/0"); errno != 0 || !strings.HasPrefix(got, "pos:\t0\nflags:\t") {
		t.Errorf("fdinfo = %q, %v", got, errno)
	}
	e.fails(unix.ENOENT, 1, unix.SYS_OPEN, m.str("/proc/self/task/2/stat"), unix.O_RDONLY, 0)
	e.fails(unix.ENOENT, 1, unix.SYS_OPEN, m.str("/proc/sys/kernel/nonexistent"), unix.O_RDONLY, 0)
	e.fails(unix.EACCES, 1, unix.SYS_OPEN, m.str("/proc/sys/kernel/pid_max"), unix.O_WRONLY, 0)
	e.fails(unix.EACCES, 1, unix.SYS_OPEN, m.str("/proc/self/stat"), unix.O_RDWR, 0)
}

// TestProcQueryBadAnswers: answers a client makes up get errnos or are
// dropped, never a panic.
func TestProcQueryBadAnswers(t *testing.T) {
	e := started(t)
	for _, id := range []uint64{0, 1, 1 << 63} {
		e.conn.Send(&sentrypb.ClientMessage{Msg: &sentrypb.ClientMessage_ProcAnswer{ProcAnswer: &sentrypb.ProcAnswer{Id: id}}})
	}
	answerProcQueries(e, func(q *sentrypb.ProcQuery) *sentrypb.ProcAnswer {
		switch q.Kind {
		case sentrypb.ProcQuery_MAPS:
			return &sentrypb.ProcAnswer{Maps: []*sentrypb.VMA{{Start: 0x2000, End: 0x1000, FileId: 9999, Perms: 0xffff}}}
		case sentrypb.ProcQuery_TASKS:
			return &sentrypb.ProcAnswer{Tasks: []*sentrypb.TaskActivity{{Tid: 77, Blocked: true}, {Tid: 1, Comm: []byte(strings.Repeat("x", 100))}}}
		}
		return &sentrypb.ProcAnswer{} // MACHINE without MachineInfo
	})
	if _, errno := readProc(e, 1, "/proc/meminfo"); errno != unix.EIO {
		t.Errorf("meminfo from an empty answer: %v, want EIO", errno)
	}
	if got, errno := readProc(e, 1, "/proc/self/maps"); errno != 0 || got != "00002000-00001000 rwxp 00000000 00:00 0 \n" {
		t.Errorf("maps = %q, %v", got, errno)
	}
	if got, errno := readProc(e, 1, "/proc/self/stat"); errno != 0 || !strings.HasPrefix(got, "1 ("+strings.Repeat("x", 15)+") R ") {
		t.Errorf("stat = %q, %v", got, errno)
	}
}

// TestProcThreadDirs: a second thread has task/<tid>/ and, unlisted,
// /proc/<tid>/.
func TestProcThreadDirs(t *testing.T) {
	e := started(t)
	// A client that knows nothing: states come from the server.
	answerProcQueries(e, func(*sentrypb.ProcQuery) *sentrypb.ProcAnswer {
		return &sentrypb.ProcAnswer{Errno: int32(unix.ESRCH)}
	})
	const flags = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD
	r := e.sys(1, unix.SYS_CLONE, flags, 0, 0, 0, 0)
	if r.Errno != 0 {
		t.Fatalf("clone: %v", unix.Errno(r.Errno))
	}
	tid := r.GetClone().GetChildTid()
	if tid == 0 {
		tid = int32(r.Ret)
	}
	for _, p := range []string{fmt.Sprintf("/proc/1/task/%d/stat", tid), fmt.Sprintf("/proc/%d/stat", tid)} {
		got, errno := readProc(e, 1, p)
		if errno != 0 || !strings.HasPrefix(got, fmt.Sprintf("%d (busybox) R 0 1 1 ", tid)) {
			t.Errorf("%s = %q, %v", p, got, errno)
		}
	}
	if got, errno := readProc(e, 1, "/proc/self/status"); errno != 0 || !strings.Contains(got, "\nThreads:\t2\n") {
		t.Errorf("status = %q, %v", got, errno)
	}
	e.fails(unix.ENOENT, 1, unix.SYS_OPEN, e.mem.str("/proc/99/stat"), unix.O_RDONLY, 0)
}
