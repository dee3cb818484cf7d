package server

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/donated"
)

// postedWriteBatch is how many posted 4 KiB writes postedWriteLoop sends
// in one frame (the write4k row's loop posts them back to back; the
// transport's queue sends them together).
const postedWriteBatch = 32

// postedWriteLoop returns a round of BenchmarkPostedWriteDaemon: a frame
// of postedWriteBatch posted 4 KiB writes to one file, then a waited
// getpid whose reply brings theirs. The set-up is the daemon's
// (framedGoferConn, as openCloseLoop's): the server reaches an
// in-process gofer through GoferConn over the framed wire with donated
// fds, so a write is the server's own pwrite; the client is the test's framed connection,
// offering packed posted writes as sentry/client does. The calls are
// built once and re-sent (their seqs renewed): the count is the
// server's, the gofer's (none, donated) and the transport's, not the
// building of the app's calls.
func postedWriteLoop(tb testing.TB) func() {
	root := newRoot(tb)
	gc := framedGoferConn(tb, root)
	e, _ := startedOverGoferConnHello(tb, root, gc, &sentrypb.Hello{ClientId: tb.Name(), Features: sentrypb.FeaturePostedWrites})
	fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, e.mem.str("/tmp/w4k"), unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, 0o644))
	if gc.Donations() == 0 {
		tb.Fatal("no fd donated: not the daemons' set-up")
	}
	page := make([]byte, 4096)
	for i := range page {
		page[i] = byte('a' + i%26)
	}
	const addr = 0x700000
	calls := make([]*sentrypb.Call, postedWriteBatch)
	for i := range calls {
		calls[i] = &sentrypb.Call{Tid: 1, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{
			Sysno: unix.SYS_WRITE, Args: []uint64{fd, addr, uint64(len(page)), 0, 0, 0},
			Inputs: []*sentrypb.Region{{Addr: addr, Data: page}}, Posted: true}}}
	}
	rounds := 0
	round := func() {
		for _, c := range calls {
			c.Seq = 0 // a new call: the transport numbers it
			if err := e.conn.Post(c); err != nil {
				tb.Fatal(err)
			}
		}
		if err := e.conn.SendPosted(); err != nil {
			tb.Fatal(err)
		}
		e.ok(1, unix.SYS_GETPID)
		rounds++
	}
	round()
	tb.Cleanup(func() {
		st, err := os.Stat(filepath.Join(root, "tmp", "w4k"))
		if want := int64(rounds * postedWriteBatch * len(page)); err != nil || st.Size() != want {
			tb.Errorf("the file written: %v, %v; want %d bytes", st, err, want)
		}
	})
	return round
}

// BenchmarkPostedWriteDaemon times posted 4 KiB writes through the
// server as the daemon runs them (postedWriteLoop); per write: time,
// the process's CPU time (server, in-process gofer and test client:
// steadier than the time on a shared machine), the donated fds' host
// pwrite/pwritev and statx calls, and allocations.
func BenchmarkPostedWriteDaemon(b *testing.B) {
	round := postedWriteLoop(b)
	b.ReportAllocs()
	writes0, stats0 := donated.HostWrites.Load(), donated.HostStats.Load()
	cpu0 := processCPU(b)
	b.ResetTimer()
	for range b.N {
		round()
	}
	b.StopTimer()
	n := float64(b.N * postedWriteBatch)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/write")
	b.ReportMetric(float64((processCPU(b)-cpu0).Nanoseconds())/n, "cpu-ns/write")
	b.ReportMetric(float64(donated.HostWrites.Load()-writes0)/n, "hostwrites/write")
	b.ReportMetric(float64(donated.HostStats.Load()-stats0)/n, "statx/write")
}

// processCPU returns the user and system CPU time the process used.
func processCPU(tb testing.TB) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestPostedWriteServerAllocs counts the allocations of a posted 4 KiB
// write as the daemon runs it (postedWriteLoop: the server's, the
// transport's both ways and the test client's; deterministic unlike its
// time on a loaded machine): 25.7 per write with a gofer call's options
// built for a write served through a donated fd (twice: the generated
// client's, GoferConn.Invoke's), a new Task, a request, an Origin and an
// options slice per write, the effects' write and offset appended to
// empty slices, an entry per write in the durability tracker and the
// packed replies' five arrays grown by append; 14.9 without; 8.9 with
// the server's framed reader decoding a posted write's Call, Syscall,
// Region and arguments in one allocation and leaving its bytes in the
// frame (transport/calldecode.go: proto.Unmarshal made seven). What
// stays: the decoded call, the write's request, reply and effects, and
// the read leases' change key (package readlease).
func TestPostedWriteServerAllocs(t *testing.T) {
	round := postedWriteLoop(t)
	got := testing.AllocsPerRun(100, round) / postedWriteBatch
	t.Logf("%.2f allocations per posted write", got)
	if got > 9.5 {
		t.Errorf("%.2f allocations per posted 4 KiB write, want at most 9.5", got)
	}
}

