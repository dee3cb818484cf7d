package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/oci"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// version is what --version prints.
const version = "0.1.0"

// ociVerb is one verb of runc's command line.
type ociVerb struct {
	synopsis string
	run      func(g ociGlobals, log *ociLog, args []string) int
}

var ociVerbs map[string]ociVerb

func init() {
	ociVerbs = map[string]ociVerb{
		"create":          {"create --bundle DIR [--pid-file FILE] [--console-socket SOCK] ID", ociCreate},
		"run":             {"run --bundle DIR [--pid-file FILE] [--console-socket SOCK] [--detach] ID", ociRun},
		"start":           {"start ID", ociStart},
		"state":           {"state ID", ociState},
		"kill":            {"kill [--all] ID [SIGNAL]", ociKill},
		"delete":          {"delete [--force] ID", ociDelete},
		"exec":            {"exec [--process FILE | flags] [--detach] [--pid-file FILE] ID [COMMAND ARG...]", ociExec},
		"ps":              {"ps [--format table|json] ID", ociPs},
		"list":            {"list [--format table|json] [--quiet]", ociList},
		"spec":            {"spec [--bundle DIR]", ociSpec},
		"features":        {"features", ociFeatures},
		"events":          {"events [--stats] [--interval DURATION] ID", ociEvents},
		"pause":           {"pause ID", ociPause},
		"resume":          {"resume ID", ociResume},
		"update":          {"update [--resources FILE|-] [--memory N] [--pids-limit N] [--cpu-quota N] ... ID", ociUpdate},
		"checkpoint":      {"checkpoint ID", ociUnsupported("checkpoint", "the remote sentry's replay log is the recovery mechanism; there is no checkpoint image")},
		"restore":         {"restore ID", ociUnsupported("restore", "there is no checkpoint image")},
		containerBootVerb: {"", runContainerBoot},
		execBootVerb:      {"", runExecBoot},
	}
}

// runOCI runs runc's command line: global flags, then a verb.
func runOCI(args []string) int {
	g, rest, err := parseOCIGlobals(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "runsc-decoupled: %v\n", err)
		return 2
	}
	if len(rest) == 0 {
		usage(os.Stderr)
		return 2
	}
	switch rest[0] {
	case "--version", "version":
		fmt.Printf("runsc-decoupled version %s\nspec: %s\n", version, specs.Version)
		return 0
	case "help":
		return runHelp(rest[1:])
	}
	v, ok := ociVerbs[rest[0]]
	if !ok {
		if sc, ok := subcommands[rest[0]]; ok {
			return sc.run(rest[1:])
		}
		fmt.Fprintf(os.Stderr, "runsc-decoupled: unknown command %q\n", rest[0])
		return 2
	}
	log := g.openLog()
	defer log.close()
	log.debugf("%s", strings.Join(append([]string{"runsc-decoupled"}, args...), " "))
	return v.run(g, log, rest[1:])
}

func ociUnsupported(verb, why string) func(ociGlobals, *ociLog, []string) int {
	return func(_ ociGlobals, log *ociLog, args []string) int {
		if slices.Contains(args, "--help") || slices.Contains(args, "-h") {
			fmt.Printf("usage: runsc-decoupled %s\n\nnot supported: %s\n", ociVerbs[verb].synopsis, why)
			return 0
		}
		return log.fatal(fmt.Errorf("%s: not supported by runsc-decoupled: %s", verb, why))
	}
}

// ociFlags is a flag set for an OCI verb; errors are usage errors.
func ociFlags(verb string) *flag.FlagSet {
	fs := flag.NewFlagSet(verb, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: runsc-decoupled %s\n\nflags:\n", ociVerbs[verb].synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseOCIFlags parses a verb's flags; ok is false when the verb should
// exit with code: 0 after --help (as runc), 2 after a usage error.
func parseOCIFlags(fs *flag.FlagSet, args []string) (ok bool, code int) {
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return false, 0
		}
		return false, 2
	}
	return true, 0
}

// oneID returns the single ID argument of a verb.
// loadOne parses a one-container command's flags from args (fs has the
// command's own) and loads the state of the container they name; ok is
// false, with the command's exit code, when it cannot (the error logged).
func loadOne(g ociGlobals, log *ociLog, fs *flag.FlagSet, args []string) (id string, st *oci.State, code int, ok bool) {
	if ok, code := parseOCIFlags(fs, args); !ok {
		return "", nil, code, false
	}
	id, err := oneID(fs)
	if err != nil {
		return "", nil, log.fatal(err), false
	}
	if st, err = oci.Load(g.root, id); err != nil {
		return "", nil, log.fatal(err), false
	}
	return id, st, 0, true
}

