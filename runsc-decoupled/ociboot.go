package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/oci"
	"github.com/runsc-decoupled/runsc-decoupled/platform"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/client"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// Hidden verbs: the processes create and exec start.
const (
	// containerBootVerb is a container's process: it runs the client
	// sentry (and the embedded sentry and gofer), holds the first process
	// until start, serves the control socket, and exits with the
	// container's exit status. Its pid is the one the shim waits on.
	containerBootVerb = "container-process"
	// execBootVerb runs one exec'd process; its pid is exec's --pid-file.
	execBootVerb = "exec-process"
)

// readyPipe is fd 3 of a helper: "ok", or an error message, then closed.
type readyPipe struct {
	once sync.Once
	f    *os.File
}

// openReadyPipe takes fd 3, close-on-exec so that the daemons the helper
// starts do not hold it open (the starter reads it to EOF).
func openReadyPipe() *readyPipe {
	unix.CloseOnExec(3)
	return &readyPipe{f: os.NewFile(3, "ready")}
}

func (r *readyPipe) report(err error) {
	r.once.Do(func() {
		msg := "ok"
		if err != nil {
			msg = err.Error()
		}
		r.f.WriteString(msg)
		r.f.Close()
	})
}

// errKilledBeforeStart ends a created container that was killed before
// its start.
type errKilledBeforeStart struct{ sig syscall.Signal }

func (e errKilledBeforeStart) Error() string { return "killed before start: " + e.sig.String() }

