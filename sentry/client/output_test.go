package client

import "testing"

// TestPrintOutputOnce checks that stdio output of a call re-sent after a
// server failure is printed once, while several pushes of one call on the
// same connection are all printed.
func TestPrintOutputOnce(t *testing.T) {
	s := &remoteSession{}
	steps := []struct {
		recover bool
		seq     uint64
		want    bool
	}{
		{seq: 0, want: true},  // no seq: always printed
		{seq: 7, want: true},  // first output of call 7
		{seq: 7, want: true},  // a second chunk on the same connection
		{recover: true},       // the server died; call 7 is re-sent
		{seq: 7, want: false}, // the new server writes it again: dropped
		{seq: 8, want: true},  // a new call on the new connection
		{recover: true},       //
		{seq: 8, want: false}, //
		{seq: 9, want: true},  //
	}
	gen := connGen(0)
	for i, st := range steps {
		if st.recover {
			gen++
			s.imu.Lock()
			s.recvGen = gen
			s.imu.Unlock()
			continue
		}
		if got := s.PrintOutput(st.seq); got != st.want {
			t.Errorf("step %d: PrintOutput(%d) = %v, want %v", i, st.seq, got, st.want)
		}
	}
}
