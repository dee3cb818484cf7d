package client

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// answeringBatchServer serves Sessions that take posted calls in batches
// and answer each frame's at once with their results alone, packed
// (ServerMessage.posted_done), as the server answers a batch of posted
// umasks: the client's whole path of a posted call, from the post to its
// reply folded, with no server work of substance.
func answeringBatchServer(st pb.Sentry_SessionServer) error {
	if m, err := st.Recv(); err != nil || m.GetHello() == nil {
		return errors.New("want hello")
	}
	st.Send(&pb.ServerMessage{Msg: &pb.ServerMessage_Welcome{Welcome: &pb.Welcome{
		ServerId: "answering", ProtocolVersion: pb.ProtocolVersion, Features: pb.FeaturePostBatch | pb.FeaturePostedDone,
	}}})
	var done pb.PostedDone
	for {
		m, err := st.Recv()
		if err != nil {
			return nil
		}
		calls := m.GetPostedCalls()
		if len(calls) == 0 {
			continue
		}
		done.Seq, done.Ret = done.Seq[:0], done.Ret[:0]
		for _, c := range calls {
			done.Seq = append(done.Seq, c.Seq)
			done.Ret = append(done.Ret, 0o22)
		}
		if err := st.Send(&pb.ServerMessage{PostedDone: &done}); err != nil {
			return nil
		}
	}
}

// BenchmarkPostedUmask times the client's posted umask (the bench's
// `umask` row without the trap) on its whole path: the answer made and
// the call queued on the application's path, the queue's frames encoded
// and written by the connection's sender, the packed replies read and
// folded by its reader (answeringBatchServer: the fake server's decoding
// and encoding are in the process's allocations too). Per call: ns/op
// (the posting goroutine's, the others running beside it), the process's
// CPU (cpu-ns/op: the fake server's included), allocations and bytes,
// and how many calls found maxPostedCalls in flight and
// waited for them (waits/op: the application's loop outran the replies).
func BenchmarkPostedUmask(b *testing.B) {
	tk := sessionTask(b, answeringBatchServer)
	tk.c.tasks = map[int32]*task{tk.tid: tk}
	s := tk.c.conn
	waits := 0
	b.ReportAllocs()
	cpu0 := processCPU(b)
	b.ResetTimer()
	for range b.N {
		if _, ok := tk.pipelineUmask([6]uint64{0o22}); ok {
			continue
		}
		// maxPostedCalls in flight: the client would wait for a
		// round trip, which takes the queue along.
		waits++
		if err := s.conn.SendPosted(); err != nil {
			b.Fatal(err)
		}
		waitPostedOut(b, s)
		if _, ok := tk.pipelineUmask([6]uint64{0o22}); !ok {
			b.Fatal("umask not posted")
		}
	}
	if err := s.conn.SendPosted(); err != nil {
		b.Fatal(err)
	}
	waitPostedOut(b, s)
	b.StopTimer()
	b.ReportMetric(float64(waits)/float64(b.N), "waits/op")
	b.ReportMetric(float64((processCPU(b)-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// processCPU returns the user and system CPU time the process used.
func processCPU(tb testing.TB) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// waitPostedOut waits until no posted call of s is in flight.
func waitPostedOut(tb testing.TB, s *remoteSession) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.imu.Lock()
		n := s.postedOut
		s.imu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d posted calls unanswered after 10 s", n)
		}
		time.Sleep(100 * time.Microsecond)
	}
}
