package gofer

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// TestTruncateCheckVersion: a truncation with check_version (a SetStat of
// the size, an O_TRUNC Open) runs only on a file of the size, ctime and
// mtime given; on another it truncates nothing (the Open still opens),
// says differs with the file's attributes, and is not kept in the reply
// cache (sent again with the right version and the same Origin, it runs).
func TestTruncateCheckVersion(t *testing.T) {
	type call func(e *env, h uint64, v *goferpb.Stat, origin *goferpb.Origin) (bool, *goferpb.Stat)
	setStat := func(e *env, h uint64, v *goferpb.Stat, origin *goferpb.Origin) (bool, *goferpb.Stat) {
		r := must(t, "setstat", must2(e.c.SetStat(e.ctx, &goferpb.SetStatRequest{Handle: h, Mask: unix.STATX_SIZE, Size: 2, Origin: origin,
			CheckVersion: true, SizeBefore: v.GetSize(), CtimeNsBefore: v.GetCtimeNs(), MtimeNsBefore: v.GetMtimeNs()})))
		return r.GetDiffers(), r.GetStat()
	}
	open := func(e *env, h uint64, v *goferpb.Stat, _ *goferpb.Origin) (bool, *goferpb.Stat) {
		r := must(t, "open", must2(e.c.Open(e.ctx, &goferpb.OpenRequest{Handle: h, Flags: unix.O_WRONLY | unix.O_TRUNC,
			CheckVersion: true, SizeBefore: v.GetSize(), CtimeNsBefore: v.GetCtimeNs(), MtimeNsBefore: v.GetMtimeNs()})))
		return r.GetDiffers(), r.GetStat()
	}
	walkOpen := func(e *env, _ uint64, v *goferpb.Stat, _ *goferpb.Origin) (bool, *goferpb.Stat) {
		r := must(t, "walk", must2(e.c.Walk(e.ctx, &goferpb.WalkRequest{Dir: e.rootH, Names: [][]byte{[]byte("f")}, Open: true, OpenFlags: unix.O_WRONLY | unix.O_TRUNC,
			CheckVersion: true, SizeBefore: v.GetSize(), CtimeNsBefore: v.GetCtimeNs(), MtimeNsBefore: v.GetMtimeNs()})))
		if r.GetOpenErrno() != 0 || len(r.GetFiles()) != 1 {
			t.Fatalf("walk-open: %v, %d files", unix.Errno(r.GetOpenErrno()), len(r.GetFiles()))
		}
		if r.GetOpenDiffers() {
			return true, r.GetFiles()[0].GetStat()
		}
		return false, r.GetOpenStat()
	}
	for _, tc := range []struct {
		name    string
		call    call
		truncTo uint64
		opens   bool // an Open: it opens the handle even when it differs
	}{
		{name: "setstat", call: setStat, truncTo: 2},
		{name: "open O_TRUNC", call: open, truncTo: 0, opens: true},
		{name: "walk-open O_TRUNC", call: walkOpen, truncTo: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			h := e.create(e.rootH, "f", unix.O_RDWR, 0o644)
			e.write(h, 0, "0123456789", 0)
			v := e.stat(h)
			origin := &goferpb.Origin{ClientId: "c1", Seq: 4}

			for _, stale := range []*goferpb.Stat{
				{Size: v.Size + 1, CtimeNs: v.CtimeNs, MtimeNs: v.MtimeNs},
				{Size: v.Size, CtimeNs: v.CtimeNs - 1, MtimeNs: v.MtimeNs},
				{Size: v.Size, CtimeNs: v.CtimeNs, MtimeNs: v.MtimeNs + 1},
			} {
				differs, st := tc.call(e, h, stale, origin)
				if !differs || st.GetSize() != 10 {
					t.Errorf("expecting %v of a file of %v: differs %v size %d, want true 10", stale, v, differs, st.GetSize())
				}
				if got := e.stat(h).GetSize(); got != 10 {
					t.Fatalf("after a call that differs the size is %d, want 10", got)
				}
			}
			if tc.opens {
				if w := e.write(h, 10, "ab", 0); w.GetErrno() != 0 {
					t.Errorf("the Open that differed did not open the handle for writing: %v", unix.Errno(w.GetErrno()))
				}
				v = e.stat(h)
			}
			if differs, st := tc.call(e, h, v, origin); differs || st.GetSize() != tc.truncTo {
				t.Errorf("expecting the file's own version: differs %v, attributes after: size %d, want false %d", differs, st.GetSize(), tc.truncTo)
			}
			if got := e.stat(h).GetSize(); got != tc.truncTo {
				t.Errorf("after the call the size is %d, want %d", got, tc.truncTo)
			}
		})
	}
}

