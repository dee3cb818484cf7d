package gofer

import (
	"errors"
	"os"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// TestUnlinkMany: each unlink of the request runs as its Unlink would,
// in order, with its own errno; a request naming a handle the gofer did
// not give its caller (unknown, another session's) is refused whole
// (EBADF, nothing run); a request
// sent again is answered from the reply cache for the unlinks that ran
// (a name made again since is left alone); a malformed request is
// EINVAL.
func TestUnlinkMany(t *testing.T) {
	e := newEnv(t)
	d := e.mkdir(e.rootH, "d")
	for _, n := range []string{"a", "b", "c", "e"} {
		writeHostFile(t, e.host("d/"+n), "x")
	}
	if err := os.Mkdir(e.host("d/sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	origin := func(seq uint64) *goferpb.Origin { return &goferpb.Origin{ClientId: "c", Seq: seq} }
	gone := func(names ...string) {
		t.Helper()
		for _, n := range names {
			if _, err := os.Lstat(e.host("d/" + n)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("d/%s: %v, want it gone", n, err)
			}
		}
	}
	errnos := func(r *goferpb.UnlinkManyReply) []unix.Errno {
		var out []unix.Errno
		for _, u := range r.GetUnlinks() {
			out = append(out, unix.Errno(u.GetErrno()))
		}
		return out
	}

	req := &goferpb.UnlinkManyRequest{
		Dirs:    []uint64{d, d, d, d},
		Names:   [][]byte{[]byte("a"), []byte("nope"), []byte("sub"), []byte("b")},
		Origins: []*goferpb.Origin{origin(1), origin(2), origin(3), origin(4)},
	}
	r := must(t, "unlink many", must2(e.c.UnlinkMany(e.ctx, req)))
	if want := []unix.Errno{0, unix.ENOENT, unix.EISDIR, 0}; !slices.Equal(errnos(r), want) {
		t.Fatalf("errnos %v, want %v", errnos(r), want)
	}
	if len(r.Unlinks[0].GetChanged()) != 1 {
		t.Errorf("the first unlink names %d changed inodes, want 1", len(r.Unlinks[0].GetChanged()))
	}
	gone("a", "b")

	// Sent again after a is made again: answered from the cache.
	writeHostFile(t, e.host("d/a"), "again")
	r = must(t, "unlink many again", must2(e.c.UnlinkMany(e.ctx, req)))
	if want := []unix.Errno{0, unix.ENOENT, unix.EISDIR, 0}; !slices.Equal(errnos(r), want) {
		t.Fatalf("re-sent: errnos %v, want %v", errnos(r), want)
	}
	if _, err := os.Stat(e.host("d/a")); err != nil {
		t.Fatalf("a re-sent unlink ran again: %v", err)
	}

	// An unknown handle: refused at the door, nothing run.
	r = must2(e.c.UnlinkMany(e.ctx, &goferpb.UnlinkManyRequest{
		Dirs:  []uint64{d, 1 << 40, d},
		Names: [][]byte{[]byte("c"), []byte("x"), []byte("e")},
	})).r
	if unix.Errno(r.GetErrno()) != unix.EBADF || len(r.GetUnlinks()) != 0 {
		t.Fatalf("unknown handle: errno %v after %d unlinks, want EBADF and none run", unix.Errno(r.GetErrno()), len(r.GetUnlinks()))
	}
	if _, err := os.Stat(e.host("d/c")); err != nil {
		t.Fatalf("an unlink of a refused request ran: %v", err)
	}

	// Malformed: the lists disagree.
	wantErrno(t, "malformed", must2(e.c.UnlinkMany(e.ctx, &goferpb.UnlinkManyRequest{Dirs: []uint64{d}, Names: [][]byte{[]byte("e"), []byte("a")}})), unix.EINVAL)

	// In another session, d is not the caller's: refused whole, even
	// with a handle of its own first.
	ctxA, _, endA := e.openSession()
	defer endA()
	e.enterSession(ctxA)
	writeHostFile(t, e.host("mine"), "x")
	res := must2(e.c.UnlinkMany(e.ctx, &goferpb.UnlinkManyRequest{Dirs: []uint64{e.rootH, d}, Names: [][]byte{[]byte("mine"), []byte("e")}}))
	if res.err == nil && res.r.GetErrno() != int32(unix.EBADF) {
		t.Fatalf("another session's handle: errno %v, want EBADF", unix.Errno(res.r.GetErrno()))
	}
	for _, p := range []string{"mine", "d/e"} {
		if _, err := os.Stat(e.host(p)); err != nil {
			t.Errorf("a refused request removed %s: %v", p, err)
		}
	}
}

// TestUnlinkManyFlags: an unlink with AT_REMOVEDIR in flags removes a
// directory as rmdir does (ENOTEMPTY with a name left, ENOTDIR of a file),
// in order with the others (a directory emptied earlier in the request
// goes); without flags a directory is EISDIR; flags (or found) of
// another length than the names are EINVAL.
func TestUnlinkManyFlags(t *testing.T) {
	e := newEnv(t)
	d := e.mkdir(e.rootH, "d")
	e.mkdir(d, "empty")
	e.mkdir(d, "full")
	emptied := e.mkdir(d, "emptied")
	writeHostFile(t, e.host("d/full/f"), "x")
	writeHostFile(t, e.host("d/emptied/g"), "x")
	writeHostFile(t, e.host("d/file"), "x")
	errnos := func(r *goferpb.UnlinkManyReply) []unix.Errno {
		var out []unix.Errno
		for _, u := range r.GetUnlinks() {
			out = append(out, unix.Errno(u.GetErrno()))
		}
		return out
	}
	r := must(t, "unlink many", must2(e.c.UnlinkMany(e.ctx, &goferpb.UnlinkManyRequest{
		Dirs:  []uint64{d, d, emptied, d, d, d},
		Names: [][]byte{[]byte("empty"), []byte("full"), []byte("g"), []byte("emptied"), []byte("file"), []byte("full")},
		Flags: []uint32{unix.AT_REMOVEDIR, unix.AT_REMOVEDIR, 0, unix.AT_REMOVEDIR, unix.AT_REMOVEDIR, 0},
	})))
	if want := []unix.Errno{0, unix.ENOTEMPTY, 0, 0, unix.ENOTDIR, unix.EISDIR}; !slices.Equal(errnos(r), want) {
		t.Fatalf("errnos %v, want %v", errnos(r), want)
	}
	for p, want := range map[string]bool{"d/empty": false, "d/emptied": false, "d/full/f": true, "d/file": true} {
		_, err := os.Lstat(e.host(p))
		if exists := err == nil; exists != want {
			t.Errorf("%s exists %v, want %v (%v)", p, exists, want, err)
		}
	}
	wantErrno(t, "flags of another length", must2(e.c.UnlinkMany(e.ctx, &goferpb.UnlinkManyRequest{
		Dirs: []uint64{d, d}, Names: [][]byte{[]byte("file"), []byte("full")}, Flags: []uint32{0},
	})), unix.EINVAL)
	wantErrno(t, "found of another length", must2(e.c.UnlinkMany(e.ctx, &goferpb.UnlinkManyRequest{
		Dirs: []uint64{d, d}, Names: [][]byte{[]byte("file"), []byte("full")}, Found: []*goferpb.InodeID{{Dev: 1, Ino: 2}},
	})), unix.EINVAL)
	if _, err := os.Lstat(e.host("d/file")); err != nil {
		t.Errorf("a malformed request removed d/file: %v", err)
	}
}

// TestUnlinkManyOriginsQualified: an UnlinkMany's Origins are qualified
// at the door as an Unlink's is, so one naming the key an Unlink's
// Origin was cached under still runs (a peer cannot reach another's
// cached replies through the unlinks it batches).
func TestUnlinkManyOriginsQualified(t *testing.T) {
	e := newEnv(t)
	writeHostFile(t, e.host("victim"), "x")
	writeHostFile(t, e.host("other"), "x")
	o := &goferpb.Origin{ClientId: "c", Seq: 1}
	must(t, "unlink", must2(e.c.Unlink(e.ctx, &goferpb.UnlinkRequest{Dir: e.rootH, Name: []byte("victim"), Origin: o})))
	key := principalOf(e.ctx) + "\x1fUnlink\x1fc"
	r := must(t, "unlink many", must2(e.c.UnlinkMany(e.ctx, &goferpb.UnlinkManyRequest{
		Dirs: []uint64{e.rootH}, Names: [][]byte{[]byte("other")}, Origins: []*goferpb.Origin{{ClientId: key, Seq: 1}},
	})))
	if len(r.GetUnlinks()) != 1 || r.Unlinks[0].GetErrno() != 0 {
		t.Fatalf("unlink many: %v", r)
	}
	if _, err := os.Stat(e.host("other")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an unlink whose Origin names another's cache key did not run: %v", err)
	}
}

// TestUnlinkManyAnswersUnlinkAlone: an unlink of an UnlinkMany re-sent
// alone as an Unlink with its Origin (a restarted server replays its
// client's posted unlinks one by one) is answered from the reply cache,
// not run again on a name made since.
func TestUnlinkManyAnswersUnlinkAlone(t *testing.T) {
	e := newEnv(t)
	writeHostFile(t, e.host("x"), "x")
	writeHostFile(t, e.host("y"), "y")
	o := func(seq uint64) *goferpb.Origin { return &goferpb.Origin{ClientId: "c", Seq: seq} }
	must(t, "unlink many", must2(e.c.UnlinkMany(e.ctx, &goferpb.UnlinkManyRequest{
		Dirs: []uint64{e.rootH, e.rootH}, Names: [][]byte{[]byte("x"), []byte("y")}, Origins: []*goferpb.Origin{o(5), o(6)},
	})))
	writeHostFile(t, e.host("y"), "made again")
	r := must(t, "unlink alone", must2(e.c.Unlink(e.ctx, &goferpb.UnlinkRequest{Dir: e.rootH, Name: []byte("y"), Origin: o(6)})))
	if r.GetErrno() != 0 {
		t.Fatalf("re-sent unlink: errno %v, want the first reply", unix.Errno(r.GetErrno()))
	}
	if _, err := os.Stat(e.host("y")); err != nil {
		t.Fatalf("a re-sent unlink ran again: %v", err)
	}
}

// TestUnlinkManyOriginsOfTwoClients: an UnlinkMany's unlinks of two
// clients (with an unlink without an Origin between them) are each
// qualified by their own client: both run, with the same seq, and each
// re-sent alone meets its own cached reply.
func TestUnlinkManyOriginsOfTwoClients(t *testing.T) {
	e := newEnv(t)
	for _, n := range []string{"a", "b", "none"} {
		writeHostFile(t, e.host(n), "x")
	}
	r := must(t, "unlink many", must2(e.c.UnlinkMany(e.ctx, &goferpb.UnlinkManyRequest{
		Dirs:    []uint64{e.rootH, e.rootH, e.rootH},
		Names:   [][]byte{[]byte("a"), []byte("none"), []byte("b")},
		Origins: []*goferpb.Origin{{ClientId: "ca", Seq: 1}, nil, {ClientId: "cb", Seq: 1}},
	})))
	for i, u := range r.GetUnlinks() {
		if u.GetErrno() != 0 {
			t.Errorf("unlink %d: %v", i, unix.Errno(u.GetErrno()))
		}
	}
	for _, n := range []string{"a", "b", "none"} {
		if _, err := os.Stat(e.host(n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s not removed: %v", n, err)
		}
		writeHostFile(t, e.host(n), "made again")
	}
	for _, c := range []struct{ client, name string }{{"ca", "a"}, {"cb", "b"}} {
		must(t, "unlink alone", must2(e.c.Unlink(e.ctx, &goferpb.UnlinkRequest{Dir: e.rootH, Name: []byte(c.name), Origin: &goferpb.Origin{ClientId: c.client, Seq: 1}})))
		if _, err := os.Stat(e.host(c.name)); err != nil {
			t.Errorf("%s's unlink re-sent alone ran again: %v", c.client, err)
		}
	}
}

// TestUnlinkManyErrnos: a request with errnos_wanted and an inode found
// for every unlink is answered with each unlink's errno alone, in order
// (the unlinks as they run without it); one whose found has an entry of
// ino 0 gets its unlinks, each naming its changed inode.
func TestUnlinkManyErrnos(t *testing.T) {
	e := newEnv(t)
	d := e.mkdir(e.rootH, "d")
	for _, n := range []string{"a", "b", "c"} {
		writeHostFile(t, e.host("d/"+n), "x")
	}
	ids := func(inos ...uint64) []*goferpb.InodeID {
		var out []*goferpb.InodeID
		for _, ino := range inos {
			out = append(out, &goferpb.InodeID{Dev: 1, Ino: ino})
		}
		return out
	}
	r := must(t, "unlink many", must2(e.c.UnlinkMany(e.ctx, &goferpb.UnlinkManyRequest{
		Dirs: []uint64{d, d, d}, Names: [][]byte{[]byte("a"), []byte("nope"), []byte("b")},
		Found: ids(7, 8, 9), ErrnosWanted: true})))
	if want := []int32{0, int32(unix.ENOENT), 0}; !slices.Equal(r.GetErrnos(), want) || len(r.GetUnlinks()) != 0 || r.Ran() != 3 {
		t.Errorf("errnos %v and %d unlinks, want %v and none", r.GetErrnos(), len(r.GetUnlinks()), want)
	}
	r = must(t, "unlink many, an inode not found", must2(e.c.UnlinkMany(e.ctx, &goferpb.UnlinkManyRequest{
		Dirs: []uint64{d}, Names: [][]byte{[]byte("c")}, Found: ids(0), ErrnosWanted: true})))
	if len(r.GetErrnos()) != 0 || len(r.GetUnlinks()) != 1 || len(r.Unlinks[0].GetChanged()) != 1 {
		t.Errorf("errnos %v, unlinks %v; want one unlink naming its inode", r.GetErrnos(), r.GetUnlinks())
	}
	for _, n := range []string{"a", "b", "c"} {
		if _, err := os.Lstat(e.host("d/" + n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("d/%s: %v, want it gone", n, err)
		}
	}
}
