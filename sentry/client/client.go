package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
	gvcontext "gvisor.dev/gvisor/pkg/context"
	"gvisor.dev/gvisor/pkg/sentry/kernel/futex"
	"gvisor.dev/gvisor/pkg/sentry/pgalloc"
	gvplatform "gvisor.dev/gvisor/pkg/sentry/platform"

	"github.com/runsc-decoupled/runsc-decoupled/platform"
	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/client/replaylog"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// Config configures Run.
type Config struct {
	// Server is the remote sentry's gRPC target ("unix:/path" or
	// "host:port").
	Server string
	// Servers, when set, lists the remote sentries to use in order
	// (Server is then ignored): the first at start, and on a failure the
	// same one again within Grace, else the next, round robin.
	Servers []string
	// Platform is "systrap" (default), "ptrace" or "kvm".
	Platform string
	// NoSyscallPatching keeps systrap from patching the application's
	// "mov $nr,%eax; syscall" sites into jumps (syscallpatch.go): every
	// system call then traps through seccomp. A process runs one
	// systrap, made by its first Run: later Runs must agree.
	NoSyscallPatching bool
	// FastPath is systrap's fast path setting (platform.Options.FastPath;
	// the zero value decides by the CPUs); as NoSyscallPatching, later
	// Runs must agree.
	FastPath platform.FastPathMode
	// CPUPlacement lets a client of one running thread whose servers are
	// all on this host run on one CPU while measurements say that is
	// faster (cpuplace.go); without it the client keeps the CPUs it
	// started on.
	CPUPlacement bool
	// Argv, Env, Cwd and Filename describe the first process (Filename
	// defaults to Argv[0] on the server).
	Argv     []string
	Env      []string
	Cwd      string
	Filename string
	// Stdin, Stdout and Stderr back the application's fds 0, 1 and 2 (on
	// the server, which asks for input with StdinWant and sends output
	// with StdioOutput). Nil means os.Stdin, os.Stdout, os.Stderr.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// StdioTTY, when non-nil, is sent as Hello.stdio instead of what Run
	// detects (TCGETS/TIOCGWINSZ on Stdin/Stdout/Stderr when they are
	// *os.File).
	StdioTTY []*pb.StdioInfo
	// Hostname is uname's nodename (default: this host's name).
	Hostname string
	// ClientID names this client to the server (default: random).
	ClientID string
	// Log receives the client's diagnostics (default: discard).
	Log hclog.Logger
	// Strace logs every system call, forwarded or local, with its result,
	// at Info level on Log (on stderr when Log is nil).
	Strace bool
	// HeartbeatInterval and DeadAfter tune failure detection (transport
	// defaults when zero).
	HeartbeatInterval time.Duration
	DeadAfter         time.Duration
	// Wire selects how calls travel to the server (default
	// transport.WireAuto: the framed wire on unix: targets, else gRPC).
	Wire transport.Wire
	// NoReadCache turns the read cache (readcache.go) and the path
	// cache (pathcache.go) off: every read and fstat of a file, and
	// every stat, access and readlink of a path, goes to the server.
	NoReadCache bool
	// NoThreadedPosting keeps a process with several threads from using
	// the read cache and posting closes and writes behind
	// (threadorder.go): it posts only F_SETFL then.
	NoThreadedPosting bool
	// NoThreadedOpens keeps such a process from posting opens,
	// creations and mkdirs (postopen.go, postcreate.go, postmkdir.go,
	// threadorder.go); NoThreadedPosting does too.
	NoThreadedOpens bool
	// NoPostedOpens makes every open wait for its reply (postopen.go);
	// without the path cache none is posted anyway.
	NoPostedOpens bool
	// NoPostedCreates makes every creating open wait for its reply
	// (postcreate.go); so does NoPostedOpens.
	NoPostedCreates bool
	// NoCompleteNames asks no lease on the complete names of the
	// directories the client makes (completenames.go): tar's unlink of
	// each new member waits for the server.
	NoCompleteNames bool
	// NoListingsAhead asks for no listings of subdirectories ahead
	// (dirahead.go): each listing by find, du or ls -R waits.
	NoListingsAhead bool
	// Channels lets the threads' synchronous calls use call channels
	// (shared memory, transport/hop.go) where the wire allows: the
	// framed wire on a Unix socket.
	Channels bool
	// NoMappedFDs reads every page of a mapped file with PageReads, never
	// through a host fd a server on this machine lends (mappedfd.go).
	NoMappedFDs bool
	// NoPostBatch sends every posted call at once and asks for each
	// reply alone (transport.Options.NoPostBatch).
	NoPostBatch bool
	// PostDelay bounds how long a posted call waits to be sent with
	// others (transport.Options.PostDelay; 0: the default).
	PostDelay time.Duration
	// ReplyLinger bounds how long the server may hold the replies of
	// posted calls nothing waits for (transport.Options.ReplyLinger: 0
	// the default, negative none).
	ReplyLinger time.Duration
	// TLS secures TCP servers with mutual TLS when it names files.
	TLS transport.TLSFiles
	// Grace is how long a recovery keeps retrying one server before
	// moving to the next (default DefaultGrace).
	Grace time.Duration
	// RecoveryTimeout bounds one recovery; after it the application is
	// killed and Run fails with ErrServerLost (default
	// DefaultRecoveryTimeout).
	RecoveryTimeout time.Duration
	// LogDir, when set, keeps the replay log on disk in this directory
	// (see durablelog.go).
	LogDir string
	// OnRecovery is called after each recovery from a server failure.
	OnRecovery func(RecoveryStats)
	// ReplayLog, when set, is the log to use (tests inspect it).
	ReplayLog *replaylog.Log
	// User, when set, gives the first process's credentials (default:
	// this process's uid and gid).
	User *User
	// Mounts are the sandbox's mounts made outside the sentry (do's
	// --volume, an OCI bundle's mounts), sent in Start so that the
	// sentry's mount table (mountinfo) lists them.
	Mounts []*pb.MountSpec
	// RootPropagation is the root mount's propagation (Start's
	// root_propagation; 0: private).
	RootPropagation uint64
	// Rlimits replace the defaults of the first process's resource
	// limits (inherited by its children).
	Rlimits []Rlimit
	// NoNewPrivileges starts the first process with no_new_privs set.
	NoNewPrivileges bool
	// OOMScoreAdj is the first process's oom_score_adj (OCI
	// process.oomScoreAdj; Start's oom_score_adj), with its minimum.
	OOMScoreAdj int32
	// Seccomp, when set, is the first process's seccomp filter (the OCI
	// runtime's linux.seccomp), installed before it runs (seccomp.go).
	Seccomp *SeccompProgram
	// BeforeStart, when set, runs once connected to the server and before
	// the first process is created; an error ends Run with it. The OCI
	// runtime holds a created container here until its start.
	BeforeStart func() error
	// Started, when set, is called once the first process has been
	// created and its exec planned, as its first thread starts running.
	// The OCI runtime's start returns then, as runc's returns once the
	// container's process has exec'd.
	Started func()
	// FirstRun, when set, is called once, when a thread of the
	// application first comes back from running its code (a system call
	// or a fault): the platform did run it. do's --platform kvm watches
	// for it, because KVM in nested virtualization never comes back.
	FirstRun func()
	// Signals carries signals from outside the application (the OCI
	// runtime's kill, do's forwarded SIGINT) to the server while Run
	// runs; each is answered on its Result channel.
	Signals <-chan Signal
	// MaxProcesses caps the application's live processes: a fork beyond
	// it fails with EAGAIN (default DefaultMaxProcesses; proclimit.go).
	MaxProcesses int
	// WindowChanged says the terminal behind the stdio changed size (the
	// caller's SIGWINCH): Run reads the new size from the first terminal
	// among Stdin, Stdout, Stderr and tells the server, which sends the
	// application SIGWINCH.
	WindowChanged <-chan struct{}
	// Sysctls set /proc/sys values of the sandbox (Hello.sysctls; the
	// server refuses names it does not serve).
	Sysctls map[string]string
	// Devices are extra nodes of the sandbox's /dev (Hello.devices).
	Devices []*pb.DeviceNode
	// Network, when set, is the network the sandbox brings
	// (--network=sandbox; OpenSandboxNetwork): its configuration goes in
	// every Hello and its frames travel on the session while Run runs.
	// The caller closes it after Run.
	Network *SandboxNetwork
	// Spawns carries requests to add processes to the running
	// application (spawn.go) while Run runs; each is answered on its
	// Result channel.
	Spawns <-chan SpawnRequest
}