func oneID(fs *flag.FlagSet) (string, error) {
	if fs.NArg() != 1 {
		return "", fmt.Errorf("%s: want exactly one container ID, got %d arguments", fs.Name(), fs.NArg())
	}
	id := fs.Arg(0)
	return id, oci.CheckID(id)
}

// createOptions are create's and run's flags.
type createOptions struct {
	bundle, pidFile, consoleSocket string
	detach                         bool
}

func (o *createOptions) register(fs *flag.FlagSet, withDetach bool) {
	fs.StringVar(&o.bundle, "bundle", ".", "the bundle `DIR` (holding config.json)")
	fs.StringVar(&o.bundle, "b", ".", "short for --bundle")
	fs.StringVar(&o.pidFile, "pid-file", "", "write the container process's pid to `FILE`")
	fs.StringVar(&o.consoleSocket, "console-socket", "", "send the pty master of a terminal container to the Unix socket `PATH`")
	fs.Bool("no-pivot", false, "accepted (the gofer confines the root without pivot_root)")
	fs.Bool("no-new-keyring", false, "accepted (keyrings are not supported in the sandbox)")
	fs.Int("preserve-fds", 0, "refused when not 0")
	if withDetach {
		fs.BoolVar(&o.detach, "detach", false, "return once started")
		fs.BoolVar(&o.detach, "d", false, "short for --detach")
	}
}

// parseCreate parses the command line of create (or, withDetach, of run):
// the options and the container id, or (ok false) the exit code to
// return.
func parseCreate(log *ociLog, name string, args []string, withDetach bool) (o createOptions, id string, ok bool, code int) {
	fs := ociFlags(name)
	o.register(fs, withDetach)
	if ok, code := parseOCIFlags(fs, args); !ok {
		return o, "", false, code
	}
	if err := checkPreserveFDs(fs); err != nil {
		return o, "", false, log.fatal(err)
	}
	id, err := oneID(fs)
	if err != nil {
		return o, "", false, log.fatal(err)
	}
	return o, id, true, 0
}

func ociCreate(g ociGlobals, log *ociLog, args []string) int {
	o, id, ok, code := parseCreate(log, "create", args, false)
	if !ok {
		return code
	}
	if _, err := create(g, log, id, o, false); err != nil {
		return log.fatal(err)
	}
	return 0
}

func checkPreserveFDs(fs *flag.FlagSet) error {
	if f := fs.Lookup("preserve-fds"); f != nil && f.Value.String() != "0" {
		return fmt.Errorf("--preserve-fds: passing extra fds into the sandbox is not supported")
	}
	return nil
}

// create makes container id from o.bundle: its state directory, and its
// process (the client sentry with its embedded daemons, holding the
// container's first process until start). It returns that process, which
// exits with the container's exit status. With ownTTY (run without a
// console socket) a terminal container uses this process's stdio.
func create(g ociGlobals, log *ociLog, id string, o createOptions, ownTTY bool) (*os.Process, error) {
	plan, err := oci.LoadBundle(o.bundle)
	if err != nil {
		return nil, err
	}
	for _, n := range plan.Notes {
		log.warnf("%s", n)
	}
	if err := checkRemoteSentries(plan); err != nil {
		return nil, err
	}
	if plan.Process.Terminal && o.consoleSocket == "" && !ownTTY {
		return nil, fmt.Errorf("config.json process.terminal: a terminal container needs --console-socket")
	}
	if !plan.Process.Terminal && o.consoleSocket != "" {
		return nil, fmt.Errorf("--console-socket given but config.json process.terminal is false")
	}
	if err := os.MkdirAll(g.root, 0o711); err != nil {
		return nil, fmt.Errorf("--root %q: %w", g.root, err)
	}
	dir := oci.Dir(g.root, id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("container with id %q already exists", id)
		}
		return nil, fmt.Errorf("container %q: %w", id, err)
	}
	ok := false
	defer func() {
		if !ok {
			removeContainer(g, id)
		}
	}()
	st := &oci.State{
		ID:          id,
		Bundle:      plan.Bundle,
		Rootfs:      plan.Root,
		Status:      oci.StatusCreating,
		Created:     time.Now().UTC(),
		Owner:       "",
		Annotations: plan.Annotations,
		Hostname:    plan.Hostname,
		Process:     bundleProcess(plan.Bundle),
		Hooks:       plan.Hooks,
	}
	if err := st.Save(g.root); err != nil {
		return nil, err
	}
	stdio := [3]*os.File{os.Stdin, os.Stdout, os.Stderr}
	if plan.Process.Terminal && o.consoleSocket != "" {
		pty, err := newConsole(o.consoleSocket, plan.Process.ConsoleWidth, plan.Process.ConsoleHeight)
		if err != nil {
			return nil, err
		}
		defer pty.Close()
		stdio = [3]*os.File{pty, pty, pty}
	}
	// Only a pty of our own can become its controlling terminal (run's
	// own terminal, if any, is its caller's).
	proc, err := startHelper(g, containerBootVerb, []string{id}, stdio, plan.Process.Terminal && o.consoleSocket != "")
	if err != nil {
		return nil, fmt.Errorf("container %q: %w", id, err)
	}
	if o.pidFile != "" {
		if err := writePidFile(o.pidFile, proc.Pid); err != nil {
			proc.Kill()
			return nil, err
		}
	}
	// The environment exists and the first process waits for start: the
	// prestart and createRuntime hooks run now; one failing fails create.
	for i, h := range oci.CreateHooks(plan.Hooks) {
		hst := *st
		hst.Pid, hst.Status = proc.Pid, oci.StatusCreating
		if err := oci.RunHook(h, hst.Spec()); err != nil {
			proc.Kill()
			proc.Wait()
			return nil, fmt.Errorf("config.json hooks (prestart, then createRuntime)[%d]: %w", i, err)
		}
	}
	ok = true
	return proc, nil
}

