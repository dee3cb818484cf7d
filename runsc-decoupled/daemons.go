package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/keepalive"

	"github.com/runsc-decoupled/runsc-decoupled/filter"
	"github.com/runsc-decoupled/runsc-decoupled/gofer"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/readlease"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

func runGofer(args []string) int {
	fs := flag.NewFlagSet("gofer", flag.ContinueOnError)
	var common commonFlags
	common.register(fs)
	var tlsf tlsFlags
	tlsf.register(fs)
	listen := fs.String("listen", "", "serve on `TARGET` (host:port or unix:/path); required")
	root := fs.String("root", "/", "serve the files under `DIR`; nothing outside it is reachable")
	profileCPU := fs.String("profile-cpu", "", "write a Go CPU profile of the gofer to `FILE` until it stops")
	profileHeap := fs.String("profile-heap", "", "write a Go heap profile of the gofer to `FILE` on each SIGUSR2")
	heapFloor := heapFloorFlag(fs)
	orphanLinger := fs.Duration("orphan-linger", gofer.DefaultOrphanLinger, "keep unlinked-but-open files this long after the server holding them died, for its successor to reopen (`DURATION`; 0: not at all)")
	handleKey := fs.String("handle-key", "", "keep the key that seals file handles in `FILE` (mode 0600, created if missing), so that a restarted gofer accepts its predecessor's handles; default: the Unix socket's path + \".key\", in memory only for TCP")
	allowUIDs := fs.String("allow-uid", "", "also accept Unix socket peers of these `UIDS` (comma-separated; the gofer's own uid and root always may)")
	allowSetuid := fs.Bool("allow-setuid", false, "keep setuid/setgid bits on chmod, create and chown (stripped by default: the application must not plant setuid binaries on the host)")
	donateFDs := fs.Bool("donate-fds", true, "give a server on this machine (a Unix socket call stream) the host fd of each regular file it opens, so that it reads and writes the file itself; never over TCP")
	maxDonated := fs.Int("max-donated-fds", gofer.DefaultMaxDonatedFDs, "donate at most this many fds to one server session at once")
	seccompMode := seccompFlag(fs)
	namespaces := namespacesFlag(fs)
	rootSetup := fs.String("root-setup", "", "before serving, mount what this `JSON` (oci.RootSetup: an in-memory overlay, mounts, readonly) says under --root and serve the result; the gofer must run in a mount namespace of its own")
	if ok, code := parseFlags(fs, args, "gofer --listen TARGET [--root DIR]"); !ok {
		return code
	}
	if *listen == "" || fs.NArg() != 0 || *orphanLinger < 0 {
		fs.Usage()
		return 2
	}
	if _, err := filter.ParseMode(*seccompMode); err != nil {
		return fail("gofer", fmt.Errorf("--seccomp: %w", err))
	}
	log, closeLog, err := common.logger("gofer", hclog.Warn)
	if err != nil {
		return fail("gofer", err)
	}
	defer closeLog()
	t, err := transport.ParseTarget(*listen)
	if err != nil {
		return fail("gofer", err)
	}
	ns, nsSet := inNamespaces()
	if !nsSet && *namespaces {
		if moved, err := reexecInNamespaces(daemonNamespaces(false, t)); moved {
			return fail("gofer", err)
		} else {
			log.Warn("not in namespaces of its own: the kernel refused them", "err", err)
		}
	}
	stopRuntime, err := startDaemonRuntime(*profileCPU, *profileHeap, *heapFloor, log)
	if err != nil {
		return fail("gofer", err)
	}
	defer stopRuntime()
	if *handleKey == "" && t.Network == "unix" {
		*handleKey = t.Address + ".key"
	}
	if *handleKey == "" {
		log.Warn("no --handle-key: file handles are sealed with a key in memory, so a restarted gofer cannot reopen its predecessor's files by handle")
	}
	if *allowSetuid {
		log.Warn("--allow-setuid: applications may create setuid/setgid files on the host")
	}
	served := *root
	if *rootSetup != "" {
		if served, err = applyRootSetup(*root, *rootSetup, log); err != nil {
			return fail("gofer", fmt.Errorf("--root-setup: %w", err))
		}
	}
	// The gofer keeps the tree it serves and /proc (it reopens files
	// through /proc/self/fd); serving / there is nothing to hide. It
	// opens its root in the new root's copy, which outlives the pivot
	// with the file systems mounted below it (--root-setup's volumes).
	openAt := served
	confine := func() error { return nil }
	if ns&unix.CLONE_NEWNS != 0 && filepath.Clean(served) != "/" {
		if _, err := os.Stat(served); err != nil {
			return fail("gofer", fmt.Errorf("root %q: %w", *root, err))
		}
		if err := prepareRoot([]bindSpec{{path: served}, {path: "/proc"}}); err != nil {
			return fail("gofer", fmt.Errorf("confine: %w", err))
		}
		openAt, confine = inNewRoot(served), pivotRoot
	}
	srv, err := gofer.NewServer(openAt, log, gofer.WithOrphanLinger(*orphanLinger), gofer.WithHandleKeyFile(*handleKey), gofer.WithAllowSetuid(*allowSetuid),
		gofer.WithDonateFDs(*donateFDs), gofer.WithMaxDonatedFDs(*maxDonated))
	if err != nil {
		return fail("gofer", fmt.Errorf("root %q: %w", *root, err))
	}
	defer srv.Close()
	// Keepalive pings end the session of a server that vanished without
	// closing its connection (a partition, a powered-off machine), so that
	// its handles are released.
	if err := tlsf.check(t); err != nil {
		return fail("gofer", err)
	}
	allow, err := transport.ParseAllowedUIDs(*allowUIDs)
	if err != nil {
		return fail("gofer", fmt.Errorf("--allow-uid: %w", err))
	}
	tlsf.warnInsecure(log, t)
	creds, err := listenerCreds(tlsf, t)
	if err != nil {
		return fail("gofer", err)
	}
	g := newGRPCServer(append(creds, grpc.KeepaliveParams(keepalive.ServerParameters{Time: 10 * time.Second, Timeout: 10 * time.Second}),
		// The server pings too (its liveness check of the gofer's
		// connection, as calls carry no deadline).
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}))...)
	srv.Register(g)
	locked := lockdown("gofer", confine, goferCaps, *seccompMode, filter.GoferRules, log)
	lock := func() error {
		// Once it listens (its socket made under the umask it was
		// given): the files it makes then are the sandbox's, given
		// their bits exactly.
		srv.ClearUmask()
		return locked()
	}
	if tlsf.files.UsesTLS(t) {
		return serve("gofer", g, t, allow, log, nil, nil, lock)
	}
	// A server on this machine may carry its calls on the framed wire.
	return serve("gofer", g, t, allow, log, nil, func(st *transport.FramedStream) error { return srv.ServeCalls(st) }, lock)
}

