package server

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/runsc-decoupled/runsc-decoupled/gofer"
	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/donated"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// TestWriteAhead runs a thread's queue of a waited open, posted writes
// (and a posted pwrite) of one description and a waited call, as a batch
// of writes behind arrives, and counts the host calls the donated fd
// made for them: a run of writes each starting where the one before
// ends is one pwritev and one statx (its last call's), whatever its
// length; the file holds every byte where each
// call put it, and each call's packed reply says where.
func TestWriteAhead(t *testing.T) {
	page := func(c byte) string { return strings.Repeat(string(c), 4096) }
	for _, tc := range []struct {
		name     string
		writes   []string
		pwrite   string
		pwriteAt uint64
		// wantWrites and maxStats are the host pwrite/pwritev and
		// statx calls of the writes (the open's and fcntl's aside).
		wantWrites, maxStats uint64
	}{
		{"one write", []string{page('a')}, "", 0, 1, 1},
		{"two writes", []string{page('a'), page('b')}, "", 0, 1, 1},
		{"a batch of 63", repeatPages(63), "", 0, 1, 1},
		// The pwrite is not at the writes' end: its own call.
		{"writes, a pwrite elsewhere", []string{page('a'), page('b'), page('c')}, "zz", 5, 2, 2},
		// Odd sizes.
		{"short writes", []string{"x", "yz", strings.Repeat("w", 5000)}, "", 0, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, gc := donatingGoferConn(t)
			srv, err := New(Config{Gofer: goferpb.NewGoferClient(gc), Log: testLog()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Close() })
			fc := fuzzClient(t, srv)
			t.Cleanup(fc.destroy)
			fc.stream.postBatch = true
			fc.stream.postedHeld.Packed, fc.stream.postedHeld.PackedWrites = true, true
			var offsets []string
			fc.stream.setSender(func(m *sentrypb.ServerMessage) error {
				var d packedEvents
				d.add(m.PostedWrites)
				d.before(^uint64(0))
				offsets = append(offsets, d.entries...)
				return nil
			})
			var seq uint64
			// The open first, with no write: its own host calls.
			runPostedWrites(fc, &seq, true, nil, 0, "")
			w0, s0 := donated.HostWrites.Load(), donated.HostStats.Load()
			runPostedWrites(fc, &seq, false, tc.writes, tc.pwriteAt, tc.pwrite)
			writes, stats := donated.HostWrites.Load()-w0, donated.HostStats.Load()-s0
			if writes != tc.wantWrites || stats > tc.maxStats {
				t.Errorf("host calls: %d writes, %d statx; want %d, at most %d", writes, stats, tc.wantWrites, tc.maxStats)
			}
			want := []byte(strings.Join(tc.writes, ""))
			if tc.pwrite != "" {
				end := int(tc.pwriteAt) + len(tc.pwrite)
				if end > len(want) {
					want = append(want, make([]byte, end-len(want))...)
				}
				copy(want[tc.pwriteAt:], tc.pwrite)
			}
			got, err := os.ReadFile(filepath.Join(root, "wpack"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("the file holds %d bytes, not the %d written (first difference at %d)", len(got), len(want), firstDiff(got, want))
			}
			if len(offsets) != len(tc.writes)+min(len(tc.pwrite), 1) {
				t.Errorf("packed replies %v, want one a write", offsets)
			}
		})
	}
}

// donatingGoferConn starts a gofer that donates fds, over a root of
// its own, and a server's connection to it (as donatingEnv's).
func donatingGoferConn(t *testing.T) (string, *goferclient.GoferConn) {
	t.Helper()
	root := newRoot(t)
	p := startGoferProc(t, root, gofer.WithDonateFDs(true))
	cc, err := grpc.NewClient("unix://"+p.Sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	target := transport.Target{Network: "unix", Address: p.Sock}
	gc := goferclient.NewGoferConn(cc, testLog(), goferclient.WithStreamDialer(func(ctx context.Context) (goferclient.MsgStream, error) {
		return transport.DialFramedStream(ctx, target)
	}))
	t.Cleanup(gc.Close)
	return root, gc
}

// repeatPages returns n 4 KiB strings, each of one letter.
func repeatPages(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = strings.Repeat(string(rune('a'+i%26)), 4096)
	}
	return out
}
