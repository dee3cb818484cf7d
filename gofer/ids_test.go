package gofer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// TestHandleIDsDoNotRepeatAcrossRestarts checks that two gofer processes
// on the same root never hand out the same handle id, so that an id a
// sentry kept from a dead gofer is unknown (EBADF) to its successor,
// never another file.
func TestHandleIDsDoNotRepeatAcrossRestarts(t *testing.T) {
	root := t.TempDir()
	for i := 0; i < 8; i++ {
		if err := os.WriteFile(filepath.Join(root, fmt.Sprintf("f%d", i)), []byte{byte(i)}, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	// handOut makes n handles on a fresh gofer the way a sentry would
	// (Attach, then Walk one name at a time) and returns their ids.
	handOut := func(s *Server) []uint64 {
		a, _ := s.Attach(ctx, &goferpb.AttachRequest{})
		if a.Errno != 0 {
			t.Fatalf("Attach: errno %v", unix.Errno(a.Errno))
		}
		ids := []uint64{a.Root.Id}
		for i := 0; i < 8; i++ {
			w, _ := s.Walk(ctx, &goferpb.WalkRequest{Dir: a.Root.Id, Names: [][]byte{[]byte(fmt.Sprintf("f%d", i))}})
			if w.Errno != 0 || len(w.Files) != 1 {
				t.Fatalf("Walk f%d: errno %v", i, unix.Errno(w.Errno))
			}
			ids = append(ids, w.Files[0].Handle.Id)
		}
		return ids
	}
	tests := []struct {
		name string
		// overlap says whether the two gofers run at the same time
		// (sharing the root) or one after the other (a restart).
		overlap bool
	}{
		{"restart", false},
		{"concurrent", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			first, err := NewServer(root, testLogger())
			if err != nil {
				t.Fatal(err)
			}
			oldIDs := handOut(first)
			if !tc.overlap {
				first.Close()
			} else {
				defer first.Close()
			}
			second := restartGofer(t, root)
			newIDs := handOut(second)
			seen := make(map[uint64]bool)
			for _, id := range oldIDs {
				if id == 0 || id>>32 == 0 {
					t.Errorf("id %#x has no boot prefix", id)
				}
				seen[id] = true
			}
			for _, id := range newIDs {
				if seen[id] {
					t.Errorf("id %#x handed out by both gofers", id)
				}
			}
			if oldIDs[0]>>32 == newIDs[0]>>32 {
				t.Errorf("both gofers use the boot prefix %#x", oldIDs[0]>>32)
			}
			// Every old id is unknown to the second gofer: EBADF, never
			// another file.
			for _, id := range oldIDs {
				if r, _ := second.Stat(ctx, &goferpb.StatRequest{Handle: id}); unix.Errno(r.Errno) != unix.EBADF {
					t.Errorf("Stat of the first gofer's id %#x on the second: errno %v, want EBADF", id, unix.Errno(r.Errno))
				}
			}
		})
	}
}

// TestHandleIDCounterWrap checks that ids stay unique when the 32-bit
// counter wraps: the gofer moves to a new prefix.
func TestHandleIDCounterWrap(t *testing.T) {
	s, err := NewServer(t.TempDir(), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	s.mu.Lock()
	s.nextID = 1<<32 - 1
	oldPrefix := s.idPrefix
	s.mu.Unlock()
	a, _ := s.Attach(ctx, &goferpb.AttachRequest{})
	b, _ := s.Attach(ctx, &goferpb.AttachRequest{})
	if a.Errno != 0 || b.Errno != 0 {
		t.Fatalf("Attach: errno %v, %v", unix.Errno(a.Errno), unix.Errno(b.Errno))
	}
	if a.Root.Id != uint64(oldPrefix)<<32|(1<<32-1) {
		t.Errorf("last id of the old prefix: got %#x", a.Root.Id)
	}
	if b.Root.Id>>32 == uint64(oldPrefix) || b.Root.Id>>32 == 0 || uint32(b.Root.Id) != 1 {
		t.Errorf("first id after the wrap: got %#x (old prefix %#x)", b.Root.Id, oldPrefix)
	}
}

// TestReplyCacheForgetsEBADF: a mutation that failed on an unknown handle
// did nothing, so its reply is not cached: re-sent with the same origin
// and a valid handle (a sentry that re-resolved its handles after a gofer
// restart), it runs.
func TestReplyCacheForgetsEBADF(t *testing.T) {
	s, err := NewServer(t.TempDir(), testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	a, _ := s.Attach(ctx, &goferpb.AttachRequest{})
	o := &goferpb.Origin{ClientId: "c", Seq: 1}
	tests := []struct {
		name string
		dir  uint64
		want unix.Errno
	}{
		{"unknown handle", a.Root.Id + 1000, unix.EBADF},
		{"re-sent with a valid handle", a.Root.Id, 0},
		{"duplicate answered from the cache", a.Root.Id, 0},
	}
	for _, tc := range tests {
		r, _ := s.Mkdir(ctx, &goferpb.MkdirRequest{Dir: tc.dir, Name: []byte("d"), Mode: 0o755, Origin: o})
		if unix.Errno(r.Errno) != tc.want {
			t.Errorf("%s: errno %v, want %v", tc.name, unix.Errno(r.Errno), tc.want)
		}
	}
}