// runPoststartHooks runs the poststart hooks once the container runs; a
// failure is a warning (runtime spec), and start still succeeds.
func runPoststartHooks(g ociGlobals, log *ociLog, id string) {
	st, err := oci.Load(g.root, id)
	if err != nil || st.Hooks == nil {
		return
	}
	for i, h := range st.Hooks.Poststart {
		if err := oci.RunHook(h, st.Spec()); err != nil {
			log.warnf("config.json hooks.poststart[%d]: %v", i, err)
		}
	}
}

// runPoststopHooks runs the poststop hooks of a container delete removed
// (st is its state before); a failure is a warning.
func runPoststopHooks(log *ociLog, st *oci.State) {
	if st == nil || st.Hooks == nil {
		return
	}
	s := *st
	s.Status = oci.StatusStopped
	for i, h := range st.Hooks.Poststop {
		if err := oci.RunHook(h, s.Spec()); err != nil {
			log.warnf("config.json hooks.poststop[%d]: %v", i, err)
		}
	}
}

// bundleProcess returns config.json's process (LoadBundle checked it
// already), or nil.
func bundleProcess(bundle string) *specs.Process {
	var spec specs.Spec
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil || json.Unmarshal(b, &spec) != nil {
		return nil
	}
	return spec.Process
}

// checkRemoteSentries checks the targets and TLS files of the remote
// sentries a plan names, as do checks --server: plaintext TCP off the
// machine is refused.
func checkRemoteSentries(plan *oci.Plan) error {
	files := transport.TLSFiles{Cert: plan.TLSCert, Key: plan.TLSKey, CA: plan.TLSCA}
	for _, s := range plan.Servers {
		t, err := transport.ParseTarget(s)
		if err != nil {
			return fmt.Errorf("annotation %s: %w", oci.ServerAnnotation, err)
		}
		if err := transport.CheckPlaintext(t, files, false); err != nil {
			return fmt.Errorf("annotation %s: %w", oci.ServerAnnotation, err)
		}
		if files.UsesTLS(t) {
			if _, err := files.ServerConfig(); err != nil {
				return fmt.Errorf("annotations %s/%s/%s: %w", oci.TLSCertAnnotation, oci.TLSKeyAnnotation, oci.TLSCAAnnotation, err)
			}
		}
	}
	return nil
}

// args is g as global flags: what a helper process started by a verb
// parses back (parseOCIGlobals) to act as the verb was told.
func (g ociGlobals) args() []string {
	a := []string{"--root", g.root, "--log-format", g.logFormat}
	if g.logPath != "" {
		a = append(a, "--log", g.logPath)
	}
	if g.debug {
		a = append(a, "--debug")
	}
	if g.noSyscallPatching {
		a = append(a, "--systrap-disable-syscall-patching")
	}
	return a
}