func runServer(args []string) int {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	var common commonFlags
	common.register(fs)
	var tlsf tlsFlags
	tlsf.register(fs)
	listen := fs.String("listen", "", "serve clients on `TARGET` (host:port or unix:/path); required")
	goferTarget := fs.String("gofer", "", "reach files through the gofer at `TARGET`; required")
	strace := fs.Bool("strace", false, "log every system call the server executes (at info level: --log-level info or --debug-log), with its seq, whether it was posted, and how long the server took for it (took=; a client's do --strace prints the same seq with what the call waited)")
	postedSetStats := fs.Bool("posted-setstats", true, "let the merged SetStat of a run of posted chown, chmod and utimensat (tar restoring a member's attributes) ride the gofer's next call instead of a round trip of its own (false: to measure it)")
	clientTimeout := fs.Duration("client-timeout", server.DefaultClientTimeout, "end the session of a client that sent nothing, not even a heartbeat, for this long, and free its state")
	profileCPU := fs.String("profile-cpu", "", "write a Go CPU profile of the server to `FILE` until it stops")
	profileHeap := fs.String("profile-heap", "", "write a Go heap profile of the server to `FILE` on each SIGUSR2")
	heapFloor := heapFloorFlag(fs)
	allowUIDs := fs.String("allow-uid", "", "also accept Unix socket clients of these `UIDS` (comma-separated; the server's own uid and root always may); they may run applications only as themselves")
	readLeaseTTL := fs.Duration("read-lease-ttl", readlease.DefaultTTL, "how long a client's leases last past its last heartbeat, each of which renews them (`DURATION`); ten times it is a lease's longest life, the bound on how stale a client's copy may be after a change the server does not see (the host's, another server's); a change waits at most this long after the last renewal for a client that does not acknowledge a revocation")
	maxClients := fs.Int("max-clients-per-peer", server.DefaultMaxClientsPerPeer, "refuse a Unix socket peer that is not an operator more than this many live clients")
	seccompMode := seccompFlag(fs)
	namespaces := namespacesFlag(fs)
	maxClientMemory := fs.String("max-client-memory", strconv.Itoa(server.DefaultMaxClientMemory>>20)+"M", "memory one client's buffering kernel objects may hold on the server (`SIZE`: bytes, or with a K, M or G suffix); each pipe reserves its 64 KiB capacity, each socket its receive buffer, each queued SysV message its size; beyond it pipes and FIFOs fail with ENOMEM, sockets with ENOBUFS, msgsnd with ENOMEM")
	network := fs.String("network", server.NetworkNone, "what the applications' AF_INET and AF_INET6 sockets are: none (a loopback-only network stack per client, in the server) or host (this machine's own sockets, opened by the server for every client: only for clients you would let use this machine's network) or sandbox (as none, and a client may bring the network of the namespace it runs in: do --network=sandbox, an OCI container in a pod's namespace; its frames travel on the session)")
	operatorUIDs := fs.String("operator-uid", "", "Unix socket clients of these `UIDS` (comma-separated; root always is) may run applications as any user and see every client in debug")
	if ok, code := parseFlags(fs, args, "server --listen TARGET --gofer TARGET"); !ok {
		return code
	}
	if *listen == "" || *goferTarget == "" || fs.NArg() != 0 {
		fs.Usage()
		return 2
	}
	if _, err := filter.ParseMode(*seccompMode); err != nil {
		return fail("server", fmt.Errorf("--seccomp: %w", err))
	}
	memLimit, err := parseSize(*maxClientMemory)
	if err != nil || memLimit <= 0 {
		return fail("server", fmt.Errorf("--max-client-memory %q: want a positive size such as 512M", *maxClientMemory))
	}
	log, closeLog, err := common.logger("server", hclog.Warn)
	if err != nil {
		return fail("server", err)
	}
	defer closeLog()
	t, err := transport.ParseTarget(*listen)
	if err != nil {
		return fail("server", err)
	}
	gt, err := transport.ParseTarget(*goferTarget)
	if err != nil {
		return fail("server", fmt.Errorf("--gofer: %w", err))
	}
	ns, nsSet := inNamespaces()
	// A server whose applications use the host's network keeps the
	// host's network namespace.
	if !nsSet && *namespaces {
		if moved, err := reexecInNamespaces(daemonNamespaces(*network == server.NetworkHost, t, gt)); moved {
			return fail("server", err)
		} else {
			log.Warn("not in namespaces of its own: the kernel refused them", "err", err)
		}
	}
	stopRuntime, err := startDaemonRuntime(*profileCPU, *profileHeap, *heapFloor, log)
	if err != nil {
		return fail("server", err)
	}
	defer stopRuntime()
	if err := tlsf.check(t, gt); err != nil {
		return fail("server", err)
	}
	goferCreds, err := tlsf.files.DialCredentials(gt)
	if err != nil {
		return fail("server", err)
	}
	if err := tlsf.files.CheckHandshake(context.Background(), gt); err != nil {
		return fail("server", fmt.Errorf("--gofer: %w", err))
	}
	gc, err := grpc.NewClient(gt.GRPCTarget(), append(transport.DialOptions(),
		grpc.WithTransportCredentials(goferCreds),
		grpc.WithDefaultCallOptions(grpc.WaitForReady(true)),
		// Liveness of the gofer's connection (calls carry no deadline
		// header): a gofer that stops answering pings for 20 s ends the
		// call stream, whose calls are then re-sent on a new one.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
		// Reconnect quickly to a restarted gofer: calls wait for it.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 20 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
			MinConnectTimeout: 5 * time.Second,
		}))...)
	if err != nil {
		return fail("server", fmt.Errorf("gofer %s: %w", gt, err))
	}
	defer gc.Close()
	// The server sees virtual handle ids that survive a gofer restart.
	var goferOpts []goferclient.GoferConnOption
	if gt.Network == "unix" && !tlsf.files.UsesTLS(gt) {
		// The framed wire, unless the gofer answers in HTTP/2 only (an
		// older gofer): then the gRPC stream.
		goferOpts = append(goferOpts, goferclient.WithStreamDialer(framedGoferDialer(gc, gt)))
	}
	goferConn := goferclient.NewGoferConn(gc, log, goferOpts...)
	defer goferConn.Close()
	allow, err := transport.ParseAllowedUIDs(*allowUIDs)
	if err != nil {
		return fail("server", fmt.Errorf("--allow-uid: %w", err))
	}
	operators, err := transport.ParseUIDs(*operatorUIDs)
	if err != nil {
		return fail("server", fmt.Errorf("--operator-uid: %w", err))
	}
	srv, err := server.New(server.Config{Gofer: goferConn.Client(), Log: log, Strace: *strace, ClientTimeout: *clientTimeout, OperatorUIDs: operators, MaxClientsPerPeer: *maxClients, Network: *network, MaxClientMemory: memLimit, ReadLeaseTTL: *readLeaseTTL, NoPostedSetStats: !*postedSetStats})
	if err != nil {
		return fail("server", err)
	}
	defer srv.Close()
	tlsf.warnInsecure(log, t)
	creds, err := listenerCreds(tlsf, t)
	if err != nil {
		return fail("server", err)
	}
	caps := serverCaps
	if *network == server.NetworkHost {
		caps = append(caps, serverHostNetCaps...)
	}
	g := newGRPCServer(creds...)
	srv.Register(g)
	// The server keeps nothing of the host but the way to its gofer: the
	// gofer socket's directory (reconnects after a gofer restart go by
	// path), or the resolver's files for a gofer named by host name.
	var confine func() error
	goferDir := filepath.Dir(gt.Address)
	if gt.Network == "unix" && goferDir == "/" {
		log.Warn("not confined to its gofer's socket directory: the socket is in /; give it a directory of its own", "gofer", gt.String())
	} else if ns&unix.CLONE_NEWNS != 0 {
		keep := resolverFiles
		if gt.Network == "unix" {
			keep = []bindSpec{{path: goferDir, readOnly: true}}
		}
		if *network == server.NetworkHost {
			// The machine's network's counters, which its
			// sandboxes' /proc/net/snmp and the like show.
			keep = append(keep, bindSpec{path: "/proc/net", readOnly: true})
		}
		confine = func() error {
			if err := prepareRoot(keep); err != nil {
				return err
			}
			return pivotRoot()
		}
	}
	lock := lockdown("server", confine, caps, *seccompMode, filter.ServerRules, log)
	if tlsf.files.UsesTLS(t) {
		return serve("server", g, t, allow, log, nil, nil, lock)
	}
	// Clients on this machine may use the framed wire on the same socket.
	return serve("server", g, t, allow, log, srv.Session, nil, lock)
}

