package gofer

import (
	"context"
	"os"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// openCallsWith opens a Calls stream asking for features and returns it
// with the features the gofer granted.
func openCallsWith(t *testing.T, e *env, features uint64) (goferpb.Gofer_CallsClient, context.CancelFunc, uint64) {
	t.Helper()
	ctx, cancel := context.WithCancel(e.ctx)
	st, err := e.c.Calls(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&goferpb.GoferCall{ProtocolVersion: goferpb.ProtocolVersion, Features: features}); err != nil {
		t.Fatal(err)
	}
	first, err := st.Recv()
	if err != nil || first.GetSessionId() == 0 {
		t.Fatalf("first result: %v %v", first, err)
	}
	return st, cancel, first.GetFeatures()
}

// streamCall sends one call on st and returns its result.
func streamCall(t *testing.T, st goferpb.Gofer_CallsClient, id uint32, method string, req proto.Message, before ...*goferpb.SetStatRequest) *goferpb.GoferResult {
	t.Helper()
	if err := st.Send(&goferpb.GoferCall{Id: id, Method: method, Request: marshal(t, req), Before: before}); err != nil {
		t.Fatal(err)
	}
	r, err := st.Recv()
	if err != nil || r.GetId() != id {
		t.Fatalf("result of %s: %v %v", method, r, err)
	}
	return r
}

// TestCallsBefore: the SetStats a call carries (GoferCall.before) are
// applied first, in order, each answered in GoferResult.before and kept
// in the reply cache by its Origin; only on a stream granted
// FeatureBefore.
func TestCallsBefore(t *testing.T) {
	const mtime = int64(1_000_000_000) * 1_500_000_000
	origin := func(seq uint64) *goferpb.Origin { return &goferpb.Origin{ClientId: "c", Seq: seq} }
	tests := []struct {
		name      string
		features  uint64
		before    func(h, link uint64) []*goferpb.SetStatRequest
		hostMode  os.FileMode // set on the host before the call (0: none)
		wantCode  codes.Code
		wantErrno []unix.Errno // the before replies' errnos
		wantParts int          // the parts' replies of the first
		wantMode  uint32       // the file's mode seen by the call
		wantMtime int64        // and mtime (0: not checked)
	}{
		{
			name: "applied in order", features: goferpb.FeatureBefore,
			before: func(h, _ uint64) []*goferpb.SetStatRequest {
				return []*goferpb.SetStatRequest{
					{Handle: h, Mask: unix.STATX_MODE, Mode: 0o600, Origin: origin(1)},
					{Handle: h, Mask: unix.STATX_MODE | unix.STATX_MTIME | unix.STATX_ATIME, Mode: 0o640, MtimeNs: mtime, AtimeNs: mtime, Origin: origin(2)},
				}
			},
			wantErrno: []unix.Errno{0, 0}, wantMode: 0o640, wantMtime: mtime,
		},
		{
			// Not run after a handle to re-resolve: the sentry sends
			// the rest alone, then the call again.
			name: "a stale handle stops the call", features: goferpb.FeatureBefore,
			before: func(h, _ uint64) []*goferpb.SetStatRequest {
				return []*goferpb.SetStatRequest{
					{Handle: h + 1000, Mask: unix.STATX_MODE, Mode: 0o600, Origin: origin(3)},
					{Handle: h, Mask: unix.STATX_MODE, Mode: 0o604, Origin: origin(4)},
				}
			},
			wantCode: codes.Aborted, wantErrno: []unix.Errno{unix.EBADF},
		},
		{
			// A merged change that fails: its parts are applied.
			name: "an errno applies the parts", features: goferpb.FeatureBefore,
			before: func(h, link uint64) []*goferpb.SetStatRequest {
				return []*goferpb.SetStatRequest{{Handle: link, Mask: unix.STATX_MODE, Mode: 0o600, Origin: origin(5),
					Parts: []*goferpb.SetStatRequest{{Handle: h, Mask: unix.STATX_MODE, Mode: 0o604, Origin: origin(6)}}}}
			},
			wantErrno: []unix.Errno{unix.EOPNOTSUPP}, wantParts: 1, wantMode: 0o604,
		},
		{
			// Seq 6 again: answered from the reply cache, not applied
			// again over the host's change.
			name: "re-sent", features: goferpb.FeatureBefore, hostMode: 0o611,
			before: func(h, _ uint64) []*goferpb.SetStatRequest {
				return []*goferpb.SetStatRequest{{Handle: h, Mask: unix.STATX_MODE, Mode: 0o604, Origin: origin(6)}}
			},
			wantErrno: []unix.Errno{0}, wantMode: 0o611,
		},
		{
			name: "not asked for", features: 0,
			before: func(h, _ uint64) []*goferpb.SetStatRequest {
				return []*goferpb.SetStatRequest{{Handle: h, Mask: unix.STATX_MODE, Mode: 0o600}}
			},
			wantCode: codes.InvalidArgument,
		},
	}
	e := newEnv(t)
	if err := os.WriteFile(e.host("f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("f", e.host("l")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, cancel, granted := openCallsWith(t, e, tc.features)
			defer cancel()
			if granted != tc.features {
				t.Fatalf("granted features %#x, want %#x", granted, tc.features)
			}
			if tc.hostMode != 0 {
				if err := os.Chmod(e.host("f"), tc.hostMode); err != nil {
					t.Fatal(err)
				}
			}
			before, _ := os.Stat(e.host("f"))
			ar := new(goferpb.AttachReply)
			proto.Unmarshal(streamCall(t, st, 1, "Attach", &goferpb.AttachRequest{}).GetReply(), ar)
			wr := new(goferpb.WalkReply)
			proto.Unmarshal(streamCall(t, st, 2, "Walk", &goferpb.WalkRequest{Dir: ar.GetRoot().GetId(), Names: [][]byte{[]byte("f")}}).GetReply(), wr)
			if len(wr.GetFiles()) != 1 {
				t.Fatalf("walk: %v", wr)
			}
			h := wr.Files[0].Handle.Id
			lr := new(goferpb.WalkReply)
			proto.Unmarshal(streamCall(t, st, 3, "Walk", &goferpb.WalkRequest{Dir: ar.GetRoot().GetId(), Names: [][]byte{[]byte("l")}}).GetReply(), lr)
			if len(lr.GetFiles()) != 1 {
				t.Fatalf("walk: %v", lr)
			}
			r := streamCall(t, st, 4, "Stat", &goferpb.StatRequest{Handle: h}, tc.before(h, lr.Files[0].Handle.Id)...)
			if codes.Code(r.GetCode()) != tc.wantCode {
				t.Fatalf("code %v (%s), want %v", codes.Code(r.GetCode()), r.GetMessage(), tc.wantCode)
			}
			if len(r.GetBefore()) != len(tc.wantErrno) {
				t.Fatalf("%d before replies, want %d", len(r.GetBefore()), len(tc.wantErrno))
			}
			for i, br := range r.GetBefore() {
				if unix.Errno(br.GetErrno()) != tc.wantErrno[i] {
					t.Errorf("before[%d]: errno %v, want %v", i, unix.Errno(br.GetErrno()), tc.wantErrno[i])
				}
			}
			if tc.wantCode != codes.OK {
				if after, _ := os.Stat(e.host("f")); after.Mode() != before.Mode() {
					t.Errorf("a refused call's SetStat was applied: mode %v, was %v", after.Mode(), before.Mode())
				}
				return
			}
			if n := len(r.Before[0].GetParts()); n != tc.wantParts {
				t.Errorf("%d parts' replies, want %d", n, tc.wantParts)
			}
			for i, pr := range r.Before[0].GetParts() {
				if pr.GetErrno() != 0 {
					t.Errorf("part %d: errno %v", i, unix.Errno(pr.GetErrno()))
				}
			}
			sr := new(goferpb.StatReply)
			if err := proto.Unmarshal(r.GetReply(), sr); err != nil || sr.GetErrno() != 0 {
				t.Fatalf("stat: %v %v", sr, err)
			}
			if sr.Stat.Mode&0o7777 != tc.wantMode {
				t.Errorf("the call saw mode %#o, want %#o (the SetStats before it applied first)", sr.Stat.Mode&0o7777, tc.wantMode)
			}
			if tc.wantMtime != 0 && sr.Stat.MtimeNs != tc.wantMtime {
				t.Errorf("the call saw mtime %d, want %d", sr.Stat.MtimeNs, tc.wantMtime)
			}
		})
	}
}
