// Package platform runs application threads on one of gVisor's platforms
// (systrap, ptrace or kvm) inside this Go process, and provides the
// gVisor context values those platforms and pkg/sentry/mm need when no
// kernel.Kernel or kernel.Task exists.
//
// It owns: choosing and constructing the platform (New), the one-time
// process setup the platforms need (Init), the MemoryFile that backs all
// application memory (NewMemoryFile), the context handed to mm and to
// platform.Context.Switch (NewContext), and finding an address space's
// stub process (StubPIDs: the client charges their host CPU time), and
// confining this process and the stubs it will make to some CPUs
// (ConfineCPUs, do --cpuset-cpus). It must not hold application state
// and must not import sentry/ or transport/.
//
// What we learned using gVisor's platforms as a library (gVisor module
// version pinned in go.mod), all measured on this project's machines:
//
//   - cpuid.Initialize must run before anything else: systrap.New calls
//     archState.Init, which reads the host feature set; ptrace's
//     NewContext reads cpuid.FromContext(ctx) and panics when the context
//     does not answer cpuid.CtxFeatureSet. Init does both once.
//   - The systrap platform needs no special setup of this process beyond
//     root (CAP_SYS_PTRACE: it ptrace-attaches its stub processes) and
//     seccomp being available to the stubs: systrap.New builds the stub
//     code, forks a "source" stub process from which every AddressSpace
//     (one stub process per MemoryManager) is cloned, and installs the stub
//     seccomp filters itself. It does not install a seccomp filter on this
//     (the sentry) process. Its MemoryFile for sysmsg stacks is private.
//     It uses GOMAXPROCS as the number of sysmsg threads and turns its
//     spinning fast path off on one CPU, as FastPathAuto does
//     (Options.FastPath); FastPathOff turns it off on any machine, for a
//     loaded host where the server and gofer need the CPU a spinner holds.
//   - Systrap's syscall patching: gVisor's usertrap package, which
//     systrap's Switch calls on a patchable trap and on every SIGILL,
//     needs kernel.TaskFromContext and fails harmlessly without one ("no
//     task found", logged here at debug level, not as a warning). The
//     platform is therefore built with patching on (its stubs then report
//     "mov $nr,%eax; syscall" sites, and report the host's vsyscall
//     emulation as an execute fault at the vsyscall entry), and the
//     client patches the sites itself (sentry/client/syscallpatch.go):
//     a later call from a patched site enters the stub's syscall handler
//     without a seccomp trap and signal delivery. Options.NoSyscallPatching
//     builds the stubs without it (every call traps, through seccomp).
//   - The ptrace platform binds its traced stub threads to the OS thread
//     that calls Switch; the task goroutine must therefore call
//     runtime.LockOSThread before its first Switch (a trapped syscall costs
//     about 53 µs there). Interrupt delivers platform.SignalInterrupt
//     (SIGCHLD) to the stub thread; Switch then returns
//     ErrContextInterrupt or a SIGCHLD ErrContextSignal, which the caller
//     must ignore.
//   - One platform per process. systrap.New mseal(2)s its stub region in
//     this process (kernel >= 6.10); the ptrace platform forks its stubs
//     from this process and must munmap everything but its own stub, which
//     then fails with EPERM and panics. Tests therefore run each platform
//     in its own child process.
//   - The process must be statically linked (CGO_ENABLED=0). In a cgo
//     (dynamically linked) binary, systrap.New never returns: the first
//     stub thread faults with SIGSEGV forever while the source stub is
//     initialised ("The thread ... has been interrupted by 11"). go test
//     builds cgo binaries by default when gcc is installed, so
//     sentry/client's tests rebuild themselves with CGO_ENABLED=0.
//   - KVM constructs but hangs in nested virtualization on these machines;
//     it is accepted by New (it needs /dev/kvm) but is untested.
//   - pkg/sentry/mm works without a Kernel when the context answers
//     pgalloc.CtxMemoryFile (the MemoryFile over a memfd), limits.CtxLimits
//     (the process's LimitSet; MapStack reads RLIMIT_STACK, Brk reads
//     RLIMIT_DATA) and cpuid.CtxFeatureSet. auth.CtxCredentials is optional
//     (mlock checks default to anonymous credentials).
//   - Neither platform exports its stubs' pids. StubPIDs reads them from
//     the pinned version's unexported fields. On systrap an address space
//     runs on up to GOMAXPROCS sysmsg threads, each a process of its own
//     (cloned without CLONE_THREAD) beside the stub that makes system
//     calls, so which host process ran an application thread is not
//     known, only their CPU time together.
//   - gVisor's internal logging goes to its global logger (stderr by
//     default, where it would mix with the application's output);
//     SetLogger redirects it.
package platform
