package server

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
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
			_, err := parseRestore(&sentrypb.Restore{Records: tc.recs})
			if tc.ok && err != nil {
				t.Fatalf("parseRestore: %v", err)
			}
			if !tc.ok && !errors.Is(err, unix.EINVAL) {
				t.Fatalf("parseRestore: %v, want EINVAL", err)
			}
		})
	}
}