// User is the identity of the first process.
type User struct {
	UID, GID uint32
	// Groups are the supplementary groups.
	Groups []uint32
	// Caps are the capability sets (nil: root gets all, others none).
	Caps *pb.CapSets
}

// Rlimit is one resource limit (Resource is RLIMIT_*).
type Rlimit struct {
	Resource   int
	Soft, Hard uint64
}

// Signal asks the server to send Signo to the application's first process
// (every process with All), from outside it: with AsContainer, as Linux
// treats a signal to a PID namespace's init from an ancestor namespace
// (only signals it handles, and SIGKILL). Result, when set, receives the
// outcome (nil, or an error wrapping the errno; ESRCH when nothing was
// signalled).
type Signal struct {
	Signo       int
	All         bool
	AsContainer bool
	// Pid, when set, names one spawned process to signal (All is then
	// ignored).
	Pid int32
	// Foreground sends it to the terminal's foreground process group
	// (a key typed at the terminal) instead.
	Foreground bool
	Result     chan<- error
}

// ErrServerLost is returned by Run when the connection to the remote
// sentry died before the application exited.
var ErrServerLost = errors.New("client: lost the connection to the remote sentry")

// StartError is returned by Run when the server refused to start the
// application (for example ENOENT for a missing executable).
type StartError struct {
	Errno unix.Errno
	// Path is what the server could not use, when it said: the working
	// directory (Cwd), else the program.
	Path string
	Cwd  bool
}

// startErrorOf is the StartError of a failed Start or Spawn reply.
func startErrorOf(r *pb.Reply) *StartError {
	return &StartError{Errno: unix.Errno(r.Errno), Path: string(r.FailedPath), Cwd: r.FailedCwd}
}

func (e *StartError) Error() string {
	switch {
	case e.Path == "":
		return fmt.Sprintf("start: %v", e.Errno)
	case e.Cwd:
		return fmt.Sprintf("start: working directory %q: %v", e.Path, e.Errno)
	}
	return fmt.Sprintf("start: %q: %v", e.Path, e.Errno)
}

// Unwrap lets errors.Is(err, unix.ENOENT) work.
func (e *StartError) Unwrap() error { return e.Errno }

