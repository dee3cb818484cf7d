package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/ksignal"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syscalls"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// replayer is an in-process client that keeps the compacted log exactly
// as the protocol says: every StateRecord of every reply and StateUpdate
// folded into a map by key (deleted removes), and Durable pushes.
type replayer struct {
	t    testing.TB
	root string
	mem  *appMem

	mu      sync.Mutex
	seq     uint64 // the client's seq counter, across servers
	log     map[string]*sentrypb.StateRecord
	durable map[uint64]uint64 // file id -> highest Durable seq
	pushCh  chan *sentrypb.Push

	// gofer outlives the servers and can be restarted.
	gofer *goferProc
	// donate makes the servers reach the gofer as a server on its
	// machine does, through a goferclient.GoferConn on the framed wire, which
	// carries donated fds (goferclient/goferdonate.go); gc is the current one.
	donate bool
	gc     *goferclient.GoferConn
	// viaGoferConn makes the servers reach the gofer through a goferclient.GoferConn
	// (whose calls stream is a gofer session, released when the server
	// dies) over gRPC even without donate, as a server does over TCP.
	viaGoferConn bool
	// network is the servers' Config.Network (empty: NetworkNone).
	network string
	// dropDurables makes the client miss the Durable pushes, as when
	// the server dies before sending them. Protected by mu.
	dropDurables bool
	// noHeld makes the client not set FeatureDurableHeld (an older
	// client's Hello): the servers then hold a failed Rewrite's
	// description's Durable below it.
	noHeld bool
	// rc, when set before a server starts, counts (and may fail) the
	// gofer RPCs of its goferclient.GoferConn, which it then has.
	rc *rpcCounter
	// logs, when set before a server starts, gets its log.
	logs *logBuffer

	// The current server and its connections.
	srv   *Server
	g     *grpc.Server
	gconn *grpc.ClientConn
	conn  *transport.GRPCConn
	sock  string // the current server's socket
}

// newReplayer serves a fresh root with a gofer that outlives the servers
// and starts server A.
func newReplayer(t testing.TB) *replayer { return newReplayerDonating(t, false) }

// newReplayerDonating is newReplayer whose servers get donated fds from
// the gofer when donate is set.
func newReplayerDonating(t testing.TB, donate bool) *replayer {
	return newReplayerVia(t, donate, donate)
}

// newReplayerVia is newReplayerDonating whose servers reach the gofer
// through a goferclient.GoferConn (a gofer session) when viaGoferConn is set.
func newReplayerVia(t testing.TB, donate, viaGoferConn bool) *replayer {
	return newReplayerOn(t, donate, viaGoferConn, "")
}

// newReplayerNetwork is newReplayer whose servers have Config.Network
// network.
func newReplayerNetwork(t testing.TB, network string) *replayer {
	return newReplayerOn(t, false, false, network)
}

func newReplayerOn(t testing.TB, donate, viaGoferConn bool, network string) *replayer {
	root := newRoot(t)
	r := &replayer{t: t, root: root, gofer: startGoferProc(t, root), mem: newAppMem(), donate: donate, viaGoferConn: viaGoferConn,
		network: network,
		log:     make(map[string]*sentrypb.StateRecord), durable: make(map[uint64]uint64), pushCh: make(chan *sentrypb.Push, 4096)}
	r.startServer(false)
	t.Cleanup(func() { r.crash() })
	return r
}