// startHelper starts this binary's hidden verb (the container's process,
// or an exec'd process) in a session of its own with the given stdio and
// waits until it reports ready on fd 3 ("ok"), or its error. With tty,
// stdin is a terminal that becomes the helper's controlling terminal, so
// that a resize of it sends the helper SIGWINCH.
func startHelper(g ociGlobals, verb string, args []string, stdio [3]*os.File, tty bool) (*os.Process, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	cmd := exec.Command(self, append(append(g.args(), verb), args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio[0], stdio[1], stdio[2]
	cmd.ExtraFiles = []*os.File{w}
	// Its own session: the shim's (or the caller's) terminal signals do
	// not reach it; the shim signals the container through kill.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: tty, Ctty: 0}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("start %s: %w", verb, err)
	}
	w.Close()
	msg, _ := io.ReadAll(io.LimitReader(r, 64<<10))
	if string(msg) == "ok" {
		return cmd.Process, nil
	}
	// It failed: reap it (it exits by itself after reporting).
	cmd.Process.Kill()
	cmd.Wait()
	if len(msg) == 0 {
		return nil, fmt.Errorf("%s exited before it was ready", verb)
	}
	return nil, errors.New(string(msg))
}

// writePidFile writes pid atomically, as runc does (the shim reads it as
// soon as create returns).
func writePidFile(path string, pid int) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path))
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return fmt.Errorf("--pid-file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("--pid-file: %w", err)
	}
	return nil
}

func ociRun(g ociGlobals, log *ociLog, args []string) int {
	o, id, ok, code := parseCreate(log, "run", args, true)
	if !ok {
		return code
	}
	proc, err := create(g, log, id, o, !o.detach)
	if err != nil {
		return log.fatal(err)
	}
	if err := oci.Send(g.root, id, oci.Request{Op: "start"}, 30*time.Second); err != nil {
		proc.Kill()
		proc.Wait()
		removeContainer(g, id)
		return log.fatal(err)
	}
	runPoststartHooks(g, log, id)
	if o.detach {
		return 0
	}
	// Signals to run go to the container, as runc forwards them.
	sigs := forwardTerminalSignals(func(sig syscall.Signal) {
		oci.Send(g.root, id, oci.Request{Op: "kill", Signal: int(sig)}, 5*time.Second)
	})
	defer sigs()
	ps, err := proc.Wait()
	st, _ := oci.Load(g.root, id)
	removeContainer(g, id)
	runPoststopHooks(log, st)
	if err != nil {
		return log.fatal(err)
	}
	return hostExitCode(ps)
}

// hostExitCode is the shell's exit code for a finished host process.
func hostExitCode(ps *os.ProcessState) int {
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

func ociStart(g ociGlobals, log *ociLog, args []string) int {
	fs := ociFlags("start")
	id, st, code, ok := loadOne(g, log, fs, args)
	if !ok {
		return code
	}
	switch st.Status {
	case oci.StatusCreated:
	case oci.StatusStopped:
		return log.fatal(fmt.Errorf("cannot start a container that has stopped"))
	case oci.StatusRunning:
		return log.fatal(fmt.Errorf("cannot start an already running container"))
	default:
		return log.fatal(fmt.Errorf("cannot start a container in the %s state", st.Status))
	}
	if err := oci.Send(g.root, id, oci.Request{Op: "start"}, 30*time.Second); err != nil {
		return log.fatal(err)
	}
	runPoststartHooks(g, log, id)
	return 0
}

func ociState(g ociGlobals, log *ociLog, args []string) int {
	fs := ociFlags("state")
	_, st, code, ok := loadOne(g, log, fs, args)
	if !ok {
		return code
	}
	b, err := json.MarshalIndent(st.Spec(), "", "  ")
	if err != nil {
		return log.fatal(err)
	}
	os.Stdout.Write(append(b, '\n'))
	return 0
}

// parseSignal accepts 15, TERM and SIGTERM, as runc does.
func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal %q", s)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig := unix.SignalNum(name)
	if sig == 0 {
		return 0, fmt.Errorf("invalid signal %q", s)
	}
	return sig, nil
}

