package client

import (
	"context"
	"io"
	"path/filepath"
	"slices"
	"strings"
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

// TestReplayRewriteAnswers runs three recoveries (replay) of a session
// retaining two writes against the fake server, which answers every
// Rewrite of the first as the case says and the other's with its count.
// A Rewrite answered rewrite_durable or rewrite_gone drops its write: it
// is not re-sent at the next recovery. One answered with its count
// alone, or with an errno, keeps it: re-sent at each recovery. A failure
// is logged as an error once, not at every recovery, and again only
// after a recovery where it did not fail. The other write is kept
// throughout.
func TestReplayRewriteAnswers(t *testing.T) {
	const tested, other = 10, 11
	count := func(r *pb.Reply) { r.Ret = 4 }
	for _, tc := range []struct {
		name   string
		answer func(*pb.Reply)
		// failAt are the recoveries (from 0) at which the Rewrite
		// fails with EIO instead.
		failAt []int
		// kept: the write is re-sent at every recovery.
		kept bool
		// errors is how many failures are logged as errors.
		errors int
	}{
		{name: "durable", answer: func(r *pb.Reply) { r.Ret, r.RewriteDurable = 4, true }},
		{name: "gone", answer: func(r *pb.Reply) { r.RewriteGone = true }},
		{name: "neither", answer: count, kept: true},
		{name: "errno", answer: count, failAt: []int{0, 1, 2}, kept: true, errors: 1},
		{name: "errno-again", answer: count, failAt: []int{0, 2}, kept: true, errors: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := "unix:" + filepath.Join(t.TempDir(), "s.sock")
			fs := startRewriteSentry(t, target, func(round int, rw *pb.Rewrite, r *pb.Reply) {
				if rw.Seq == tested {
					r.Ret = 0
					tc.answer(r)
					if slices.Contains(tc.failAt, round) {
						r.Ret, r.Errno = 0, int32(unix.EIO)
					}
				}
			})

			rl := replaylog.New()
			for i, seq := range []uint64{tested, other} {
				file := uint64(i + 1)
				rl.Fold(&pb.StateRecord{Key: statekey.File(file).String(), Value: &pb.StateRecord_File{File: &pb.FileState{
					Id: file, Kind: pb.FileState_GOFER, Flags: unix.O_WRONLY, Path: []byte("/data"), FileHandle: []byte("handle")}}}, nil)
				rl.Fold(&pb.StateRecord{Key: statekey.Write(seq).String(), Value: &pb.StateRecord_Write{Write: &pb.WriteState{
					Seq: seq, File: file, Length: 4}}}, []byte("data"))
			}
			var logs syncBuffer
			s := handRecoveredSession(t, rl, target, &logs)

			for r := range 3 {
				st, sent := fs.recover(t, s, r)
				want := []uint64{other}
				if r == 0 || tc.kept {
					want = []uint64{tested, other}
				}
				if got := seqsOf(sent); !slices.Equal(got, want) {
					t.Errorf("recovery %d re-sent seqs %v, want %v", r+1, got, want)
				}
				wantFailed := 0
				if slices.Contains(tc.failAt, r) {
					wantFailed = 1
				}
				if st.RewritesFailed != wantFailed || st.Rewrites != len(want) {
					t.Errorf("recovery %d: %d rewrites, %d failed; want %d, %d", r+1, st.Rewrites, st.RewritesFailed, len(want), wantFailed)
				}
			}
			if n := strings.Count(logs.String(), "could not be re-sent"); n != tc.errors {
				t.Errorf("failed Rewrites logged as errors %d times over 3 recoveries, want %d:\n%s", n, tc.errors, logs.String())
			}
			// The error names the file as text (before, as its
			// bytes' numbers: path=[47, 100, 97, 116, 97]).
			if n := strings.Count(logs.String(), "path=/data"); n != tc.errors {
				t.Errorf("%d of the errors name the file as path=/data, want %d:\n%s", n, tc.errors, logs.String())
			}
		})
	}
}