// startServer starts a server with its own gofer connection and connects
// to it (with Hello.resume when resume).
func (r *replayer) startServer(resume bool) {
	t := r.t
	gconn, err := grpc.NewClient("unix://"+r.gofer.Sock, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	var gofer goferpb.GoferClient = goferpb.NewGoferClient(gconn)
	if r.donate || r.viaGoferConn || r.rc != nil {
		var opts []goferclient.GoferConnOption
		if rc := r.rc; rc != nil {
			opts = append(opts, goferclient.WithWrap(func(inner grpc.ClientConnInterface) grpc.ClientConnInterface {
				return &countingConn{ClientConnInterface: inner, rc: rc}
			}))
		}
		if r.donate {
			target := transport.Target{Network: "unix", Address: r.gofer.Sock}
			opts = append(opts, goferclient.WithStreamDialer(func(ctx context.Context) (goferclient.MsgStream, error) {
				return transport.DialFramedStream(ctx, target)
			}))
		}
		r.gc = goferclient.NewGoferConn(gconn, testLog(), opts...)
		gofer = goferpb.NewGoferClient(r.gc)
	}
	log := testLog()
	if r.logs != nil {
		log = hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: r.logs})
	}
	srv, err := New(Config{Gofer: gofer, Log: log, Network: r.network})
	if err != nil {
		t.Fatal(err)
	}
	sock, g := serveSentry(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := transport.Dial(ctx, "unix:"+sock, transport.Options{
		Hello:             &sentrypb.Hello{ClientId: "replaying-client", Resume: resume, Features: r.features()},
		OnPush:            r.onPush,
		HeartbeatInterval: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	r.srv, r.g, r.gconn, r.conn, r.sock = srv, g, gconn, conn, sock
}

// features are the feature bits of the replayer's Hello.
func (r *replayer) features() uint64 {
	if r.noHeld {
		return 0
	}
	return sentrypb.FeatureDurableHeld
}

// crash kills the current server as kill -9 would: its gofer connection
// goes first (so it releases nothing in the gofer), then everything else,
// without Goodbye.
func (r *replayer) crash() {
	if r.srv == nil {
		return
	}
	if r.gc != nil {
		r.gc.Close()
		r.gc = nil
	}
	r.gconn.Close()
	r.conn.Close()
	r.g.Stop()
	r.srv.Close()
	r.srv = nil
}

// restartGofer kills the gofer (its handles and reply cache die with it)
// and starts a new one on the same root and socket.
func (r *replayer) restartGofer() {
	r.gofer.Restart()
}

func (r *replayer) fold(recs []*sentrypb.StateRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range recs {
		if rec.Deleted {
			delete(r.log, rec.Key)
		} else {
			r.log[rec.Key] = rec
		}
	}
	// Pipe writes are retained until read (or the pipe is gone).
	for key, rec := range r.log {
		w := rec.GetWrite()
		if w == nil || w.Pipe == 0 {
			continue
		}
		p := r.log[statekey.Pipe(w.Pipe).String()]
		if p == nil || p.GetPipe().Read >= uint64(w.Offset)+w.Length {
			delete(r.log, key)
		}
	}
}

// durablesOf returns the Durable announcements of push p (one, or a
// DurableBatch's).
func durablesOf(p *sentrypb.Push) []*sentrypb.Durable {
	if d := p.GetDurable(); d != nil {
		return []*sentrypb.Durable{d}
	}
	return p.GetDurables().GetFiles()
}

func (r *replayer) onPush(p *sentrypb.Push) {
	if st := p.GetState(); st != nil {
		r.fold(st.Records)
	}
	for _, d := range durablesOf(p) {
		r.mu.Lock()
		if r.dropDurables {
			r.mu.Unlock()
			continue
		}
		r.durable[d.File] = max(r.durable[d.File], d.Seq)
		// Retained writes it covers are dropped, but those it holds.
		for key, rec := range r.log {
			if w := rec.GetWrite(); w != nil && w.Pipe == 0 && w.File == d.File && w.Seq <= d.Seq && !slices.Contains(d.Held, w.Seq) {
				delete(r.log, key)
			}
		}
		r.mu.Unlock()
	}
	select {
	case r.pushCh <- p:
	default:
	}
}

// call sends c; unless lost, its reply's state is folded (a lost reply is
// one the crash swallowed).
func (r *replayer) call(c *sentrypb.Call, lost bool) *sentrypb.Reply {
	r.t.Helper()
	r.mu.Lock()
	if c.Seq == 0 {
		r.seq++
		c.Seq = r.seq
	}
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rep, err := r.conn.Call(ctx, c)
	if err != nil {
		r.t.Fatalf("call %v: %v", c, err)
	}
	if !lost {
		r.fold(rep.State)
	}
	return rep
}

// unsentSeq gives c a seq of its own now: a call the client made but
// never sent to the server that dies next (re-sent after the recovery all
// the same, its seq below the Restore's).
func (r *replayer) unsentSeq(c *sentrypb.Call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	c.Seq = r.seq
}

func (r *replayer) syscallCall(tid int32, sysno uintptr, args ...uint64) *sentrypb.Call {
	var a [6]uint64
	copy(a[:], args)
	var inputs []*sentrypb.Region
	for _, in := range sysabi.Inputs(sysno, a, r.mem) {
		inputs = append(inputs, &sentrypb.Region{Addr: in.Addr, Data: in.Data})
	}
	return &sentrypb.Call{Tid: tid, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{Sysno: int32(sysno), Args: a[:], Inputs: inputs}}}
}

func (r *replayer) sys(tid int32, sysno uintptr, args ...uint64) *sentrypb.Reply {
	r.t.Helper()
	rep := r.call(r.syscallCall(tid, sysno, args...), false)
	r.mem.apply(rep.Outputs)
	return rep
}

func (r *replayer) ok(tid int32, sysno uintptr, args ...uint64) int64 {
	r.t.Helper()
	rep := r.sys(tid, sysno, args...)
	if rep.Errno != 0 {
		r.t.Fatalf("%s%v: errno %v", syscalls.Name(int32(sysno)), args, unix.Errno(rep.Errno))
	}
	return rep.Ret
}

// records returns the folded log's records, sorted by key.
func (r *replayer) records() []*sentrypb.StateRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*sentrypb.StateRecord, 0, len(r.log))
	for _, rec := range r.log {
		out = append(out, proto.Clone(rec).(*sentrypb.StateRecord))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func (r *replayer) logSize() (n, bytes int) {
	for _, rec := range r.records() {
		n++
		bytes += proto.Size(rec)
	}
	return n, bytes
}

// restoreRecords builds Restore's records from the log, filling
// PipeState.data from the retained pipe writes (written holds the data of
// every pipe write, by seq).
func (r *replayer) restoreRecords(written map[uint64][]byte) []*sentrypb.StateRecord {
	recs := r.records()
	for _, rec := range recs {
		p := rec.GetPipe()
		if p == nil {
			continue
		}
		var ws []*sentrypb.WriteState
		for _, o := range recs {
			if w := o.GetWrite(); w != nil && w.Pipe == p.Id {
				ws = append(ws, w)
			}
		}
		sort.Slice(ws, func(i, j int) bool { return ws[i].Offset < ws[j].Offset })
		var data []byte
		for _, w := range ws {
			b := written[w.Seq]
			start, end := uint64(w.Offset), uint64(w.Offset)+w.Length
			if end <= p.Read {
				continue
			}
			if start < p.Read {
				b = b[p.Read-start:]
			}
			data = append(data, b...)
		}
		p.Data = data
	}
	return recs
}

// recover crashes the current server, starts another on the same gofer
// and restores the log into it.
func (r *replayer) recover(written map[uint64][]byte) *sentrypb.Reply {
	r.t.Helper()
	recs := r.restoreRecords(written)
	r.crash()
	r.startServer(true)
	rep := r.call(&sentrypb.Call{Op: &sentrypb.Call_Restore{Restore: &sentrypb.Restore{Records: recs}}}, false)
	if rep.Errno != 0 {
		r.t.Fatalf("Restore: errno %v", unix.Errno(rep.Errno))
	}
	return rep
}

func (r *replayer) start() {
	r.t.Helper()
	rep := r.call(&sentrypb.Call{Op: &sentrypb.Call_Start{Start: &sentrypb.Start{Argv: [][]byte{[]byte(busybox), []byte("sh")}, Env: [][]byte{[]byte("PATH=/bin")}, Cwd: []byte("/"), Umask: 022}}}, false)
	if rep.Errno != 0 {
		r.t.Fatalf("Start: %v", unix.Errno(rep.Errno))
	}
}

func (r *replayer) open(path string, flags uint64) uint64 {
	r.t.Helper()
	return uint64(r.ok(1, unix.SYS_OPENAT, uint64(atFDCWD64), r.mem.str(path), flags, 0644))
}

func (r *replayer) readStr(tid int32, fd uint64, n int) string {
	r.t.Helper()
	buf := r.mem.zeros(n)
	got := r.ok(tid, unix.SYS_READ, fd, buf, uint64(n))
	return string(r.mem.bytes(buf, int(got)))
}

// write writes s to fd and remembers the data by the call's seq (the
// client's retained-write data).
func (r *replayer) write(tid int32, fd uint64, s string, written map[uint64][]byte) {
	r.t.Helper()
	c := r.syscallCall(tid, unix.SYS_WRITE, fd, r.mem.alloc([]byte(s)), uint64(len(s)))
	rep := r.call(c, false)
	if rep.Errno != 0 || rep.Ret != int64(len(s)) {
		r.t.Fatalf("write %q: %v", s, rep)
	}
	if written != nil {
		written[c.Seq] = []byte(s)
	}
}

// retainedWrite writes str to fd from thread 1 and returns the file and
// seq of the write record the client retains for it.
func (r *replayer) retainedWrite(fd uint64, str string) (file, seq uint64) {
	r.t.Helper()
	r.write(1, fd, str, nil)
	for _, rec := range r.records() {
		if w := rec.GetWrite(); w != nil {
			file, seq = w.File, w.Seq
		}
	}
	if seq == 0 {
		r.t.Fatal("the write is not retained")
	}
	return file, seq
}

// durableSeq is the seq the last Durable push announced for file.
func (r *replayer) durableSeq(file uint64) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.durable[file]
}