// framedGoferDialer opens Calls streams to the gofer at t on the framed
// wire, or as gRPC streams over gc once the gofer answered in HTTP/2.
func framedGoferDialer(gc grpc.ClientConnInterface, t transport.Target) goferclient.StreamDialer {
	grpcDial := goferclient.GRPCStreamDialer(gc)
	var mu sync.Mutex
	useGRPC := false
	return func(ctx context.Context) (goferclient.MsgStream, error) {
		mu.Lock()
		g := useGRPC
		mu.Unlock()
		if g {
			return grpcDial(ctx)
		}
		st, err := transport.DialFramedStream(ctx, t)
		if transport.IsNotFramed(err) {
			mu.Lock()
			useGRPC = true
			mu.Unlock()
			return grpcDial(ctx)
		}
		if err != nil {
			return nil, err
		}
		return st, nil
	}
}

func newGRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	return grpc.NewServer(append(transport.ServerOptions(), opts...)...)
}

// serve runs g on t until SIGTERM or SIGINT, then stops it gracefully
// (bounded). It prints "ready" to the log once listening. With session
// (calls) set, connections speaking the framed wire are Session (gofer
// Calls) streams run by it (transport.ServeFramed). lock runs once the
// listener is bound, before the first peer is served.
func serve(verb string, g *grpc.Server, t transport.Target, allow transport.AllowedUIDs, log hclog.Logger, session transport.SessionFunc, calls transport.StreamFunc, lock func() error) int {
	l, err := transport.ListenAuth(t, allow, func(p transport.PeerIdentity) {
		log.Warn("refused a peer whose uid is not allowed (--allow-uid)", "uid", p.UID, "pid", p.PID)
	})
	if err != nil {
		return fail(verb, err)
	}
	if t.Network == "unix" {
		// By its directory, which a confined daemon no longer sees by
		// path; unlink, not os.Remove, whose rmdir fallback (the
		// listener's Close may have removed the socket already) is
		// outside the seccomp filter.
		if dir, err := unix.Open(filepath.Dir(t.Address), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			defer unix.Close(dir)
			defer unix.Unlinkat(dir, filepath.Base(t.Address), 0)
		}
	}
	if err := lock(); err != nil {
		l.Close()
		return fail(verb, err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	errc := make(chan error, 1)
	go func() {
		if session != nil || calls != nil {
			errc <- transport.ServeFramed(l, g, session, calls)
			return
		}
		errc <- g.Serve(l)
	}()
	log.Info("serving", "listen", t.String())
	select {
	case err := <-errc:
		return fail(verb, fmt.Errorf("serve %s: %w", t, err))
	case s := <-sigs:
		log.Info("stopping", "signal", s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	stopped := make(chan struct{})
	go func() { g.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		g.Stop()
	}
	return 0
}

// listenerCreds are the gRPC credentials of a listener on t: mutual TLS
// when configured, else the peer credentials a Unix socket listener
// established (or, on TCP with --insecure, none).
func listenerCreds(tlsf tlsFlags, t transport.Target) ([]grpc.ServerOption, error) {
	if tlsf.files.UsesTLS(t) {
		return tlsf.files.ServerOptions(t)
	}
	return []grpc.ServerOption{grpc.Creds(transport.PeerCredentials())}, nil
}

// parseSize parses a byte count with an optional K, M or G suffix (powers
// of 1024).
func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, err
	}
	if n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("size %s out of range", s)
	}
	return n * mult, nil
}

// startDaemonRuntime readies a daemon's Go runtime for a long life of
// small calls: the CPU and heap profiles asked for, sysmon's timer slack,
// free heap returned while idle and the heap floor kept while busy. stop
// ends all of it (the profiles written).
func startDaemonRuntime(profileCPU, profileHeap string, heapFloor sizeFlag, log hclog.Logger) (stop func(), err error) {
	stopProfile, err := startCPUProfile(profileCPU)
	if err != nil {
		return nil, err
	}
	stopHeapProfile := startHeapProfile(profileHeap, log)
	if err := slowSysmon(); err != nil {
		log.Debug("sysmon keeps its default timer slack", "err", err)
	}
	trimCtx, stopTrim := context.WithCancel(context.Background())
	go trimFreeHeap(trimCtx, log)
	keepHeapFloor(trimCtx, heapFloor, log)
	return func() {
		stopTrim()
		stopHeapProfile()
		stopProfile()
	}, nil
}