// TestExchangeCheckInos: a RENAME_EXCHANGE with check_inos swaps the names
// only if they hold old_ino and new_ino; holding each other's, it says
// exchanged_before; holding others, differs; neither changes anything.
func TestExchangeCheckInos(t *testing.T) {
	e := newEnv(t)
	fIno := e.stat(e.create(e.rootH, "f", unix.O_RDWR, 0o644)).GetIno()
	gIno := e.stat(e.create(e.rootH, "g", unix.O_RDWR, 0o644)).GetIno()
	holds := func(name string) uint64 { return e.stat(e.walkOne(e.rootH, name)).GetIno() }
	for i, tc := range []struct {
		oldIno, newIno      uint64
		wantDiffers, wantEx bool
		wantF, wantG        uint64
	}{
		{oldIno: fIno, newIno: fIno, wantDiffers: true, wantF: fIno, wantG: gIno},
		{oldIno: gIno, newIno: fIno, wantEx: true, wantF: fIno, wantG: gIno},
		{oldIno: fIno, newIno: gIno, wantF: gIno, wantG: fIno},
		{oldIno: fIno, newIno: gIno, wantEx: true, wantF: gIno, wantG: fIno}, // re-sent
	} {
		r := must(t, "rename", must2(e.c.Rename(e.ctx, &goferpb.RenameRequest{OldDir: e.rootH, OldName: []byte("f"), NewDir: e.rootH, NewName: []byte("g"),
			Flags: unix.RENAME_EXCHANGE, CheckInos: true, OldIno: tc.oldIno, NewIno: tc.newIno})))
		if r.GetDiffers() != tc.wantDiffers || r.GetExchangedBefore() != tc.wantEx {
			t.Errorf("%d: differs %v exchanged_before %v, want %v %v", i, r.GetDiffers(), r.GetExchangedBefore(), tc.wantDiffers, tc.wantEx)
		}
		if f, g := holds("f"), holds("g"); f != tc.wantF || g != tc.wantG {
			t.Errorf("%d: f holds %d and g %d, want %d and %d", i, f, g, tc.wantF, tc.wantG)
		}
	}
}

// TestTruncateOnce: an O_TRUNC open (Open, a walk-open) with an Origin
// truncates once: the same call again (a restarted sentry re-sending it,
// with a handle of its own, after the Rewrites put back a write made
// after the truncation) opens its handle without truncating.
func TestTruncateOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(e *env, origin *goferpb.Origin) uint64 // the opened handle
	}{
		{name: "open", open: func(e *env, origin *goferpb.Origin) uint64 {
			h := e.walkOne(e.rootH, "f")
			must(t, "open", must2(e.c.Open(e.ctx, &goferpb.OpenRequest{Handle: h, Flags: unix.O_RDWR | unix.O_TRUNC, Origin: origin})))
			return h
		}},
		{name: "walk-open", open: func(e *env, origin *goferpb.Origin) uint64 {
			r := must(t, "walk-open", must2(e.c.Walk(e.ctx, &goferpb.WalkRequest{Dir: e.rootH, Names: [][]byte{[]byte("f")}, Open: true,
				OpenFlags: unix.O_RDWR | unix.O_TRUNC, Origin: origin})))
			if r.GetOpenErrno() != 0 || len(r.GetFiles()) != 1 {
				t.Fatalf("walk-open: %v, %d files", unix.Errno(r.GetOpenErrno()), len(r.GetFiles()))
			}
			return r.GetFiles()[0].GetHandle().GetId()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.write(e.create(e.rootH, "f", unix.O_RDWR, 0o644), 0, "before the truncation", 0)
			origin := &goferpb.Origin{ClientId: "c1", Seq: 12}
			h := tc.open(e, origin)
			if got := e.read(h, 0, 100); got != "" {
				t.Fatalf("after the open: %q, want nothing", got)
			}
			e.write(h, 0, "after", 0)
			again := tc.open(e, origin)
			if got := e.read(again, 0, 100); got != "after" {
				t.Errorf("after the open re-sent: %q, want %q (truncated twice)", got, "after")
			}
			if w := e.write(again, 5, "!", 0); w.GetErrno() != 0 {
				t.Errorf("the re-sent open left its handle unopened: %v", unix.Errno(w.GetErrno()))
			}
			h = tc.open(e, &goferpb.Origin{ClientId: "c1", Seq: 13})
			if got := e.read(h, 0, 100); got != "" {
				t.Errorf("after an open of another origin: %q, want nothing", got)
			}
		})
	}
}
