package kernel

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/pipe"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// A Restore names its records by key: an unknown or non-canonical key, or
// one key twice, is refused with EINVAL before anything is rebuilt.
func TestParseRestoreChecksKeys(t *testing.T) {
	proc := func(key string) *sentrypb.StateRecord {
		return &sentrypb.StateRecord{Key: key, Value: &sentrypb.StateRecord_Process{Process: &sentrypb.ProcessState{Pid: 1, Init: true}}}
	}
	for _, tc := range []struct {
		name string
		recs []*sentrypb.StateRecord
		ok   bool
	}{
		{"canonical", []*sentrypb.StateRecord{proc("proc/1")}, true},
		{"unknown kind", []*sentrypb.StateRecord{proc("process/1")}, false},
		{"leading zero", []*sentrypb.StateRecord{proc("proc/01")}, false},
		{"empty", []*sentrypb.StateRecord{proc("")}, false},
		{"twice", []*sentrypb.StateRecord{proc("proc/1"), proc("proc/1")}, false},
		{"deleted records are not looked at", []*sentrypb.StateRecord{proc("proc/1"), {Key: "junk", Deleted: true}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkParseRestore(t, tc.recs, tc.ok)
		})
	}
}

// TestParseRestoreMemfd checks the memfd part of restored file records:
// bad ones are refused, and the descriptions of one memfd share one
// vfs.Memfd with the union of their seals.
func TestParseRestoreMemfd(t *testing.T) {
	file := func(id uint64, kind sentrypb.FileState_Kind, fh string, m *sentrypb.MemfdState) *sentrypb.StateRecord {
		return &sentrypb.StateRecord{Key: statekey.File(id).String(), Value: &sentrypb.StateRecord_File{File: &sentrypb.FileState{
			Id: id, Kind: kind, FileHandle: []byte(fh), Memfd: m}}}
	}
	gofer := sentrypb.FileState_GOFER
	tests := []struct {
		name    string
		records []*sentrypb.StateRecord
		ok      bool
		seals   uint32
	}{
		{"two descriptions", []*sentrypb.StateRecord{
			file(1, gofer, "h", &sentrypb.MemfdState{Name: []byte("a"), Seals: unix.F_SEAL_GROW}),
			file(2, gofer, "h", &sentrypb.MemfdState{Name: []byte("a"), Seals: unix.F_SEAL_SHRINK}),
		}, true, unix.F_SEAL_GROW | unix.F_SEAL_SHRINK},
		{"unknown seal", []*sentrypb.StateRecord{file(1, gofer, "h", &sentrypb.MemfdState{Seals: 0x4000})}, false, 0},
		{"long name", []*sentrypb.StateRecord{file(1, gofer, "h", &sentrypb.MemfdState{Name: []byte(strings.Repeat("n", 250))})}, false, 0},
		{"no handle", []*sentrypb.StateRecord{file(1, gofer, "", &sentrypb.MemfdState{Name: []byte("a")})}, false, 0},
		{"not a gofer file", []*sentrypb.StateRecord{file(1, sentrypb.FileState_PIPE_READ, "h", &sentrypb.MemfdState{})}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := parseRestore(&sentrypb.Restore{Records: tt.records})
			if (err == nil) != tt.ok {
				t.Fatalf("parseRestore: %v, want ok=%v", err, tt.ok)
			}
			if !tt.ok {
				return
			}
			m := s.memfds["h"]
			if m == nil || len(s.memfds) != 1 {
				t.Fatalf("memfds %v, want one for handle h", s.memfds)
			}
			if m.Seals() != tt.seals {
				t.Errorf("seals %#x, want %#x", m.Seals(), tt.seals)
			}
		})
	}
}

// TestParseRestorePipeData: a pipe's unread bytes are restored up to its
// size plus what posted writes may add past it (pipe.MaxPostedOverflow): a
// server killed while posted copies had filled a pipe past its size must
// not refuse every restore after (chaos cat-ahead: "server refused the
// restore: invalid argument" after 20 kills). Beyond that: EINVAL.
func TestParseRestorePipeData(t *testing.T) {
	rec := func(n int, capacity uint32) *sentrypb.StateRecord {
		return &sentrypb.StateRecord{Key: statekey.Pipe(1).String(), Value: &sentrypb.StateRecord_Pipe{Pipe: &sentrypb.PipeState{
			Id: 1, Capacity: capacity, Read: 0, Written: uint64(n), Data: make([]byte, n)}}}
	}
	for _, tc := range []struct {
		name     string
		n        int
		capacity uint32
		ok       bool
	}{
		{"full", PipeCapacity, 0, true},
		{"past its size by posted writes", PipeCapacity + pipe.MaxPostedOverflow, 0, true},
		{"past the posted bound", PipeCapacity + pipe.MaxPostedOverflow + 1, 0, false},
		{"a larger pipe, past its size", 1<<20 + pipe.MaxPostedOverflow, 1 << 20, true},
		{"a larger pipe, past the bound", 1<<20 + pipe.MaxPostedOverflow + 1, 1 << 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkParseRestore(t, []*sentrypb.StateRecord{rec(tc.n, tc.capacity)}, tc.ok)
		})
	}
}

// checkParseRestore parses a Restore of recs: accepted if ok, else refused
// with EINVAL.
func checkParseRestore(t *testing.T, recs []*sentrypb.StateRecord, ok bool) {
	t.Helper()
	_, err := parseRestore(&sentrypb.Restore{Records: recs})
	if ok && err != nil {
		t.Fatalf("parseRestore: %v", err)
	}
	if !ok && !errors.Is(err, unix.EINVAL) {
		t.Fatalf("parseRestore: %v, want EINVAL", err)
	}
}
