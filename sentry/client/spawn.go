package client

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// SpawnRequest asks a running Run to add a process to the application
// from outside it (the OCI runtime's exec): the server makes it in the
// application's PID namespace with no parent there and a session of its
// own; its fds 0, 1 and 2 are Stdin, Stdout and Stderr, a stdio set of
// its own.
type SpawnRequest struct {
	Argv, Env []string
	Cwd       string
	// User gives its credentials (nil: this process's uid and gid).
	User *User
	// Rlimits replace the default limits; NoNewPrivileges sets
	// no_new_privs.
	Rlimits         []Rlimit
	NoNewPrivileges bool
	// OOMScoreAdj is its oom_score_adj, with its minimum (the
	// container's process.oomScoreAdj, as runc gives an exec'd process).
	OOMScoreAdj int32
	// Seccomp, when set, is its seccomp filter (the container's
	// linux.seccomp, as runc gives an exec'd process).
	Seccomp        *SeccompProgram
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Result receives the outcome once the process runs (or failed to
	// start).
	Result chan<- SpawnResult
}

// SpawnResult answers a SpawnRequest.
type SpawnResult struct {
	// Spawned is the new process; nil with Err.
	Spawned *Spawned
	// Err is a *StartError for the server's refusal (ENOENT: no such
	// executable), or another error.
	Err error
}

// Spawned is a process a SpawnRequest made.
type Spawned struct {
	c   *client
	set *spawnStdio
	// Pid is its pid in the application's PID namespace.
	Pid int32
}

// Done is closed once the process exited (or the application is over).
func (s *Spawned) Done() <-chan struct{} { return s.set.exited }

// Status returns the process's wait status once Done is closed: the
// application's, if the application ended first.
func (s *Spawned) Status() int {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.set.status
}

// Signal sends sig to the process from outside the application (ESRCH
// once it is gone).
func (s *Spawned) Signal(sig int) error {
	return s.c.kill(Signal{Signo: sig, Pid: s.Pid})
}

// Resize tells the server the terminal behind the process's stdio
// changed size (SIGWINCH to its foreground group).
func (s *Spawned) Resize() error { return s.c.resizeSet(s.set.id, s.set.files()) }

// spawnStdio is a stdio set of the client: a spawned process's stdio.
// Immutable but for status, exited, done and closed, which c.mu
// protects.
type spawnStdio struct {
	id             uint32
	stdin          *stdinReader
	stdout, stderr io.Writer
	info           []*pb.StdioInfo
	pid            int32
	// exited is closed, and status set, when the process exited.
	exited chan struct{}
	status int
	done   bool
	// released is closed once the server has no file of the set left
	// (StdioSetClosed: the process and the children that inherited its
	// stdio closed it) or the application is over; closed says so.
	released chan struct{}
	closed   bool
}

// releaseLocked records that nothing writes to or reads the set's
// streams any more.
//
// Preconditions: c.mu is locked.
func (s *spawnStdio) releaseLocked() {
	if !s.closed {
		s.closed = true
		close(s.released)
	}
}

// onStdioSetClosed handles a StdioSetClosed push.
func (c *client) onStdioSetClosed(m *pb.StdioSetClosed) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.sets[m.StdioSet]; s != nil {
		s.releaseLocked()
		c.forgetSetLocked(s)
	}
}

// forgetSetLocked drops s once its process exited and its streams are
// released (the two pushes come in either order).
//
// Preconditions: c.mu is locked.
func (c *client) forgetSetLocked(s *spawnStdio) {
	if s.done && s.closed {
		delete(c.sets, s.id)
	}
}

// Released is closed once no process of the application holds the
// spawned process's stdio any more (it and its children closed it, or
// the application is over): its streams may then be closed.
func (s *Spawned) Released() <-chan struct{} { return s.set.released }

// files returns the set's *os.File streams (for window sizes).
func (s *spawnStdio) files() []any { return []any{s.stdin.r, s.stdout, s.stderr} }

// finishLocked records the process's end.
//
// Preconditions: c.mu is locked.
func (s *spawnStdio) finishLocked(status int) {
	if s.done {
		return
	}
	s.done = true
	s.status = status
	close(s.exited)
}