// sandboxLogger is the client sentry's logger: warnings (debug with
// --debug) into the container's directory, never the application's stderr.
func sandboxLogger(dir string, debug bool) (hclog.Logger, func()) {
	level := hclog.Warn
	if debug {
		level = hclog.Debug
	}
	f, err := os.OpenFile(filepath.Join(dir, "sandbox.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return hclog.NewNullLogger(), func() {}
	}
	return hclog.New(&hclog.LoggerOptions{Name: "container", Level: level, Output: f}), func() { f.Close() }
}

func runContainerBoot(g ociGlobals, log *ociLog, args []string) int {
	ready := openReadyPipe()
	code, err := containerBoot(g, log, args, ready)
	if err != nil {
		ready.report(err)
		var killed errKilledBeforeStart
		if errors.As(err, &killed) {
			return 128 + int(killed.sig)
		}
		log.fatal(err)
		var se *client.StartError
		switch {
		case errors.As(err, &se) && (se.Errno == unix.ENOENT || se.Errno == unix.ENOTDIR):
			return 127
		case errors.As(err, &se) && se.Errno == unix.EACCES:
			return 126
		}
		return 125
	}
	return code
}

func containerBoot(g ociGlobals, log *ociLog, args []string, ready *readyPipe) (int, error) {
	if len(args) != 1 {
		return 0, fmt.Errorf("%s: want ID", containerBootVerb)
	}
	id := args[0]
	st, err := oci.Load(g.root, id)
	if err != nil {
		return 0, err
	}
	plan, err := oci.LoadBundle(st.Bundle)
	if err != nil {
		return 0, err
	}
	dir := oci.Dir(g.root, id)
	hlog, closeLog := sandboxLogger(dir, g.debug)
	defer closeLog()
	// gVisor's packages log into the sandbox log, not the container's
	// stderr (client.Run says so again for the platform).
	platform.SetLogger(hlog)
	if st.Cgroup, err = joinContainerCgroup(plan, log); err != nil {
		return 0, err
	}
	if st.Cgroup != nil {
		// Recorded at once, so that a failed create removes it.
		if err := st.Save(g.root); err != nil {
			return 0, err
		}
	}

	// In a pod's network namespace, the container's network is the
	// namespace's interfaces, taken from the host kernel and served by
	// the sentry's netstack.
	var sandboxNet *client.SandboxNetwork
	if plan.NetNS != "" {
		if sandboxNet, err = client.OpenSandboxNetworkIn(plan.NetNS, hlog.Named("network")); err != nil {
			return 0, err
		}
		defer func() {
			if err := sandboxNet.Close(); err != nil {
				hlog.Warn("sandbox network", "err", err)
			}
		}()
	}
	servers := plan.Servers
	if len(servers) == 0 {
		setup := &oci.RootSetup{Mounts: plan.Mounts, Readonly: plan.RootReadonly, SentryScratch: true}
		level := "warn"
		if g.debug {
			level = "debug"
		}
		common := commonFlags{debugLog: filepath.Join(dir, "sandbox.log"), logLevel: level}
		opts := embedOptions{dir: dir, rootSetup: setup}
		if sandboxNet != nil {
			opts.network = server.NetworkSandbox
		}
		emb, err := startEmbedded(plan.Root, common, hlog, opts)
		if err != nil {
			return 0, err
		}
		defer emb.kill()
		servers = []string{emb.server}
	}

	ctl, err := net.Listen("unix", oci.ControlSocket(g.root, id))
	if err != nil {
		return 0, fmt.Errorf("control socket: %w", err)
	}
	defer ctl.Close()
	spawnSock, err := net.Listen("unix", oci.SpawnSocket(g.root, id))
	if err != nil {
		return 0, fmt.Errorf("spawn socket: %w", err)
	}
	defer spawnSock.Close()
	b := &containerBooter{
		g: g, log: log, id: id, st: st,
		start:   make(chan struct{}),
		running: make(chan struct{}),
		killed:  make(chan syscall.Signal, 1),
		signals: make(chan client.Signal),
		spawns:  make(chan client.SpawnRequest),
		runDone: make(chan struct{}),
		seccomp: seccompProgram(plan.Seccomp),

		oomScoreAdj: plan.OOMScoreAdj,
	}
	go b.serve(ctl)
	go b.serveSpawns(spawnSock)

	st.Servers = servers
	st.Pid = os.Getpid()
	st.PidStart, _ = oci.ProcStart(st.Pid)
	st.Status = oci.StatusCreated
	if err := st.Save(g.root); err != nil {
		return 0, err
	}
	// Terminal signals this process gets go to the container; with a
	// console, its keys' signals go to its foreground process group.
	p := plan.Process
	send := func(sig syscall.Signal) {
		if s := terminalSignal(sig, p.Terminal); s.Foreground {
			s.AsContainer = true
			b.killForeground(s)
			return
		}
		b.kill(int(sig), false)
	}
	stopSigs := forwardTerminalSignals(send)
	defer stopSigs()
	defer forwardTerminalStop(p.Terminal, send)()

	status, err := client.Run(context.Background(), client.Config{
		WindowChanged: windowChanges(p.Terminal),
		Servers:       servers,
		// Call channels where the wire allows (a server on this
		// machine over a Unix socket), as do's default.
		Channels:          true,
		Platform:          "systrap",
		NoSyscallPatching: g.noSyscallPatching,
		Argv:              p.Args,
		Env:               p.Env,
		Cwd:               p.Cwd,
		Stdin:             os.Stdin,
		Stdout:            os.Stdout,
		Stderr:            os.Stderr,
		Hostname:          plan.Hostname,
		Sysctls:           plan.Sysctls,
		Network:           sandboxNet,
		Devices:           deviceNodes(plan.Devices),
		ClientID:          containerClientID(id),
		TLS:               transport.TLSFiles{Cert: plan.TLSCert, Key: plan.TLSKey, CA: plan.TLSCA},
		Log:               hlog.Named("client"),
		User:              &client.User{UID: p.UID, GID: p.GID, Groups: p.Groups, Caps: capSets(p.Caps)},
		Mounts:            mountSpecs(plan.Listed),
		RootPropagation:   plan.RootPropagation,
		Rlimits:           clientRlimits(p.Rlimits),
		NoNewPrivileges:   p.NoNewPrivileges,
		OOMScoreAdj:       b.oomScoreAdj,
		Seccomp:           b.seccomp,
		Signals:           b.signals,
		Spawns:            b.spawns,
		BeforeStart: func() error {
			ready.report(nil)
			select {
			case <-b.start:
				st.Status = oci.StatusRunning
				return st.Save(g.root)
			case sig := <-b.killed:
				return errKilledBeforeStart{sig}
			}
		},
		// start answers once the first process has exec'd, so that a
		// signal sent right after finds its handlers (runc's start
		// returns once the process has exec'd too).
		Started: func() { close(b.running) },
	})
	close(b.runDone)
	st.Status = oci.StatusStopped
	st.Save(g.root)
	if err != nil {
		return 0, err
	}
	return exitCode(status), nil
}

// windowChanges turns this process's SIGWINCH (its controlling terminal,
// the container's console, was resized) into client.Config.WindowChanged;
// nil without a terminal.
func windowChanges(tty bool) <-chan struct{} {
	if !tty {
		return nil
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGWINCH)
	out := make(chan struct{}, 1)
	go func() {
		for range sigs {
			select {
			case out <- struct{}{}:
			default: // one pending change reads the latest size
			}
		}
	}()
	return out
}

// containerClientID names the container to its sentry: readable, and
// random so that two containers of one id (two hosts sharing a remote
// sentry) are not taken for one client reconnecting.
func containerClientID(id string) string {
	var b [6]byte
	rand.Read(b[:])
	return fmt.Sprintf("container-%s-%x", id, b)
}

func clientRlimits(rs []oci.Rlimit) []client.Rlimit {
	out := make([]client.Rlimit, 0, len(rs))
	for _, r := range rs {
		out = append(out, client.Rlimit{Resource: r.Resource, Soft: r.Soft, Hard: r.Hard})
	}
	return out
}

// containerBooter is the control-socket side of a container's process.
type containerBooter struct {
	g   ociGlobals
	log *ociLog
	id  string
	st  *oci.State
	// start is closed by the first start request, running once the
	// state says so and the first process has exec'd (start answers
	// then, so that a state right after it reads running, and a kill
	// finds the process's handlers); killed receives a signal sent
	// before start.
	// startOnce guards start and killed.
	start     chan struct{}
	running   chan struct{}
	killed    chan syscall.Signal
	startOnce sync.Mutex
	started   bool
	// signals feeds client.Config.Signals and spawns its Spawns (exec);
	// runDone is closed once Run returned (nobody reads them any more).
	signals chan client.Signal
	spawns  chan client.SpawnRequest
	runDone chan struct{}
	// seccomp is linux.seccomp's filter, given to the first process and
	// to each exec (nil: none). Set once.
	seccomp *client.SeccompProgram
	// oomScoreAdj is process.oomScoreAdj, given to the first process
	// and to each exec as runc gives it. Set once.
	oomScoreAdj int32
}

// seccompProgram is the client's form of linux.seccomp's filter.
func seccompProgram(f *oci.SeccompFilter) *client.SeccompProgram {
	if f == nil {
		return nil
	}
	return &client.SeccompProgram{Insns: f.Insns, Log: f.Log}
}

func (b *containerBooter) serve(l net.Listener) {
	serveControl(l, func(req oci.Request) error {
		switch req.Op {
		case "start":
			return b.doStart()
		case "kill":
			return b.kill(req.Signal, req.All)
		}
		return fmt.Errorf("unknown request %q", req.Op)
	})
}

// serveControl answers the requests on a control socket (a container's
// or an exec process's) with handle, until l is closed.
func serveControl(l net.Listener, handle func(oci.Request) error) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go answerControl(c, handle)
	}
}

