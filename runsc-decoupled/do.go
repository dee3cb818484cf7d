package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/filter"
	"github.com/runsc-decoupled/runsc-decoupled/oci"
	"github.com/runsc-decoupled/runsc-decoupled/platform"
	"github.com/runsc-decoupled/runsc-decoupled/platform/cpulist"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/client"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/client/replaylog"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

const doSynopsis = "do [flags] [--] COMMAND [ARG...]"

func runDo(args []string) int {
	fs := flag.NewFlagSet("do", flag.ContinueOnError)
	var common commonFlags
	common.register(fs)
	servers := fs.String("server", "", "use the remote sentries at `TARGETS` (comma-separated host:port or unix:/path) instead of starting one: the first at start; on its failure the same one again within --grace, else the next, round robin")
	root := fs.String("root", "/", "root directory of the embedded gofer (ignored with --server)")
	platformName := fs.String("platform", "systrap", "gVisor platform running the application: systrap, ptrace or kvm")
	cpusetFlag := fs.String("cpuset-cpus", "", "run the client sentry and the application on these CPUs only (`LIST` as taskset -c takes it: 0-3,6); the embedded server and gofer keep every CPU. On a host of few CPUs that also runs the server and gofer, one CPU here keeps each system call's hand-offs between the application's stub and the client on one CPU (systrap's fast path is then off): file work runs faster, a call the client answers alone slower (docs/OPERATIONS.md)")
	cpuPlacement := fs.Bool("cpu-placement", true, "when the sandbox runs one thread and its servers are on this host, run the client and the application on one CPU while that measures faster (a trap's hand-offs stay on one CPU while the server and gofer have the others; docs/ARCHITECTURE.md, \"CPU placement\"); --cpu-placement=false keeps every CPU")
	fastPathFlag := fs.String("systrap-fast-path", "auto", "on systrap, whether the application's stub threads and the client spin waiting for each other (on: as runsc, when systrap's measurements say it pays) or sleep in a futex (off: runsc's --systrap-disable-fast-path); auto: on, but off when do runs on one CPU (the machine's, or --cpuset-cpus of one), as runsc; off may pay on a loaded machine of few CPUs, where a spinner holds the CPU the server needs")
	noPatching := fs.Bool("systrap-disable-syscall-patching", false, "on systrap, never rewrite the application's \"mov $nr,%eax; syscall\" sites into jumps to the stub's syscall handler (a [usertrap] mapping below 0x70000): every system call then traps through seccomp, a host signal delivery each (docs/COMPATIBILITY.md)")
	strace := fs.Bool("strace", false, "print every system call with its arguments, its result, where it was answered (local, cached, posted, unsent, forwarded) and how long it waited for the server (waited=, with the seq= of the call in a server --strace log)")
	cwd := fs.String("cwd", "", "working directory of the command (default: the current directory with the embedded gofer at --root /; else /, as with --server, whose gofer's tree may not hold this directory)")
	profileCPU := fs.String("profile-cpu", "", "write a Go CPU profile of the client sentry to `FILE`")
	heartbeat := fs.Duration("heartbeat", 100*time.Millisecond, "heartbeat interval with the remote sentry")
	deadAfter := fs.Duration("dead-after", 0, "declare the remote sentry dead after this long without a message from it (default 5 heartbeats, and at least 10s on a Unix socket, where the kernel ends the stream as soon as the server's process dies: silence there means a server that hangs, or a host too loaded to run it)")
	grace := fs.Duration("grace", client.DefaultGrace, "after a server failure, and at start while nothing listens there, keep retrying the same server this long before moving to the next in --server")
	recoveryTimeout := fs.Duration("recovery-timeout", client.DefaultRecoveryTimeout, "kill the application if no server has taken it over this long after a failure")
	var tlsf tlsFlags
	tlsf.register(fs)
	wire := fs.String("transport", "auto", "how calls travel to the remote sentry: auto (the framed wire on unix: targets, falling back to gRPC for a server without it; gRPC on TCP), grpc, or framed")
	readCache := fs.Bool("read-cache", true, "answer reads and fstat of files opened read-only, and stat, access and readlink of paths asked before, from what the server leases to the client, revoked when anyone changes the file or the name (docs/ARCHITECTURE.md)")
	threadedPosting := fs.Bool("threaded-posting", true, "let a process with several threads answer reads from the read cache and post closes and writes behind (docs/COMPATIBILITY.md, \"Pipelined calls\"); false: such a process posts only F_SETFL")
	threadedOpens := fs.Bool("threaded-opens", true, "with --threaded-posting, let such a process post opens, creations and mkdirs too (docs/COMPATIBILITY.md, \"Pipelined calls\"); false: they wait for the server")
	postedOpens := fs.Bool("posted-opens", true, "answer a read-only open at once, with the lowest free fd, when the path cache holds the same open's success under a lease, and send it without waiting (docs/COMPATIBILITY.md)")
	postedCreates := fs.Bool("posted-creates", true, "answer an open with O_CREAT of a name an unlink found missing under a lease at once, with the lowest free fd, and send it without waiting (docs/COMPATIBILITY.md); --posted-opens=false turns it off too")
	listingsAhead := fs.Bool("listings-ahead", true, "have a listing of a directory by path bring the listings of its subdirectories, so that find, du and ls -R list each without waiting (docs/ARCHITECTURE.md); false: each listing waits for the server")
	completeNames := fs.Bool("complete-names", true, "ask a lease on the complete names of each directory the sandbox makes, and answer an unlink of a name not made there since with ENOENT at once (docs/ARCHITECTURE.md)")
	channels := fs.Bool("channels", true, "with the framed wire on a Unix socket (a server on this machine), make the threads' synchronous calls over shared-memory call channels (gVisor's flipcall) instead of the socket")
	mappedFDs := fs.Bool("mapped-fds", true, "with the framed wire on a Unix socket (a server on this machine), read the pages of mapped files (programs, libraries, mmap'd files) through a read-only host fd the server lends, instead of a PageRead per 4 MiB, and a leased file's reads beyond its lease's window through such an fd too (docs/ARCHITECTURE.md, \"Mapped fds\", \"Lent fds\")")
	postBatch := fs.Bool("post-batch", true, "send posted calls (write behind, pipelined close, chmod...) in batches with the next message, and take their replies in batches; false sends each at once and has each answered alone")
	postDelay := fs.Duration("post-delay", transport.DefaultPostDelay, "how long a posted call may wait for others to be sent with them in one frame, at most 1s: a change posted by the sandbox may reach another sandbox or the host that much later")
	replyLinger := fs.Duration("posted-reply-linger", transport.DefaultReplyLinger, "how long the server may hold the replies of posted calls nothing waits for (a write behind, a pipelined close, chmod...) for its next message instead of sending them alone, at most 100ms; 0 sends them with their batch's end (a posted call stays in flight, kept for a recovery, that much longer)")
	replayLog := fs.Bool("replay-log", true, "keep the replay log that lets the command survive a remote sentry failure (off only to measure its cost)")
	allowSetuid := fs.Bool("allow-setuid", false, "let the embedded gofer keep setuid/setgid bits the application sets (stripped by default, so the application cannot plant set-id binaries on the host)")
	donateFDs := fs.Bool("donate-fds", true, "let the embedded gofer give the embedded sentry the host fds of the regular files it opens, so that reads and writes of them skip the gofer (ignored with --server: that gofer's --donate-fds decides)")
	logDir := fs.String("log-dir", "", "keep the client's replay log on disk in `DIR` (group-committed, fsync'd in the background; read it with 'runsc-decoupled debug log DIR')")
	maxProcesses := fs.Int("max-processes", client.DefaultMaxProcesses, "fork fails with EAGAIN beyond this many live application processes (each is a process on this host)")
	seccompMode := fs.String("seccomp", "", "the embedded gofer's and server's --seccomp: kill (default), trap, log or off, for debugging a daemon killed by its filter (ignored with --server; do itself runs the application on systrap, under gVisor's own filters for its stubs, and keeps its privileges)")
	forceOverlay := fs.Bool("force-overlay", true, "keep the application's writes in an in-memory overlay over --root, so the host's files never change (false: it writes through to the host)")
	network := fs.String("network", "", "the sandbox's network: none (the default: a loopback-only network stack of the sandbox's own), host (the embedded sentry's sockets are this machine's) or sandbox (the interfaces of the network namespace do runs in are taken from the host and served by the sentry's netstack, their frames carried on the session; needs CAP_NET_ADMIN and CAP_NET_RAW there, and with --server a server started with --network=sandbox); with --server, none and host are that server's operator's choice (server --network)")
	sandboxCg := fs.Bool("cgroup", true, "put the sandbox's host processes (this client, the application's stubs, the embedded server and gofer) in a cgroup of their own, a child of do's cgroup removed at exit, so that on a busy host the scheduler runs a system call's hand-offs between them as one group's (as runsc's sandbox cgroup); where one cannot be made (not root, a cgroup v2 parent that cannot delegate) do runs in its own cgroup and, unless --cgroup was given, says why at info level only")
	netns := fs.String("netns", "", "with --network=sandbox, take the interfaces of the network namespace at `PATH` (a pod's, /var/run/netns/NAME) instead of do's own, while do itself stays in its namespace (so it reaches a --server over TCP through its own network)")
	var volumes multiFlag
	fs.Var(&volumes, "volume", "bind the host's `HOST:SANDBOX[:ro]` into the sandbox, writable through to the host unless :ro (repeatable)")
	if ok, code := parseFlags(fs, args, doSynopsis); !ok {
		return code
	}
	argv := fs.Args()
	if len(argv) == 0 {
		fmt.Fprintf(os.Stderr, "runsc-decoupled do: missing COMMAND\n")
		fs.Usage()
		return 2
	}
	switch *platformName {
	case "systrap", "ptrace", "kvm":
	default:
		fmt.Fprintf(os.Stderr, "runsc-decoupled do: --platform %q: want systrap, ptrace or kvm\n", *platformName)
		return 2
	}
	fastPath, err := platform.ParseFastPath(*fastPathFlag)
	if err != nil {
		fmt.Fprintf(os.Stderr, "runsc-decoupled do: --systrap-fast-path: %v\n", err)
		return 2
	}
	var cpuset *unix.CPUSet
	if *cpusetFlag != "" {
		set, err := cpulist.Parse(*cpusetFlag)
		if err != nil {
			fmt.Fprintf(os.Stderr, "runsc-decoupled do: --cpuset-cpus: %v\n", err)
			return 2
		}
		cpuset = &set
	}
	if builtWithCgo && *platformName == "systrap" {
		return failDo(fmt.Errorf("this binary was built with cgo, and gVisor's systrap platform does not start in one: rebuild it static (CGO_ENABLED=0 go build ./runsc-decoupled) or use --platform ptrace"))
	}
	log, closeLog, err := common.logger("do", hclog.Error)
	if err != nil {
		return failDo(err)
	}
	defer closeLog()
	if *strace && common.logLevel == "" && log.GetLevel() > hclog.Info {
		// --strace output is logged at info: make it visible.
		log.SetLevel(hclog.Info)
	}

	wireKind, err := transport.ParseWire(*wire)
	if err != nil {
		fmt.Fprintf(os.Stderr, "runsc-decoupled do: --%v\n", err)
		return 2
	}
	if *netns != "" && *network != server.NetworkSandbox {
		fmt.Fprintf(os.Stderr, "runsc-decoupled do: --netns needs --network=sandbox\n")
		return 2
	}
	if *heartbeat <= 0 || *deadAfter < 0 || *grace <= 0 || *recoveryTimeout <= 0 {
		fmt.Fprintf(os.Stderr, "runsc-decoupled do: --heartbeat, --grace and --recovery-timeout must be positive, --dead-after not negative\n")
		return 2
	}
	if *postDelay <= 0 || *postDelay > transport.MaxPostDelay {
		fmt.Fprintf(os.Stderr, "runsc-decoupled do: --post-delay %v must be positive and at most %v\n", *postDelay, transport.MaxPostDelay)
		return 2
	}
	if *replyLinger < 0 || *replyLinger > transport.MaxReplyLinger {
		fmt.Fprintf(os.Stderr, "runsc-decoupled do: --posted-reply-linger %v must be between 0 and %v\n", *replyLinger, transport.MaxReplyLinger)
		return 2
	}
	if *seccompMode != "" {
		if _, err := filter.ParseMode(*seccompMode); err != nil {
			fmt.Fprintf(os.Stderr, "runsc-decoupled do: --seccomp: %v\n", err)
			return 2
		}
	}
	if *deadAfter > 0 && *deadAfter <= *heartbeat {
		fmt.Fprintf(os.Stderr, "runsc-decoupled do: --dead-after %v must be longer than --heartbeat %v\n", *deadAfter, *heartbeat)
		return 2
	}
	// SIGINT, SIGTERM, SIGHUP and SIGQUIT go to the application (as to a
	// host process, not a namespace init), which decides; do ends with it,
	// and its deferred cleanups run.
	// With a terminal, its keys' signals go to its foreground process
	// group in the sandbox (terminalSignal). A signal waits for the client
	// to take it (it may be busy with the previous one while the server
	// recovers): none is dropped while the application runs. One that
	// comes before the application started (do still starting its
	// daemons, or waiting for a server) ends do, cleanly.
	_, ttyErr := unix.IoctlGetTermios(int(os.Stdin.Fd()), unix.TCGETS)
	signals := make(chan client.Signal)
	runDone := make(chan struct{})
	started := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var earlySignal atomic.Int32 // the signal that ended do before the start
	send := func(sig syscall.Signal) {
		select {
		case <-started:
		default:
			if sig != syscall.SIGTSTP {
				earlySignal.CompareAndSwap(0, int32(sig))
				cancel()
			}
			return
		}
		select {
		case signals <- terminalSignal(sig, ttyErr == nil):
		case <-runDone:
		}
	}
	stopSigs := forwardTerminalSignals(send)
	defer stopSigs()
	defer forwardTerminalStop(ttyErr == nil, send)()
	interrupted := func() (int, bool) {
		sig := syscall.Signal(earlySignal.Load())
		if sig == 0 {
			return 0, false
		}
		fmt.Fprintf(os.Stderr, "runsc-decoupled do: %s before the command started\n", unix.SignalName(sig))
		return 128 + int(sig), true
	}
	var sandboxCgroup *sandboxCgroup
	if *sandboxCg {
		// Before the embedded daemons and the platform's stubs start, so
		// that they are inside.
		cg, noCPU, err := joinSandboxCgroup()
		switch {
		case err == nil:
			if noCPU != nil {
				log.Info("sandbox cgroup without the cpu controller: its processes are scheduled one by one", "err", noCPU)
			}
			sandboxCgroup = cg
			// Deferred before emb.stop, so run after it.
			defer func() {
				if err := cg.remove(); err != nil {
					log.Warn("sandbox cgroup not removed", "err", err)
				}
			}()
		case flagGiven(fs, "cgroup"):
			return failDo(fmt.Errorf("--cgroup: %w", err))
		default:
			log.Info("sandbox cgroup not made; the sandbox runs in do's cgroup", "err", err)
		}
	}
	var list []string
	var emb *embedded // nil with --server
	if *servers != "" {
		for _, s := range strings.Split(*servers, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			t, err := transport.ParseTarget(s)
			if err != nil {
				return failDo(fmt.Errorf("--server: %w", err))
			}
			if err := tlsf.check(t); err != nil {
				return failDo(fmt.Errorf("--server: %w", err))
			}
			list = append(list, s)
		}
		if len(list) == 0 {
			return failDo(fmt.Errorf("--server: no target"))
		}
		if len(volumes) > 0 {
			fmt.Fprintf(os.Stderr, "runsc-decoupled do: --volume needs the embedded gofer; with --server the files are that server's gofer's\n")
			return 2
		}
		if *network != "" && *network != server.NetworkSandbox {
			fmt.Fprintf(os.Stderr, "runsc-decoupled do: --network %s is the embedded sentry's; with --server the network is what that server's operator chose (server --network), or --network=sandbox\n", *network)
			return 2
		}
	} else {
		switch *network {
		case "", server.NetworkNone, server.NetworkHost, server.NetworkSandbox:
		default:
			fmt.Fprintf(os.Stderr, "runsc-decoupled do: --network %q: want none, host or sandbox\n", *network)
			return 2
		}
		setup, err := doRootSetup(*forceOverlay, volumes)
		if err != nil {
			fmt.Fprintf(os.Stderr, "runsc-decoupled do: %v\n", err)
			return 2
		}
		emb, err = startEmbedded(*root, common, log, embedOptions{rootSetup: setup, allowSetuid: *allowSetuid, seccomp: *seccompMode, network: *network, noDonate: !*donateFDs})
		if err != nil {
			return failDo(err)
		}
		defer emb.stop()
		list = []string{emb.server}
	}
	if cpuset != nil {
		// After the embedded daemons started: they keep every CPU.
		if err := platform.ConfineCPUs(*cpuset); err != nil {
			return failDo(fmt.Errorf("--cpuset-cpus %s: %w", *cpusetFlag, err))
		}
	}
	var firstRun func()
	kvmWatch := func() {}
	if *platformName == "kvm" {
		// KVM in nested virtualization takes the client in and never gives
		// it back (a thread spins in the host kernel as the application's
		// address space is set up): an application that has not run
		// within kvmFirstRun of do's start of the client says so, once.
		ran := make(chan struct{})
		firstRun = func() { close(ran) }
		kvmWatch = func() {
			go func() {
				select {
				case <-ran:
				case <-runDone:
				case <-time.After(kvmFirstRun):
					fmt.Fprintf(os.Stderr, "runsc-decoupled do: --platform kvm: the command did not run within %v of its start: KVM does not run guests on this machine (nested virtualization?); use --platform systrap\n", kvmFirstRun)
					if emb != nil {
						emb.kill()
					}
					os.Exit(125)
				}
			}()
		}
	}
	var sandboxNet *client.SandboxNetwork
	if *network == server.NetworkSandbox {
		if sandboxNet, err = client.OpenSandboxNetworkIn(*netns, log.Named("network")); err != nil {
			return failDo(err)
		}
		defer func() {
			if err := sandboxNet.Close(); err != nil {
				log.Warn("sandbox network", "err", err)
			}
		}()
	}
	stopProfile, err := startCPUProfile(*profileCPU)
	if err != nil {
		return failDo(err)
	}
	defer stopProfile()
	dir := *cwd
	if dir == "" {
		dir = "/"
		if *servers == "" && filepath.Clean(*root) == "/" {
			if wd, err := os.Getwd(); err == nil {
				dir = wd
			}
		}
	}
	if code, ok := interrupted(); ok {
		return code
	}
	// Armed before the client makes its platform: KVM may take a thread
	// in for good while the first address space is set up.
	kvmWatch()
	status, err := client.Run(ctx, client.Config{
		Started:           func() { close(started) },
		FirstRun:          firstRun,
		Signals:           signals,
		WindowChanged:     windowChanges(ttyErr == nil),
		Servers:           list,
		Platform:          *platformName,
		NoSyscallPatching: *noPatching,
		FastPath:          fastPath,
		CPUPlacement:      *cpuPlacement,
		Argv:              argv,
		Env:               os.Environ(),
		Cwd:               dir,
		Stdin:             os.Stdin,
		Stdout:            os.Stdout,
		Stderr:            os.Stderr,
		Log:               log.Named("client"),
		Strace:            *strace,
		HeartbeatInterval: *heartbeat,
		DeadAfter:         *deadAfter,
		Wire:              wireKind,
		Channels:          *channels,
		NoMappedFDs:       !*mappedFDs,
		NoPostBatch:       !*postBatch,
		PostDelay:         *postDelay,
		ReplyLinger:       lingerOption(*replyLinger),
		NoReadCache:       !*readCache,
		NoPostedOpens:     !*postedOpens,
		NoThreadedPosting: !*threadedPosting,
		NoThreadedOpens:   !*threadedOpens,
		NoPostedCreates:   !*postedCreates,
		NoCompleteNames:   !*completeNames,
		NoListingsAhead:   !*listingsAhead,
		TLS:               tlsf.files,
		Grace:             *grace,
		RecoveryTimeout:   *recoveryTimeout,
		LogDir:            *logDir,
		ReplayLog:         replayLogFor(*replayLog),
		MaxProcesses:      *maxProcesses,
		Mounts:            doMountSpecs(volumes),
		Network:           sandboxNet,
	})
	close(runDone)
	if sandboxCgroup != nil {
		sandboxCgroup.leave()
	}
	if code, ok := interrupted(); ok {
		return code
	}
	if err != nil {
		return failDo(err)
	}
	return exitCode(status)
}