// client is one Run.
type client struct {
	cfg  Config
	log  hclog.Logger
	ctx  context.Context
	conn *remoteSession
	// rcache is the read cache (readcache.go); nil with
	// Config.NoReadCache. Its own lock.
	rcache *readCache
	// mmapsReused counts the mmaps mapped from a plan kept on a lease
	// (mmapreuse.go), mmapsReplanned those of them posted for the
	// server's reference (the file was mapped by no process), and
	// mmapsForwarded the file mmaps waited for. Atomic.
	mmapsReused, mmapsReplanned, mmapsForwarded atomic.Uint64
	// appFaults counts the application's memory faults the client
	// handled (each a trap to it and back).
	appFaults atomic.Uint64
	// pcache is the path cache (pathcache.go); nil with
	// Config.NoReadCache. Immutable after newClient; own lock.
	pcache *pathCache
	// idle are the idle leases of epoll descriptions (idleepoll.go;
	// asked only with the read cache). Its own lock.
	idle idleEpolls
	// renewal is the renewals of both caches' leases (leaserenew.go);
	// nil with Config.NoReadCache. Immutable after newClient; own lock.
	renewal *leaseRenewal
	// opens is what posted opens need besides the caches (postopen.go);
	// its own lock.
	opens postedOpens
	// openUse is the outcome of recent read-only opens (openuse.go);
	// its own lock.
	openUse openUse
	// pipe is what the client knows to post calls without waiting
	// (writebehind.go); its own lock.
	pipe pipelineState
	// sendRooms is the room of the sockets that take writes behind
	// (sendbehind.go); its own lock.
	sendRooms sendRooms
	// pipeRooms is the room of the pipes' write ends that take writes
	// behind, kept as the sockets' (pipebehind.go); its own lock.
	pipeRooms sendRooms
	// pipeAhead are the copies of pipes' bytes reads brought ahead
	// (pipebehind.go); its own lock.
	pipeAhead pipeAhead
	// uts are the host and domain names sethostname and setdomainname
	// set (uts.go); its own lock.
	uts utsNames
	// meta is what the client knows to post metadata calls
	// (metapipe.go); its own lock.
	meta metaPipeline
	// sigs are the copies of the signal tables rt_sigaction is answered
	// from (sigactions.go); its own lock.
	sigs sigActions
	// initPID is the application's first process, whose exit ends the
	// application (postexit.go). Set before its task starts; atomic.
	initPID atomic.Int32
	// rl is the compacted replay log.
	rl   *replaylog.Log
	plat gvplatform.Platform
	// patcher patches system call sites on systrap (syscallpatch.go);
	// its own lock.
	patcher syscallPatcher
	// lockThreads pins each task goroutine to its OS thread. Only ptrace
	// needs it (its stub threads are traced by one host thread); on
	// systrap it would turn the platform's dispatcher yields into a
	// thread handoff per switch. Immutable.
	lockThreads bool
	// placer runs the client on one CPU while that pays (cpuplace.go);
	// nil when it cannot (set at start).
	placer *cpuPlacer
	mf     *pgalloc.MemoryFile
	// vdso is mapped by every exec (vdso.go); nil if it could not be
	// made (the clock reads then trap). Set before the first task.
	vdso *vdso

	files *fileCache
	// futexRoot is forked for every address space so that shared futexes
	// (on shared mappings) work across processes.
	futexRoot *futex.Manager
	// futexWaiters are the tasks waiting on futexes (futex.go); it has
	// its own lock.
	futexWaiters futexWaiters

	// wg counts live task goroutines.
	wg sync.WaitGroup

	mu sync.Mutex
	// tasks maps thread IDs to live tasks. Protected by mu.
	tasks map[int32]*task
	// unreaped are the processes made here that the server has not
	// reaped, by pid (childtimes.go). Protected by mu.
	unreaped map[int32]*process
	// early holds pushes for thread IDs not yet known (a push for a new
	// thread can arrive before the parent handled its CloneResult).
	// Protected by mu.
	early map[int32][]*pb.Push
	// exited is set once the application is over. Protected by mu.
	exited bool
	// status is the application's wait status. Protected by mu.
	status int

	// done is closed when the application exits.
	done chan struct{}
	// farewell is closed when the server acknowledges Goodbye.
	farewell     chan struct{}
	farewellOnce sync.Once
	// firstRun calls cfg.FirstRun once; task loops run it.
	firstRun sync.Once

	stdin *stdinReader
	// ownStdioTTY says which of the client's own fds 0-2 Hello.stdio
	// called terminals (filekind.go). Set before the connection is made;
	// read-only after.
	ownStdioTTY [3]bool
	// ids caches the processes' ids from the server's records
	// (procids.go); own lock.
	ids procIDCache
	// terminals are the host terminals whose modes the application set
	// (ttymodes.go); own lock.
	terminals hostTerminals
	// sets are the stdio sets of spawned processes (spawn.go), kept
	// until Run returns; nextSet is the last id handed out. Protected by
	// mu.
	sets    map[uint32]*spawnStdio
	nextSet uint32

	// enosys records syscall names the server answered ENOSYS for.
	enosys sync.Map
	// inotifyUsed says a process made an inotify instance (a posted
	// open+close pair is then sent, for the watches to see: unpostOpen).
	inotifyUsed atomic.Bool
	// ptraceUsed says a process made a ptrace call or a task got a
	// tracer: waits are then the server's to answer (childwait.go).
	ptraceUsed atomic.Bool
	// shm knows which mapped files are SysV segments (shm.go); own lock.
	shm shmSegments

	nextAnonID atomic.Uint64
	// mapIndex is which ranges of each address space the client's
	// Mappables map (mapindex.go); its own leaf lock.
	mapIndex mappableIndex
}

