package client

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

// recoverySrc writes to a file, blocks in a call (getsid of another
// process, which the client cannot answer itself: the first
// server never answers it, then dies), and writes again.
const recoverySrc = `
#include <fcntl.h>
#include <unistd.h>
int main(void) {
	int fd = open("/data", O_WRONLY | O_CREAT, 0644);
	if (fd != 3) return 10;
	if (write(fd, "first ", 6) != 6) return 11;
	if (write(fd, "second ", 7) != 7) return 12;
	write(1, "before\n", 7);
	if (getsid(1) != 1) return 13; /* another process: forwarded */
	if (write(fd, "third", 5) != 5) return 14;
	write(1, "after\n", 6);
	return 0;
}
`

// fakeDisk is the file /data as a gofer holds it: writes applied once per
// seq (the gofer's reply cache).
type fakeDisk struct {
	mu      sync.Mutex
	data    []byte
	applied map[uint64]bool
}

func (d *fakeDisk) write(seq uint64, off int64, b []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.applied[seq] {
		return
	}
	d.applied[seq] = true
	if need := int(off) + len(b); need > len(d.data) {
		d.data = append(d.data, make([]byte, need-len(d.data))...)
	}
	copy(d.data[off:], b)
}

func (d *fakeDisk) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return string(d.data)
}

// recFake is a fake server that reports replay state for one file and
// accepts Restore and Rewrite.
type recFake struct {
	t    *testing.T
	srv  *fakeSentry
	disk *fakeDisk
	// block makes getsid never answer; its seq is sent on inflight.
	block    bool
	inflight chan uint64
	release  chan struct{}

	mu sync.Mutex
	// off is /data's file offset.
	off      int64
	writes   int
	seqs     []uint64
	getsid   []uint64
	restore  []*pb.StateRecord
	rewrites []*pb.Rewrite
}

func startRecFake(t *testing.T, target string, disk *fakeDisk, block bool) *recFake {
	f := &recFake{t: t, disk: disk, block: block, inflight: make(chan uint64, 1), release: make(chan struct{})}
	t.Cleanup(func() { close(f.release) })
	f.srv = startFakeSentryAt(t, target, f.hook)
	return f
}

func (f *recFake) fileRec() *pb.StateRecord {
	return &pb.StateRecord{Key: "file/1", Value: &pb.StateRecord_File{File: &pb.FileState{
		Id: 1, Kind: pb.FileState_GOFER, Flags: unix.O_WRONLY, Offset: f.off, Path: []byte("/data"), FileHandle: []byte("handle-1")}}}
}

func (f *recFake) hook(ss *session, c *pb.Call) bool {
	f.mu.Lock()
	f.seqs = append(f.seqs, c.Seq)
	f.mu.Unlock()
	switch op := c.Op.(type) {
	case *pb.Call_Start:
		ss.replyStart(c, op.Start, func(plan *pb.ExecPlan) []*pb.StateRecord {
			return []*pb.StateRecord{
				{Key: "proc/100", Value: &pb.StateRecord_Process{Process: &pb.ProcessState{Pid: 100, FdTable: 1, Init: true}}},
				{Key: "thread/100", Value: &pb.StateRecord_Thread{Thread: &pb.ThreadState{Tid: 100, Pid: 100}}},
				{Key: fmt.Sprintf("map/%d", plan.Image.FileId), Value: &pb.StateRecord_Mapped{Mapped: &pb.MappedFileState{
					FileId: plan.Image.FileId, Path: plan.Execfn, Size: plan.Image.FileSize, Refs: 1}}},
			}
		})
		return true
	case *pb.Call_Restore:
		f.mu.Lock()
		f.restore = op.Restore.Records
		for _, r := range op.Restore.Records {
			if m := r.GetMapped(); m != nil {
				f.srv.mu.Lock()
				f.srv.files[m.FileId] = string(m.Path)
				f.srv.mu.Unlock()
			}
			if fs := r.GetFile(); fs != nil && fs.Id == 1 {
				f.off = fs.Offset
			}
		}
		f.mu.Unlock()
		ss.reply(&pb.Reply{Seq: c.Seq})
		return true
	case *pb.Call_Rewrite:
		f.mu.Lock()
		f.rewrites = append(f.rewrites, op.Rewrite)
		f.mu.Unlock()
		f.disk.write(op.Rewrite.Seq, op.Rewrite.Offset, op.Rewrite.Data)
		ss.reply(&pb.Reply{Seq: c.Seq, Ret: int64(len(op.Rewrite.Data))})
		return true
	case *pb.Call_Syscall:
		sc := op.Syscall
		switch uintptr(sc.Sysno) {
		case unix.SYS_OPENAT, unix.SYS_OPEN:
			f.mu.Lock()
			rec := f.fileRec()
			f.mu.Unlock()
			ss.reply(&pb.Reply{Seq: c.Seq, Ret: 3, State: []*pb.StateRecord{rec,
				{Key: "fdt/1/3", Value: &pb.StateRecord_Fd{Fd: &pb.FdState{FdTable: 1, Fd: 3, File: 1}}}}})
			return true
		case unix.SYS_WRITE:
			if sc.Args[0] != 3 {
				return false
			}
			var regions []sysabi.Region
			for _, r := range sc.Inputs {
				regions = append(regions, sysabi.Region{Addr: r.Addr, Data: r.Data})
			}
			b, err := sysabi.NewMemory(regions).CopyIn(sc.Args[1], int(sc.Args[2]))
			if err != nil {
				ss.reply(&pb.Reply{Seq: c.Seq, Errno: int32(unix.EFAULT)})
				return true
			}
			f.mu.Lock()
			off := f.off
			f.off += int64(len(b))
			f.writes++
			first := f.writes == 1
			rec := f.fileRec()
			f.mu.Unlock()
			f.disk.write(c.Seq, off, b)
			ss.reply(&pb.Reply{Seq: c.Seq, Ret: int64(len(b)), State: []*pb.StateRecord{
				{Key: fmt.Sprintf("write/%d", c.Seq), Value: &pb.StateRecord_Write{Write: &pb.WriteState{Seq: c.Seq, File: 1, Offset: off, Length: uint64(len(b))}}},
				rec}})
			if first {
				// The gofer made the first write durable.
				ss.push(&pb.Push{Msg: &pb.Push_Durable{Durable: &pb.Durable{File: 1, Seq: c.Seq}}})
			}
			return true
		case unix.SYS_GETSID:
			f.mu.Lock()
			f.getsid = append(f.getsid, c.Seq)
			f.mu.Unlock()
			if f.block {
				f.inflight <- c.Seq
				<-f.release
				return true
			}
			ss.reply(&pb.Reply{Seq: c.Seq, Ret: 1})
			return true
		}
	}
	return false
}

