package client

import (
	"testing"
)

// TestUmaskPairTakenBack: a umask that restores the value the task's last
// posted umask replaced, while that one is unsent and last in the
// posted queue, takes it back and is not sent either (tar's umask(0) and
// back for each member), and answers as ever; a umask that sets another
// value, or comes after the queue was sent, or follows one that changed
// nothing (the benchmark's loop of one umask), is posted. The fs context's
// umask is the last one set, and no posted umask stays counted.
func TestUmaskPairTakenBack(t *testing.T) {
	// send, as a step, sends the posted queue.
	const send = ^uint32(0)
	for _, tc := range []struct {
		name        string
		steps       []uint32
		wantAnswers []uint32
		wantPosted  uint64 // posted and not taken back
		wantUnsent  uint64 // taken back
	}{
		{name: "tar's pair", steps: []uint32{0, 0o22}, wantAnswers: []uint32{0o22, 0}, wantPosted: 0, wantUnsent: 1},
		{name: "two pairs", steps: []uint32{0, 0o22, 0, 0o22}, wantAnswers: []uint32{0o22, 0, 0o22, 0}, wantPosted: 0, wantUnsent: 2},
		{name: "another value", steps: []uint32{0, 0o77}, wantAnswers: []uint32{0o22, 0}, wantPosted: 2},
		{name: "the same value again and again", steps: []uint32{0o22, 0o22, 0o22}, wantAnswers: []uint32{0o22, 0o22, 0o22}, wantPosted: 3},
		{name: "a pair after another umask", steps: []uint32{0o77, 0, 0o77}, wantAnswers: []uint32{0o22, 0o77, 0}, wantPosted: 1, wantUnsent: 1},
		{name: "the queue sent between", steps: []uint32{0, send, 0o22}, wantAnswers: []uint32{0o22, 0}, wantPosted: 2},
		{name: "a third umask after a pair", steps: []uint32{0, 0o22, 0o22}, wantAnswers: []uint32{0o22, 0, 0o22}, wantPosted: 1, wantUnsent: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tk := postingTask(t)
			s := tk.c.conn
			var answers []uint32
			last := uint32(0o22)
			for _, m := range tc.steps {
				if m == send {
					if err := s.conn.SendPosted(); err != nil {
						t.Fatal(err)
					}
					continue
				}
				old, ok := tk.pipelineUmask([6]uint64{uint64(m)})
				if !ok {
					t.Fatalf("umask(%#o) not answered on the client", m)
				}
				answers = append(answers, uint32(old))
				last = m
			}
			if len(answers) != len(tc.wantAnswers) {
				t.Fatalf("answers %#o, want %#o", answers, tc.wantAnswers)
			}
			for i := range answers {
				if answers[i] != tc.wantAnswers[i] {
					t.Errorf("answers %#o, want %#o", answers, tc.wantAnswers)
					break
				}
			}
			if got := s.postedCalls.Load(); got != tc.wantPosted {
				t.Errorf("%d umasks posted and not taken back, want %d", got, tc.wantPosted)
			}
			if got := s.unposted.Load(); got != tc.wantUnsent {
				t.Errorf("%d umasks taken back, want %d", got, tc.wantUnsent)
			}
			ps := &tk.c.pipe
			ps.mu.Lock()
			umask, counted := ps.umask[3], ps.umaskPosted[3]
			ps.mu.Unlock()
			if umask != last {
				t.Errorf("fs context's umask %#o, want %#o", umask, last)
			}
			if counted != int(tc.wantPosted) {
				t.Errorf("%d posted umasks counted in flight, want %d (nothing answers them)", counted, tc.wantPosted)
			}
		})
	}
}