// kvmFirstRun is how long do --platform kvm waits, from the start of the
// client (its platform made, its server reached, its command started), for its first system call or
// fault before it gives up on KVM: a program makes one within
// milliseconds, so this is for a loaded machine or a server recovery.
const kvmFirstRun = 20 * time.Second

// doRootSetup is what the embedded gofer does to --root for do: an
// in-memory overlay unless told otherwise, and the --volume binds.
func doRootSetup(overlay bool, volumes []string) (*oci.RootSetup, error) {
	s := &oci.RootSetup{Overlay: overlay}
	for _, v := range volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" || (len(parts) == 3 && parts[2] != "ro" && parts[2] != "rw") {
			return nil, fmt.Errorf("--volume %q: want HOST:SANDBOX[:ro]", v)
		}
		if !filepath.IsAbs(parts[0]) || !filepath.IsAbs(parts[1]) {
			return nil, fmt.Errorf("--volume %q: both paths must be absolute", v)
		}
		if _, err := os.Stat(parts[0]); err != nil {
			return nil, fmt.Errorf("--volume %q: %w", v, err)
		}
		m := oci.Mount{Type: "bind", Source: parts[0], Destination: filepath.Clean(parts[1])}
		if len(parts) == 3 && parts[2] == "ro" {
			m.Flags = syscall.MS_RDONLY
		}
		s.Mounts = append(s.Mounts, m)
	}
	if !s.Overlay && len(s.Mounts) == 0 {
		return nil, nil
	}
	return s, nil
}