var (
	platMu    sync.Mutex
	platforms = map[string]gvplatform.Platform{}
	// platOpts are the options the platforms were made with. Protected
	// by platMu.
	platOpts platform.Options
)

// getPlatform returns the process-wide instance of the named platform:
// platforms hold global state (stub processes), so one per name is made.
func getPlatform(name string, opts platform.Options) (gvplatform.Platform, error) {
	if name == "" {
		name = platform.Default
	}
	platMu.Lock()
	defer platMu.Unlock()
	if p, ok := platforms[name]; ok {
		if opts != platOpts {
			return nil, fmt.Errorf("platform %q requested with %+v but this process made it with %+v", name, opts, platOpts)
		}
		return p, nil
	}
	for other := range platforms {
		// See platform/doc.go: systrap mseals its stub region, after
		// which the ptrace platform cannot start in this process.
		return nil, fmt.Errorf("platform %q requested but this process already runs %q; use one platform per process", name, other)
	}
	p, err := platform.NewWithOptions(name, opts)
	if err != nil {
		return nil, err
	}
	platforms[name] = p
	platOpts = opts
	return p, nil
}

// Run runs the application described by cfg against the remote sentry at
// cfg.Server and returns its Linux wait status.
func Run(ctx context.Context, cfg Config) (int, error) {
	lg := cfg.Log
	if lg == nil {
		if cfg.Strace {
			lg = hclog.New(&hclog.LoggerOptions{Name: "client", Output: os.Stderr, Level: hclog.Info})
		} else {
			lg = hclog.NewNullLogger()
		}
	}
	// gVisor's log goes to lg before the calibration logs "ready" (on
	// stderr, in the application's output, if it came first).
	platform.SetLogger(lg)
	// The clock's calibration next: it is ready firstUpdateAfter later,
	// before the start-up below ends and the application reads the
	// clock (clock.go).
	appClock.begin()
	if cfg.Stdin == nil {
		cfg.Stdin = os.Stdin
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
		if cfg.Hostname == "" {
			cfg.Hostname = "localhost"
		}
	}
	if cfg.ClientID == "" {
		var b [8]byte
		randRead(b[:])
		cfg.ClientID = fmt.Sprintf("client-%x", b)
	}
	if len(cfg.Argv) == 0 {
		return 0, errors.New("client: empty argv")
	}

	plat, err := getPlatform(cfg.Platform, platform.Options{NoSyscallPatching: cfg.NoSyscallPatching, FastPath: cfg.FastPath})
	if err != nil {
		return 0, err
	}
	mf, err := platform.NewMemoryFile()
	if err != nil {
		return 0, err
	}

	c := &client{
		cfg:         cfg,
		lockThreads: cfg.Platform == "ptrace",
		patcher:     syscallPatcher{enabled: (cfg.Platform == "" || cfg.Platform == platform.Systrap) && !cfg.NoSyscallPatching},
		log:         lg,
		ctx:         ctx,
		plat:        plat,
		mf:          mf,
		tasks:       make(map[int32]*task),
		early:       make(map[int32][]*pb.Push),
		done:        make(chan struct{}),
		farewell:    make(chan struct{}),
		uts:         newUTSNames(cfg.Hostname),
	}
	c.rl = cfg.ReplayLog
	if c.rl == nil {
		c.rl = replaylog.New()
	}
	c.rl.SetWarn(lg.Warn)
	c.files = newFileCache(c)
	go c.files.flusher()
	c.futexRoot = futex.NewManager()
	c.stdin = &stdinReader{c: c, r: cfg.Stdin, retain: !c.rl.Disabled(), tty: isTerminal(cfg.Stdin)}

	// onReply folds a packed write's record and offset (Reply.written).
	hello := &pb.Hello{ClientId: cfg.ClientID, Stdio: cfg.StdioTTY, Sysctls: cfg.Sysctls, Devices: cfg.Devices,
		Features: pb.FeaturePostedWrites | pb.FeatureFatalSignals | pb.FeatureDurableHeld}
	if !cfg.NoReadCache {
		c.renewal = &leaseRenewal{}
		c.rcache = newReadCache(c.renewal)
		c.pcache = newPathCache(c.renewal)
		c.pcache.noAhead = cfg.NoListingsAhead
		c.pcache.creations = &c.rcache.creations
		hello.ReadLeases, hello.PathLeases = true, true
		hello.CompleteNames = !cfg.NoCompleteNames
		// The revocations of its own changes come with its replies,
		// unacknowledged (onLeaseRevoke).
		hello.OwnRevokes = true
	}
	if cfg.Network != nil {
		hello.Network = cfg.Network.Config()
	}
	if hello.Stdio == nil {
		hello.Stdio = detectStdio(cfg.Stdin, cfg.Stdout, cfg.Stderr)
	}
	c.ownStdioTTY = terminalStreams(hello.Stdio)
	servers := cfg.Servers
	if len(servers) == 0 {
		servers = []string{cfg.Server}
	}
	local := true
	for _, s := range servers {
		t, err := transport.ParseTarget(s)
		if err != nil {
			mf.Destroy()
			return 0, err
		}
		local = local && t.IsLocal()
	}
	if cfg.CPUPlacement {
		c.placer = newCPUPlacer(c, local)
	}
	if cfg.LogDir != "" {
		dl, err := replaylog.OpenDurable(cfg.LogDir, cfg.ClientID, c.rl, lg)
		if err != nil {
			mf.Destroy()
			return 0, err
		}
		defer func() {
			if err := dl.Close(); err != nil {
				lg.Error("durable client log", "path", dl.Path(), "err", err)
			}
		}()
	}
	c.conn = newSession(c, c.rl, servers, hello)
	if c.pcache != nil {
		c.pcache.sendHeld = c.conn.sendHeld
	}
	c.conn.onRecovery = cfg.OnRecovery
	if err := c.conn.connect(ctx); err != nil {
		c.conn.Close()
		mf.Destroy()
		return 0, err
	}
	if cfg.Network != nil {
		cfg.Network.start(c.conn.SendFrames)
	}
	if v, err := newVDSO(mf); err != nil {
		lg.Warn("no vdso: the application's clock reads trap", "err", err)
	} else {
		c.vdso = v
	}
	status, err := c.run()
	c.shutdown()
	return status, err
}

