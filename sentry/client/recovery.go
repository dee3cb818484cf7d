package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/client/replaylog"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// This file is the client half of recovery (docs/ARCHITECTURE.md, "Recovery"): a session is
// the client's connection to "the" remote sentry, surviving the death of
// any one server. It assigns every call's seq, keeps the calls in flight,
// and folds each reply's state into the ReplayLog before the caller gets
// the reply.
//
// When the transport declares the server dead (heartbeat, or the stream
// breaking), calls in flight stay pending and every new call blocks; the
// application's threads keep running until they make a forwarded call.
// The session dials the same server again (retrying within the grace
// period), else the next in its list, round robin, until the recovery
// timeout. On the new connection it sends Hello{resume}, Restore with
// every live record, a Rewrite for each retained write not yet durable
// (in seq order), then re-sends the calls in flight with their original
// seqs, in seq order, before any new call. Only then do new calls go out.

// Recovery defaults.
const (
	DefaultGrace           = 3 * time.Second
	DefaultRecoveryTimeout = 60 * time.Second
)

// errRefused marks a server that refused to restore the client: the next
// server is tried at once.
var errRefused = errors.New("server refused the restore")

// errClosed is the session's error after Close.
var errClosed = errors.New("client: connection closed")

// RecoveryStats describe one recovery.
type RecoveryStats struct {
	// Server is the server the client recovered on.
	Server string
	// Attempts counts dials (successful or not).
	Attempts int
	// Records is how many records Restore carried (0 when the log was
	// empty and the application was started afresh).
	Records int
	// Rewrites and RewriteBytes count the retained writes re-sent.
	Rewrites     int
	RewriteBytes int64
	// RewritesFailed counts the Rewrites answered with an errno: their
	// writes are kept, and re-sent at the next recovery, but those past
	// maxFailedBytes, dropped (FailedDropped counts them).
	RewritesFailed int
	FailedDropped  int
	// PipeBytes counts the unread pipe bytes restored; StdinBytes the
	// unread stdin bytes.
	PipeBytes  int64
	StdinBytes int64
	// InFlight counts the calls re-sent with their original seqs.
	InFlight int
	// Lost is what the server reported it could not rebuild (Restore's
	// ret).
	Lost int64
	// Pause is from the moment the death was declared to the moment new
	// calls could go out again.
	Pause time.Duration
}

// pending is a call in flight.
// postedEnd is what a posted call's reply ends (pending.end): a method of
// the call's own record, so that posting the call makes no closure.
type postedEnd interface {
	postedEnd(r *pb.Reply)
}

type pending struct {
	call *pb.Call
	// ch is where its reply arrives, on conn, the connection of
	// generation gen (nil for a posted call until a recovery re-sends
	// it: its reply reaches onReply alone). Protected by session.mu.
	ch   <-chan *pb.Reply
	conn *transport.StreamConn
	gen  connGen
	// posted says nobody waits for the reply (Post). Immutable.
	posted bool
	// done, if set, is called with a posted call's reply on the
	// receiving goroutine, after its records were folded; then end, if
	// set (a call whose record ends its own effects: wbCall). Neither
	// keeps the reply, nor a pointer into it, past its return (nor
	// does onReply): a packed reply's memory serves the next frame's
	// (transport's Options.OnReply). Immutable.
	done func(*pb.Reply)
	end  postedEnd
	// into, if set, is where a reply that comes over a call channel is
	// decoded (sessionCall.reply). Immutable.
	into *pb.Reply
	// readiness says the posted call may change a pipe's or an
	// eventfd's readiness (changesReadiness): counted in
	// remoteSession.postedReadiness until its reply. Immutable once
	// posted.
	readiness bool
	// regularFD says the call's fd named a regular file when its poster
	// built it (a posted close, whose fd is gone from the fd records by
	// the time it is posted): it changes no readiness. Immutable.
	regularFD bool
	// pooledData says the call's only input is a replay log write
	// buffer (writeMemory) that nothing else holds: its reply is folded
	// with FoldPooledReply. Immutable once sent (a merge changes it
	// before, under the transport's send lock: writemerge.go).
	pooledData bool
}

// connGen numbers a session's connections (32 bits: a pending call's
// fits beside its flags, which keeps a posted call in its size class,
// TestPostedWriteCallAllocs).
type connGen uint32