func ociKill(g ociGlobals, log *ociLog, args []string) int {
	fs := ociFlags("kill")
	all := fs.Bool("all", false, "signal every process of the container")
	fs.BoolVar(all, "a", false, "short for --all")
	if ok, code := parseOCIFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		return log.fatal(fmt.Errorf("kill: want ID [SIGNAL]"))
	}
	id := fs.Arg(0)
	sig := syscall.SIGTERM
	if fs.NArg() == 2 {
		var err error
		if sig, err = parseSignal(fs.Arg(1)); err != nil {
			return log.fatal(err)
		}
	}
	st, err := oci.Load(g.root, id)
	if err != nil {
		return log.fatal(err)
	}
	if st.Status == oci.StatusStopped {
		return log.fatal(fmt.Errorf("container not running"))
	}
	if st.Status == oci.StatusPaused {
		// Its processes, the sentry's included, are frozen: only SIGKILL
		// can be served, by the host (runc thaws after a SIGKILL too).
		if sig != syscall.SIGKILL {
			return log.fatal(fmt.Errorf("container %q is paused: only SIGKILL reaches it before resume", id))
		}
		killPausedContainer(st)
		return 0
	}
	if err := oci.Send(g.root, id, oci.Request{Op: "kill", Signal: int(sig), All: *all}, 10*time.Second); err != nil {
		if errors.Is(err, unix.ESRCH) {
			return log.fatal(fmt.Errorf("container not running"))
		}
		return log.fatal(err)
	}
	return 0
}

func ociDelete(g ociGlobals, log *ociLog, args []string) int {
	fs := ociFlags("delete")
	force := fs.Bool("force", false, "kill a running container first")
	fs.BoolVar(force, "f", false, "short for --force")
	if ok, code := parseOCIFlags(fs, args); !ok {
		return code
	}
	id, err := oneID(fs)
	if err != nil {
		return log.fatal(err)
	}
	st, err := oci.Load(g.root, id)
	if err != nil {
		if *force && errors.Is(err, oci.ErrNotExist) {
			return 0
		}
		return log.fatal(err)
	}
	switch st.Status {
	case oci.StatusStopped:
	case oci.StatusCreated, oci.StatusCreating:
		// runc deletes a created container without --force.
		killContainerProcess(st)
	default:
		if !*force {
			return log.fatal(fmt.Errorf("cannot delete container %s that is not stopped: %s", id, st.Status))
		}
		if st.Status == oci.StatusPaused {
			killPausedContainer(st)
		} else {
			killContainerProcess(st)
		}
	}
	if err := removeContainer(g, id); err != nil {
		return log.fatal(fmt.Errorf("delete %q: %w", id, err))
	}
	runPoststopHooks(log, st)
	return 0
}

// removeContainer removes what create made for container id, whose
// process is gone: its cgroup (if it has one) and its state directory.
func removeContainer(g ociGlobals, id string) error {
	var cgErr error
	if st, err := oci.Load(g.root, id); err == nil {
		if cg, err := containerCgroup(st); err != nil {
			cgErr = err
		} else if cg != nil {
			cgErr = cg.Uninstall()
		}
	}
	if err := os.RemoveAll(oci.Dir(g.root, id)); err != nil {
		return err
	}
	return cgErr
}

// killContainerProcess SIGKILLs the container's process (its daemons die
// with it: Pdeathsig) and waits, bounded, for it to be gone. It is not
// our child (the shim reaps it), so it is polled.
func killContainerProcess(st *oci.State) {
	if st.Pid <= 0 || !oci.Alive(st.Pid, st.PidStart) {
		return
	}
	unix.Kill(st.Pid, unix.SIGKILL)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && oci.Alive(st.Pid, st.PidStart); {
		time.Sleep(10 * time.Millisecond)
	}
}

// killPausedContainer SIGKILLs a paused container's process and thaws
// its cgroup so that the frozen processes can die.
func killPausedContainer(st *oci.State) {
	if st.Pid > 0 && oci.Alive(st.Pid, st.PidStart) {
		unix.Kill(st.Pid, unix.SIGKILL)
	}
	if cg, err := containerCgroup(st); err == nil && cg != nil {
		freezeCgroup(cg, false)
	}
	killContainerProcess(st)
}

// ociPause freezes the container (every process of its cgroup: the
// application's, the client sentry, the embedded sentry and gofer, its
// exec processes), as runc freezes a container's cgroup.
func ociPause(g ociGlobals, log *ociLog, args []string) int {
	return pauseOrResume(g, log, "pause", args, true)
}

func ociResume(g ociGlobals, log *ociLog, args []string) int {
	return pauseOrResume(g, log, "resume", args, false)
}