func answerControl(c net.Conn, handle func(oci.Request) error) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	var req oci.Request
	if err := json.NewDecoder(c).Decode(&req); err != nil {
		return
	}
	var resp oci.Response
	err := handle(req)
	if err != nil {
		resp.Error = err.Error()
		var errno unix.Errno
		if errors.As(err, &errno) {
			resp.Errno = int(errno)
		}
	}
	json.NewEncoder(c).Encode(resp)
}

func (b *containerBooter) doStart() error {
	b.startOnce.Lock()
	defer b.startOnce.Unlock()
	if b.started {
		return fmt.Errorf("container already started")
	}
	b.started = true
	close(b.start)
	select {
	case <-b.running:
	case <-b.runDone:
	}
	return nil
}

// kill signals the container: before start, a signal other than 0 ends it
// (its first process never ran); after, the sentry delivers it as Linux
// delivers a signal from outside a PID namespace.
func (b *containerBooter) kill(sig int, all bool) error {
	if sig < 0 || sig > 64 {
		return unix.EINVAL
	}
	b.startOnce.Lock()
	if !b.started {
		if sig != 0 {
			b.started = true
			b.killed <- syscall.Signal(sig)
		}
		b.startOnce.Unlock()
		return nil
	}
	b.startOnce.Unlock()
	// With all, the exec'd processes get it too: they are processes of
	// the container's sandbox (serveSpawns).
	return sendSignal(b.signals, b.runDone, client.Signal{Signo: sig, All: all, AsContainer: true})
}