// remoteSession is the client's recovering connection.
type remoteSession struct {
	c       *client
	log     hclog.Logger
	rl      *replaylog.Log
	servers []string
	hello   *pb.Hello
	opts    transport.Options
	grace   time.Duration
	timeout time.Duration
	// onRecovery is called after each recovery (tests).
	onRecovery func(RecoveryStats)
	// rewriteFailed are the seqs of the retained writes whose Rewrite
	// failed at the last recovery: a failure is logged as an error when
	// it starts, not again at each recovery. Used by the recovery alone.
	rewriteFailed map[uint64]bool
	// failedLimit bounds the bytes of the writes whose Rewrite failed
	// that the client keeps (maxFailedBytes when 0; tests lower it).
	// Immutable.
	failedLimit int64

	// ctx ends when the session is closed; it bounds dials.
	ctx    context.Context
	cancel context.CancelFunc

	mu sync.Mutex
	// conn is the current connection, of generation connGen; server its
	// index in servers. Protected by mu.
	conn    *transport.StreamConn
	connGen connGen
	server  int
	// lastGen numbers connections. Protected by mu.
	lastGen connGen
	// recovering is set while a recovery runs; ready is closed when it
	// ends (successfully or not). Protected by mu.
	recovering bool
	ready      chan struct{}
	// shuttingDown stops recoveries (the application is over). Protected
	// by mu.
	shuttingDown bool
	// fatal is set when the session is unusable for good; fatalCh is then
	// closed. Protected by mu.
	fatal   error
	fatalCh chan struct{}
	// seq is the last seq assigned. Protected by mu. issued is a copy
	// for the log (replaylog.Log.SetIssued), read without mu: a write
	// whose seq is above it when a reply is folded was made after that
	// reply's call.
	seq    uint64
	issued atomic.Uint64
	// queued are Interrupts and StdinData to send once recovered.
	// Protected by mu.
	queued []*pb.ClientMessage
	// recoveries counts successful recoveries. Protected by mu.
	recoveries int

	// imu protects inflight. It is a leaf lock (taken by the transport's
	// receiving goroutine).
	imu      sync.Mutex
	inflight map[uint64]*pending
	// printed maps the seq of an in-flight call whose stdio output was
	// printed to the connection generation that printed it. Protected by
	// imu.
	printed map[uint64]connGen
	// recvGen is the generation of the connection whose messages are being
	// received. Protected by imu.
	recvGen connGen

	// waitedCalls counts the calls sent with Call (the caller waited for
	// the reply), postedCalls those sent with Post (but taken back with
	// Unpost, which unposted counts). Atomic; reported at the end (the
	// round trips a workload cost).
	waitedCalls, postedCalls, unposted atomic.Uint64
	// callWaits are how long the waited calls took, from Call or
	// CallSyscall to the reply (end-of-run counts).
	callWaits waitTimes
	// mergedWrites counts the writes behind appended to the queued
	// write before them instead of posted (MergePosted, writemerge.go).
	// Atomic; reported at the end.
	mergedWrites atomic.Uint64
	// postedOut and postedBytes are the posted calls without a reply and
	// the bytes of their inputs: Post refuses beyond maxPostedCalls or
	// maxPostedBytes, so the caller waits and a fast writer cannot run
	// ahead of the server without bound. Protected by imu.
	postedOut, postedBytes int
	// postedChanges counts the posted calls without a reply that may
	// change a file's bytes (changesFileBytes): a mapped file's fault
	// reads its host fd only while there is none (mappedfd.go).
	// Protected by imu.
	postedChanges int
	// postedReadiness counts the posted calls without a reply that may
	// change a pipe's or an eventfd's readiness (pending.readiness): no
	// epoll is answered idle meanwhile (idleepoll.go). Protected by imu.
	postedReadiness int
	// hostFDs are the host fds that came with replies (Reply.host_fd),
	// by call seq, until their callers claim them (mappedfd.go).
	// Protected by imu.
	hostFDs map[uint64]int
	// sendAtNextPost says the queue holds a posted call that goes with
	// the next call: the next one posted sends the queue at once, a
	// waited one takes it along (sendWithNext). Atomic.
	sendAtNextPost atomic.Bool
}

// Bounds of what Post keeps in flight.
const (
	maxPostedCalls = 1024
	maxPostedBytes = 32 << 20
)

// inputBytes is the size of a call's inputs.
func inputBytes(c *pb.Call) int {
	n := 0
	for _, r := range c.GetSyscall().GetInputs() {
		n += len(r.GetData())
	}
	return n
}

