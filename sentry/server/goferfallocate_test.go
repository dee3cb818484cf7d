package server

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
)

// TestGoferRestartResentFallocate: a fallocate that moves bytes
// (FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE) whose reply the
// gofer's death swallowed after the gofer ran it is re-sent to the new
// gofer, which has no reply cache: it must not be applied twice. The
// modes that leave the same file when run again are re-sent as they are.
func TestGoferRestartResentFallocate(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("re-resolving handles by file handle needs CAP_DAC_READ_SEARCH")
	}
	const blk = 4096
	block := func(c byte) []byte { return bytes.Repeat([]byte{c}, blk) }
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	zeros := make([]byte, blk)
	a, b, c := block('a'), block('b'), block('c')
	tests := []struct {
		name   string
		mode   uint32
		offset uint64
		want   []byte
	}{
		{name: "collapse", mode: unix.FALLOC_FL_COLLAPSE_RANGE, offset: blk, want: cat(a, c)},
		{name: "insert", mode: unix.FALLOC_FL_INSERT_RANGE, offset: blk, want: cat(a, zeros, b, c)},
		{name: "zero range", mode: unix.FALLOC_FL_ZERO_RANGE, offset: blk, want: cat(a, zeros, c)},
		{name: "punch hole", mode: unix.FALLOC_FL_PUNCH_HOLE | unix.FALLOC_FL_KEEP_SIZE, offset: 0, want: cat(zeros, b, c)},
		{name: "allocate", mode: 0, offset: 3 * blk, want: cat(a, b, c, zeros)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if err := os.WriteFile(filepath.Join(root, "f"), cat(a, b, c), 0644); err != nil {
				t.Fatal(err)
			}
			p := startGoferProc(t, root)
			lossy := &lossyConn{p: p, method: "Fallocate"}
			gcl, h := openedThrough(t, p, func(cc grpc.ClientConnInterface) grpc.ClientConnInterface {
				lossy.ClientConnInterface = cc
				return lossy
			})
			r, err := gcl.Fallocate(context.Background(), &goferpb.FallocateRequest{Handle: h, Mode: tc.mode, Offset: tc.offset, Length: blk,
				Origin: &goferpb.Origin{ClientId: "c", Seq: 9}})
			if err != nil || r.Errno != 0 {
				t.Fatalf("Fallocate: %v %v", err, unix.Errno(r.GetErrno()))
			}
			if !lossy.restarted {
				t.Fatal("the gofer was not restarted between the fallocate and its reply")
			}
			got, err := os.ReadFile(filepath.Join(root, "f"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("the file is %d bytes %q..., want %d bytes %q...", len(got), summary(got), len(tc.want), summary(tc.want))
			}
			if r.GetStat().GetSize() != uint64(len(tc.want)) {
				t.Errorf("the reply's size is %d, want %d", r.GetStat().GetSize(), len(tc.want))
			}
		})
	}
}

// sizeChanger appends a block to the host file path before the first
// Fallocate it passes on, as another party changing the file between
// GoferConn's Stat of its size and the call; it counts the calls.
type sizeChanger struct {
	grpc.ClientConnInterface
	path string
	// mu protects calls and grows.
	mu    sync.Mutex
	calls map[string]int
	// grows is how many of the next Fallocates another party's append
	// of a 4 KiB block of 'd' precedes.
	grows int
}

func (c *sizeChanger) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	name := method[strings.LastIndex(method, "/")+1:]
	c.mu.Lock()
	c.calls[name]++
	grow := name == "Fallocate" && c.grows > 0
	if grow {
		c.grows--
	}
	c.mu.Unlock()
	if grow {
		f, err := os.OpenFile(c.path, os.O_WRONLY|os.O_APPEND, 0)
		if err == nil {
			f.Write(bytes.Repeat([]byte{'d'}, 4096))
			f.Close()
		}
	}
	return c.ClientConnInterface.Invoke(ctx, method, args, reply, opts...)
}