// doMountSpecs lists the --volume binds for the sentry's mount table
// (doRootSetup checked them).
func doMountSpecs(volumes []string) []*sentrypb.MountSpec {
	s, err := doRootSetup(false, volumes)
	if err != nil || s == nil {
		return nil
	}
	return mountSpecs(s.Mounts)
}

// exitCode turns a Linux wait status into the exit code a shell reports.
func exitCode(status int) int {
	ws := syscall.WaitStatus(status)
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	default:
		return 125
	}
}

// failDo reports a failure of the sandbox itself (not of the command) with
// exit code 125, as runc and docker do.
func failDo(err error) int {
	fail("do", err)
	return 125
}

// embedded is a sentry and a gofer started as child processes of do (or
// of a container's process), connected over Unix sockets in a private
// directory.
type embedded struct {
	dir    string
	server string
	// procs are the daemons, in start order; changed only by
	// startEmbedded, kill and stop, which do not run concurrently.
	procs []*daemonProc
	log   hclog.Logger
	// ownDir says stop removes dir (a temp directory startEmbedded made),
	// not only the sockets.
	ownDir bool
}

// daemonProc is a running embedded daemon.
type daemonProc struct {
	cmd *exec.Cmd
	// exited is closed once the process is reaped (cmd.ProcessState set).
	exited chan struct{}
	// stopping is set by stop and kill before they signal it: an exit
	// before that is unexpected and reported at once.
	stopping atomic.Bool
}