func newSession(c *client, rl *replaylog.Log, servers []string, hello *pb.Hello) *remoteSession {
	s := &remoteSession{
		c:        c,
		log:      c.log,
		rl:       rl,
		servers:  servers,
		hello:    hello,
		grace:    c.cfg.Grace,
		timeout:  c.cfg.RecoveryTimeout,
		fatalCh:  make(chan struct{}),
		ready:    make(chan struct{}),
		inflight: make(map[uint64]*pending),
	}
	close(s.ready)
	rl.SetIssued(s.issued.Load)
	if s.grace <= 0 {
		s.grace = DefaultGrace
	}
	if s.timeout <= 0 {
		s.timeout = DefaultRecoveryTimeout
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	var onRenewed func(time.Time, time.Duration, time.Duration)
	if c.renewal != nil {
		onRenewed = c.renewal.renewed
	}
	s.opts = transport.Options{
		OnPush:            c.onPush,
		OnReply:           s.onReply,
		OnHostFD:          s.onHostFD,
		OnFarewell:        func() { c.farewellOnce.Do(func() { close(c.farewell) }) },
		OnFrames:          c.onFrames,
		OnLeaseRenewed:    onRenewed,
		HeartbeatInterval: c.cfg.HeartbeatInterval,
		HeartbeatClocks:   sampleClocks,
		DeadAfter:         c.cfg.DeadAfter,
		Wire:              c.cfg.Wire,
		TLS:               c.cfg.TLS,
		Channels:          c.cfg.Channels,
		NoPostBatch:       c.cfg.NoPostBatch,
		PostDelay:         c.cfg.PostDelay,
		ReplyLinger:       c.cfg.ReplyLinger,
	}
	return s
}

// dial connects to servers[idx]. The first connection (first) fails at
// once where nothing listens (transport.ErrNotListening; connect retries
// it for the grace period); a recovery's dial waits for a server to come
// back.
func (s *remoteSession) dial(ctx context.Context, idx int, resume, first bool) (*transport.StreamConn, error) {
	hello := proto.Clone(s.hello).(*pb.Hello)
	hello.Resume = resume
	hello.Clocks = sampleClocks()
	opts := s.opts
	opts.Hello = hello
	opts.FailIfNotListening = first
	return transport.Dial(ctx, s.servers[idx], opts)
}

// connect makes the first connection: the first server, or with several,
// each in turn (the grace period each) until one answers.
//
// A server may die at any moment, during the first handshake too: as in a
// recovery, each server is tried for the grace period in turn, until the
// recovery timeout. A TLS handshake failure is final, and so is finding
// nothing listening at every server for its grace period (a wrong target,
// or none started: the user hears it within the grace, with the cause,
// not after the recovery timeout; a server restarted on its socket within
// the grace is still found, as in a recovery).
func (s *remoteSession) connect(ctx context.Context) error {
	var conn *transport.StreamConn
	var err error
	deadline := time.Now().Add(s.timeout)
	// absent[i] holds servers[i]'s error once nothing has listened there
	// for the grace period; since[i] is when that began.
	absent := make([]error, len(s.servers))
	since := make([]time.Time, len(s.servers))
	for i := 0; ; {
		start := time.Now()
		dctx, cancel := context.WithDeadline(ctx, earliest(deadline, start.Add(s.grace)))
		conn, err = s.dial(dctx, i, false, true)
		cancel()
		if err == nil {
			s.server = i
			s.log.Info("connected to the remote sentry", "server", s.servers[i])
			break
		}
		s.log.Warn("remote sentry unreachable", "server", s.servers[i], "err", err)
		if ctx.Err() != nil || !time.Now().Before(deadline) || errors.Is(err, transport.ErrTLS) || errors.Is(err, transport.ErrRefused) {
			return err
		}
		next := (i + 1) % len(s.servers)
		if errors.Is(err, transport.ErrNotListening) {
			if since[i].IsZero() {
				since[i] = start
			}
			if time.Since(since[i]) >= s.grace {
				absent[i] = err
				if !slices.Contains(absent, nil) {
					return notListeningError(absent, s.grace)
				}
			} else {
				next = i // the same server again, within its grace
			}
		} else {
			absent[i], since[i] = nil, time.Time{}
		}
		if time.Since(start) < 100*time.Millisecond {
			// Refused at once (nothing listening yet): not a busy loop.
			select {
			case <-ctx.Done():
				return err
			case <-time.After(100 * time.Millisecond):
			}
		}
		i = next
	}
	s.mu.Lock()
	s.lastGen++
	s.conn, s.connGen = conn, s.lastGen
	go s.monitor(conn, s.connGen)
	s.mu.Unlock()
	return nil
}

// notListeningError is connect's error when nothing listened at any of
// the servers for grace: each one's cause, on one line.
func notListeningError(errs []error, grace time.Duration) error {
	if len(errs) == 1 {
		return fmt.Errorf("%w (for %v)", errs[0], grace)
	}
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	return fmt.Errorf("%w at any server for %v: %s", transport.ErrNotListening, grace, strings.Join(msgs, "; "))
}

// monitor starts a recovery when conn dies.
func (s *remoteSession) monitor(conn *transport.StreamConn, gen connGen) {
	<-conn.Done()
	s.mu.Lock()
	if s.connGen == gen {
		s.startRecoveryLocked()
	}
	s.mu.Unlock()
}

// startRecoveryLocked starts a recovery unless one runs or the session
// is over. Precondition: s.mu is held.
func (s *remoteSession) startRecoveryLocked() {
	if s.recovering || s.fatal != nil || s.shuttingDown || s.c.isExited() {
		return
	}
	s.recovering = true
	s.ready = make(chan struct{})
	go s.recover(s.conn, time.Now())
}

// onReply folds a reply's state before its caller gets it (transport
// OnReply: the receiving goroutine, in order with pushes).
func (s *remoteSession) onReply(r *pb.Reply) {
	if r.LeaseRevoke != nil {
		// Decided before anything the reply carries (a grant in it
		// numbered below it is dropped).
		s.c.rcache.countInReply()
		s.c.onLeaseRevoke(r.LeaseRevoke)
	}
	s.imu.Lock()
	p := s.inflight[r.Seq]
	delete(s.inflight, r.Seq)
	delete(s.printed, r.Seq)
	if p != nil && p.posted {
		s.postedOut--
		s.postedBytes -= inputBytes(p.call)
		if changesFileBytes(p.call) {
			s.postedChanges--
		}
		if p.readiness {
			s.postedReadiness--
		}
	}
	s.imu.Unlock()
	var call *pb.Call
	if p != nil {
		call = p.call
	}
	if s.log.IsTrace() {
		s.log.Trace("reply folded", "seq", r.Seq, "in_flight", p != nil, "fd_records", fdRecordsText(r.State))
	}
	if r.Unencodable != "" {
		s.c.logUnencodable(call, r)
	}
	if p != nil && p.pooledData {
		s.rl.FoldPooledReply(call, r)
	} else {
		s.rl.FoldReply(call, r)
	}
	if call != nil && r.ReapedPid != 0 {
		// Before the records drop the reaped child (childtimes.go).
		s.c.accountReaped(call.Tid, r.ReapedPid)
	}
	s.c.observeStdin(r.State)
	s.c.ids.observe(r.State)
	s.c.forgetReaped(r.State)
	s.c.pipe.observe(r.State)
	s.c.pipe.observeWritten(r.GetWritten())
	s.c.sigs.observe(r.State)
	s.c.pcache.observe(r.State)
	s.c.rcache.observeClosed(r.State)
	if p != nil && p.posted {
		if p.done != nil {
			p.done(r)
		}
		if p.end != nil {
			p.end.postedEnd(r)
		}
		s.c.postedReply(p.call, r)
	}
}

// logUnencodable logs a reply the server could not encode (its bug): the
// call fails with EIO, and this says which call and why.
func (c *client) logUnencodable(call *pb.Call, r *pb.Reply) {
	what := "call"
	if sc := call.GetSyscall(); sc != nil {
		what = sysName(uintptr(sc.Sysno))
	}
	c.log.Warn("the server could not encode its reply; the call fails with EIO", "call", what, "seq", r.Seq, "err", r.Unencodable)
}

// PrintOutput reports whether stdio output produced by call seq must be
// printed: not when an earlier server already printed it before failing and
// the call was re-sent (the new server writes it again).
func (s *remoteSession) PrintOutput(seq uint64) bool {
	if seq == 0 {
		return true
	}
	s.imu.Lock()
	defer s.imu.Unlock()
	if g, ok := s.printed[seq]; ok && g != s.recvGen {
		return false
	}
	if s.printed == nil {
		s.printed = make(map[uint64]connGen)
	}
	s.printed[seq] = s.recvGen
	return true
}

func (s *remoteSession) forget(p *pending) {
	s.imu.Lock()
	delete(s.inflight, p.call.Seq)
	s.imu.Unlock()
}

// Call sends c (assigning its seq) and waits for its reply, across
// server failures.
func (s *remoteSession) Call(ctx context.Context, c *pb.Call) (*pb.Reply, error) {
	return s.call(ctx, &pending{call: c})
}

// call is Call of p.call, p its in-flight record (call and into set, the
// other fields unset).
func (s *remoteSession) call(ctx context.Context, p *pending) (*pb.Reply, error) {
	defer s.callWaits.since(time.Now())
	c := p.call
	hop, hopConn := s.channelFor(c)
	s.mu.Lock()
	if hop != nil && (s.recovering || s.conn != hopConn) {
		hopConn.PutChannel(hop)
		hop = nil
	}
	for s.recovering && s.fatal == nil {
		ready := s.ready
		s.mu.Unlock()
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		s.mu.Lock()
	}
	if s.fatal != nil {
		err := s.fatal
		s.mu.Unlock()
		if hop != nil {
			hopConn.PutChannel(hop)
		}
		return nil, err
	}
	s.seq++
	s.issued.Store(s.seq)
	c.Seq = s.seq
	// The queue rides with this call.
	s.sendAtNextPost.Store(false)
	s.waitedCalls.Add(1)
	p.conn, p.gen = s.conn, s.connGen
	s.imu.Lock()
	s.inflight[c.Seq] = p
	s.imu.Unlock()
	var st transport.ChannelStamp
	var stampErr error
	if hop != nil {
		// Stamped under mu, in seq order: after every message sent on
		// the socket so far, carrying the posted calls of lower seqs
		// still queued (or after them, sent now: a failed send leaves
		// the channel call to the recovery, as below).
		st, stampErr = s.conn.StampChannel(c)
		if stampErr != nil {
			hopConn.PutChannel(hop)
			hop = nil
		}
	}
	if hop != nil {
		s.mu.Unlock()
		r, err := hop.CallInto(c, st, p.into)
		hopConn.PutChannel(hop)
		if err == nil {
			return r, nil
		}
		s.mu.Lock()
		if errors.Is(err, transport.ErrCallTooLarge) && p.gen == s.connGen && !s.recovering {
			// channelFor's bound on the inputs makes this rare: the
			// socket takes it (a recovery would re-send it anyway).
			p.ch, _ = s.conn.Go(c)
		}
		// Else the connection died (ErrConnDead): the recovery re-sends
		// the call, as below.
	} else if stampErr == nil || errors.Is(stampErr, transport.ErrCallTooLarge) {
		// A failed send leaves ch nil: the call waits for the recovery,
		// which re-sends it.
		p.ch, _ = s.conn.Go(c)
	}
	// Else the connection died sending the posted calls: the recovery
	// re-sends the call.
	ch, conn, gen := p.ch, p.conn, p.gen
	s.mu.Unlock()

	for {
		if ch != nil {
			// Await receives the reply itself when no other goroutine
			// is receiving from conn.
			r, err := conn.Await(ctx, ch)
			if err == nil {
				return r, nil
			}
			if !errors.Is(err, transport.ErrConnDead) {
				s.forget(p)
				return nil, err
			}
		}
		// The connection died before the reply: wait for a recovery to
		// re-send the call.
		s.mu.Lock()
		for {
			if s.fatal != nil {
				err := s.fatal
				s.mu.Unlock()
				s.forget(p)
				return nil, err
			}
			if p.gen != gen {
				ch, conn, gen = p.ch, p.conn, p.gen
				break
			}
			if !s.recovering {
				if s.connGen == gen {
					s.startRecoveryLocked()
					if !s.recovering {
						// The application is over: no recovery.
						s.mu.Unlock()
						s.forget(p)
						return nil, transport.ErrConnDead
					}
				} else {
					// Recovered without this call (cannot happen: every
					// call in flight is re-sent). Re-send it now.
					s.log.Warn("call missed by recovery; re-sending", "seq", c.Seq)
					p.ch, _ = s.conn.Go(c)
					p.conn, p.gen = s.conn, s.connGen
					ch, conn, gen = p.ch, p.conn, p.gen
					break
				}
			}
			if s.fatal != nil {
				continue
			}
			ready := s.ready
			s.mu.Unlock()
			select {
			case <-ready:
			case <-ctx.Done():
				s.forget(p)
				return nil, ctx.Err()
			}
			s.mu.Lock()
		}
		s.mu.Unlock()
	}
}

// channelFor returns a call channel of the current connection for c, a
// thread's system call, and that connection; nil if channels are off,
// c is not such a call, or none is free (transport.StreamConn.Channel).
func (s *remoteSession) channelFor(c *pb.Call) (*transport.Channel, *transport.StreamConn) {
	if !s.opts.Channels || c.GetSyscall() == nil || c.Tid == 0 || inputBytes(c) > transport.MaxChannelCall/2 {
		return nil, nil
	}
	s.mu.Lock()
	conn := s.conn
	ok := !s.recovering && s.fatal == nil && conn != nil && conn.ChannelsEnabled()
	s.mu.Unlock()
	if !ok {
		return nil, nil
	}
	if ch := conn.Channel(); ch != nil {
		return ch, conn
	}
	return nil, nil
}

// Post sends c (assigning its seq) without waiting for its reply, which
// is folded (onReply) when it arrives; the call is in flight until then,
// so a recovery re-sends it. It sends nothing and returns false while a
// recovery runs, the session is over, or maxPostedCalls or
// maxPostedBytes are in flight: the caller then uses Call. done,
// if not nil, gets the reply (on the receiving goroutine).
func (s *remoteSession) Post(c *pb.Call, done func(*pb.Reply)) bool {
	return s.post(&pending{call: c}, done, false)
}

// PostTakeBack is Post for a call the caller may take back (Unpost) when
// the thread's next call comes (transport's PostTakeBack: the queue's
// timer and heartbeats leave it queued once).
func (s *remoteSession) PostTakeBack(c *pb.Call, done func(*pb.Reply)) bool {
	return s.post(&pending{call: c}, done, true)
}

// postedCall is a thread's posted system call and its in-flight record
// in one allocation (newPostedCall, PostCall): with the Call come its
// oneof, Syscall and arguments, and the Region of a call's only input (a
// write's buffer), which a call would otherwise allocate each
// (TestPostedUmaskAllocs, TestPostedWriteAllocs). A posted call's reply
// is decoded with the frame that carries it: it has no Reply of its own.
type postedCall struct {
	pending
	call pb.Call
	op   pb.Call_Syscall
	sc   pb.Syscall
	args [6]uint64
	// input and inputs are the Syscall's inputs when it has one.
	input  pb.Region
	inputs [1]*pb.Region
}

// sessionCall is a thread's waited system call: a postedCall with the
// Reply a call channel decodes into, in one allocation
// (newSessionCall, CallSyscall; TestForwardedCallAllocs).
type sessionCall struct {
	postedCall
	reply pb.Reply
}

// newPostedCall returns the posted call of thread tid making system
// call sysno with args and inputs.
func newPostedCall(tid int32, sysno uintptr, args [6]uint64, inputs []sysabi.Region) *postedCall {
	pc := &postedCall{}
	pc.set(tid, sysno, args, inputs)
	return pc
}

// set makes pc, a new postedCall, the posted call of thread tid making
// system call sysno with args and inputs (newPostedCall, for a pc inside
// a caller's allocation).
func (pc *postedCall) set(tid int32, sysno uintptr, args [6]uint64, inputs []sysabi.Region) {
	pc.args = args
	pc.sc.Sysno, pc.sc.Args = int32(sysno), pc.args[:]
	switch len(inputs) {
	case 0:
	case 1:
		pc.input.Addr, pc.input.Data = inputs[0].Addr, inputs[0].Data
		pc.inputs[0] = &pc.input
		pc.sc.Inputs = pc.inputs[:]
	default:
		pc.sc.Inputs = toPBRegions(inputs)
	}
	pc.init(tid, &pc.sc)
}

// newPostedCallOf returns the posted call of thread tid making system
// call sys, built by the caller.
func newPostedCallOf(tid int32, sys *pb.Syscall) *postedCall {
	pc := &postedCall{}
	pc.init(tid, sys)
	return pc
}

// newSessionCall returns the call of thread tid making system call sysno
// with args and inputs; the caller may set the Syscall's other fields
// (syscall) before sending it.
func newSessionCall(tid int32, sysno uintptr, args [6]uint64, inputs []*pb.Region) *sessionCall {
	sc := &sessionCall{}
	sc.args = args
	sc.sc.Sysno, sc.sc.Args, sc.sc.Inputs = int32(sysno), sc.args[:], inputs
	sc.init(tid, &sc.sc)
	sc.pending.into = &sc.reply
	return sc
}

// init makes pc the call of thread tid making sys.
func (pc *postedCall) init(tid int32, sys *pb.Syscall) {
	pc.op.Syscall = sys
	pc.call.Tid, pc.call.Op = tid, &pc.op
	pc.pending.call = &pc.call
}

// syscall is pc's system call.
func (pc *postedCall) syscall() *pb.Syscall { return pc.op.Syscall }

// PostCall is Post for a call newPostedCall made (marked posted here).
func (s *remoteSession) PostCall(pc *postedCall, done func(*pb.Reply)) bool {
	pc.syscall().Posted = true
	return s.post(&pc.pending, done, false)
}

// PostCallTakeBack is PostTakeBack for a call newPostedCall (or
// postedCall.set) made.
func (s *remoteSession) PostCallTakeBack(pc *postedCall, done func(*pb.Reply)) bool {
	pc.syscall().Posted = true
	return s.post(&pc.pending, done, true)
}

// CallSyscall is Call for a call newSessionCall made.
func (s *remoteSession) CallSyscall(ctx context.Context, sc *sessionCall) (*pb.Reply, error) {
	return s.call(ctx, &sc.pending)
}

// post is Post of p.call, p its in-flight record (the other fields
// unset); takeBack: PostTakeBack.
func (s *remoteSession) post(p *pending, done func(*pb.Reply), takeBack bool) bool {
	c := p.call
	sys := c.GetSyscall()
	// The posting thread, looked up once: a call of a process with
	// several threads is marked Syscall.after_posted (threadorder.go),
	// so that the server runs it after the posted calls sent before it,
	// the other threads' included; a thread not known (gone already) is
	// taken as single.
	var t *task
	if s.c != nil {
		t = s.c.lookupTask(c.Tid)
	}
	ordered := sys != nil && !sys.AfterPosted && t != nil && !t.singleThreaded()
	p.readiness = !p.regularFD && s.c != nil && changesReadiness(t, c)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recovering || s.fatal != nil {
		return false
	}
	if ordered {
		// The server runs each thread's calls on its own worker: a
		// posted call of one thread could otherwise run before
		// another thread's posted call sent before it (an F_SETFL
		// or lseek of the fd a posted open makes).
		if s.conn == nil || s.conn.Welcome.GetFeatures()&pb.FeatureAfterPosted == 0 {
			return false
		}
		sys.AfterPosted = true
	}
	size := inputBytes(c)
	s.imu.Lock()
	if s.postedOut >= maxPostedCalls || s.postedBytes+size > maxPostedBytes {
		s.imu.Unlock()
		return false
	}
	s.seq++
	s.issued.Store(s.seq)
	c.Seq = s.seq
	s.postedCalls.Add(1)
	p.conn, p.gen, p.posted, p.done = s.conn, s.connGen, true, done
	s.inflight[c.Seq] = p
	s.postedOut++
	s.postedBytes += size
	if changesFileBytes(c) {
		s.postedChanges++
	}
	if p.readiness {
		s.postedReadiness++
	}
	s.imu.Unlock()
	// A failed send leaves the call in flight: the recovery the dead
	// connection starts (monitor) re-sends it. The call may wait for
	// company on the connection (transport's Post): the next message
	// takes it along. Its reply reaches onReply alone (no channel).
	if takeBack {
		// A call held for company goes first, alone: this one may
		// still be taken back (a posted open its close takes back).
		s.sendHeldLocked()
		s.conn.PostTakeBack(c)
	} else {
		s.conn.Post(c)
		s.sendHeldLocked()
	}
	return true
}

// postedBatches is the number of frames that carried posted calls on
// the current connection (transport's PostedBatches).
func (s *remoteSession) postedBatches() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return 0
	}
	return s.conn.PostedBatches()
}