// sendSignal hands sig to a running client.Run (its Config.Signals) and
// returns the sentry's answer; runDone is closed once Run returned.
func sendSignal(signals chan<- client.Signal, runDone <-chan struct{}, sig client.Signal) error {
	res := make(chan error, 1)
	sig.Result = res
	select {
	case signals <- sig:
	case <-runDone:
		return fmt.Errorf("container not running: %w", unix.ESRCH)
	}
	select {
	case err := <-res:
		return err
	case <-runDone:
		return nil
	}
}

func ociExec(g ociGlobals, log *ociLog, args []string) int {
	fs := ociFlags("exec")
	processFile := fs.String("process", "", "the process to run, a runtime-spec process JSON `FILE`")
	fs.StringVar(processFile, "p", "", "short for --process")
	detach := fs.Bool("detach", false, "return once the process runs")
	fs.BoolVar(detach, "d", false, "short for --detach")
	pidFile := fs.String("pid-file", "", "write the exec'd process's pid to `FILE`")
	consoleSocket := fs.String("console-socket", "", "send the pty master to the Unix socket `PATH`")
	tty := fs.Bool("tty", false, "give the process a terminal")
	fs.BoolVar(tty, "t", false, "short for --tty")
	cwd := fs.String("cwd", "", "working directory")
	user := fs.String("user", "", "`UID[:GID]`")
	fs.StringVar(user, "u", "", "short for --user")
	noNewPrivs := fs.Bool("no-new-privs", false, "set no_new_privs")
	var envs multiFlag
	fs.Var(&envs, "env", "`VAR=VALUE` to set (repeatable)")
	fs.Var(&envs, "e", "short for --env")
	fs.Int("preserve-fds", 0, "refused when not 0")
	processLabel := fs.String("process-label", "", "the process's SELinux label, as process.selinuxLabel")
	apparmor := fs.String("apparmor", "", "the process's AppArmor profile, as process.apparmorProfile")
	fs.Bool("ignore-paused", false, "accepted")
	var caps multiFlag
	fs.Var(&caps, "cap", "refused (capabilities are not applied)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := checkPreserveFDs(fs); err != nil {
		return log.fatal(err)
	}
	if fs.NArg() < 1 {
		return log.fatal(fmt.Errorf("exec: want ID"))
	}
	if len(caps) > 0 {
		return log.fatal(fmt.Errorf("exec --cap: capabilities are not applied by the sandbox"))
	}
	id := fs.Arg(0)
	st, err := oci.Load(g.root, id)
	if err != nil {
		return log.fatal(err)
	}
	if st.Status != oci.StatusRunning {
		return log.fatal(fmt.Errorf("cannot exec in a container that is %s", st.Status))
	}
	var sp specs.Process
	if *processFile != "" {
		b, err := os.ReadFile(*processFile)
		if err != nil {
			return log.fatal(fmt.Errorf("--process: %w", err))
		}
		if err := json.Unmarshal(b, &sp); err != nil {
			return log.fatal(fmt.Errorf("--process %q: %w", *processFile, err))
		}
	} else {
		if fs.NArg() < 2 {
			return log.fatal(fmt.Errorf("exec: want --process FILE or a command after the ID"))
		}
		// The container's own process, as create read it, is the base,
		// as runc does.
		if st.Process != nil {
			sp = *st.Process
		}
		sp.Args = fs.Args()[1:]
		sp.Terminal = *tty
		sp.ConsoleSize = nil
		if *cwd != "" {
			sp.Cwd = *cwd
		}
		if sp.Cwd == "" {
			sp.Cwd = "/"
		}
		sp.Env = append(sp.Env, envs...)
		if *user != "" {
			u, g, hasG := strings.Cut(*user, ":")
			uid, err := strconv.ParseUint(u, 10, 32)
			if err != nil {
				return log.fatal(fmt.Errorf("--user %q: want UID[:GID]", *user))
			}
			sp.User = specs.User{UID: uint32(uid)}
			if hasG {
				gid, err := strconv.ParseUint(g, 10, 32)
				if err != nil {
					return log.fatal(fmt.Errorf("--user %q: want UID[:GID]", *user))
				}
				sp.User.GID = uint32(gid)
			}
		}
		if *noNewPrivs {
			sp.NoNewPrivileges = true
		}
	}
	if *apparmor != "" {
		sp.ApparmorProfile = *apparmor
	}
	if *processLabel != "" {
		sp.SelinuxLabel = *processLabel
	}
	proc, notes, err := oci.ProcessFrom(&sp, "process")
	if err != nil {
		return log.fatal(err)
	}
	if sp.OOMScoreAdj != nil {
		// runc's exec ignores it too: the container's applies.
		notes = append(notes, "process.oomScoreAdj: not applied; an exec'd process gets the container's, as runc's")
	}
	for _, n := range notes {
		log.warnf("%s", n)
	}
	if proc.Terminal && *consoleSocket == "" && *detach {
		return log.fatal(fmt.Errorf("process.terminal: a detached terminal process needs --console-socket"))
	}
	if !proc.Terminal && *consoleSocket != "" {
		return log.fatal(fmt.Errorf("--console-socket given but the process has no terminal"))
	}
	pf, err := os.CreateTemp(oci.Dir(g.root, id), "exec-*.json")
	if err != nil {
		return log.fatal(err)
	}
	json.NewEncoder(pf).Encode(proc)
	pf.Close()
	defer os.Remove(pf.Name())
	stdio := [3]*os.File{os.Stdin, os.Stdout, os.Stderr}
	if proc.Terminal && *consoleSocket != "" {
		pty, err := newConsole(*consoleSocket, proc.ConsoleWidth, proc.ConsoleHeight)
		if err != nil {
			return log.fatal(err)
		}
		defer pty.Close()
		stdio = [3]*os.File{pty, pty, pty}
	}
	p, err := startHelper(g, execBootVerb, []string{id, pf.Name()}, stdio, proc.Terminal && *consoleSocket != "")
	if err != nil {
		return log.fatal(err)
	}
	if *pidFile != "" {
		if err := writePidFile(*pidFile, p.Pid); err != nil {
			p.Kill()
			return log.fatal(err)
		}
	}
	if *detach {
		p.Release()
		return 0
	}
	stop := forwardTerminalSignals(func(sig syscall.Signal) { p.Signal(sig) })
	defer stop()
	ps, err := p.Wait()
	if err != nil {
		return log.fatal(err)
	}
	return hostExitCode(ps)
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// runExecBoot is an exec'd process as the host sees it (exec's
// --pid-file, the process the shim waits for): it asks the container's
// process to spawn the process in the container's sandbox (its PID
// namespace, mounts, files) with this process's stdio, forwards the
// signals it gets and its terminal's resizes to it, and exits with its
// status. If this process dies, the container's process kills the
// spawned one; if the container dies, this process exits 137.
func runExecBoot(g ociGlobals, log *ociLog, args []string) int {
	ready := openReadyPipe()
	if len(args) != 2 {
		ready.report(fmt.Errorf("%s: want ID FILE", execBootVerb))
		return 125
	}
	id, file := args[0], args[1]
	b, err := os.ReadFile(file)
	var proc oci.Process
	if err == nil {
		err = json.Unmarshal(b, &proc)
	}
	if err != nil {
		ready.report(fmt.Errorf("exec process file: %w", err))
		return 125
	}
	st, err := oci.Load(g.root, id)
	if err != nil {
		ready.report(err)
		return 125
	}
	// The exec process is in its container's cgroup, as runc puts it.
	if cg, err := containerCgroup(st); err != nil {
		ready.report(err)
		return 125
	} else if cg != nil {
		if _, err := cg.Join(); err != nil {
			ready.report(fmt.Errorf("join the container's cgroup: %w", err))
			return 125
		}
	}
	// Registered before it runs, so that ps right after exec lists it.
	unregister, err := oci.RegisterExec(g.root, id)
	if err != nil {
		ready.report(err)
		return 125
	}
	defer unregister()
	// Signals this process gets (the shim's kill of the exec, a Ctrl-C
	// of exec's caller) go to the spawned process, and a resize of the
	// terminal, its controlling terminal, too. Caught from now on: one
	// that comes before the process runs waits for it.
	hostSigs := make(chan os.Signal, 8)
	signal.Notify(hostSigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH)
	defer signal.Stop(hostSigs)
	c, err := net.DialTimeout("unix", oci.SpawnSocket(g.root, id), 10*time.Second)
	if err != nil {
		ready.report(fmt.Errorf("container %q: reach its process: %w", id, err))
		return 125
	}
	conn := c.(*net.UnixConn)
	defer conn.Close()
	if err := oci.SendSpawnRequest(conn, oci.SpawnRequest{Process: &proc}, [3]*os.File{os.Stdin, os.Stdout, os.Stderr}); err != nil {
		ready.report(err)
		return 125
	}
	dec := json.NewDecoder(conn)
	var ev oci.SpawnEvent
	if err := dec.Decode(&ev); err != nil {
		ready.report(fmt.Errorf("container %q: exec: no answer: %w", id, err))
		return 125
	}
	if ev.Error != "" {
		err := errors.New(ev.Error)
		ready.report(err)
		log.fatal(err)
		switch unix.Errno(ev.Errno) {
		case unix.ENOENT, unix.ENOTDIR:
			return 127
		case unix.EACCES:
			return 126
		}
		return 125
	}
	ready.report(nil)
	log.debugf("exec: pid %d in container %s", ev.Pid, id)
	var sendMu sync.Mutex
	enc := json.NewEncoder(conn)
	go func() {
		for s := range hostSigs {
			ctl := oci.SpawnControl{Signal: int(s.(syscall.Signal))}
			if s == syscall.SIGWINCH {
				if !proc.Terminal {
					continue
				}
				ctl = oci.SpawnControl{Resize: true}
			}
			sendMu.Lock()
			err := enc.Encode(ctl)
			sendMu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	for {
		if err := dec.Decode(&ev); err != nil {
			// The container's process is gone, and the sandbox with it.
			log.warnf("exec in container %s: its process is gone: %v", id, err)
			return 128 + int(syscall.SIGKILL)
		}
		if ev.Exited {
			return exitCode(ev.Status)
		}
	}
}

// serveSpawns serves the spawn socket (oci.SpawnSocket): each connection
// is one exec, run by spawnFor.
func (b *containerBooter) serveSpawns(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go b.spawnFor(c.(*net.UnixConn))
	}
}

// spawnFor runs the process an exec process asked for on c as a process
// of the container's sandbox (client.Config.Spawns), and reports its pid
// and exit status. The exec process's end (c's) kills the process: the
// exec process stands for it on the host.
func (b *containerBooter) spawnFor(c *net.UnixConn) {
	defer c.Close()
	enc := json.NewEncoder(c)
	fail := func(err error) {
		ev := oci.SpawnEvent{Error: err.Error()}
		var se *client.StartError
		var errno unix.Errno
		switch {
		case errors.As(err, &se):
			ev.Errno = int(se.Errno)
		case errors.As(err, &errno):
			ev.Errno = int(errno)
		}
		enc.Encode(ev)
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	req, stdio, err := oci.ReadSpawnRequest(c)
	if err != nil {
		fail(err)
		return
	}
	c.SetReadDeadline(time.Time{})
	defer func() {
		for _, f := range stdio {
			f.Close()
		}
	}()
	select {
	case <-b.running:
	case <-b.runDone:
		fail(fmt.Errorf("container not running: %w", unix.ESRCH))
		return
	}
	p := req.Process
	res := make(chan client.SpawnResult, 1)
	sreq := client.SpawnRequest{
		Argv:            p.Args,
		Env:             p.Env,
		Cwd:             p.Cwd,
		User:            &client.User{UID: p.UID, GID: p.GID, Groups: p.Groups, Caps: capSets(p.Caps)},
		Rlimits:         clientRlimits(p.Rlimits),
		NoNewPrivileges: p.NoNewPrivileges,
		OOMScoreAdj:     b.oomScoreAdj,
		Seccomp:         b.seccomp,
		Stdin:           stdio[0],
		Stdout:          stdio[1],
		Stderr:          stdio[2],
		Result:          res,
	}
	select {
	case b.spawns <- sreq:
	case <-b.runDone:
		fail(fmt.Errorf("container not running: %w", unix.ESRCH))
		return
	}
	var r client.SpawnResult
	select {
	case r = <-res:
	case <-b.runDone:
		fail(fmt.Errorf("container not running: %w", unix.ESRCH))
		return
	}
	if r.Err != nil {
		var se *client.StartError
		if errors.As(r.Err, &se) {
			// As runc words it: the command (or the directory), then why.
			if se.Cwd {
				r.Err = fmt.Errorf("chdir to cwd (%q) failed: %w", se.Path, se.Errno)
			} else {
				r.Err = fmt.Errorf("exec %q: %w", p.Args[0], se.Errno)
			}
		}
		fail(r.Err)
		return
	}
	sp := r.Spawned
	var sendMu sync.Mutex
	send := func(ev oci.SpawnEvent) {
		sendMu.Lock()
		defer sendMu.Unlock()
		enc.Encode(ev)
	}
	send(oci.SpawnEvent{Pid: sp.Pid})
	go func() {
		dec := json.NewDecoder(c)
		for {
			var ctl oci.SpawnControl
			if err := dec.Decode(&ctl); err != nil {
				// The exec process is gone: so is its process.
				select {
				case <-sp.Done():
				default:
					sp.Signal(int(unix.SIGKILL))
				}
				return
			}
			if ctl.Signal > 0 && ctl.Signal <= 64 {
				if err := sp.Signal(ctl.Signal); err != nil {
					b.log.debugf("exec pid %d: signal %d: %v", sp.Pid, ctl.Signal, err)
				}
			}
			if ctl.Resize {
				if err := sp.Resize(); err != nil {
					b.log.debugf("exec pid %d: resize: %v", sp.Pid, err)
				}
			}
		}
	}()
	<-sp.Done()
	send(oci.SpawnEvent{Exited: true, Status: sp.Status()})
	// The exec's stdio stays open (the deferred closes) while children
	// of the process still hold it, as the shim's pipes stay open for a
	// runc exec's children.
	select {
	case <-sp.Released():
	case <-b.runDone:
	}
}

// newConsole makes a pty, sends its master to the console socket as runc
// does (SCM_RIGHTS, the name as data), and returns the slave.
func newConsole(socket string, width, height uint) (*os.File, error) {
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	defer master.Close()
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		return nil, fmt.Errorf("console: unlock pty: %w", err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		return nil, fmt.Errorf("console: pty number: %w", err)
	}
	slave, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if width > 0 && height > 0 {
		unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: uint16(width), Row: uint16(height)})
	}
	c, err := net.Dial("unix", socket)
	if err != nil {
		slave.Close()
		return nil, fmt.Errorf("--console-socket: %w", err)
	}
	defer c.Close()
	rights := unix.UnixRights(int(master.Fd()))
	if _, _, err := c.(*net.UnixConn).WriteMsgUnix([]byte(master.Name()), rights, nil); err != nil {
		slave.Close()
		return nil, fmt.Errorf("--console-socket: send pty master: %w", err)
	}
	return slave, nil
}

// deviceNodes converts linux.devices for the Hello message.
func deviceNodes(ds []oci.Device) []*sentrypb.DeviceNode {
	var out []*sentrypb.DeviceNode
	for _, d := range ds {
		out = append(out, &sentrypb.DeviceNode{Name: d.Name, Mode: d.Mode, Major: d.Major, Minor: d.Minor, Uid: d.UID, Gid: d.GID})
	}
	return out
}

// capSets converts a process's OCI capabilities for the Start message.
// mountSpecs are the mounts the sentry's mount table is to list.
func mountSpecs(ms []oci.Mount) []*sentrypb.MountSpec {
	var out []*sentrypb.MountSpec
	for _, m := range ms {
		out = append(out, &sentrypb.MountSpec{Fstype: m.Type, Source: m.Source, Target: m.Destination, Flags: uint64(m.Flags), Data: m.Data})
	}
	return out
}

func capSets(c *oci.Caps) *sentrypb.CapSets {
	if c == nil {
		return nil
	}
	return &sentrypb.CapSets{Effective: c.Effective, Permitted: c.Permitted, Inheritable: c.Inheritable,
		Bounding: c.Bounding, Ambient: c.Ambient}
}