// watch reaps d, reporting at once a daemon its seccomp filter killed
// and any other exit do did not ask for.
func (d *daemonProc) watch(log hclog.Logger) {
	err := d.cmd.Wait()
	ws, _ := d.cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case ws.Signaled() && ws.Signal() == syscall.SIGSYS:
		log.Error("embedded daemon was killed by its seccomp filter (a system call outside its list; see docs/OPERATIONS.md)", "daemon", d.cmd.Args[1])
	case !d.stopping.Load():
		log.Error("embedded daemon exited", "daemon", d.cmd.Args[1], "status", err)
	}
	close(d.exited)
}

// embedOptions are what a container asks of its embedded daemons beyond
// what do asks.
type embedOptions struct {
	// dir holds the sockets (default: a new temp directory).
	dir string
	// rootSetup, when set, is the gofer's --root-setup (an overlay,
	// mounts, a read-only root); the gofer then runs in a mount namespace
	// of its own. For an overlay, startEmbedded makes its scratch
	// directory in dir.
	rootSetup *oci.RootSetup
	// allowSetuid is the gofer's --allow-setuid.
	allowSetuid bool
	// noDonate is the gofer's --donate-fds=false.
	noDonate bool
	// seccomp is both daemons' --seccomp ("": their default, kill).
	seccomp string
	// network is the server's --network (empty: its default).
	network string
}