// channelBatches is the number of posted batches that rode inside call
// channel calls on the current connection, socketSent the messages
// sent on its socket and late the posted batches the post delay's timer
// sent (transport's ChannelBatches, Sent, PostedLate).
func (s *remoteSession) channelBatches() (batches, socketSent, late uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return 0, 0, 0
	}
	return s.conn.ChannelBatches(), s.conn.Sent(), s.conn.PostedLate()
}

// received is what the current connection's socket brought from the
// server (transport's Received).
func (s *remoteSession) received() transport.ReceivedCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return transport.ReceivedCounts{}
	}
	return s.conn.Received()
}

// Unpost takes back posted calls cs, the last ones posted in that order,
// if none was sent yet and nothing was posted after them (transport's
// UnqueuePosted): all or none. They are no longer in flight and their
// done is never called; the caller undoes what it did for them.
func (s *remoteSession) Unpost(cs ...*pb.Call) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recovering || s.fatal != nil || len(cs) == 0 {
		return false
	}
	// The calls must end the session's: a call posted after them that
	// the connection did not queue (it had died) is re-sent by the
	// recovery and must not lose what they did (MergePosted's check).
	last := uint64(0)
	for _, c := range cs {
		last = max(last, c.Seq)
	}
	if last != s.seq {
		return false
	}
	if !s.postedOnConnLocked(cs...) || !s.conn.UnqueuePosted(cs...) {
		return false
	}
	for _, c := range cs {
		s.droppedLocked(c)
	}
	return true
}

