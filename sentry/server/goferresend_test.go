package server

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
)

// TestGoferRestartResentTruncate: a truncation (an ftruncate's SetStat, an
// O_TRUNC Open) whose reply the gofer's death swallowed after the gofer
// ran it is re-sent to the new gofer, which has no reply cache; another
// party wrote the file between the truncation and the gofer's restart
// (a write through a donated fd needs no gofer). The re-sent call must
// not truncate again: that write was acknowledged.
func TestGoferRestartResentTruncate(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("re-resolving handles by file handle needs CAP_DAC_READ_SEARCH")
	}
	const later = "written after the truncation"
	tests := []struct {
		name   string
		method string
		only   func(req any) bool
		call   func(t *testing.T, c goferpb.GoferClient, root, h uint64)
		want   string
	}{
		{
			name: "ftruncate", method: "SetStat", want: later,
			call: func(t *testing.T, c goferpb.GoferClient, _, h uint64) {
				r, err := c.SetStat(context.Background(), &goferpb.SetStatRequest{Handle: h, Mask: unix.STATX_SIZE, Size: 4,
					Origin: &goferpb.Origin{ClientId: "c", Seq: 5}})
				if err != nil || r.Errno != 0 || r.Differs {
					t.Fatalf("SetStat: %v %v differs %v", err, unix.Errno(r.GetErrno()), r.GetDiffers())
				}
			},
		},
		{
			name: "open O_TRUNC", method: "Open", want: later,
			call: func(t *testing.T, c goferpb.GoferClient, _, h uint64) {
				r, err := c.Open(context.Background(), &goferpb.OpenRequest{Handle: h, Flags: unix.O_WRONLY | unix.O_TRUNC})
				if err != nil || r.Errno != 0 || r.Differs {
					t.Fatalf("Open: %v %v differs %v", err, unix.Errno(r.GetErrno()), r.GetDiffers())
				}
			},
		},
		{
			name: "walk-open O_TRUNC", method: "Walk", want: later,
			only: func(req any) bool { w, ok := req.(*goferpb.WalkRequest); return ok && w.Open },
			call: func(t *testing.T, c goferpb.GoferClient, root, h uint64) {
				r, err := c.Walk(context.Background(), &goferpb.WalkRequest{Dir: root, Names: [][]byte{[]byte("f")}, Open: true, OpenFlags: unix.O_WRONLY | unix.O_TRUNC})
				if err != nil || r.Errno != 0 || r.OpenErrno != 0 || r.OpenDiffers {
					t.Fatalf("Walk: %v %v open %v differs %v", err, unix.Errno(r.GetErrno()), unix.Errno(r.GetOpenErrno()), r.GetOpenDiffers())
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			path := filepath.Join(root, "f")
			if err := os.WriteFile(path, []byte("0123456789abcdefghijklmnopqrstuvwxyz0123456789"), 0644); err != nil {
				t.Fatal(err)
			}
			p := startGoferProc(t, root)
			lossy := &lossyConn{p: p, method: tc.method, only: tc.only, between: func() {
				f, err := os.OpenFile(path, os.O_WRONLY, 0)
				if err != nil {
					t.Error(err)
					return
				}
				defer f.Close()
				if _, err := f.WriteAt([]byte(later), 0); err != nil {
					t.Error(err)
				}
			}}
			gcl, rootH, h := walkedThrough(t, p, func(cc grpc.ClientConnInterface) grpc.ClientConnInterface {
				lossy.ClientConnInterface = cc
				return lossy
			})
			tc.call(t, gcl, rootH, h)
			if !lossy.restarted {
				t.Fatal("the gofer was not restarted between the call and its reply")
			}
			if got, err := os.ReadFile(path); err != nil || string(got) != tc.want {
				t.Errorf("the file is %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}

// TestGoferRestartResentExchange: a RENAME_EXCHANGE whose reply the
// gofer's death swallowed after the gofer ran it is re-sent to the new
// gofer: it must not swap the names back.
func TestGoferRestartResentExchange(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("re-resolving handles by file handle needs CAP_DAC_READ_SEARCH")
	}
	root := t.TempDir()
	for name, data := range map[string]string{"f": "first", "g": "second"} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0644); err != nil {
			t.Fatal(err)
		}
	}
	p := startGoferProc(t, root)
	lossy := &lossyConn{p: p, method: "Rename"}
	gc := goferclient.NewGoferConn(p.Dial(t), testLog(), goferclient.WithWrap(func(cc grpc.ClientConnInterface) grpc.ClientConnInterface {
		lossy.ClientConnInterface = cc
		return lossy
	}))
	t.Cleanup(func() { gc.Close() })
	gcl := goferpb.NewGoferClient(gc)
	ctx := context.Background()
	at, err := gcl.Attach(ctx, &goferpb.AttachRequest{})
	if err != nil || at.Errno != 0 {
		t.Fatalf("Attach: %v %v", err, unix.Errno(at.GetErrno()))
	}
	r, err := gcl.Rename(ctx, &goferpb.RenameRequest{OldDir: at.Root.Id, OldName: []byte("f"), NewDir: at.Root.Id, NewName: []byte("g"),
		Flags: unix.RENAME_EXCHANGE, Origin: &goferpb.Origin{ClientId: "c", Seq: 11}})
	if err != nil || r.Errno != 0 || r.Differs {
		t.Fatalf("Rename: %v %v differs %v", err, unix.Errno(r.GetErrno()), r.GetDiffers())
	}
	if !lossy.restarted {
		t.Fatal("the gofer was not restarted between the exchange and its reply")
	}
	for name, want := range map[string]string{"f": "second", "g": "first"} {
		if got, err := os.ReadFile(filepath.Join(root, name)); err != nil || string(got) != want {
			t.Errorf("%s holds %q (%v), want %q", name, got, err, want)
		}
	}
}

// walkedThrough is openedThrough without the open: it returns the root's
// handle and f's, unopened.
func walkedThrough(t *testing.T, p *goferProc, wrap func(grpc.ClientConnInterface) grpc.ClientConnInterface) (goferpb.GoferClient, uint64, uint64) {
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
	return gcl, at.Root.Id, w.Files[0].Handle.Id
}
