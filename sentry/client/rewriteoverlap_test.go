package client

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/client/replaylog"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// TestReplayRewriteAfterLaterWrite: a retained write whose Rewrite fails
// at a recovery (EIO) is re-sent at the next; a later write of its thread
// to the same file (another description) overlapping it, made durable in
// between, is not in the log any more, and the re-sent Rewrite carries
// that write's bytes where they overlap, not its own older ones.
func TestReplayRewriteAfterLaterWrite(t *testing.T) {
	var mu sync.Mutex
	round := 0
	sent := map[int][]*pb.Rewrite{}
	target := "unix:" + filepath.Join(t.TempDir(), "s.sock")
	startFakeSentryAt(t, target, func(ss *session, c *pb.Call) bool {
		switch op := c.Op.(type) {
		case *pb.Call_Restore:
			ss.reply(&pb.Reply{Seq: c.Seq})
			return true
		case *pb.Call_Rewrite:
			mu.Lock()
			sent[round] = append(sent[round], op.Rewrite)
			r := &pb.Reply{Seq: c.Seq, Ret: int64(len(op.Rewrite.Data))}
			if round == 0 {
				r.Ret, r.Errno = 0, int32(unix.EIO)
			}
			mu.Unlock()
			ss.reply(r)
			return true
		}
		return false
	})

	rl := replaylog.New()
	for _, file := range []uint64{1, 2} {
		rl.Fold(&pb.StateRecord{Key: statekey.File(file).String(), Value: &pb.StateRecord_File{File: &pb.FileState{
			Id: file, Kind: pb.FileState_GOFER, Flags: unix.O_WRONLY, Path: []byte("/data"), Ino: 42, Dev: 0x803}}}, nil)
	}
	write := func(seq, file uint64, off int64, s string) {
		call := &pb.Call{Seq: seq, Tid: 1, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: unix.SYS_PWRITE64,
			Args: []uint64{3, 0x1000, uint64(len(s)), uint64(off)}, Inputs: []*pb.Region{{Addr: 0x1000, Data: []byte(s)}}}}}
		rl.FoldReply(call, &pb.Reply{Seq: seq, Ret: int64(len(s)), Written: &pb.PostedWrite{File: file, Offset: off}})
	}
	write(10, 1, 0, "aaaaaaaa")

	c := &client{log: hclog.NewNullLogger(), ctx: context.Background(), stdin: &stdinReader{}}
	s := &remoteSession{c: c, log: c.log, rl: rl, servers: []string{target}, hello: &pb.Hello{}, timeout: 20 * time.Second,
		inflight: make(map[uint64]*pending), shuttingDown: true}
	s.opts = transport.Options{Wire: transport.WireGRPC}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	t.Cleanup(s.cancel)
	recoverOnce := func(r int) {
		t.Helper()
		mu.Lock()
		round = r
		mu.Unlock()
		s.mu.Lock()
		s.recovering, s.ready = true, make(chan struct{})
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		conn, err := s.dial(ctx, 0, true, false)
		cancel()
		if err != nil {
			t.Fatalf("recovery %d: dial: %v", r+1, err)
		}
		_, err = s.replay(conn, 0, true)
		conn.Close()
		if err != nil {
			t.Fatalf("recovery %d: replay: %v", r+1, err)
		}
	}

	recoverOnce(0)
	// After the failed Rewrite: the later write, made durable.
	write(20, 2, 4, "bbbbbbbb")
	rl.FoldPush(&pb.Push{Msg: &pb.Push_Durable{Durable: &pb.Durable{File: 2, Seq: 20}}})
	recoverOnce(1)

	mu.Lock()
	defer mu.Unlock()
	for r, want := range []string{"aaaaaaaa", "aaaabbbb"} {
		if got := sent[r]; len(got) != 1 || got[0].Seq != 10 || string(got[0].Data) != want {
			t.Errorf("recovery %d re-sent %v, want write 10 with %q", r+1, got, want)
		}
	}
}