// postedOnConnLocked says whether each of cs is a posted call in flight
// on the current connection (the queue's own check then says whether it
// was sent). Under s.mu no call is posted or sent meanwhile, and an
// unsent call gets no reply. Precondition: s.mu.
func (s *remoteSession) postedOnConnLocked(cs ...*pb.Call) bool {
	s.imu.Lock()
	defer s.imu.Unlock()
	for _, c := range cs {
		p := s.inflight[c.Seq]
		if p == nil || !p.posted || p.call != c || p.conn != s.conn {
			return false
		}
	}
	return true
}

// DropPosted takes back posted call drop, one of tail (the last calls
// posted, in that order), and runs edit on the others, if none was sent
// yet and nothing was posted after them (transport's DropPosted): both
// or neither. drop is no longer in flight and its done is never called;
// the edited calls stay in flight as edited (a recovery re-sends them
// so). The caller undoes what it did for drop.
func (s *remoteSession) DropPosted(tail []*pb.Call, drop *pb.Call, edit func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recovering || s.fatal != nil || len(tail) == 0 || tail[len(tail)-1].Seq != s.seq {
		return false
	}
	if !s.postedOnConnLocked(tail...) || !s.conn.DropPosted(tail, drop, edit) {
		return false
	}
	s.droppedLocked(drop)
	return true
}