func (c *client) run() (int, error) {
	if c.cfg.BeforeStart != nil {
		if err := c.cfg.BeforeStart(); err != nil {
			return 0, err
		}
	}
	if c.cfg.WindowChanged != nil {
		// The terminal may have been resized since Hello (a shim sizes a
		// container's console between create and start).
		if err := c.resize(); err != nil {
			c.log.Debug("window size not sent", "err", err)
		}
	}
	uid, gid := uint32(os.Getuid()), uint32(os.Getgid())
	var groups []uint32
	var caps *pb.CapSets
	if u := c.cfg.User; u != nil {
		uid, gid, groups, caps = u.UID, u.GID, u.Groups, u.Caps
	}
	ls, err := limitsOf(c.cfg.Rlimits)
	if err != nil {
		return 0, fmt.Errorf("start: %w", err)
	}
	start := &pb.Start{
		Argv:       pb.BytesList(c.cfg.Argv),
		Env:        pb.BytesList(c.cfg.Env),
		Cwd:        []byte(c.cfg.Cwd),
		Filename:   []byte(c.cfg.Filename),
		Uid:        uid,
		Gid:        gid,
		Groups:     groups,
		Caps:       caps,
		Umask:      currentUmask(),
		NoNewPrivs: c.cfg.NoNewPrivileges,
		Mounts:     c.cfg.Mounts,

		OomScoreAdj: c.cfg.OOMScoreAdj,

		RootPropagation: c.cfg.RootPropagation,
	}
	serverLimits(ls, start)
	reply, err := c.conn.Call(c.ctx, &pb.Call{Op: &pb.Call_Start{Start: start}})
	if err != nil {
		return 0, fmt.Errorf("start: %w", err)
	}
	if reply.Errno != 0 {
		return 0, startErrorOf(reply)
	}
	if ex := reply.GetExit(); ex != nil {
		// The server ended the application at once.
		return int(ex.WaitStatus), nil
	}
	plan := reply.GetExec()
	if plan == nil {
		return 0, fmt.Errorf("start: reply carries no exec plan")
	}
	t, err := c.newInitialTask(plan)
	if err != nil {
		return 0, fmt.Errorf("start: %w", err)
	}
	c.initPID.Store(t.proc.pid)
	c.startTask(t)
	if c.cfg.Started != nil {
		c.cfg.Started()
	}
	if c.cfg.Signals != nil || c.cfg.WindowChanged != nil || c.cfg.Spawns != nil {
		go c.forwardSignals()
	}

	select {
	case <-c.done:
		c.mu.Lock()
		st := c.status
		c.mu.Unlock()
		return st, nil
	case <-c.conn.Done():
		// The app may have exited just as the session ended.
		select {
		case <-c.done:
			c.mu.Lock()
			st := c.status
			c.mu.Unlock()
			return st, nil
		default:
		}
		return 0, fmt.Errorf("%w: %v", ErrServerLost, c.conn.Err())
	case <-c.ctx.Done():
		return 0, c.ctx.Err()
	}
}

// forwardSignals sends each Signal from cfg.Signals to the server as a
// Kill call, and each window change as a TtyResize, until the application
// is over.
func (c *client) forwardSignals() {
	for {
		select {
		case s := <-c.cfg.Signals:
			err := c.kill(s)
			if s.Result != nil {
				s.Result <- err
			}
		case <-c.cfg.WindowChanged:
			if err := c.resize(); err != nil {
				c.log.Debug("window size not forwarded", "err", err)
			}
		case req := <-c.cfg.Spawns:
			// On a goroutine of its own: a spawn waits for the server,
			// which may be recovering, and must not hold up a kill.
			go func() {
				s, err := c.spawn(req)
				if req.Result != nil {
					req.Result <- SpawnResult{Spawned: s, Err: err}
				}
			}()
		case <-c.done:
			return
		}
	}
}

