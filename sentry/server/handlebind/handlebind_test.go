package handlebind

import (
	"bytes"
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestHandleBinding: a client gets back only the handles bound to it.
func TestHandleBinding(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	a := New(key, "uid:0/a")
	b := New(key, "uid:0/b")
	otherKey := New(bytes.Repeat([]byte{8}, 32), "uid:0/a")
	none := New(nil, "uid:0/a")
	fh := []byte("\x01\x00\x00\x00raw-handle-and-gofer-mac")
	tampered := a.Bind(fh)
	tampered[2] ^= 1
	for _, tc := range []struct {
		name    string
		by      Binder
		bound   []byte
		want    []byte
		wantErr error
	}{
		{"own handle", a, a.Bind(fh), fh, nil},
		{"a successor server of the same identity", New(key, "uid:0/a"), a.Bind(fh), fh, nil},
		{"another client's handle", a, b.Bind(fh), nil, unix.EPERM},
		{"a raw gofer handle", a, fh, nil, unix.EPERM},
		{"tampered", a, tampered, nil, unix.EPERM},
		{"short", a, []byte("short"), nil, unix.EPERM},
		{"another gofer key", otherKey, a.Bind(fh), nil, unix.EPERM},
		{"empty stays empty", a, nil, nil, nil},
		{"a gofer without binding key", none, fh, fh, nil},
	} {
		got, err := tc.by.Unbind(tc.bound)
		if !errors.Is(err, tc.wantErr) || (err == nil && !bytes.Equal(got, tc.want)) {
			t.Errorf("%s: %q, %v; want %q, %v", tc.name, got, err, tc.want, tc.wantErr)
		}
	}

	// Records: every handle field round-trips, and one foreign handle
	// refuses the lot.
	recs := func(by Binder) []*sentrypb.StateRecord {
		return []*sentrypb.StateRecord{
			{Key: "file/1", Value: &sentrypb.StateRecord_File{File: &sentrypb.FileState{FileHandle: by.Bind(fh),
				Kobj: &sentrypb.KernelObjectState{InotifyWatches: []*sentrypb.InotifyWatchState{{FileHandle: by.Bind(fh)}}}}}},
			{Key: "fs/1", Value: &sentrypb.StateRecord_Fs{Fs: &sentrypb.FsState{CwdHandle: by.Bind(fh)}}},
			{Key: "map/1", Value: &sentrypb.StateRecord_Mapped{Mapped: &sentrypb.MappedFileState{FileHandle: by.Bind(fh)}}},
		}
	}
	own := recs(a)
	if err := a.UnbindRecords(own); err != nil {
		t.Fatalf("own records: %v", err)
	}
	for _, got := range [][]byte{own[0].GetFile().GetFileHandle(), own[0].GetFile().GetKobj().GetInotifyWatches()[0].GetFileHandle(),
		own[1].GetFs().GetCwdHandle(), own[2].GetMapped().GetFileHandle()} {
		if !bytes.Equal(got, fh) {
			t.Errorf("unbound record handle %q, want %q", got, fh)
		}
	}
	mixed := recs(a)
	mixed[2] = recs(b)[2]
	if err := a.UnbindRecords(mixed); !errors.Is(err, unix.EPERM) {
		t.Errorf("records with another client's mapped file: %v, want EPERM", err)
	}
	plain := []*sentrypb.StateRecord{{Key: "file/1", Value: &sentrypb.StateRecord_File{File: &sentrypb.FileState{FileHandle: fh}}}}
	a.BindRecords(plain)
	if got := plain[0].GetFile().GetFileHandle(); bytes.Equal(got, fh) || len(got) != len(fh)+TagLen {
		t.Errorf("bindRecords left %q", got)
	}
}

// TestBindAllocs counts a Bind's allocations: the bound handle alone
// (the HMAC state is reused; one per tag was 7 more).
func TestBindAllocs(t *testing.T) {
	b := New(bytes.Repeat([]byte{7}, 32), "uid:0/a")
	fh := bytes.Repeat([]byte{1}, 40)
	b.Bind(fh)
	if n := testing.AllocsPerRun(1000, func() { b.Bind(fh) }); n > 1 {
		t.Errorf("%.1f allocations per Bind, want 1", n)
	}
	bound := b.Bind(fh)
	if n := testing.AllocsPerRun(1000, func() { b.Unbind(bound) }); n > 0 {
		t.Errorf("%.1f allocations per Unbind, want 0", n)
	}
}
