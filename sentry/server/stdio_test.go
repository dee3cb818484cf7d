package server

import (
	"testing"

	"github.com/hashicorp/go-hclog"
)

// TestStdinDataAfterRestore: StdinData re-sent after a Restore that
// already carried (some of) its bytes is not buffered twice.
func TestStdinDataAfterRestore(t *testing.T) {
	type chunk struct {
		off  uint64
		data string
	}
	for _, tc := range []struct {
		name     string
		restored bool
		read     uint64
		unread   string
		chunks   []chunk
		want     string
	}{
		{name: "no restore", chunks: []chunk{{0, "abc"}, {3, "def"}}, want: "abcdef"},
		{name: "overlap", restored: true, read: 5, unread: "fgh", chunks: []chunk{{5, "fghij"}}, want: "fghij"},
		{name: "duplicate then new", restored: true, read: 5, unread: "fgh", chunks: []chunk{{0, "abcdefgh"}, {8, "ij"}}, want: "fghij"},
		{name: "nothing unread", restored: true, read: 5, chunks: []chunk{{3, "de"}, {5, "xy"}}, want: "xy"},
		{name: "partly read chunk", restored: true, read: 2, unread: "cd", chunks: []chunk{{0, "abcd"}, {4, "e"}}, want: "cde"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := &clientState{log: hclog.NewNullLogger()}
			if tc.restored {
				k.stdin.restore(tc.read, []byte(tc.unread))
			}
			for _, c := range tc.chunks {
				k.stdinData(0, c.off, []byte(c.data), false)
			}
			if got := string(k.stdin.buf); got != tc.want {
				t.Fatalf("buffered %q, want %q", got, tc.want)
			}
			if want := tc.read + uint64(len(tc.want)); k.stdin.received != want {
				t.Fatalf("received %d, want %d", k.stdin.received, want)
			}
		})
	}
}