func TestRecovery(t *testing.T) {
	forEachPlatform(t, func(t *testing.T, platform string) {
		bin := buildC(t, "recovery", recoverySrc)
		cases := []struct {
			name string
			// kill ends server A; restart says A comes back (with the
			// data it made durable) instead of B taking over.
			kill    func(a *recFake)
			restart bool
		}{
			{name: "crash, failover", kill: func(a *recFake) { a.srv.gs.Stop() }},
			{name: "hang, failover", kill: func(a *recFake) { a.srv.frozen.Store(true) }},
			{name: "crash, same server back", kill: func(a *recFake) { a.srv.gs.Stop() }, restart: true},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				dir := t.TempDir()
				ta, tb := "unix:"+filepath.Join(dir, "a.sock"), "unix:"+filepath.Join(dir, "b.sock")
				diskA := &fakeDisk{applied: map[uint64]bool{}}
				a := startRecFake(t, ta, diskA, true)
				// The other server's gofer has only what was durable.
				diskB := &fakeDisk{data: []byte("first "), applied: map[uint64]bool{}}
				var b *recFake
				if !tc.restart {
					b = startRecFake(t, tb, diskB, false)
				}
				var stdout, stderr syncBuffer
				var stats []RecoveryStats
				var statsMu sync.Mutex
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				type result struct {
					status int
					err    error
				}
				done := make(chan result, 1)
				go func() {
					// DeadAfter is far above a heartbeat's round trip on a
					// loaded machine: a live server declared dead early
					// would fail over before the kill.
					st, err := Run(ctx, Config{
						Servers:           []string{ta, tb},
						Platform:          platform,
						Argv:              []string{bin},
						Cwd:               "/",
						Stdin:             strings.NewReader(""),
						Stdout:            &stdout,
						Stderr:            &stderr,
						Log:               hclog.New(&hclog.LoggerOptions{Name: "client", Level: hclog.Info, Output: testWriter{t}}),
						HeartbeatInterval: 50 * time.Millisecond,
						DeadAfter:         1500 * time.Millisecond,
						Grace:             2 * time.Second,
						RecoveryTimeout:   20 * time.Second,
						OnRecovery: func(s RecoveryStats) {
							statsMu.Lock()
							stats = append(stats, s)
							statsMu.Unlock()
						},
					})
					done <- result{st, err}
				}()
				var inflightSeq uint64
				select {
				case inflightSeq = <-a.inflight:
				case r := <-done:
					t.Fatalf("Run ended before the blocking call: %d %v\nstdout %q", r.status, r.err, stdout.String())
				}
				tc.kill(a)
				if tc.restart {
					time.Sleep(300 * time.Millisecond)
					b = startRecFake(t, ta, diskB, false)
				}
				r := <-done
				if r.err != nil || r.status != 0 {
					t.Fatalf("Run: status %#x, err %v; stdout %q stderr %q", r.status, r.err, stdout.String(), stderr.String())
				}
				if got := stdout.String(); got != "before\nafter\n" {
					t.Errorf("stdout %q, want \"before\\nafter\\n\"", got)
				}
				if got := diskB.String(); got != "first second third" {
					t.Errorf("file after recovery %q, want %q", got, "first second third")
				}

				a.srv.mu.Lock()
				helloA := a.srv.hellos[0]
				a.srv.mu.Unlock()
				b.srv.mu.Lock()
				hellos := b.srv.hellos
				b.srv.mu.Unlock()
				if len(hellos) != 1 || !hellos[0].Resume || hellos[0].ClientId != helloA.ClientId || helloA.Resume {
					t.Errorf("hellos: first server %v, second %v; want one resume with the same client id", helloA, hellos)
				}
				// The client keeps the writes a Durable push holds
				// (replaylog's Durable), so a server may pass a failed
				// Rewrite's write.
				for _, h := range append(hellos, helloA) {
					if h.GetFeatures()&pb.FeatureDurableHeld == 0 {
						t.Errorf("a Hello without FeatureDurableHeld: %v", h)
					}
				}

				b.mu.Lock()
				defer b.mu.Unlock()
				var keys []string
				for _, rec := range b.restore {
					keys = append(keys, rec.Key)
					if fs := rec.GetFile(); fs != nil && fs.Offset != 13 {
						t.Errorf("restored offset %d, want 13", fs.Offset)
					}
				}
				sort.Strings(keys)
				// The first write was durable: only the second is kept.
				var writeKeys []string
				for _, k := range keys {
					if strings.HasPrefix(k, "write/") {
						writeKeys = append(writeKeys, k)
					}
				}
				if len(writeKeys) != 1 || !containsPrefix(keys, "proc/100", "thread/100", "map/", "file/1", "fdt/1/3") {
					t.Errorf("restored keys %q", keys)
				}
				if len(b.rewrites) != 1 || string(b.rewrites[0].Data) != "second " || b.rewrites[0].Offset != 6 ||
					string(b.rewrites[0].Path) != "/data" || string(b.rewrites[0].FileHandle) != "handle-1" || writeKeys[0] != fmt.Sprintf("write/%d", b.rewrites[0].Seq) {
					t.Errorf("rewrites %v, want one of \"second \" at 6 (write keys %q)", b.rewrites, writeKeys)
				}
				if len(b.getsid) != 1 || b.getsid[0] != inflightSeq {
					t.Errorf("re-sent getsid seqs %v, want the original %d", b.getsid, inflightSeq)
				}
				// New calls continue past every seq used.
				a.mu.Lock()
				maxA := uint64(0)
				for _, s := range a.seqs {
					maxA = max(maxA, s)
				}
				a.mu.Unlock()
				for _, s := range b.seqs {
					if s != inflightSeq && s <= maxA {
						t.Errorf("seq %d reused after recovery (first server's highest %d)", s, maxA)
					}
				}
				// The recovery is reported after its re-sent calls
				// were answered: the program may end first.
				for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
					statsMu.Lock()
					n := len(stats)
					statsMu.Unlock()
					if n > 0 {
						break
					}
				}
				statsMu.Lock()
				defer statsMu.Unlock()
				if len(stats) != 1 {
					t.Fatalf("recoveries %v, want 1", stats)
				}
				s := stats[0]
				wantServer := tb
				if tc.restart {
					wantServer = ta
				}
				if s.Server != wantServer || s.Records != len(b.restore) || s.Rewrites != 1 || s.RewriteBytes != 7 || s.InFlight != 1 {
					t.Errorf("stats %+v", s)
				}
				t.Logf("recovered: %+v", s)
			})
		}
	})
}

