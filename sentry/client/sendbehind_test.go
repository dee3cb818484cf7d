package client

import (
	"testing"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestSendRooms: a socket's room is a reply's send_room less the bytes
// posted and unanswered; a posted write takes its bytes from it, a failed
// one leaves none, and a reset (recovery) forgets all.
func TestSendRooms(t *testing.T) {
	const file = 7
	for _, tc := range []struct {
		name string
		// steps run in order on a fresh table.
		steps func(sr *sendRooms) bool
		want  uint64
	}{
		{"reply", func(sr *sendRooms) bool { sr.set(file, 100); return true }, 100},
		{"none said", func(sr *sendRooms) bool { sr.set(file, 100); sr.set(file, 0); return true }, 0},
		{"take", func(sr *sendRooms) bool { sr.set(file, 100); return sr.take(file, 40) }, 60},
		{"take too much", func(sr *sendRooms) bool { sr.set(file, 100); return !sr.take(file, 101) }, 100},
		{"posted unanswered at the next reply", func(sr *sendRooms) bool {
			sr.set(file, 100)
			ok := sr.take(file, 30)
			sr.set(file, 100) // the reply may have come before the write ran
			return ok
		}, 70},
		{"posted answered", func(sr *sendRooms) bool {
			sr.set(file, 100)
			ok := sr.take(file, 30)
			sr.done(file, 30, &pb.Reply{Ret: 30})
			sr.set(file, 100)
			return ok
		}, 100},
		{"posted failed", func(sr *sendRooms) bool {
			sr.set(file, 100)
			ok := sr.take(file, 30)
			sr.done(file, 30, &pb.Reply{Errno: 104})
			return ok
		}, 0},
		{"reply less than posted", func(sr *sendRooms) bool {
			sr.set(file, 100)
			ok := sr.take(file, 80)
			sr.set(file, 50)
			return ok
		}, 0},
		{"reset", func(sr *sendRooms) bool { sr.set(file, 100); sr.reset(); return !sr.any() }, 0},
	} {
		var sr sendRooms
		if !tc.steps(&sr) {
			t.Errorf("%s: a step failed", tc.name)
		}
		if got := sr.room[file]; got != tc.want {
			t.Errorf("%s: room %d, want %d", tc.name, got, tc.want)
		}
	}
}
