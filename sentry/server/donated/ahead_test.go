package donated

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// TestWriteWith: a Write with Ahead bytes writes them after its own in
// one host call, with no statx (the last call they cover makes it), and
// says how many the file took; a Prewritten one writes
// nothing and carries the statx only when asked; a Write through a fd
// that cannot write fails as Write does, with nothing taken ahead.
func TestWriteWith(t *testing.T) {
	for _, tc := range []struct {
		name     string
		readOnly bool
		data     string
		ahead    []string
		pre      *Prewritten
		// want is the file after the call (it held "0123456789").
		want                        string
		wantWritten, wantAhead      int
		wantErrno                   unix.Errno
		wantStat                    bool
		wantHostWrites, wantHostSts uint64
	}{
		{name: "ahead", data: "ab", ahead: []string{"cd", "efg"}, want: "01234ab" + "cdefg",
			wantWritten: 2, wantAhead: 5, wantHostWrites: 1},
		{name: "prewritten, the last", data: "zz", pre: &Prewritten{Stat: true}, want: "0123456789",
			wantWritten: 2, wantStat: true, wantHostSts: 1},
		{name: "prewritten", data: "zz", pre: &Prewritten{}, want: "0123456789", wantWritten: 2},
		{name: "no ahead bytes", data: "ab", ahead: nil, want: "01234ab789",
			wantWritten: 2, wantStat: true, wantHostWrites: 1, wantHostSts: 1},
		{name: "a fd that cannot write", readOnly: true, data: "ab", ahead: []string{"cd"}, want: "0123456789",
			wantErrno: unix.EBADF, wantHostWrites: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(path, []byte("0123456789"), 0o644); err != nil {
				t.Fatal(err)
			}
			mode := unix.O_RDWR
			if tc.readOnly {
				mode = unix.O_RDONLY
			}
			fd, err := unix.Open(path, mode|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			// Held as a write fd even when it is not one.
			h := &FD{fd: fd, read: true, write: true}
			h.exactStat.Store(true)
			h.Ref()
			defer h.Put()
			var o WriteOpts
			if tc.ahead != nil {
				o.Ahead = &Ahead{}
				for _, a := range tc.ahead {
					o.Ahead.Data = append(o.Ahead.Data, []byte(a))
				}
			}
			o.Prewritten = tc.pre
			w0, s0 := HostWrites.Load(), HostStats.Load()
			rep := new(goferpb.WriteReply)
			h.WriteWith(&goferpb.WriteRequest{Offset: 5, Data: []byte(tc.data)}, rep, o)
			if unix.Errno(rep.Errno) != tc.wantErrno || int(rep.Written) != tc.wantWritten || (rep.Stat != nil) != tc.wantStat {
				t.Errorf("reply %v; want errno %v, %d written, a stat %v", rep, tc.wantErrno, tc.wantWritten, tc.wantStat)
			}
			if o.Ahead != nil && o.Ahead.Written != tc.wantAhead {
				t.Errorf("%d bytes taken ahead, want %d", o.Ahead.Written, tc.wantAhead)
			}
			if w, s := HostWrites.Load()-w0, HostStats.Load()-s0; w != tc.wantHostWrites || s != tc.wantHostSts {
				t.Errorf("host calls: %d writes, %d statx; want %d, %d", w, s, tc.wantHostWrites, tc.wantHostSts)
			}
			if got, _ := os.ReadFile(path); string(got) != tc.want {
				t.Errorf("file %q, want %q", got, tc.want)
			}
		})
	}
}