func containsPrefix(keys []string, prefixes ...string) bool {
	for _, p := range prefixes {
		found := false
		for _, k := range keys {
			if strings.HasPrefix(k, p) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// TestRecoveryTimeout: with no server to take over, the application is
// killed with a clear error after the recovery timeout.
func TestRecoveryTimeout(t *testing.T) {
	forEachPlatform(t, func(t *testing.T, platform string) {
		bin := buildC(t, "recovery", recoverySrc)
		dir := t.TempDir()
		ta := "unix:" + filepath.Join(dir, "a.sock")
		a := startRecFake(t, ta, &fakeDisk{applied: map[uint64]bool{}}, true)
		done := make(chan error, 1)
		start := time.Now()
		go func() {
			_, err := Run(context.Background(), Config{
				Servers: []string{ta}, Platform: platform, Argv: []string{bin}, Cwd: "/",
				Stdin: strings.NewReader(""), Stdout: &syncBuffer{}, Stderr: &syncBuffer{},
				HeartbeatInterval: 50 * time.Millisecond, Grace: 200 * time.Millisecond, RecoveryTimeout: time.Second,
			})
			done <- err
		}()
		<-a.inflight
		a.srv.gs.Stop()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "no remote sentry restored the application within 1s") {
				t.Errorf("Run error %v", err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not give up")
		}
	})
}