func pauseOrResume(g ociGlobals, log *ociLog, verb string, args []string, freeze bool) int {
	fs := ociFlags(verb)
	id, st, code, ok := loadOne(g, log, fs, args)
	if !ok {
		return code
	}
	from, to := oci.StatusRunning, oci.StatusPaused
	if !freeze {
		from, to = to, from
	}
	if st.Status != from {
		return log.fatal(fmt.Errorf("%s: container %q is %s, not %s", verb, id, st.Status, from))
	}
	cg, err := needCgroup(verb, st)
	if err != nil {
		return log.fatal(err)
	}
	if err := freezeCgroup(cg, freeze); err != nil {
		return log.fatal(fmt.Errorf("%s %q: %w", verb, id, err))
	}
	// The container's process is frozen (or was, until now): it writes
	// its state only at start and stop, so this write races neither.
	st.Status = to
	if err := st.Save(g.root); err != nil {
		return log.fatal(err)
	}
	return 0
}

// ociUpdate changes the limits of the container's cgroup, from a
// runtime-spec linux.resources JSON (--resources FILE, or - for stdin:
// containerd's shim) or runc's flags for the common ones.
func ociUpdate(g ociGlobals, log *ociLog, args []string) int {
	fs := ociFlags("update")
	resources := fs.String("resources", "", "a linux.resources JSON `FILE` (- for stdin)")
	memory := fs.String("memory", "", "memory limit in bytes (k, m, g suffixes)")
	memoryRes := fs.String("memory-reservation", "", "memory soft limit in bytes")
	memorySwap := fs.String("memory-swap", "", "memory plus swap limit in bytes (-1: unlimited)")
	pids := fs.Int64("pids-limit", 0, "maximum number of processes (-1: unlimited)")
	cpuQuota := fs.Int64("cpu-quota", 0, "CFS quota in microseconds per period")
	cpuPeriod := fs.Uint64("cpu-period", 0, "CFS period in microseconds")
	cpuShares := fs.Uint64("cpu-share", 0, "CPU shares (relative weight)")
	cpusetCpus := fs.String("cpuset-cpus", "", "CPUs to use (0-3, 0,1)")
	cpusetMems := fs.String("cpuset-mems", "", "memory nodes to use")
	blkioWeight := fs.Uint("blkio-weight", 0, "block IO weight (10 to 1000)")
	id, st, code, ok := loadOne(g, log, fs, args)
	if !ok {
		return code
	}
	if st.Status == oci.StatusStopped {
		return log.fatal(fmt.Errorf("update: container %q is stopped", id))
	}
	cg, err := needCgroup("update", st)
	if err != nil {
		return log.fatal(err)
	}
	res := &specs.LinuxResources{}
	if *resources != "" {
		var b []byte
		if *resources == "-" {
			b, err = io.ReadAll(os.Stdin)
		} else {
			b, err = os.ReadFile(*resources)
		}
		if err == nil {
			err = json.Unmarshal(b, res)
		}
		if err != nil {
			return log.fatal(fmt.Errorf("update --resources %q: %w", *resources, err))
		}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	bytesFlag := func(name, v string, dst **int64) error {
		if !set[name] {
			return nil
		}
		n, err := parseBytes(v)
		if err != nil {
			return fmt.Errorf("update --%s %q: %w", name, v, err)
		}
		*dst = &n
		return nil
	}
	if set["memory"] || set["memory-reservation"] || set["memory-swap"] {
		if res.Memory == nil {
			res.Memory = &specs.LinuxMemory{}
		}
		for _, e := range []error{
			bytesFlag("memory", *memory, &res.Memory.Limit),
			bytesFlag("memory-reservation", *memoryRes, &res.Memory.Reservation),
			bytesFlag("memory-swap", *memorySwap, &res.Memory.Swap),
		} {
			if e != nil {
				return log.fatal(e)
			}
		}
	}
	if set["pids-limit"] {
		res.Pids = &specs.LinuxPids{Limit: *pids}
	}
	if set["cpu-quota"] || set["cpu-period"] || set["cpu-share"] || set["cpuset-cpus"] || set["cpuset-mems"] {
		if res.CPU == nil {
			res.CPU = &specs.LinuxCPU{}
		}
		if set["cpu-quota"] {
			res.CPU.Quota = cpuQuota
		}
		if set["cpu-period"] {
			res.CPU.Period = cpuPeriod
		}
		if set["cpu-share"] {
			res.CPU.Shares = cpuShares
		}
		if set["cpuset-cpus"] {
			res.CPU.Cpus = *cpusetCpus
		}
		if set["cpuset-mems"] {
			res.CPU.Mems = *cpusetMems
		}
	}
	if set["blkio-weight"] {
		if *blkioWeight > 1000 {
			return log.fatal(fmt.Errorf("update --blkio-weight %d: want 10 to 1000", *blkioWeight))
		}
		w := uint16(*blkioWeight)
		res.BlockIO = &specs.LinuxBlockIO{Weight: &w}
	}
	if err := cg.Update(res); err != nil {
		return log.fatal(fmt.Errorf("update %q: %w", id, err))
	}
	return 0
}

// parseBytes reads a byte count with an optional k, m, g or t suffix
// (powers of 1024, as runc), or -1.
func parseBytes(s string) (int64, error) {
	mult := int64(1)
	t := strings.ToLower(strings.TrimSuffix(strings.ToLower(s), "b"))
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k':
			mult, t = 1<<10, t[:n-1]
		case 'm':
			mult, t = 1<<20, t[:n-1]
		case 'g':
			mult, t = 1<<30, t[:n-1]
		case 't':
			mult, t = 1<<40, t[:n-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < -1 || (n == -1 && mult != 1) || n > (1<<62)/mult {
		return 0, fmt.Errorf("want a byte count")
	}
	return n * mult, nil
}

// ociEvents prints the container's statistics as runc's events does: one
// JSON line with --stats, else one every --interval until the container
// stops. They come from its cgroup (CPU time, memory, pids); no OOM
// notifications are reported.
func ociEvents(g ociGlobals, log *ociLog, args []string) int {
	fs := ociFlags("events")
	stats := fs.Bool("stats", false, "print the statistics once and exit")
	interval := fs.Duration("interval", 5*time.Second, "time between statistics")
	if ok, code := parseOCIFlags(fs, args); !ok {
		return code
	}
	id, err := oneID(fs)
	if err != nil {
		return log.fatal(err)
	}
	if *interval <= 0 {
		return log.fatal(fmt.Errorf("events --interval %v: want a positive duration", *interval))
	}
	for first := true; ; first = false {
		st, err := oci.Load(g.root, id)
		if err != nil {
			return log.fatal(err)
		}
		if st.Status == oci.StatusStopped {
			if first {
				return log.fatal(fmt.Errorf("events: container %q is stopped", id))
			}
			return 0
		}
		cg, err := needCgroup("events", st)
		if err != nil {
			return log.fatal(err)
		}
		s, err := readCgroupStats(cg)
		if err != nil {
			return log.fatal(fmt.Errorf("events %q: %w", id, err))
		}
		b, _ := json.Marshal(struct {
			Type string       `json:"type"`
			ID   string       `json:"id"`
			Data *cgroupStats `json:"data"`
		}{"stats", id, s})
		os.Stdout.Write(append(b, '\n'))
		if *stats {
			return 0
		}
		time.Sleep(*interval)
	}
}

func ociList(g ociGlobals, log *ociLog, args []string) int {
	fs := ociFlags("list")
	format := fs.String("format", "table", "table or json")
	fs.StringVar(format, "f", "table", "short for --format")
	quiet := fs.Bool("quiet", false, "print only the ids")
	fs.BoolVar(quiet, "q", false, "short for --quiet")
	if ok, code := parseOCIFlags(fs, args); !ok {
		return code
	}
	states, err := oci.List(g.root)
	if err != nil {
		return log.fatal(err)
	}
	switch {
	case *quiet:
		for _, s := range states {
			fmt.Println(s.ID)
		}
	case *format == "json":
		out := make([]oci.SpecState, 0, len(states))
		for _, s := range states {
			out = append(out, s.Spec())
		}
		b, _ := json.Marshal(out)
		os.Stdout.Write(append(b, '\n'))
	case *format == "table":
		w := tabwriter.NewWriter(os.Stdout, 12, 1, 3, ' ', 0)
		fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
		for _, s := range states {
			sp := s.Spec()
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", s.ID, sp.Pid, s.Status, s.Bundle, s.Created.Format(time.RFC3339Nano), s.Owner)
		}
		w.Flush()
	default:
		return log.fatal(fmt.Errorf("--format %q: want table or json", *format))
	}
	return 0
}

// ociPs lists the host processes that run the container: its process (the
// client sentry, where the application's threads run) and that process's
// descendants (the platform's stub processes, the embedded sentry and
// gofer), and the same for each of its exec processes. Host pids, as
// runc's ps: containerd's shim matches them against the pids of its exec
// processes (exec --pid-file) to name each exec in `ctr task ps`, and
// the application's own pids are the sentry's, inside the sandbox.
func ociPs(g ociGlobals, log *ociLog, args []string) int {
	fs := ociFlags("ps")
	format := fs.String("format", "table", "table or json")
	fs.StringVar(format, "f", "table", "short for --format")
	if ok, code := parseOCIFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() < 1 {
		return log.fatal(fmt.Errorf("ps: want ID"))
	}
	id := fs.Arg(0)
	st, err := oci.Load(g.root, id)
	if err != nil {
		return log.fatal(err)
	}
	var pids []int
	if st.Status != oci.StatusStopped {
		pids = descendants(append([]int{st.Pid}, oci.ExecPids(g.root, id)...))
	}
	switch *format {
	case "json":
		if pids == nil {
			pids = []int{}
		}
		b, _ := json.Marshal(pids)
		os.Stdout.Write(append(b, '\n'))
	case "table":
		fmt.Println("PID\tCMD")
		for _, p := range pids {
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p))
			fmt.Printf("%d\t%s\n", p, strings.TrimSpace(string(cmd)))
		}
	default:
		return log.fatal(fmt.Errorf("--format %q: want table or json", *format))
	}
	return 0
}