func startEmbedded(root string, common commonFlags, log hclog.Logger, opts embedOptions) (*embedded, error) {
	if fi, err := os.Stat(root); err != nil {
		return nil, fmt.Errorf("--root: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("--root %q: not a directory", root)
	}
	dir, ownDir := opts.dir, false
	if dir == "" {
		var err error
		dir, err = makeOwnedTempDir()
		if err != nil {
			return nil, fmt.Errorf("socket directory: %w", err)
		}
		ownDir = true
	}
	e := &embedded{dir: dir, log: log, ownDir: ownDir}
	self, err := os.Executable()
	if err != nil {
		e.stop()
		return nil, fmt.Errorf("find own executable: %w", err)
	}
	goferSock := "unix:" + filepath.Join(dir, "gofer.sock")
	e.server = "unix:" + filepath.Join(dir, "server.sock")
	logArgs := func() []string {
		var a []string
		if common.debugLog != "" {
			a = append(a, "--debug-log", common.debugLog)
		}
		switch {
		case common.logLevel != "":
			a = append(a, "--log-level", common.logLevel)
		case common.debugLog == "":
			// The daemons share the application's stderr: only errors.
			a = append(a, "--log-level", "error")
		}
		if opts.seccomp != "" {
			a = append(a, "--seccomp", opts.seccomp)
		}
		return a
	}
	goferArgs := append([]string{"gofer", "--listen", goferSock, "--root", root}, logArgs()...)
	if opts.rootSetup != nil {
		setup := *opts.rootSetup
		if setup.Overlay {
			setup.ScratchDir = filepath.Join(dir, "scratch")
			if err := os.Mkdir(setup.ScratchDir, 0o700); err != nil {
				e.stop()
				return nil, fmt.Errorf("overlay: %w", err)
			}
		}
		b, err := json.Marshal(setup)
		if err != nil {
			e.stop()
			return nil, err
		}
		goferArgs = append(goferArgs, "--root-setup", string(b))
	}
	if opts.allowSetuid {
		goferArgs = append(goferArgs, "--allow-setuid")
	}
	if opts.noDonate {
		goferArgs = append(goferArgs, "--donate-fds=false")
	}
	serverArgs := append([]string{"server", "--listen", e.server, "--gofer", goferSock}, logArgs()...)
	if opts.network != "" {
		serverArgs = append(serverArgs, "--network", opts.network)
	}
	daemons := [][]string{goferArgs, serverArgs}
	for _, args := range daemons {
		cmd := exec.Command(self, args...)
		cmd.Stdout = os.Stderr
		cmd.Stderr = os.Stderr
		// The daemons must not outlive do, even if do is killed.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
		// Each daemon in namespaces of its own (only Unix sockets here:
		// a new network namespace too, unless the server is to give its
		// applications the host's network), where it sees only what it
		// needs (the gofer's --root-setup mounts stay in its mount
		// namespace).
		ns := daemonNamespaces(args[0] == "server" && opts.network == server.NetworkHost)
		cmd.SysProcAttr.Cloneflags = ns
		cmd.Env = append(os.Environ(), nsEnv+"="+strconv.FormatUint(uint64(ns), 16))
		err := cmd.Start()
		if err != nil && (errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL)) {
			// The kernel refused the namespaces (do without
			// CAP_SYS_ADMIN): run without those it can do without.
			// --root-setup's mounts need a mount namespace.
			ns = 0
			if args[0] == "gofer" && opts.rootSetup != nil {
				ns = syscall.CLONE_NEWNS
			}
			log.Warn("embedded daemon not in namespaces of its own: the kernel refused them", "daemon", args[0], "err", err)
			cmd = exec.Command(self, args...)
			cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true, Cloneflags: ns}
			cmd.Env = append(os.Environ(), nsEnv+"="+strconv.FormatUint(uint64(ns), 16))
			err = cmd.Start()
		}
		if err != nil {
			e.stop()
			return nil, fmt.Errorf("start embedded %s: %w", args[0], err)
		}
		d := &daemonProc{cmd: cmd, exited: make(chan struct{})}
		go d.watch(log)
		e.procs = append(e.procs, d)
		t, err := transport.ParseTarget(args[2])
		if err != nil {
			e.stop()
			return nil, err
		}
		alive := func() error {
			select {
			case <-d.exited:
				return fmt.Errorf("exited: %v", cmd.ProcessState)
			default:
				return nil
			}
		}
		if err := transport.WaitListening(t, 10*time.Second, alive); err != nil {
			e.stop()
			return nil, fmt.Errorf("embedded %s: %w", args[0], err)
		}
	}
	return e, nil
}