// resize sends the terminal's current size to the server.
func (c *client) resize() error {
	for _, v := range []any{c.cfg.Stdin, c.cfg.Stdout, c.cfg.Stderr} {
		f, ok := v.(*os.File)
		if !ok {
			continue
		}
		ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
		if err != nil {
			continue
		}
		reply, err := c.conn.Call(c.ctx, &pb.Call{Op: &pb.Call_TtyResize{TtyResize: &pb.TtyResize{Winsize: winsizeBytes(ws)}}})
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

func (c *client) kill(s Signal) error {
	reply, err := c.conn.Call(c.ctx, &pb.Call{Op: &pb.Call_Kill{Kill: &pb.Kill{Signo: int32(s.Signo), All: s.All, AsContainer: s.AsContainer, Pid: s.Pid, Foreground: s.Foreground}}})
	if err != nil {
		select {
		case <-c.done:
			// The signal ended the application, and the client shut
			// the connection down before the reply came back: the
			// kill was served (runc's `kill --all KILL` as well).
			return nil
		default:
		}
		return fmt.Errorf("kill: %w", err)
	}
	if reply.Errno != 0 {
		return fmt.Errorf("kill: %w", unix.Errno(reply.Errno))
	}
	return nil
}

// appExit records the application's end.
func (c *client) appExit(status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.exited {
		return
	}
	c.exited = true
	c.status = status
	close(c.done)
	// Spawned processes end with the application (their PID namespace).
	for _, s := range c.sets {
		s.finishLocked(status)
		s.releaseLocked()
	}
}

// shutdown stops every task, says goodbye and releases resources.
func (c *client) shutdown() {
	c.mu.Lock()
	if !c.exited {
		c.exited = true
		close(c.done)
	}
	for _, s := range c.sets {
		s.finishLocked(int(unix.SIGKILL))
		s.releaseLocked()
	}
	ts := make([]*task, 0, len(c.tasks))
	for _, t := range c.tasks {
		ts = append(ts, t)
	}
	c.mu.Unlock()
	for _, t := range ts {
		t.kill()
	}
	c.terminals.restore()
	// Stores through shared file mappings reach the server before the
	// client leaves.
	if err := c.files.flushAll(gvcontext.Background()); err != nil {
		c.log.Warn("write-back of shared file mappings at exit failed", "err", err)
	}
	c.conn.beginShutdown()
	// What the workload cost in round trips (test/e2e TestRoundTripsPerFile
	// reads this line).
	chanBatches, socketSent, postedLate := c.conn.channelBatches()
	recv := c.conn.received()
	rt := readRuntimeCounts()
	wbMade, wbReused := c.rl.WriteBufferCounts()
	ahead := c.pcache.aheadCountsNow()
	cpuWindows, cpuConfined, cpuMulti, cpuMultiFloats := c.placer.windowCounts()
	creationWaits, creationWaitsLate := c.pcache.creationWaitCounts()
	revokes, revokesInReplies, acks, revokedIDs := c.rcache.revokeCounts()
	lentFDs, lentReads, lentReadBytes := c.rcache.lentCounts()
	c.log.Debug("forwarded calls", "waited", c.conn.waitedCalls.Load(), "posted", c.conn.postedCalls.Load(), "posted_batches", c.conn.postedBatches(),
		"channel_batches", chanBatches, "socket_sent", socketSent, "posted_late", postedLate,
		"socket_received", recv.Messages, "received_posted_only", recv.PostedOnly, "posted_replies_received", recv.PostedReplies, "heartbeats_received", recv.Heartbeats, "pushes_received", recv.Pushes,
		"read_cache_hits", c.rcache.hitCount(), "leases", c.rcache.grantCount(), "leases_ahead", c.rcache.aheadCounts(), "mmaps_reused", c.mmapsReused.Load(), "mmaps_replanned", c.mmapsReplanned.Load(), "mmaps_forwarded", c.mmapsForwarded.Load(), "app_faults", c.appFaults.Load(), "mapped_refreshes", c.files.refreshes.Load(),
		"page_reads", c.files.pageReads.Load(), "page_read_bytes", c.files.pageReadBytes.Load(), "mapped_fds", c.files.hostFDs.Load(), "mapped_fd_reads", c.files.hostReads.Load(), "mapped_fd_read_bytes", c.files.hostReadBytes.Load(), "lent_fds", lentFDs, "lent_fd_reads", lentReads, "lent_fd_read_bytes", lentReadBytes, "pages_ahead", c.files.pagesAhead.Load(), "pages_ahead_bytes", c.files.pagesAheadBytes.Load(), "file_releases", c.files.releases.Load(), "file_releases_posted", c.files.releasesPosted.Load(), "path_cache_hits", c.pcache.hitCount(), "idle_epolls", c.idle.hits.Load(), "idle_leases", c.idle.grants.Load(), "path_answers_kept", c.pcache.keptCount(),
		"posted_opens", c.opens.posted.Load(), "posted_creates", c.opens.created.Load(), "posted_unlinks", c.opens.removed.Load(), "posted_mkdirs", c.opens.mkdirs.Load(),
		"unposted_opens", c.opens.unposted.Load(), "opens_moved_to_dups", c.opens.movedToDup.Load(), "dups_dropped", c.opens.dupsDropped.Load(), "unposted", c.conn.unposted.Load(), "merged_writes", c.conn.mergedWrites.Load(),
		"ahead_answered", ahead.answered, "ahead_asks", ahead.asks, "ahead_waits", ahead.waits, "ahead_missed", ahead.missed,
		"waited_time", c.conn.callWaits.String(), "ahead_wait_time", c.pcache.aheadWaitTimeNow(),
		"creation_waits", creationWaits, "creation_waits_late", creationWaitsLate,
		"goroutines_started", rt.goroutines,
		"heap_allocs", rt.allocs, "heap_alloc_bytes", rt.allocBytes, "gc_cycles", rt.gcCycles,
		"cpu_confinements", c.placer.confinementCount(), "cpu_releases", c.placer.releaseCount(), "cpu_windows", cpuWindows, "cpu_windows_confined", cpuConfined, "cpu_windows_multi", cpuMulti, "cpu_windows_multi_floated", cpuMultiFloats,
		"write_buffers_made", wbMade, "write_buffers_reused", wbReused, "lease_revokes", revokes, "lease_revokes_in_replies", revokesInReplies, "lease_acks", acks, "lease_ids_revoked", revokedIDs)
	select {
	case <-c.conn.Done():
	default:
		// A stream that ended (the server went away first) brings no
		// Farewell: waiting for one would only delay the exit.
		streamDone := c.conn.streamDone()
		if c.conn.Send(&pb.ClientMessage{Msg: &pb.ClientMessage_Goodbye{Goodbye: &pb.Goodbye{}}}) == nil {
			wait := 2 * time.Second
			if c.cfg.Network != nil {
				// The server lets the sandbox network's closed
				// connections drain first (up to 5 s).
				wait += 6 * time.Second
			}
			select {
			case <-c.farewell:
			case <-c.conn.Done():
			case <-streamDone:
			case <-time.After(wait):
				c.log.Warn("no Farewell from the server")
			}
		}
	}
	// Tasks blocked in forwarded calls return once the connection closes.
	c.conn.Close()
	waited := make(chan struct{})
	go func() { c.wg.Wait(); close(waited) }()
	select {
	case <-waited:
		c.logPatchCounts()
		c.files.releaseAll()
		if c.vdso != nil {
			c.vdso.release()
		}
		c.mf.Destroy()
	case <-time.After(5 * time.Second):
		c.log.Warn("application threads did not stop; leaking their memory")
		if c.vdso != nil {
			appClock.unregister(c.vdso.params) // its memory is left as it is
		}
	}
}

// isExited says the application is over.
func (c *client) isExited() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exited
}

// lookupTask returns the live task tid, or nil.
func (c *client) lookupTask(tid int32) *task {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tasks[tid]
}

// onPush handles a server push, in order with replies.
func (c *client) onPush(p *pb.Push) {
	switch m := p.Msg.(type) {
	case *pb.Push_State, *pb.Push_Durable, *pb.Push_Durables:
		if c.log.IsTrace() && p.GetState() != nil {
			c.log.Trace("state pushed", "fd_records", fdRecordsText(p.GetState().GetRecords()))
		}
		c.rl.FoldPush(p)
		c.observeStdin(p.GetState().GetRecords())
		c.ids.observe(p.GetState().GetRecords())
		c.forgetReaped(p.GetState().GetRecords())
		c.pipe.observe(p.GetState().GetRecords())
		c.sigs.observe(p.GetState().GetRecords())
		c.pcache.observe(p.GetState().GetRecords())
		c.rcache.observeClosed(p.GetState().GetRecords())
	case *pb.Push_SpawnExit:
		if m.SpawnExit != nil {
			c.onSpawnExit(m.SpawnExit)
		}
	case *pb.Push_StdioSetClosed:
		if m.StdioSetClosed != nil {
			c.onStdioSetClosed(m.StdioSetClosed)
		}
	case *pb.Push_Output:
		if c.conn != nil && !c.conn.PrintOutput(m.Output.Seq) {
			return
		}
		w, errw := c.cfg.Stdout, c.cfg.Stderr
		if m.Output.StdioSet != 0 {
			s := c.setOf(m.Output.StdioSet)
			if s == nil {
				c.log.Debug("output for an unknown stdio set", "set", m.Output.StdioSet)
				return
			}
			w, errw = s.stdout, s.stderr
		}
		if m.Output.Fd == 2 {
			w = errw
		}
		if _, err := w.Write(m.Output.Data); err != nil {
			c.log.Debug("stdio write failed", "fd", m.Output.Fd, "err", err)
		}
	case *pb.Push_StdinWant:
		in := c.stdin
		if m.StdinWant.StdioSet != 0 {
			s := c.setOf(m.StdinWant.StdioSet)
			if s == nil {
				c.log.Debug("stdin wanted of an unknown stdio set", "set", m.StdinWant.StdioSet)
				return
			}
			in = s.stdin
		}
		in.want(int(m.StdinWant.Max))
	case *pb.Push_ProcQuery:
		c.onProcQuery(m.ProcQuery)
	case *pb.Push_LeaseRevoke:
		c.onLeaseRevoke(m.LeaseRevoke)
	case *pb.Push_JobControl:
		c.onJobControl(p)
	case *pb.Push_TtyModes:
		c.onTtyModes(m.TtyModes)
	case *pb.Push_Ptrace:
		if m.Ptrace != nil {
			c.onPtraceUpdate(p)
		}
	case *pb.Push_Signal:
		c.mu.Lock()
		t := c.tasks[m.Signal.Tid]
		if t == nil {
			c.early[m.Signal.Tid] = append(c.early[m.Signal.Tid], p)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		if m.Signal.ProcessDirected && !pushIgnores(m.Signal) {
			// An ignored one stays with the server's thread (the
			// group leader), whose mask alone keeps it (Linux).
			t = t.proc.takerOf(linux.Signal(m.Signal.Signo), t)
		}
		t.queueSignalPush(m.Signal)
	case *pb.Push_TaskExit:
		if m.TaskExit.AppExit {
			c.appExit(int(m.TaskExit.WaitStatus))
		}
		c.mu.Lock()
		t := c.tasks[m.TaskExit.Tid]
		if t == nil {
			c.early[m.TaskExit.Tid] = append(c.early[m.TaskExit.Tid], p)
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		t.kill()
	}
}

// registerTask makes t visible to pushes and replays early pushes.
func (c *client) registerTask(t *task) {
	c.mu.Lock()
	c.tasks[t.tid] = t
	early := c.early[t.tid]
	delete(c.early, t.tid)
	c.mu.Unlock()
	for _, p := range early {
		switch m := p.Msg.(type) {
		case *pb.Push_Signal:
			t.queueSignalPush(m.Signal)
		case *pb.Push_TaskExit:
			t.kill()
		case *pb.Push_JobControl:
			t.proc.applyJobControl(m.JobControl)
		case *pb.Push_Ptrace:
			t.applyPtraceUpdate(m.Ptrace)
		}
	}
}

// unregisterTask removes t (if still registered under its tid).
func (c *client) unregisterTask(t *task) {
	c.mu.Lock()
	if c.tasks[t.tid] == t {
		delete(c.tasks, t.tid)
	}
	c.mu.Unlock()
}

// stdinReader serves StdinWant pushes, one read at a time. It numbers the
// stdin stream (StdinData.offset) and, for recovery, retains what it sent
// until the server reports the application read it (StdinState.read); a
// restored server gets the rest in Restore.stdin_unread.
type stdinReader struct {
	c *client
	r io.Reader
	// retain is whether sent bytes are retained (a replay log is kept).
	// Immutable.
	retain bool
	// set is the stdio set whose stdin this is (0: the client's own).
	// Immutable.
	set uint32
	// tty says r is a terminal, where end of file (the EOF key) ends one
	// read, not the stream. Immutable.
	tty bool

	mu sync.Mutex
	// busy is set while a read is outstanding; wanted counts pushes that
	// arrived meanwhile (each gets its own read afterwards). Protected by
	// mu.
	busy   bool
	wanted []int
	eof    bool
	// sent is the stream position of the next byte to send. Protected by
	// mu.
	sent uint64
	// retained are the sent bytes at stream positions [base, sent) that
	// the application has not been reported to read. Protected by mu.
	base     uint64
	retained []byte
}

// observeStdin hands the StdinState records among recs to the stdin
// readers they are about.
func (c *client) observeStdin(recs []*pb.StateRecord) {
	for _, r := range recs {
		st := r.GetStdin()
		if st == nil {
			continue
		}
		if st.StdioSet == 0 {
			c.stdin.observe(st)
		} else if s := c.setOf(st.StdioSet); s != nil {
			s.stdin.observe(st)
		}
	}
}

// observe drops the retained bytes a StdinState record reports read.
func (s *stdinReader) observe(st *pb.StdinState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.Read > s.base {
		drop := min(st.Read-s.base, uint64(len(s.retained)))
		s.retained = s.retained[drop:]
		if len(s.retained) == 0 {
			s.retained = nil // let the old buffer go
		}
		s.base += drop
	}
}

// unread returns the retained bytes: sent, not yet reported read.
func (s *stdinReader) unread() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.retained...)
}

func (s *stdinReader) want(max int) {
	if max <= 0 {
		max = 64 << 10
	}
	if max > 1<<20 {
		max = 1 << 20
	}
	s.mu.Lock()
	if s.busy {
		s.wanted = append(s.wanted, max)
		s.mu.Unlock()
		return
	}
	s.busy = true
	s.mu.Unlock()
	go s.loop(max)
}

func (s *stdinReader) loop(max int) {
	for {
		var data []byte
		eof := false
		s.mu.Lock()
		alreadyEOF := s.eof
		s.mu.Unlock()
		if alreadyEOF {
			eof = true
		} else {
			buf := make([]byte, max)
			n, err := s.r.Read(buf)
			data = buf[:n]
			if err != nil {
				eof = true
				if !s.tty || err != io.EOF {
					s.mu.Lock()
					s.eof = true
					s.mu.Unlock()
				}
			}
		}
		s.mu.Lock()
		off := s.sent
		s.sent += uint64(len(data))
		if s.retain {
			s.retained = append(s.retained, data...)
		}
		s.mu.Unlock()
		s.c.conn.Send(&pb.ClientMessage{Msg: &pb.ClientMessage_Stdin{Stdin: &pb.StdinData{Data: data, Eof: eof, Offset: off, StdioSet: s.set}}})
		s.mu.Lock()
		if len(s.wanted) == 0 {
			s.busy = false
			s.mu.Unlock()
			return
		}
		max = s.wanted[0]
		s.wanted = s.wanted[1:]
		s.mu.Unlock()
	}
}

// isTerminal says r is a terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// detectStdio describes fds 0-2 for Hello.
func detectStdio(in io.Reader, out, errw io.Writer) []*pb.StdioInfo {
	var infos []*pb.StdioInfo
	for fd, v := range []any{in, out, errw} {
		info := &pb.StdioInfo{Fd: int32(fd)}
		if f, ok := v.(*os.File); ok {
			if tio, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
				info.IsTty = true
				info.Termios = termiosBytes(tio)
				if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil {
					info.Winsize = winsizeBytes(ws)
				}
			}
		}
		infos = append(infos, info)
	}
	return infos
}

func currentUmask() uint32 {
	// There is no way to read the umask without setting it.
	m := unix.Umask(0o022)
	unix.Umask(m)
	return uint32(m)
}