// DropPostedIf takes back posted call drop if it was not sent yet and
// neutral accepts every call posted after it, none sent either
// (transport's DropPostedIf). drop is no longer in flight and its done
// is never called; the caller undoes what it did for it.
func (s *remoteSession) DropPostedIf(drop *pb.Call, neutral func(*pb.Call) bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recovering || s.fatal != nil {
		return false
	}
	if !s.postedOnConnLocked(drop) {
		return false
	}
	// The queue's last call must be the session's: a call posted after
	// the connection died is not queued, and the recovery re-sends it.
	if !s.conn.DropPostedIf(drop, s.seq, neutral) {
		return false
	}
	s.droppedLocked(drop)
	return true
}

// droppedLocked forgets drop, a posted call taken out of the queue
// (unsent: it gets no reply). Precondition: s.mu.
func (s *remoteSession) droppedLocked(drop *pb.Call) {
	s.imu.Lock()
	if p := s.inflight[drop.Seq]; p != nil && p.readiness {
		s.postedReadiness--
	}
	delete(s.inflight, drop.Seq)
	s.postedOut--
	s.postedBytes -= inputBytes(drop)
	if changesFileBytes(drop) {
		s.postedChanges--
	}
	s.imu.Unlock()
	s.postedCalls.Add(^uint64(0))
	s.unposted.Add(1)
}

// Send sends a message that has no reply. Interrupts and stdin data sent
// while the server is gone are queued and sent after the recovery;
// Goodbye fails.
func (s *remoteSession) Send(m *pb.ClientMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fatal != nil {
		return s.fatal
	}
	queue := func() error {
		switch v := m.Msg.(type) {
		case *pb.ClientMessage_Interrupt:
			for _, q := range s.queued {
				if qi := q.GetInterrupt(); qi != nil && qi.Tid == v.Interrupt.Tid {
					return nil
				}
			}
		case *pb.ClientMessage_Stdin, *pb.ClientMessage_SignalsPending:
		default:
			return transport.ErrConnDead
		}
		s.queued = append(s.queued, m)
		return nil
	}
	if s.recovering {
		return queue()
	}
	if err := s.conn.Send(m); err != nil {
		s.startRecoveryLocked()
		return queue()
	}
	return nil
}

// SendFrames sends frames an interface of the sandbox network received
// to the server. While a recovery runs they are dropped (reported
// false), as frames reaching a NIC without a cable are: the new server's
// stack starts with the restored state, and TCP retransmits.
func (s *remoteSession) SendFrames(f *pb.Frames) bool {
	s.mu.Lock()
	conn := s.conn
	ok := !s.recovering && s.fatal == nil && conn != nil
	s.mu.Unlock()
	return ok && conn.Send(&pb.ClientMessage{Msg: &pb.ClientMessage_Frames{Frames: f}}) == nil
}

// Done is closed when the session is over for good (closed, or a
// recovery failed); Err says why.
func (s *remoteSession) Done() <-chan struct{} { return s.fatalCh }

// Err implements transport.Conn.Err.
func (s *remoteSession) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fatal
}

// streamDone is closed when the current connection to the server ends
// (no recovery follows once shutting down).
func (s *remoteSession) streamDone() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		closed := make(chan struct{})
		close(closed)
		return closed
	}
	return s.conn.Done()
}

// beginShutdown stops recoveries: the application is over.
func (s *remoteSession) beginShutdown() {
	s.mu.Lock()
	s.shuttingDown = true
	s.mu.Unlock()
}

// Close ends the session: waiting calls fail.
func (s *remoteSession) Close() error {
	s.mu.Lock()
	s.shuttingDown = true
	s.setFatalLocked(errClosed)
	conn := s.conn
	s.mu.Unlock()
	s.cancel()
	if conn != nil {
		return conn.Close()
	}
	return nil
}

