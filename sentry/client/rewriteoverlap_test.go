package client

import (
	"context"
	"path/filepath"
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
// at a recovery (EIO) is re-sent at the next; a later write to the same
// file (another description) overlapping it, of its thread or another's
// given its seq by the session after the first write's reply, made
// durable in between, is not in the log any more, and the re-sent
// Rewrite carries that write's bytes where they overlap, not its own
// older ones.
func TestReplayRewriteAfterLaterWrite(t *testing.T) {
	for _, tc := range []struct {
		name string
		// tid is the later write's thread (the first's is 1).
		tid int32
	}{
		// Program order.
		{name: "same-thread", tid: 1},
		// Given its seq after the first write's reply came.
		{name: "other-thread", tid: 2},
	} {
		t.Run(tc.name, func(t *testing.T) { testReplayRewriteAfterLaterWrite(t, tc.tid) })
	}
}

func testReplayRewriteAfterLaterWrite(t *testing.T, tid int32) {
	target := "unix:" + filepath.Join(t.TempDir(), "s.sock")
	fs := startRewriteSentry(t, target, func(round int, _ *pb.Rewrite, r *pb.Reply) {
		if round == 0 {
			r.Ret, r.Errno = 0, int32(unix.EIO)
		}
	})

	rl := replaylog.New()
	for _, file := range []uint64{1, 2} {
		rl.Fold(&pb.StateRecord{Key: statekey.File(file).String(), Value: &pb.StateRecord_File{File: &pb.FileState{
			Id: file, Kind: pb.FileState_GOFER, Flags: unix.O_WRONLY, Path: []byte("/data"), Ino: 42, Dev: 0x803}}}, nil)
	}
	c := &client{log: hclog.NewNullLogger(), ctx: context.Background(), stdin: &stdinReader{}}
	s := newSession(c, rl, []string{target}, &pb.Hello{})
	s.shuttingDown = true
	s.opts = transport.Options{Wire: transport.WireGRPC}
	t.Cleanup(s.cancel)
	write := func(tid int32, file uint64, off int64, str string) uint64 {
		seq := s.nextSeq()
		call := &pb.Call{Seq: seq, Tid: tid, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: unix.SYS_PWRITE64,
			Args: []uint64{3, 0x1000, uint64(len(str)), uint64(off)}, Inputs: []*pb.Region{{Addr: 0x1000, Data: []byte(str)}}}}}
		rl.FoldReply(call, &pb.Reply{Seq: seq, Ret: int64(len(str)), Written: &pb.PostedWrite{File: file, Offset: off}})
		return seq
	}
	first := write(1, 1, 0, "aaaaaaaa")
	var sent [2][]*pb.Rewrite
	_, sent[0] = fs.recover(t, s, 0)
	// After the failed Rewrite: the later write, made durable.
	later := write(tid, 2, 4, "bbbbbbbb")
	rl.FoldPush(&pb.Push{Msg: &pb.Push_Durable{Durable: &pb.Durable{File: 2, Seq: later}}})
	_, sent[1] = fs.recover(t, s, 1)

	for r, want := range []string{"aaaaaaaa", "aaaabbbb"} {
		if got := sent[r]; len(got) != 1 || got[0].Seq != first || string(got[0].Data) != want {
			t.Errorf("recovery %d re-sent %v, want write %d with %q", r+1, got, first, want)
		}
	}
}

// TestSessionIssued: the seq the session last gave a call, as the log
// reads it (remoteSession.issued), follows every way a call gets one: a
// waited call, a posted call, a recovery's own call (nextSeq). A lower
// one would have the log take a write given its seq before another's
// reply came for one made after it.
func TestSessionIssued(t *testing.T) {
	ws := &writeServer{replyPosted: true}
	tk := sessionTaskWith(t, ws.session, 0)
	rs := tk.c.conn
	check := func(what string, seq uint64) {
		t.Helper()
		if seq == 0 {
			t.Fatalf("%s: no seq given", what)
		}
		if got := rs.issued.Load(); got != seq {
			t.Errorf("after %s (seq %d) the log reads %d", what, seq, got)
		}
	}
	sc := newSessionCall(7, unix.SYS_LSEEK, [6]uint64{5}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := rs.CallSyscall(ctx, sc); err != nil {
		t.Fatal(err)
	}
	check("a waited call", sc.call.Seq)
	pc := newPostedCall(7, unix.SYS_LSEEK, [6]uint64{5}, nil)
	if !rs.PostCall(pc, nil) {
		t.Fatal("the call was not posted")
	}
	check("a posted call", pc.call.Seq)
	check("nextSeq", rs.nextSeq())
}