// TestFallocateSizeChangedMeanwhile: a collapse whose file another party
// grew between GoferConn's Stat of the size and the call is not applied
// on the size it did not expect, but sent again with the size read again,
// and applied once; a file whose size changes before every call gets the
// collapse unconditionally after 8 rounds (it once went back to checking
// the size, endlessly).
func TestFallocateSizeChangedMeanwhile(t *testing.T) {
	const blk = 4096
	for _, tc := range []struct {
		name              string
		grows             int
		stats, fallocates int
	}{
		{name: "once", grows: 1, stats: 2, fallocates: 2},
		{name: "always", grows: 1000, stats: 8, fallocates: 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			path := filepath.Join(root, "f")
			if err := os.WriteFile(path, []byte(strings.Repeat("a", blk)+strings.Repeat("b", blk)+strings.Repeat("c", blk)), 0644); err != nil {
				t.Fatal(err)
			}
			p := startGoferProc(t, root)
			sc := &sizeChanger{path: path, calls: make(map[string]int)}
			gcl, h := openedThrough(t, p, func(cc grpc.ClientConnInterface) grpc.ClientConnInterface {
				sc.ClientConnInterface = cc
				return sc
			})
			sc.mu.Lock()
			sc.calls = make(map[string]int)
			sc.grows = tc.grows
			sc.mu.Unlock()
			r, err := gcl.Fallocate(context.Background(), &goferpb.FallocateRequest{Handle: h, Mode: unix.FALLOC_FL_COLLAPSE_RANGE, Offset: blk, Length: blk,
				Origin: &goferpb.Origin{ClientId: "c", Seq: 3}})
			if err != nil || r.Errno != 0 || r.SizeDiffers {
				t.Fatalf("Fallocate: %v %v size_differs %v", err, unix.Errno(r.GetErrno()), r.GetSizeDiffers())
			}
			want := strings.Repeat("a", blk) + strings.Repeat("c", blk) + strings.Repeat("d", blk*min(tc.grows, tc.fallocates))
			if got, _ := os.ReadFile(path); string(got) != want {
				t.Errorf("the file is %d bytes %q, want %d bytes %q", len(got), summary(got), len(want), summary([]byte(want)))
			}
			sc.mu.Lock()
			defer sc.mu.Unlock()
			if sc.calls["Stat"] != tc.stats || sc.calls["Fallocate"] != tc.fallocates {
				t.Errorf("gofer calls %v, want %d Stats and %d Fallocates", sc.calls, tc.stats, tc.fallocates)
			}
		})
	}
}

// openedThrough connects a GoferConn to gofer p through the connection
// wrap returns, walks to the root's file f and opens it read-write; it
// returns the client and f's handle. The conn is closed at the test's end.
func openedThrough(t *testing.T, p *goferProc, wrap func(grpc.ClientConnInterface) grpc.ClientConnInterface) (goferpb.GoferClient, uint64) {
	t.Helper()
	gc := goferclient.NewGoferConn(p.Dial(t), testLog(), goferclient.WithWrap(wrap))
	t.Cleanup(func() { gc.Close() })
	gcl := goferpb.NewGoferClient(gc)
	ctx := context.Background()
	at, err := gcl.Attach(ctx, &goferpb.AttachRequest{})
	if err != nil || at.Errno != 0 {
		t.Fatalf("Attach: %v %v", err, unix.Errno(at.GetErrno()))
	}
	w, err := gcl.Walk(ctx, &goferpb.WalkRequest{Dir: at.Root.Id, Names: [][]byte{[]byte("f")}})
	if err != nil || w.Errno != 0 || len(w.Files) != 1 {
		t.Fatalf("Walk: %v %v", err, unix.Errno(w.GetErrno()))
	}
	h := w.Files[0].Handle.Id
	if o, err := gcl.Open(ctx, &goferpb.OpenRequest{Handle: h, Flags: unix.O_RDWR}); err != nil || o.Errno != 0 {
		t.Fatalf("Open: %v %v", err, unix.Errno(o.GetErrno()))
	}
	return gcl, h
}

// summary is the first byte of each 4 KiB block of b.
func summary(b []byte) string {
	var s []byte
	for i := 0; i < len(b); i += 4096 {
		c := b[i]
		if c == 0 {
			c = '0'
		}
		s = append(s, c)
	}
	return string(s)
}