// setFatalLocked ends the session with err. Precondition: s.mu is held.
func (s *remoteSession) setFatalLocked(err error) {
	if s.fatal != nil {
		return
	}
	s.fatal = err
	close(s.fatalCh)
	if s.recovering {
		s.recovering = false
		close(s.ready)
	}
}

func (s *remoteSession) nextSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	s.issued.Store(s.seq)
	return s.seq
}

// recover replaces dead with a connection to a server that has the
// client's state, then lets calls go out again. It runs in its own
// goroutine; s.recovering is set.
func (s *remoteSession) recover(dead *transport.StreamConn, t0 time.Time) {
	// No reply or push of the dead connection may be handled once the
	// calls in flight are chosen for re-sending; what the server sent
	// before it died is, first (a failed send's drain: a Durable it sent
	// before a size change must drop the writes the change removed).
	dead.Abandon()
	if s.rl.Disabled() {
		err := fmt.Errorf("%w: the replay log is off (--replay-log=false): %v", ErrServerLost, dead.Err())
		s.log.Error("remote sentry lost; the application is killed", "err", err)
		s.mu.Lock()
		s.setFatalLocked(err)
		s.mu.Unlock()
		return
	}
	dead.Wait()
	// The dead server's leases die with it (readcache.go).
	s.c.rcache.dropAll()
	s.c.idle.dropAll()
	s.c.pcache.dropAll()
	s.c.sendRooms.reset()
	s.c.pipeRooms.reset()
	s.c.pipeAhead.reset()
	s.c.renewal.reset()
	if s.c.files != nil {
		// Their ids die with the server (mappable.go): dropped at the
		// next look-up, which no plan of the new server precedes.
		s.c.files.forgetIdle()
	}
	s.mu.Lock()
	idx := s.server
	s.mu.Unlock()
	s.log.Warn("remote sentry lost; recovering", "server", s.servers[idx], "err", dead.Err())

	deadline := t0.Add(s.timeout)
	var lastErr error
	attempts := 0
	tried := map[string]bool{}
	for {
		graceEnd := time.Now().Add(s.grace)
		delay := 10 * time.Millisecond
		for {
			now := time.Now()
			if s.ctx.Err() != nil {
				return
			}
			if !now.Before(deadline) {
				var names []string
				for n := range tried {
					names = append(names, n)
				}
				sort.Strings(names)
				err := fmt.Errorf("%w: no remote sentry restored the application within %v (tried %s): %v",
					ErrServerLost, s.timeout, strings.Join(names, ", "), lastErr)
				s.log.Error("recovery failed; the application is killed", "err", err)
				s.mu.Lock()
				s.setFatalLocked(err)
				s.mu.Unlock()
				return
			}
			end := earliest(graceEnd, deadline)
			if !now.Before(end) {
				break
			}
			attempts++
			tried[s.servers[idx]] = true
			resume := !s.rl.Empty()
			ctx, cancel := context.WithDeadline(s.ctx, end)
			conn, err := s.dial(ctx, idx, resume, false)
			cancel()
			if err == nil {
				st, err := s.replay(conn, idx, resume)
				if err == nil {
					st.Attempts = attempts
					st.Pause = time.Since(t0)
					s.log.Info("recovered from a remote sentry failure",
						"server", st.Server, "records", st.Records, "rewrites", st.Rewrites,
						"rewrites_failed", st.RewritesFailed, "bytes_resent", st.RewriteBytes+st.PipeBytes+st.StdinBytes, "in_flight", st.InFlight,
						"lost", st.Lost, "attempts", st.Attempts, "log_bytes", s.rl.Stats().Bytes, "pause_ms", st.Pause.Milliseconds())
					if s.onRecovery != nil {
						s.onRecovery(st)
					}
					return
				}
				conn.Close()
				lastErr = err
				s.log.Warn("recovery attempt failed", "server", s.servers[idx], "err", err)
				if errors.Is(err, errRefused) {
					break
				}
			} else {
				lastErr = err
				s.log.Debug("remote sentry unreachable", "server", s.servers[idx], "err", err)
			}
			select {
			case <-time.After(min(delay, time.Until(end))):
			case <-s.ctx.Done():
				return
			}
			delay = min(2*delay, 200*time.Millisecond)
		}
		idx = (idx + 1) % len(s.servers)
	}
}