// kill ends the daemons at once (SIGKILL) and removes the sockets: for a
// container's process, whose exit the shim is waiting for, when the
// application is over. Nothing is lost: the gofer writes through to the
// host at each call, and the sentry's state dies with the application.
func (e *embedded) kill() {
	for _, d := range e.procs {
		d.stopping.Store(true)
		d.cmd.Process.Kill()
	}
	for _, d := range e.procs {
		<-d.exited
	}
	e.procs = nil
	e.stop()
}

// stop ends the daemons (SIGTERM, then SIGKILL) and removes the sockets.
func (e *embedded) stop() {
	for i := len(e.procs) - 1; i >= 0; i-- {
		d := e.procs[i]
		d.stopping.Store(true)
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(3 * time.Second):
			e.log.Warn("embedded daemon did not stop; killing", "pid", d.cmd.Process.Pid)
			d.cmd.Process.Kill()
			<-d.exited
		}
	}
	if e.ownDir {
		os.RemoveAll(e.dir)
		return
	}
	for _, n := range []string{"gofer.sock", "server.sock", "scratch"} {
		os.Remove(filepath.Join(e.dir, n))
	}
}

// replayLogFor returns the replay log do passes to the client: nil for the
// default one, or a disabled log.
func replayLogFor(on bool) *replaylog.Log {
	if on {
		return nil
	}
	return replaylog.NewDisabled()
}

// lingerOption is --posted-reply-linger as transport.Options.ReplyLinger
// takes it: 0 (none) is negative there.
func lingerOption(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