// spawn serves one SpawnRequest.
func (c *client) spawn(req SpawnRequest) (*Spawned, error) {
	if len(req.Argv) == 0 {
		return nil, errors.New("spawn: empty argv")
	}
	if req.Stdin == nil || req.Stdout == nil || req.Stderr == nil {
		return nil, errors.New("spawn: stdin, stdout and stderr are required")
	}
	c.mu.Lock()
	if c.exited {
		c.mu.Unlock()
		return nil, fmt.Errorf("spawn: %w", unix.ESRCH)
	}
	c.nextSet++
	set := &spawnStdio{
		id:     c.nextSet,
		stdout: req.Stdout,
		stderr: req.Stderr,
		info:   detectStdio(req.Stdin, req.Stdout, req.Stderr),
		exited: make(chan struct{}),

		released: make(chan struct{}),
	}
	set.stdin = &stdinReader{c: c, r: req.Stdin, retain: !c.rl.Disabled(), set: set.id, tty: isTerminal(req.Stdin)}
	if c.sets == nil {
		c.sets = make(map[uint32]*spawnStdio)
	}
	c.sets[set.id] = set
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.sets, set.id)
		c.mu.Unlock()
	}
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	var groups []uint32
	var caps *pb.CapSets
	if u := req.User; u != nil {
		uid, gid, groups, caps = u.UID, u.GID, u.Groups, u.Caps
	}
	ls, err := limitsOf(req.Rlimits)
	if err != nil {
		forget()
		return nil, fmt.Errorf("spawn: %w", err)
	}
	process := &pb.Start{
		Argv:       pb.BytesList(req.Argv),
		Env:        pb.BytesList(req.Env),
		Cwd:        []byte(req.Cwd),
		Uid:        uid,
		Gid:        gid,
		Groups:     groups,
		Caps:       caps,
		Umask:      currentUmask(),
		NoNewPrivs: req.NoNewPrivileges,

		OomScoreAdj: req.OOMScoreAdj,
	}
	serverLimits(ls, process)
	reply, err := c.conn.Call(c.ctx, &pb.Call{Op: &pb.Call_Spawn{Spawn: &pb.Spawn{
		Process: process,
		Stdio:   &pb.StdioSet{Id: set.id, Stdio: set.info},
	}}})
	if err != nil {
		forget()
		return nil, fmt.Errorf("spawn: %w", err)
	}
	if reply.Errno != 0 {
		forget()
		return nil, startErrorOf(reply)
	}
	plan := reply.GetExec()
	if plan == nil {
		forget()
		return nil, fmt.Errorf("spawn: reply carries no exec plan")
	}
	c.mu.Lock()
	set.pid = plan.Tid
	c.mu.Unlock()
	t, err := c.newRootTask(plan, req.Rlimits, req.NoNewPrivileges)
	if err == nil {
		if err = t.installRootSeccomp(req.Seccomp); err != nil {
			t.pctx.Release()
		}
	}
	if err != nil {
		// The server has the process; end it there.
		c.kill(Signal{Signo: int(unix.SIGKILL), Pid: plan.Tid})
		return nil, fmt.Errorf("spawn: %w", err)
	}
	c.startTask(t)
	return &Spawned{c: c, set: set, Pid: plan.Tid}, nil
}

// onSpawnExit handles a SpawnExit push.
func (c *client) onSpawnExit(m *pb.SpawnExit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.sets {
		if s.pid == m.Pid && !s.done {
			s.finishLocked(int(m.WaitStatus))
			c.forgetSetLocked(s)
		}
	}
}

// setOf returns stdio set id (nil for 0 or an unknown set).
func (c *client) setOf(id uint32) *spawnStdio {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sets[id]
}

// restoreSets returns the stdio sets for a Restore, with their unread
// stdin; processes of sets that the log no longer has ended while the
// server was away (their SpawnExit was lost with it): they are finished
// with status lostStatus.
func (c *client) restoreSets() []*pb.StdioSet {
	c.mu.Lock()
	sets := make([]*spawnStdio, 0, len(c.sets))
	for _, s := range c.sets {
		if !s.done {
			sets = append(sets, s)
		}
	}
	c.mu.Unlock()
	var out []*pb.StdioSet
	for _, s := range sets {
		// The pid is set before the process's first call (and read
		// under c.mu, which also orders it).
		c.mu.Lock()
		pid := s.pid
		c.mu.Unlock()
		if pid != 0 && c.rl.Record(statekey.Proc(pid)) == nil {
			c.log.Warn("spawned process ended while the server was away; its status is lost", "pid", pid)
			c.mu.Lock()
			s.finishLocked(lostStatus)
			c.mu.Unlock()
			continue
		}
		out = append(out, &pb.StdioSet{Id: s.id, Stdio: s.info, StdinUnread: s.stdin.unread()})
	}
	return out
}

// lostStatus is the wait status reported for a spawned process whose
// exit the client could not learn: killed by SIGKILL.
const lostStatus = int(unix.SIGKILL)

// resizeSet sends the size of the first terminal among files to the
// server for stdio set id.
func (c *client) resizeSet(id uint32, files []any) error {
	for _, v := range files {
		f, ok := v.(*os.File)
		if !ok {
			continue
		}
		ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
		if err != nil {
			continue
		}
		reply, err := c.conn.Call(c.ctx, &pb.Call{Op: &pb.Call_TtyResize{TtyResize: &pb.TtyResize{Winsize: winsizeBytes(ws), StdioSet: id}}})
		if err != nil {
			return fmt.Errorf("resize: %w", err)
		}
		if reply.Errno != 0 {
			return fmt.Errorf("resize: %w", unix.Errno(reply.Errno))
		}
		return nil
	}
	return fmt.Errorf("resize: no terminal stdio")
}