// replay rebuilds the client's state on conn: Restore, the Rewrites, then
// the calls in flight; on success conn becomes the session's connection.
func (s *remoteSession) replay(conn *transport.StreamConn, idx int, resume bool) (RecoveryStats, error) {
	st := RecoveryStats{Server: s.servers[idx]}
	ctx, cancel := context.WithTimeout(s.ctx, s.timeout)
	defer cancel()
	if resume {
		recs := s.rl.RestoreRecords()
		for _, d := range s.rl.DanglingFDs() {
			// The server refuses such records: say where they came from.
			s.log.Error("the replay log's records are out of step: an fd names a description they lack", "fd", d)
		}
		st.Records = len(recs)
		if s.log.IsTrace() {
			s.log.Trace("restore", "fd_records", fdRecordsText(recs))
		}
		for _, r := range recs {
			st.PipeBytes += int64(len(r.GetPipe().GetData()))
		}
		unread := s.c.stdin.unread()
		st.StdinBytes = int64(len(unread))
		r, err := conn.Call(ctx, &pb.Call{Seq: s.nextSeq(), Op: &pb.Call_Restore{Restore: &pb.Restore{Records: recs, StdinUnread: unread, StdioSets: s.c.restoreSets()}}})
		if err != nil {
			return st, fmt.Errorf("restore: %w", err)
		}
		if r.Errno != 0 {
			return st, fmt.Errorf("%w: %v", errRefused, unix.Errno(r.Errno))
		}
		if r.Ret > 0 {
			st.Lost = r.Ret
			s.log.Warn("the server could not rebuild some objects (they now fail with ESTALE)", "lost", r.Ret)
		}
		if s.rewriteFailed == nil {
			s.rewriteFailed = make(map[uint64]bool)
		}
		failed := make(map[uint64]bool)
		var failedWrites []*pb.Rewrite
		// The order a server sees: each retained write's Rewrite once,
		// in seq order, each answered before the next is sent, all
		// before any call of the application (those in flight are
		// re-sent below, new ones wait for s.ready). A server keeps a
		// kernel only as long as its connection (a reconnection gets
		// a new one), so no server receives a Rewrite twice, nor one
		// after a newer write that overlaps it: a duplicate Rewrite
		// putting older bytes back over a newer write cannot happen
		// within a session (the server's RewritesFailed path serves a
		// client that sends one anyway). What a Rewrite writes over is
		// older than it, or a call in flight at the kill that the dead
		// server made: the server makes such a re-sent write again
		// when a Rewrite of a lower seq wrote over its range
		// (kernel.redoOverRewrites), as the gofer's reply cache would
		// answer it unwritten.
		for _, rw := range s.rl.RetainedWrites() {
			r, err := conn.Call(ctx, &pb.Call{Seq: s.nextSeq(), Op: &pb.Call_Rewrite{Rewrite: rw}})
			if err != nil {
				return st, fmt.Errorf("rewrite of seq %d: %w", rw.Seq, err)
			}
			st.Rewrites++
			st.RewriteBytes += int64(len(rw.Data))
			switch {
			case r.Errno != 0:
				// Kept for the next recovery (ENOSPC may pass), and
				// said once: else a write that fails at every
				// recovery is logged at each.
				st.RewritesFailed++
				log := s.log.Error
				if s.rewriteFailed[rw.Seq] {
					log = s.log.Debug
				}
				s.rewriteFailed[rw.Seq], failed[rw.Seq] = true, true
				failedWrites = append(failedWrites, rw)
				log("a write the gofer had not made durable could not be re-sent; it is kept for the next recovery; until then the file may lack it",
					"seq", rw.Seq, "path", string(rw.Path), "offset", rw.Offset, "length", len(rw.Data), "errno", unix.Errno(r.Errno))
			case r.RewriteDurable || r.RewriteGone:
				// No Durable push will name it (its file reopened for
				// the Rewrite, or gone): else it is re-sent at every
				// recovery.
				if r.RewriteGone {
					s.log.Debug("a retained write's file is gone; the write is dropped", "seq", rw.Seq, "path", string(rw.Path))
				}
				s.rl.WriteDone(rw.Seq)
			}
		}
		st.FailedDropped = s.boundFailed(failedWrites)
		// A write that failed before and not this time is said again
		// if it fails again.
		s.rewriteFailed = failed
		s.c.reconcileStops(s.rl)
		s.c.reconcilePtrace(s.rl)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fatal != nil {
		return st, s.fatal
	}
	s.lastGen++
	gen := s.lastGen
	s.imu.Lock()
	s.recvGen = gen
	ps := make([]*pending, 0, len(s.inflight))
	for _, p := range s.inflight {
		ps = append(ps, p)
	}
	s.imu.Unlock()
	sort.Slice(ps, func(i, j int) bool { return ps[i].call.Seq < ps[j].call.Seq })
	if s.log.IsTrace() {
		seqs := make([]uint64, len(ps))
		for i, p := range ps {
			seqs[i] = p.call.Seq
		}
		s.log.Trace("calls in flight re-sent", "seqs", fmt.Sprint(seqs))
	}
	for _, p := range ps {
		ch, err := conn.Go(p.call)
		if err != nil {
			return st, fmt.Errorf("re-send seq %d: %w", p.call.Seq, err)
		}
		p.ch, p.conn, p.gen = ch, conn, gen
		st.InFlight++
	}
	for _, m := range s.queued {
		conn.Send(m)
	}
	s.queued = nil
	s.conn, s.connGen, s.server = conn, gen, idx
	s.recoveries++
	s.recovering = false
	close(s.ready)
	go s.monitor(conn, gen)
	return st, nil
}

// maxFailedBytes bounds the bytes of the retained writes whose Rewrite
// failed that the client keeps for the next recovery. They are all it
// keeps because of a failure (the server's Durable passes them, naming
// them held, and drops the writes after them once durable), and within a
// session they do not grow: only a recovery's Rewrites fail. A run of
// recoveries whose fresh writes fail too would add to them each time.
const maxFailedBytes = 64 << 20

// boundFailed drops the writes of ws (whose Rewrites failed at this
// recovery, in seq order) past the session's bound on their bytes, the
// latest first, and returns how many it dropped. Each is logged as an
// error: its bytes are lost. The server that failed them still reports
// them to the file's fsyncs (EIO, once per description) and refuses its
// resizes; the next server does not know them.
func (s *remoteSession) boundFailed(ws []*pb.Rewrite) (dropped int) {
	limit := s.failedLimit
	if limit == 0 {
		limit = maxFailedBytes
	}
	var total int64
	for _, rw := range ws {
		total += int64(len(rw.Data))
	}
	for i := len(ws) - 1; i >= 0 && total > limit; i-- {
		rw := ws[i]
		total -= int64(len(rw.Data))
		s.rl.WriteDone(rw.Seq)
		dropped++
		s.log.Error("a write the gofer had not made durable could not be re-sent and is dropped: the writes kept for that exceed their bound; the file lacks it",
			"seq", rw.Seq, "path", string(rw.Path), "offset", rw.Offset, "length", len(rw.Data), "bound", limit)
	}
	return dropped
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// fdRecordsText is recs' fd slot records, "fdt/T/N=FILE" or "=deleted",
// for the trace log: what a chase of a recovery's fd tables reads
// (CHAOS_CLIENT_LOG_LEVEL=trace).
func fdRecordsText(recs []*pb.StateRecord) string {
	var b strings.Builder
	for _, r := range recs {
		k, err := statekey.Parse(r.GetKey())
		if err != nil || k.Kind != statekey.KindFD {
			continue
		}
		if r.Deleted {
			fmt.Fprintf(&b, " %s=deleted", r.Key)
		} else {
			fmt.Fprintf(&b, " %s=%d", r.Key, r.GetFd().GetFile())
		}
	}
	return b.String()
}