// descendants returns roots and every live process below them, sorted.
func descendants(roots []int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return roots
	}
	children := map[int][]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], pid)
	}
	out := append([]int(nil), roots...)
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	sort.Ints(out)
	return out
}

func ociSpec(g ociGlobals, log *ociLog, args []string) int {
	fs := ociFlags("spec")
	bundle := fs.String("bundle", ".", "write config.json in `DIR`")
	fs.StringVar(bundle, "b", ".", "short for --bundle")
	fs.Bool("rootless", false, "accepted (the same spec serves both)")
	if ok, code := parseOCIFlags(fs, args); !ok {
		return code
	}
	path := filepath.Join(*bundle, "config.json")
	if _, err := os.Stat(path); err == nil {
		return log.fatal(fmt.Errorf("%s exists: remove it first", path))
	}
	b, err := json.MarshalIndent(defaultSpec(), "", "\t")
	if err != nil {
		return log.fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o666); err != nil {
		return log.fatal(err)
	}
	return 0
}

// defaultSpec is `spec`'s config.json: what runc writes, less what the
// sandbox would refuse (devices, cgroup mounts).
func defaultSpec() *specs.Spec {
	return &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: "rootfs", Readonly: true},
		Process: &specs.Process{
			Terminal:        true,
			User:            specs.User{UID: 0, GID: 0},
			Args:            []string{"sh"},
			Env:             []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"},
			Cwd:             "/",
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Hostname: "runsc-decoupled",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace}, {Type: specs.MountNamespace}},
		},
	}
}

