package platform

import (
	stdcontext "context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"gvisor.dev/gvisor/pkg/context"
	"gvisor.dev/gvisor/pkg/cpuid"
	"gvisor.dev/gvisor/pkg/log"
	"gvisor.dev/gvisor/pkg/memutil"
	"gvisor.dev/gvisor/pkg/ring0"
	"gvisor.dev/gvisor/pkg/sentry/limits"
	"gvisor.dev/gvisor/pkg/sentry/pgalloc"
	gvplatform "gvisor.dev/gvisor/pkg/sentry/platform"
	"gvisor.dev/gvisor/pkg/sentry/platform/kvm"
	"gvisor.dev/gvisor/pkg/sentry/platform/ptrace"
	"gvisor.dev/gvisor/pkg/sentry/platform/systrap"
)

// Names of the supported platforms.
const (
	Systrap = "systrap"
	Ptrace  = "ptrace"
	KVM     = "kvm"
)

// Default is the platform used when none is named.
const Default = Systrap

var initOnce sync.Once

// Init performs the process-wide setup every platform needs. It is
// idempotent and is called by New.
func Init() {
	initOnce.Do(func() {
		cpuid.Initialize()
	})
}

// Options tune the platform New makes.
type Options struct {
	// NoSyscallPatching builds systrap's stubs without syscall patching
	// (runsc's --systrap-disable-syscall-patching): they never report a
	// site as patchable, and every system call traps through seccomp.
	// Systrap reads it once per process (the first New wins).
	NoSyscallPatching bool
	// FastPath says whether systrap's stub threads and task goroutines
	// spin waiting for each other's next state (its fast path) or sleep
	// in a futex. Systrap reads it once per process (the first New wins).
	FastPath FastPathMode
}

// FastPathMode is systrap's fast path setting (Options.FastPath).
type FastPathMode int

// FastPath settings.
const (
	// FastPathAuto is FastPathOff when this process runs Go on at most
	// fastPathMinCPUs CPUs (the machine's, its affinity's or GOMAXPROCS,
	// whichever is fewest: ConfineCPUs lowers the last), else FastPathOn
	// (gVisor's default).
	FastPathAuto FastPathMode = iota
	// FastPathOn lets systrap spin when its own measurements say it
	// pays (runsc's default).
	FastPathOn
	// FastPathOff never spins (runsc's --systrap-disable-fast-path).
	FastPathOff
)

// fastPathMinCPUs is the most CPUs on which FastPathAuto turns the fast
// path off: one, as gVisor does. On two CPUs, with the server and gofer
// on the same machine, a spinning stub or task goroutine can hold the
// CPU the server needs, and under load the spin costs CPU (a forwarded
// call then paid the spin and the futex sleep), but on a quiet machine
// it halves a trap's latency (a getppid loop's wall ×0.47 against off,
// the bench's micro rows 2–4× slower without it) while whole workloads
// move within ±13 % (docs/BENCHMARKS.md, "The levers, counted"): so
// runsc's default stays, and a loaded host may turn it off.
const fastPathMinCPUs = 1

// ParseFastPath parses "auto", "on" or "off".
func ParseFastPath(s string) (FastPathMode, error) {
	switch s {
	case "auto", "":
		return FastPathAuto, nil
	case "on":
		return FastPathOn, nil
	case "off":
		return FastPathOff, nil
	}
	return FastPathAuto, fmt.Errorf("fast path %q: want auto, on or off", s)
}

// String returns the mode as ParseFastPath reads it.
func (m FastPathMode) String() string {
	switch m {
	case FastPathOn:
		return "on"
	case FastPathOff:
		return "off"
	}
	return "auto"
}

// disabled says whether m turns the fast path off on a machine of cpus
// CPUs.
func (m FastPathMode) disabled(cpus int) bool {
	switch m {
	case FastPathOn:
		return false
	case FastPathOff:
		return true
	}
	return cpus <= fastPathMinCPUs
}

// New constructs the named platform ("" means Default) with default
// Options.
func New(name string) (gvplatform.Platform, error) {
	return NewWithOptions(name, Options{})
}