const sigusr1 = 10

func TestReplayingClientRestore(t *testing.T) {
	r := newReplayer(t)
	m := r.mem
	written := make(map[uint64][]byte)
	r.start()

	// Files at offsets, shared by dup.
	a := r.open("/tmp/a", unix.O_CREAT|unix.O_RDWR)
	r.write(1, a, "0123456789", written)
	r.ok(1, unix.SYS_LSEEK, a, 3, unix.SEEK_SET)
	aDup := uint64(r.ok(1, unix.SYS_DUP, a))
	// Renamed while open.
	b := r.open("/tmp/b", unix.O_CREAT|unix.O_RDWR)
	r.write(1, b, "hello world", written)
	r.ok(1, unix.SYS_LSEEK, b, 6, unix.SEEK_SET)
	r.ok(1, unix.SYS_RENAME, m.str("/tmp/b"), m.str("/tmp/c"))
	// Unlinked while open.
	u := r.open("/tmp/u", unix.O_CREAT|unix.O_RDWR)
	r.write(1, u, "unlinked data", written)
	r.ok(1, unix.SYS_LSEEK, u, 2, unix.SEEK_SET)
	r.ok(1, unix.SYS_UNLINK, m.str("/tmp/u"))
	// A pipe with unread data (part of it read already).
	fds := m.zeros(8)
	r.ok(1, unix.SYS_PIPE2, fds, 0)
	rfd, wfd := uint64(m.u32(fds)), uint64(m.u32(fds+4))
	r.write(1, wfd, "pipe", written)
	r.write(1, wfd, "data", written)
	if got := r.readStr(1, rfd, 2); got != "pi" {
		t.Fatalf("pipe read %q", got)
	}
	// A directory being listed, cwd, umask, a handler.
	r.ok(1, unix.SYS_MKDIR, m.str("/tmp/d"), 0755)
	r.ok(1, unix.SYS_CHDIR, m.str("/tmp/d"))
	r.ok(1, unix.SYS_UMASK, 027)
	act := make([]byte, ksignal.SizeofSigaction)
	binary.LittleEndian.PutUint64(act, 0x401234)
	binary.LittleEndian.PutUint64(act[8:], ksignal.SARestart)
	r.ok(1, unix.SYS_RT_SIGACTION, sigusr1, m.alloc(act), 0, 8)
	// An fs gid of its own (setfsgid; a new file's group only).
	r.ok(1, unix.SYS_SETFSGID, 1000)
	// A zombie child, a live child, a second thread.
	zombie := r.sys(1, unix.SYS_CLONE, uint64(unix.SIGCHLD)).GetClone().GetChildTid()
	r.sys(zombie, unix.SYS_EXIT_GROUP, 7)
	live := r.sys(1, unix.SYS_CLONE, uint64(unix.SIGCHLD)).GetClone().GetChildTid()
	thr := r.sys(1, unix.SYS_CLONE, unix.CLONE_VM|unix.CLONE_FS|unix.CLONE_FILES|unix.CLONE_SIGHAND|unix.CLONE_THREAD).GetClone().GetChildTid()
	// The live child closes the pipe's write end in its own table; the
	// parent's stays open until after recovery.
	r.ok(live, unix.SYS_CLOSE, wfd)

	rep := r.recover(written)
	if rep.Ret != 0 {
		t.Fatalf("Restore lost %d objects", rep.Ret)
	}

	checks := []struct {
		name string
		run  func() string
		want string
	}{
		{"fd at its offset", func() string { return r.readStr(1, a, 4) }, "3456"},
		{"dup shares the offset", func() string { return r.readStr(1, aDup, 100) }, "789"},
		{"renamed while open", func() string { return r.readStr(1, b, 100) }, "world"},
		{"unlinked while open", func() string { return r.readStr(1, u, 100) }, "linked data"},
		{"pipe keeps unread bytes", func() string { return r.readStr(1, rfd, 100) }, "pedata"},
		{"pipe EOF once the last writer closes", func() string {
			r.ok(1, unix.SYS_CLOSE, wfd)
			return r.readStr(1, rfd, 100)
		}, ""},
		{"getcwd", func() string {
			buf := m.zeros(256)
			n := r.ok(1, unix.SYS_GETCWD, buf, 256)
			return string(m.bytes(buf, int(n)-1))
		}, "/tmp/d"},
		{"umask", func() string { return itoa(r.ok(1, unix.SYS_UMASK, 022)) }, itoa(027)},
		{"rt_sigaction old handler", func() string {
			old := m.zeros(ksignal.SizeofSigaction)
			r.ok(1, unix.SYS_RT_SIGACTION, sigusr1, 0, old, 8)
			return itoa(int64(binary.LittleEndian.Uint64(m.bytes(old, 8))))
		}, itoa(0x401234)},
		{"fs gid", func() string { return itoa(r.ok(1, unix.SYS_SETFSGID, 0xffffffff)) }, "1000"},
		{"getpid", func() string { return itoa(r.ok(1, unix.SYS_GETPID)) }, "1"},
		{"getppid of the live child", func() string { return itoa(r.ok(live, unix.SYS_GETPPID)) }, "1"},
		{"second thread", func() string { return itoa(r.ok(thr, unix.SYS_GETPID)) }, "1"},
		{"wait4 reaps the zombie", func() string {
			st := m.zeros(4)
			pid := r.ok(1, unix.SYS_WAIT4, uint64(zombie), st, 0, 0)
			return itoa(pid) + "/" + itoa(int64(m.u32(st)))
		}, itoa(int64(zombie)) + "/" + itoa(7<<8)},
		{"a new process gets the next pid", func() string {
			return itoa(int64(r.sys(1, unix.SYS_CLONE, uint64(unix.SIGCHLD)).GetClone().GetChildTid()))
		}, itoa(int64(thr) + 1)},
		{"a new fd gets the lowest free number", func() string {
			return itoa(int64(r.open("/tmp/new", unix.O_CREAT|unix.O_RDWR)))
		}, itoa(int64(wfd))},
	}
	for _, c := range checks {
		if got := c.run(); got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func formatInt(v int64) string { return itoa(v) }

// TestReplayExactlyOnce re-sends, after a restore, calls whose replies the
// crash swallowed, with their original seqs: each takes effect once.
func TestReplayExactlyOnce(t *testing.T) {
	r := newReplayer(t)
	m := r.mem
	r.start()
	logfd := r.open("/tmp/log", unix.O_CREAT|unix.O_WRONLY|unix.O_APPEND)
	r.write(1, logfd, "one\n", nil)
	if err := os.WriteFile(filepath.Join(r.root, "tmp/x"), []byte("x"), 0644); err != nil {
		t.Fatal(err)
	}
	type lostCall struct {
		name string
		call *sentrypb.Call
	}
	lost := []lostCall{
		{"mkdir", r.syscallCall(1, unix.SYS_MKDIR, m.str("/tmp/newdir"), 0755)},
		{"rename", r.syscallCall(1, unix.SYS_RENAME, m.str("/tmp/x"), m.str("/tmp/y"))},
		{"append", r.syscallCall(1, unix.SYS_WRITE, logfd, m.alloc([]byte("two\n")), 4)},
		{"unlink", r.syscallCall(1, unix.SYS_UNLINK, m.str("/tmp/y"))},
		{"rmdir", r.syscallCall(1, unix.SYS_RMDIR, m.str("/tmp/newdir"))},
	}
	first := make([]*sentrypb.Reply, len(lost))
	for i, l := range lost {
		first[i] = r.call(l.call, true)
		if first[i].Errno != 0 {
			t.Fatalf("%s: errno %v", l.name, unix.Errno(first[i].Errno))
		}
	}
	r.recover(nil)
	for i, l := range lost {
		again := r.call(l.call, false)
		if again.Errno != first[i].Errno || again.Ret != first[i].Ret {
			t.Errorf("%s re-sent: ret %d errno %v, first ret %d errno %v", l.name, again.Ret, unix.Errno(again.Errno), first[i].Ret, unix.Errno(first[i].Errno))
		}
	}
	if b, _ := os.ReadFile(filepath.Join(r.root, "tmp/log")); string(b) != "one\ntwo\n" {
		t.Errorf("log holds %q", b)
	}
	// And the fd goes on appending where the file ends.
	r.write(1, logfd, "three\n", nil)
	if b, _ := os.ReadFile(filepath.Join(r.root, "tmp/log")); string(b) != "one\ntwo\nthree\n" {
		t.Errorf("log holds %q", b)
	}
}

// TestRewriteAndDurable checks that writes are reported (WriteState), made
// durable by the flusher (Durable covers their seqs), and that a retained
// write re-sent with Rewrite after a restore lands once. With donated
// fds, the writes are the server's own pwrites, the gofer's Fsync covers
// them all the same, and the new server gets fresh donations as Restore
// reopens the file.
func TestRewriteAndDurable(t *testing.T) {
	for _, donate := range []bool{false, true} {
		t.Run("donate="+strconv.FormatBool(donate), func(t *testing.T) { testRewriteAndDurable(t, donate) })
	}
}

func testRewriteAndDurable(t *testing.T, donate bool) {
	r := newReplayerDonating(t, donate)
	r.start()
	f := r.open("/tmp/w", unix.O_CREAT|unix.O_RDWR)
	written := make(map[uint64][]byte)
	for i := 0; i < 5; i++ {
		r.write(1, f, "block"+formatInt(int64(i))+";", written)
	}
	var fileID, maxSeq uint64
	for _, rec := range r.records() {
		if w := rec.GetWrite(); w != nil {
			fileID, maxSeq = w.File, max(maxSeq, w.Seq)
		}
	}
	if fileID == 0 || len(written) != 5 {
		t.Fatalf("no WriteState records (%d writes)", len(written))
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		r.mu.Lock()
		d := r.durable[fileID]
		r.mu.Unlock()
		if d >= maxSeq {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Durable push covers seq %d of file %d (got %d)", maxSeq, fileID, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// fsync pushes Durable before its reply.
	r.write(1, f, "tail", written)
	var tailSeq uint64
	for s := range written {
		tailSeq = max(tailSeq, s)
	}
	r.ok(1, unix.SYS_FSYNC, f)
	r.mu.Lock()
	d := r.durable[fileID]
	r.mu.Unlock()
	if d < tailSeq {
		t.Errorf("fsync returned before Durable covered seq %d (got %d)", tailSeq, d)
	}

	// The gofer dies before the data reached the disk (simulated by
	// truncating the file): the client still holds every write (as if no
	// Durable had come) and re-sends them with Rewrite, in seq order,
	// after restoring into a new server on the restarted gofer.
	host := filepath.Join(r.root, "tmp/w")
	want, _ := os.ReadFile(host)
	seqs := make([]uint64, 0, len(written))
	off := int64(0)
	for s := range written {
		seqs = append(seqs, s)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for _, s := range seqs {
		w := &sentrypb.WriteState{Seq: s, File: fileID, Offset: off, Length: uint64(len(written[s]))}
		off += int64(len(written[s]))
		r.fold([]*sentrypb.StateRecord{{Key: statekey.Write(s).String(), Value: &sentrypb.StateRecord_Write{Write: w}}})
	}
	r.crash()
	r.restartGofer()
	r.mu.Lock()
	r.durable = make(map[uint64]uint64)
	r.mu.Unlock()
	if err := os.Truncate(host, 0); err != nil {
		t.Fatal(err)
	}
	r.recover(written)
	if donate && r.gc.Donations() == 0 {
		t.Error("the restored server got no donated fd for the reopened file")
	}
	fileRec := r.log[statekey.File(fileID).String()]
	if fileRec == nil {
		t.Fatalf("no FileState for file %d", fileID)
	}
	for _, rec := range r.records() {
		w := rec.GetWrite()
		if w == nil {
			continue
		}
		rw := &sentrypb.Rewrite{Seq: w.Seq, FileHandle: fileRec.GetFile().FileHandle, Path: fileRec.GetFile().Path, Offset: w.Offset, Data: written[w.Seq]}
		rep := r.call(&sentrypb.Call{Op: &sentrypb.Call_Rewrite{Rewrite: rw}}, false)
		if rep.Errno != 0 || rep.Ret != int64(len(written[w.Seq])) {
			t.Fatalf("Rewrite %d: %v", w.Seq, rep)
		}
	}
	if got, _ := os.ReadFile(host); !bytes.Equal(got, want) {
		t.Errorf("after Rewrite the file holds %q, want %q", got, want)
	}
	// The same fd goes on at its offset.
	r.write(1, f, "+more", nil)
	if got, _ := os.ReadFile(host); string(got) != string(want)+"+more" {
		t.Errorf("write after recovery: file holds %q", got)
	}
	// The rewritten data becomes durable too.
	deadline = time.Now().Add(3 * time.Second)
	for {
		r.mu.Lock()
		d := r.durable[fileID]
		r.mu.Unlock()
		if d >= seqs[len(seqs)-1] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no Durable for the rewritten seq %d", seqs[len(seqs)-1])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLogCompaction checks that the folded log stays the size of the live
// state however many calls were made.
func TestLogCompaction(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	r := newReplayer(t)
	r.start()
	f := r.open("/tmp/c", unix.O_CREAT|unix.O_RDWR)
	r.write(1, f, strings.Repeat("x", 4096), nil)
	r.ok(1, unix.SYS_FSYNC, f) // the write's record is dropped now, not mid-test
	buf := r.mem.zeros(16)
	fds := r.mem.zeros(8)
	r.ok(1, unix.SYS_PIPE2, fds, 0)
	step := func(i int) {
		r.ok(1, unix.SYS_LSEEK, f, uint64(i%4000), unix.SEEK_SET)
		r.ok(1, unix.SYS_READ, f, buf, 16)
	}
	run := func(from, to int) {
		for i := from; i < to; i++ {
			step(i)
		}
	}
	counts := []int{1000, 100000}
	type size struct{ n, bytes int }
	var got []size
	done := 0
	for _, c := range counts {
		run(done, c/2)
		done = c / 2
		n, b := r.logSize()
		got = append(got, size{n, b})
	}
	if got[0].n != got[1].n {
		t.Errorf("records after %d calls: %d; after %d calls: %d", counts[0], got[0].n, counts[1], got[1].n)
	}
	if d := got[1].bytes - got[0].bytes; d < -16 || d > 16 {
		t.Errorf("log bytes after %d calls: %d; after %d calls: %d", counts[0], got[0].bytes, counts[1], got[1].bytes)
	}
	t.Logf("log: %d records, %d / %d bytes", got[1].n, got[0].bytes, got[1].bytes)
}

// TestPageWriteRecovery: a PageWrite whose reply a crash swallowed is
// re-sent with its seq after the restore and takes effect once (a later
// write over the same bytes is not undone), and the restored mapping is
// writable again, although no fd names the file any more.
func TestPageWriteRecovery(t *testing.T) {
	r := newReplayer(t)
	m := r.mem
	r.start()
	fd := r.open("/tmp/m", unix.O_CREAT|unix.O_RDWR)
	r.ok(1, unix.SYS_FTRUNCATE, fd, 8192)
	plan := r.sys(1, unix.SYS_MMAP, 0, 8192, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED, fd, 0).GetMmap()
	if plan == nil || !plan.Writable {
		t.Fatalf("mmap plan %v", plan)
	}
	r.ok(1, unix.SYS_CLOSE, fd)
	pw := &sentrypb.Call{Op: &sentrypb.Call_PageWrite{PageWrite: &sentrypb.PageWrite{FileId: plan.FileId, Offset: 0, Data: []byte("AAAA")}}}
	if rep := r.call(pw, true); rep.Errno != 0 || rep.Ret != 4 {
		t.Fatalf("PageWrite: %v", rep)
	}
	fd2 := r.open("/tmp/m", unix.O_RDWR)
	r.ok(1, unix.SYS_PWRITE64, fd2, m.alloc([]byte("BB")), 2, 1)

	for _, rec := range r.records() {
		if rec.Key == statekey.Mapped(plan.FileId).String() && !rec.GetMapped().GetWritable() {
			t.Fatalf("map record %v is not writable", rec)
		}
	}
	r.recover(nil)
	if rep := r.call(pw, false); rep.Errno != 0 || rep.Ret != 4 {
		t.Errorf("re-sent PageWrite: %v", rep)
	}
	host := filepath.Join(r.root, "tmp/m")
	if b, _ := os.ReadFile(host); string(b[:4]) != "ABBA" {
		t.Errorf("file starts %q after the re-sent PageWrite, want ABBA (applied once, before the pwrite)", b[:4])
	}
	pw2 := &sentrypb.Call{Op: &sentrypb.Call_PageWrite{PageWrite: &sentrypb.PageWrite{FileId: plan.FileId, Offset: 4096, Data: []byte("CC")}}}
	if rep := r.call(pw2, false); rep.Errno != 0 || rep.Ret != 2 {
		t.Fatalf("PageWrite after the restore: %v", rep)
	}
	if b, _ := os.ReadFile(host); len(b) != 8192 || string(b[4096:4098]) != "CC" {
		t.Errorf("file after the PageWrite on the restored mapping: %d bytes, %q", len(b), b[4096:min(len(b), 4098)])
	}
}

// TestFsyncCoversPageWrites: fsync of any fd of a file makes the
// write-backs of the client's shared mappings of it durable too (the
// Durable push for the mapping's description comes before the reply), so
// the client drops them from its log at once.
func TestFsyncCoversPageWrites(t *testing.T) {
	r := newReplayer(t)
	r.start()
	fd := r.open("/tmp/fs", unix.O_CREAT|unix.O_RDWR)
	r.ok(1, unix.SYS_FTRUNCATE, fd, 4096)
	plan := r.sys(1, unix.SYS_MMAP, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED, fd, 0).GetMmap()
	rep := r.call(&sentrypb.Call{Op: &sentrypb.Call_PageWrite{PageWrite: &sentrypb.PageWrite{FileId: plan.GetFileId(), Data: []byte("data")}}}, false)
	var ws *sentrypb.WriteState
	for _, rec := range rep.State {
		if w := rec.GetWrite(); w != nil {
			ws = w
		}
	}
	if rep.Errno != 0 || ws == nil {
		t.Fatalf("PageWrite: %v", rep)
	}
	other := r.open("/tmp/fs", unix.O_RDONLY)
	r.ok(1, unix.SYS_FSYNC, other)
	r.mu.Lock()
	d := r.durable[ws.File]
	r.mu.Unlock()
	if d < ws.Seq {
		t.Errorf("fsync returned before a Durable covered the PageWrite (seq %d of file %d; durable %d)", ws.Seq, ws.File, d)
	}
}