func ociFeatures(g ociGlobals, log *ociLog, args []string) int {
	fs := ociFlags("features")
	if ok, code := parseOCIFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "runsc-decoupled features: takes no arguments\n")
		return 2
	}
	yes := true
	f := features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         []string{"prestart", "createRuntime", "poststart", "poststop"},
		MountOptions:  mountOptionNames(),
		Linux: &features.Linux{
			Namespaces:   []string{string(specs.PIDNamespace), string(specs.NetworkNamespace), string(specs.IPCNamespace), string(specs.UTSNamespace), string(specs.MountNamespace), string(specs.CgroupNamespace)},
			Capabilities: []string{},
			// cgroupfs paths, v1 and v2 (gVisor's runsc/cgroup); not systemd's.
			Cgroup:          &features.Cgroup{V1: &yes, V2: &yes, Systemd: new(bool), SystemdUser: new(bool)},
			Seccomp:         oci.SeccompFeatures(),
			Apparmor:        &features.Apparmor{Enabled: new(bool)},
			Selinux:         &features.Selinux{Enabled: new(bool)},
			MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: new(bool)}},
		},
		Annotations: map[string]string{
			"dev.runsc-decoupled.sandbox": "true",
			oci.ServerAnnotation:          "comma-separated targets of remote sentries",
		},
	}
	b, err := json.MarshalIndent(f, "", "    ")
	if err != nil {
		return log.fatal(err)
	}
	os.Stdout.Write(append(b, '\n'))
	return 0
}

func mountOptionNames() []string {
	names := oci.MountOptionNames()
	sort.Strings(names)
	return names
}

// forwardTerminalSignals calls send for each SIGINT, SIGTERM, SIGHUP and
// SIGQUIT this process gets until the returned stop is called.
func forwardTerminalSignals(send func(syscall.Signal)) (stop func()) {
	return forwardSignalsOf(send, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
}

// forwardSignalsOf calls send, on a goroutine of its own, for each of
// sigs this process gets until the returned stop is called.
func forwardSignalsOf(send func(syscall.Signal), sigs ...os.Signal) (stop func()) {
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, sigs...)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-ch:
				send(s.(syscall.Signal))
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}