// NewWithOptions constructs the named platform ("" means Default).
func NewWithOptions(name string, opts Options) (gvplatform.Platform, error) {
	Init()
	switch name {
	case "", Systrap:
		p, err := systrap.New(gvplatform.Options{
			// See doc.go: the client, not gVisor's usertrap, patches.
			DisableSyscallPatching: opts.NoSyscallPatching,
			// As gVisor itself: the CPUs this process may run Go on
			// (ConfineCPUs lowers GOMAXPROCS).
			DisableFastPath: opts.FastPath.disabled(min(runtime.NumCPU(), runtime.GOMAXPROCS(0))),
		})
		if err != nil {
			return nil, fmt.Errorf("systrap platform: %w", err)
		}
		return p, nil
	case Ptrace:
		p, err := ptrace.New()
		if err != nil {
			return nil, fmt.Errorf("ptrace platform: %w", err)
		}
		return p, nil
	case KVM:
		if err := probeKVM(); err != nil {
			return nil, fmt.Errorf("kvm platform: %w", err)
		}
		dev, err := kvm.OpenDevice("")
		if err != nil {
			return nil, fmt.Errorf("kvm platform: %w", err)
		}
		ring0.InitDefault()
		p, err := kvm.New(dev, kvm.Config{})
		if err != nil {
			return nil, fmt.Errorf("kvm platform: %w", err)
		}
		return p, nil
	default:
		return nil, fmt.Errorf("unknown platform %q (want systrap, ptrace or kvm)", name)
	}
}

// NewMemoryFile returns a MemoryFile over a fresh memfd; it backs all
// application memory and the client's cache of file pages.
func NewMemoryFile() (*pgalloc.MemoryFile, error) {
	const name = "runsc-decoupled-memory"
	fd, err := memutil.CreateMemFD(name, 0)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), name)
	mf, err := pgalloc.NewMemoryFile(f, pgalloc.MemoryFileOpts{})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("memory file: %w", err)
	}
	return mf, nil
}

// Context is the gVisor context handed to pkg/sentry/mm and to
// platform.Context.Switch on behalf of one application thread. It answers
// the values those packages look up in place of a kernel.Task. Each
// thread needs its own Context (the embedded NoTask is not shared).
type Context struct {
	context.NoTask
	log.Logger
	stdcontext.Context

	// MemoryFile answers pgalloc.CtxMemoryFile.
	MemoryFile *pgalloc.MemoryFile
	// Limits answers limits.CtxLimits.
	Limits *limits.LimitSet
	// Extra answers any other key (may be nil).
	Extra func(key any) (any, bool)
}

// NewContext returns a Context for one thread.
func NewContext(mf *pgalloc.MemoryFile, ls *limits.LimitSet) *Context {
	return &Context{
		Logger:     log.Log(),
		Context:    stdcontext.Background(),
		MemoryFile: mf,
		Limits:     ls,
	}
}

// Value implements context.Context.Value.
func (c *Context) Value(key any) any {
	switch key {
	case cpuid.CtxFeatureSet:
		return cpuid.HostFeatureSet()
	case pgalloc.CtxMemoryFile:
		return c.MemoryFile
	case limits.CtxLimits:
		return c.Limits
	}
	if c.Extra != nil {
		if v, ok := c.Extra(key); ok {
			return v
		}
	}
	return c.Context.Value(key)
}

// SetLogger sends gVisor's internal log (platform and mm warnings) to l
// instead of stderr. A nil l discards it.
func SetLogger(l hclog.Logger) {
	if l == nil {
		l = hclog.NewNullLogger()
	}
	log.SetTarget(&emitter{l: l.Named("gvisor")})
	switch {
	case l.IsDebug() || l.IsTrace():
		log.SetLevel(log.Debug)
	case l.IsInfo():
		log.SetLevel(log.Info)
	default:
		log.SetLevel(log.Warning)
	}
}

type emitter struct{ l hclog.Logger }

// usertrapFaultWarning begins the warning systrap logs when usertrap
// cannot resolve a SIGILL ("no task found" here, every time).
const usertrapFaultWarning = "usertrap.HandleFault failed"

// Emit implements log.Emitter.
func (e *emitter) Emit(_ int, level log.Level, _ time.Time, format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	if level == log.Warning && strings.HasPrefix(format, usertrapFaultWarning) {
		// Systrap's Switch asks gVisor's usertrap about every SIGILL,
		// which cannot answer without a kernel.Task; the client
		// resolves a SIGILL at a patched site itself (doc.go).
		level = log.Debug
	}
	switch level {
	case log.Warning:
		e.l.Warn(msg)
	case log.Info:
		e.l.Info(msg)
	default:
		e.l.Debug(msg)
	}
}
