package copybehind

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
)

// offsets records the offsets Apply reports.
type offsets map[*fdesc.File]int64

func (o offsets) RecordOffset(f *fdesc.File, _ uint64, off int64) { o[f] = off }

func TestApply(t *testing.T) {
	errDisk := unix.ENOSPC
	tests := []struct {
		name   string
		posted bool
		inOff  int64
		// outFailed is the out description's kept errno before.
		outFailed unix.Errno
		// wrote and werr are what the write does.
		wrote int
		werr  error
		// want: the write called, the in offset after (from 100), the
		// error, the errno kept on out after, Result.Kept.
		wantWrite bool
		wantIn    int64
		wantErr   error
		wantOut   unix.Errno
		wantKept  unix.Errno
	}{
		{name: "posted, all written", posted: true, inOff: -1, wrote: 10, wantWrite: true, wantIn: 110},
		{name: "posted, explicit in offset", posted: true, inOff: 5, wrote: 10, wantWrite: true, wantIn: 100},
		{name: "posted, the write fails", posted: true, inOff: -1, wrote: 0, werr: errDisk, wantWrite: true, wantIn: 110,
			wantErr: errDisk, wantOut: errDisk, wantKept: errDisk},
		{name: "posted, a short write is EIO", posted: true, inOff: -1, wrote: 4, wantWrite: true, wantIn: 110,
			wantErr: unix.EIO, wantOut: unix.EIO, wantKept: unix.EIO},
		{name: "posted to a failed description writes nothing", posted: true, inOff: -1, outFailed: unix.EDQUOT,
			wantWrite: false, wantIn: 110, wantErr: unix.EDQUOT, wantOut: unix.EDQUOT},
		{name: "waited, short write moves the offset as far", inOff: -1, wrote: 4, wantWrite: true, wantIn: 104},
		{name: "waited, failure keeps nothing", inOff: -1, werr: errDisk, wantWrite: true, wantIn: 100, wantErr: errDisk},
		{name: "waited to a failed description writes", inOff: -1, outFailed: unix.EDQUOT, wrote: 10, wantWrite: true,
			wantIn: 110, wantOut: unix.EDQUOT},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := fdesc.NewFile(nil, nil, nil, unix.O_RDONLY)
			in.Off = 100
			out := fdesc.NewFile(nil, nil, nil, unix.O_WRONLY)
			out.WBErr.Store(int32(tc.outFailed))
			data := []byte("0123456789")
			called := false
			rec := offsets{}
			res, err := Apply(rec, Copy{In: in, Out: out, Data: data, InOff: tc.inOff, Posted: tc.posted},
				func(b []byte) (int, error) {
					called = true
					if string(b) != string(data) {
						t.Errorf("wrote %q, want %q", b, data)
					}
					return tc.wrote, tc.werr
				})
			if called != tc.wantWrite {
				t.Errorf("write called: %v, want %v", called, tc.wantWrite)
			}
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Errorf("err %v, want %v", err, tc.wantErr)
			}
			if in.Off != tc.wantIn {
				t.Errorf("in offset %d, want %d", in.Off, tc.wantIn)
			}
			if got, ok := rec[in]; tc.wantIn != 100 && (!ok || got != tc.wantIn) {
				t.Errorf("recorded in offset %d (%v), want %d", got, ok, tc.wantIn)
			}
			if got := unix.Errno(out.WBErr.Load()); got != tc.wantOut {
				t.Errorf("out's kept errno %v, want %v", got, tc.wantOut)
			}
			if res.Kept != tc.wantKept {
				t.Errorf("Result.Kept %v, want %v", res.Kept, tc.wantKept)
			}
			if tc.posted && tc.inOff >= 0 && res.Moved != len(data) {
				t.Errorf("Moved %d, want %d (the explicit offset moves past every byte)", res.Moved, len(data))
			}
		})
	}
}