// TestReplayFailedBound: the writes whose Rewrite failed are kept for
// the next recovery up to the session's bound on their bytes; past it the
// latest are dropped, each logged as an error, and not re-sent.
func TestReplayFailedBound(t *testing.T) {
	seqs := []uint64{10, 11, 12} // 4 bytes each, every Rewrite failing
	for _, tc := range []struct {
		name  string
		limit int64
		// kept are the writes re-sent at the second recovery.
		kept []uint64
	}{
		{"the default bound", 0, seqs},
		{"at the bound", 12, seqs},
		{"past it by one write", 8, []uint64{10, 11}},
		{"below one write", 3, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := "unix:" + filepath.Join(t.TempDir(), "s.sock")
			fs := startRewriteSentry(t, target, func(_ int, _ *pb.Rewrite, r *pb.Reply) {
				r.Ret, r.Errno = 0, int32(unix.ENOSPC)
			})
			rl := replaylog.New()
			rl.Fold(&pb.StateRecord{Key: statekey.File(1).String(), Value: &pb.StateRecord_File{File: &pb.FileState{
				Id: 1, Kind: pb.FileState_GOFER, Flags: unix.O_WRONLY, Path: []byte("/data"), FileHandle: []byte("handle")}}}, nil)
			for i, seq := range seqs {
				rl.Fold(&pb.StateRecord{Key: statekey.Write(seq).String(), Value: &pb.StateRecord_Write{Write: &pb.WriteState{
					Seq: seq, File: 1, Offset: int64(4 * i), Length: 4}}}, []byte("data"))
			}
			var logs syncBuffer
			s := handRecoveredSession(t, rl, target, &logs)
			s.failedLimit = tc.limit
			st, _ := fs.recover(t, s, 0)
			if st.FailedDropped != len(seqs)-len(tc.kept) {
				t.Errorf("recovery 1 dropped %d failed writes, want %d", st.FailedDropped, len(seqs)-len(tc.kept))
			}
			_, sent := fs.recover(t, s, 1)
			if got := seqsOf(sent); !slices.Equal(got, tc.kept) {
				t.Errorf("recovery 2 re-sent %v, want %v", got, tc.kept)
			}
			if n := strings.Count(logs.String(), "exceed their bound"); n != len(seqs)-len(tc.kept) {
				t.Errorf("%d drops logged, want %d:\n%s", n, len(seqs)-len(tc.kept), logs.String())
			}
		})
	}
}

// handRecoveredSession is a session of rl with target as its only
// server, logging errors to logs, which a test recovers by hand
// (recoverByHand): it is shutting down, so no recovery of its own
// starts, and it speaks gRPC to a fake sentry (startFakeSentryAt).
func handRecoveredSession(t *testing.T, rl *replaylog.Log, target string, logs io.Writer) *remoteSession {
	c := &client{log: hclog.New(&hclog.LoggerOptions{Level: hclog.Error, Output: logs}), ctx: context.Background(), stdin: &stdinReader{}}
	s := &remoteSession{c: c, log: c.log, rl: rl, servers: []string{target}, hello: &pb.Hello{}, timeout: 20 * time.Second,
		inflight: make(map[uint64]*pending), shuttingDown: true}
	s.opts = transport.Options{Wire: transport.WireGRPC}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	t.Cleanup(s.cancel)
	return s
}

// recoverByHand runs recovery r (from 0) of s against its first server
// as the recovery goroutine would: recovering, a new connection, the
// replay. The connection is closed after, so the next recovery's server
// is a new connection.
func recoverByHand(t *testing.T, s *remoteSession, r int) RecoveryStats {
	t.Helper()
	s.mu.Lock()
	s.recovering, s.ready = true, make(chan struct{})
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	conn, err := s.dial(ctx, 0, true, false)
	cancel()
	if err != nil {
		t.Fatalf("recovery %d: dial: %v", r+1, err)
	}
	st, err := s.replay(conn, 0, true)
	conn.Close()
	if err != nil {
		t.Fatalf("recovery %d: replay: %v", r+1, err)
	}
	return st
}

// rewriteSentry is a fake sentry that answers a recovery's Restore and
// each of its Rewrites, and keeps the Rewrites each recovery received.
type rewriteSentry struct {
	mu sync.Mutex
	// round is the recovery under way (from 0), sent the Rewrites each
	// received. Under mu.
	round int
	sent  map[int][]*pb.Rewrite
}

// startRewriteSentry starts a rewriteSentry at target whose answer to a
// Rewrite is a success of its length unless answer changes it (given
// the recovery's number; called under the sentry's lock).
func startRewriteSentry(t *testing.T, target string, answer func(round int, rw *pb.Rewrite, r *pb.Reply)) *rewriteSentry {
	f := &rewriteSentry{sent: map[int][]*pb.Rewrite{}}
	startFakeSentryAt(t, target, func(ss *session, c *pb.Call) bool {
		switch op := c.Op.(type) {
		case *pb.Call_Restore:
			ss.reply(&pb.Reply{Seq: c.Seq})
			return true
		case *pb.Call_Rewrite:
			f.mu.Lock()
			f.sent[f.round] = append(f.sent[f.round], op.Rewrite)
			r := &pb.Reply{Seq: c.Seq, Ret: int64(len(op.Rewrite.Data))}
			answer(f.round, op.Rewrite, r)
			f.mu.Unlock()
			ss.reply(r)
			return true
		}
		return false
	})
	return f
}

// recover runs recovery r of s against f (recoverByHand) and returns its
// stats and the Rewrites f received in it.
func (f *rewriteSentry) recover(t *testing.T, s *remoteSession, r int) (RecoveryStats, []*pb.Rewrite) {
	t.Helper()
	f.mu.Lock()
	f.round = r
	f.mu.Unlock()
	st := recoverByHand(t, s, r)
	f.mu.Lock()
	defer f.mu.Unlock()
	return st, f.sent[r]
}

// seqsOf lists the seqs of rws.
func seqsOf(rws []*pb.Rewrite) []uint64 {
	out := make([]uint64, 0, len(rws))
	for _, rw := range rws {
		out = append(out, rw.Seq)
	}
	return out
}
