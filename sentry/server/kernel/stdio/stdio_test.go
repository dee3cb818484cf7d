package stdio

import (
	"bytes"
	"testing"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestDataAfterRestore: StdinData re-sent after a Restore that already
// carried (some of) its bytes is not buffered twice.
func TestDataAfterRestore(t *testing.T) {
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
		gap      bool
	}{
		{name: "no restore", chunks: []chunk{{0, "abc"}, {3, "def"}}, want: "abcdef"},
		{name: "overlap", restored: true, read: 5, unread: "fgh", chunks: []chunk{{5, "fghij"}}, want: "fghij"},
		{name: "duplicate then new", restored: true, read: 5, unread: "fgh", chunks: []chunk{{0, "abcdefgh"}, {8, "ij"}}, want: "fghij"},
		{name: "nothing unread", restored: true, read: 5, chunks: []chunk{{3, "de"}, {5, "xy"}}, want: "xy"},
		{name: "partly read chunk", restored: true, read: 2, unread: "cd", chunks: []chunk{{0, "abcd"}, {4, "e"}}, want: "cde"},
		{name: "gap", chunks: []chunk{{0, "ab"}, {4, "ef"}}, want: "abef", gap: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var st Stdin
			if tc.restored {
				st.Restore(tc.read, []byte(tc.unread))
			}
			gap := false
			for _, c := range tc.chunks {
				g, _, dropped := st.Data(c.off, []byte(c.data), false)
				gap = gap || g
				if dropped != 0 {
					t.Errorf("chunk at %d: %d bytes dropped", c.off, dropped)
				}
			}
			if got := string(st.buf); got != tc.want {
				t.Fatalf("buffered %q, want %q", got, tc.want)
			}
			if gap != tc.gap {
				t.Errorf("gap %v, want %v", gap, tc.gap)
			}
			want := tc.read + uint64(len(tc.want))
			if tc.gap {
				want += 2
			}
			if st.received != want {
				t.Fatalf("received %d, want %d", st.received, want)
			}
		})
	}
}

// TestRead: buffered bytes first, a StdinWant asked once until answered,
// EOF once as a zero-byte read, readiness, and the read count.
func TestRead(t *testing.T) {
	var st Stdin
	if ready, ch, ask := st.Readiness(); ready || ch == nil || !ask {
		t.Fatalf("empty stdin: ready %v, ch %v, ask %v; want a wait and a StdinWant", ready, ch != nil, ask)
	}
	data, eof, ch, ask := st.Read(10)
	if data != nil || eof || ch == nil || ask {
		t.Fatalf("read with a StdinWant outstanding: %q, eof %v, ask %v; want a wait and no second StdinWant", data, eof, ask)
	}
	st.Data(0, []byte("hello"), true)
	select {
	case <-ch:
	default:
		t.Fatal("data did not wake the reader")
	}
	if ready, _, _ := st.Readiness(); !ready || st.Buffered() != 5 {
		t.Fatalf("ready %v, %d buffered; want 5", ready, st.Buffered())
	}
	steps := []struct {
		n    int
		want string
		eof  bool
	}{
		{3, "hel", false},
		{10, "lo", false},
		{10, "", true},
	}
	for _, s := range steps {
		data, eof, _, _ := st.Read(s.n)
		if string(data) != s.want || eof != s.eof {
			t.Errorf("Read(%d) = %q, eof %v; want %q, %v", s.n, data, eof, s.want, s.eof)
		}
	}
	if _, eof, ch, ask := st.Read(10); eof || ch == nil || !ask {
		t.Errorf("read after the EOF: eof %v, ask %v; want a new StdinWant", eof, ask)
	}
	if got := st.CommitRead(3); got != 3 {
		t.Errorf("CommitRead(3) = %d", got)
	}
	if got := st.CommitRead(2); got != 5 {
		t.Errorf("CommitRead(2) = %d, want 5", got)
	}
	big := make([]byte, maxBuffered)
	if _, _, dropped := st.Data(5, big, false); dropped != 0 {
		t.Fatalf("a full buffer's worth dropped %d", dropped)
	}
	if _, _, dropped := st.Data(5+maxBuffered, []byte("x"), false); dropped != 1 {
		t.Errorf("a byte past the bound: %d dropped, want 1", dropped)
	}
}

// TestTTYInit: the terminal is the first stream that is one, its
// termios and window size cut or padded to their structs' sizes.
func TestTTYInit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stdio   [3]*sentrypb.StdioInfo
		present bool
		winsize []byte
	}{
		{"none", [3]*sentrypb.StdioInfo{}, false, nil},
		{"not a tty", [3]*sentrypb.StdioInfo{{Fd: 0}}, false, nil},
		{"short winsize", [3]*sentrypb.StdioInfo{nil, {Fd: 1, IsTty: true, Winsize: []byte{1, 2}}}, true, []byte{1, 2, 0, 0, 0, 0, 0, 0}},
		{"long winsize", [3]*sentrypb.StdioInfo{{Fd: 0, IsTty: true, Winsize: bytes.Repeat([]byte{9}, 20)}}, true, bytes.Repeat([]byte{9}, SizeofWinsize)},
	} {
		var tty TTY
		tty.Init(tc.stdio)
		if tty.Present != tc.present || !bytes.Equal(tty.Winsize, tc.winsize) {
			t.Errorf("%s: present %v winsize %v; want %v %v", tc.name, tty.Present, tty.Winsize, tc.present, tc.winsize)
		}
		if tc.present && (len(tty.Termios) != SizeofTermios || tty.FgPgrp != 1) {
			t.Errorf("%s: termios of %d bytes, foreground %d", tc.name, len(tty.Termios), tty.FgPgrp)
		}
	}
	s := &Set{ID: 1, Info: [3]*sentrypb.StdioInfo{nil, {Fd: 1, IsTty: true}}}
	if s.IsTTY(0) || !s.IsTTY(1) || s.IsTTY(2) {
		t.Errorf("IsTTY of fds 0-2: %v %v %v", s.IsTTY(0), s.IsTTY(1), s.IsTTY(2))
	}
}