// TestSpareTaskOfResults: a posted call whose reply is a result alone (a
// umask) held packed (postbatch.HoldDone, a client that takes posted_done)
// leaves its Task for the next call, as a packed write does; held whole
// (a client that does not), none. It was a new Task (1 KB) per posted
// umask, close or chmod.
func TestSpareTaskOfResults(t *testing.T) {
	for _, packed := range []bool{true, false} {
		t.Run(fmt.Sprintf("packed=%v", packed), func(t *testing.T) {
			_, fc := batchTestClient(t)
			fc.stream.postBatch = true
			fc.stream.postedHeld.Packed = packed
			fc.stream.linger = time.Hour
			fc.stream.setSender(func(*sentrypb.ServerMessage) error { return nil })
			k := fc.k
			k.Mu.Lock()
			th := k.Threads[1]
			tcs := fc.callsOfLocked(th)
			for seq := uint64(1); seq <= 3; seq++ {
				tcs.queue = append(tcs.queue, &sentrypb.Call{Seq: seq, Tid: 1, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{
					Sysno: unix.SYS_UMASK, Args: []uint64{0o22, 0, 0, 0, 0, 0}, Posted: true, ReplyCanWait: true}}})
				fc.notePostedLocked(seq, 0)
			}
			tcs.running = true
			k.Workers.Add(1)
			k.Mu.Unlock()
			fc.threadWorker(th, tcs, true)
			k.Mu.Lock()
			spare := fc.calls[k.Threads[1]].spareTask
			k.Mu.Unlock()
			if (spare != nil) != packed {
				t.Fatalf("a spare Task left: %v, want %v", spare != nil, packed)
			}
			if spare != nil && (spare.Reply != nil || spare.ReplyMsg.Seq != 0 || spare.Mem != nil) {
				t.Errorf("the spare Task still holds its call's: %+v", spare)
			}
		})
	}
}

// TestSpareTask runs, on one thread, a waited open and then a batch of
// writes, and looks at the thread's spare Task after them: a posted
// write whose reply went packed leaves its Task for the next call,
// zeroed (nothing the call used stays alive through it); a reply sent
// whole (to a client that does not take packed writes), or a waited
// call's, may still be read (by the sender, or held in a batch) and
// leaves none. The writes' replies may linger (Syscall.reply_can_wait),
// so that the batch's last one is packed too.
func TestSpareTask(t *testing.T) {
	for _, tc := range []struct {
		name      string
		packed    bool
		posted    bool
		wantSpare bool
	}{
		{"packed writes", true, true, true},
		{"writes with their records", false, true, false},
		{"waited writes", true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, fc := batchTestClient(t)
			fc.stream.postBatch = true
			fc.stream.postedHeld.Packed, fc.stream.postedHeld.PackedWrites = true, tc.packed
			fc.stream.linger = time.Hour
			fc.stream.setSender(func(*sentrypb.ServerMessage) error { return nil })
			var seq uint64
			sc := func(sysno uintptr, posted bool, input string, args ...uint64) *sentrypb.Syscall {
				a := make([]uint64, 6)
				copy(a, args)
				return &sentrypb.Syscall{Sysno: int32(sysno), Args: a, Inputs: []*sentrypb.Region{{Addr: 0x10000, Data: []byte(input)}}, Posted: posted, ReplyCanWait: posted}
			}
			k := fc.k
			run := func(calls ...*sentrypb.Syscall) {
				k.Mu.Lock()
				th := k.Threads[1]
				tcs := fc.callsOfLocked(th)
				for _, s := range calls {
					seq++
					tcs.queue = append(tcs.queue, &sentrypb.Call{Seq: seq, Tid: 1, Op: &sentrypb.Call_Syscall{Syscall: s}})
					if s.Posted {
						fc.notePostedLocked(seq, 0)
					}
				}
				tcs.running = true
				k.Workers.Add(1)
				k.Mu.Unlock()
				fc.threadWorker(th, tcs, true)
			}
			run(sc(unix.SYS_OPENAT, false, "/spare\x00", uint64(unix.AT_FDCWD&0xffffffff), 0x10000, unix.O_CREAT|unix.O_RDWR|unix.O_TRUNC, 0o644))
			const fd = 9 // fuzzClient's process holds 0-8
			var writes []*sentrypb.Syscall
			for range 3 {
				writes = append(writes, sc(unix.SYS_WRITE, tc.posted, "hello", fd, 0x10000, 5))
			}
			run(writes...)
			k.Mu.Lock()
			spare := fc.calls[k.Threads[1]].spareTask
			k.Mu.Unlock()
			if (spare != nil) != tc.wantSpare {
				t.Fatalf("a spare Task left: %v, want %v", spare != nil, tc.wantSpare)
			}
			if spare != nil && (spare.Kernel != nil || spare.Thread != nil || spare.Eff != nil || spare.Reply != nil || spare.ReplyMsg.Seq != 0 || spare.Mem != nil) {
				t.Errorf("the spare Task still holds its call's: %+v", spare)
			}
		})
	}
}
