package adversary

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// goferUnderAttack starts a gofer daemon serving root and dials it as a
// hostile peer (same uid: what a compromised server, or a local user the
// deployment let in, can do).
func goferUnderAttack(t *testing.T, root string, args ...string) (*tu.Daemon, goferpb.GoferClient) {
	t.Helper()
	tu.RequireRoot(t)
	g := tu.StartDaemon(t, t.TempDir(), "gofer", "gofer", append([]string{"--root", root}, args...)...)
	conn, err := grpc.NewClient("unix://"+g.Target[len("unix:"):], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return g, goferpb.NewGoferClient(conn)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func attach(t *testing.T, ctx context.Context, c goferpb.GoferClient) uint64 {
	t.Helper()
	r, err := c.Attach(ctx, &goferpb.AttachRequest{})
	if err != nil || r.GetErrno() != 0 {
		t.Fatalf("attach: %v errno %d", err, r.GetErrno())
	}
	return r.GetRoot().GetId()
}

// alive checks that the daemon still runs and answers.
func alive(t *testing.T, ctx context.Context, d *tu.Daemon, c goferpb.GoferClient) {
	t.Helper()
	if d.Cmd.ProcessState != nil || d.Cmd.Process.Signal(unix.Signal(0)) != nil {
		t.Fatalf("the daemon died; log:\n%s", d.Log.String())
	}
	if _, err := c.Attach(ctx, &goferpb.AttachRequest{}); err != nil {
		t.Fatalf("the daemon no longer answers: %v; log:\n%s", err, d.Log.String())
	}
}

// TestGoferReplyCachePoisoning: two different mutations with one Origin
// (which a peer that saw a victim's client id in `debug` could send) made
// the gofer panic in its reply cache, killing every client's files.
func TestGoferReplyCachePoisoning(t *testing.T) {
	root := t.TempDir()
	g, c := goferUnderAttack(t, root)
	ctx := ctxT(t)
	dir := attach(t, ctx, c)
	o := &goferpb.Origin{ClientId: "victim", Seq: 1}
	if _, err := c.Mkdir(ctx, &goferpb.MkdirRequest{Dir: dir, Name: []byte("d"), Mode: 0o755, Origin: o}); err != nil {
		t.Fatal(err)
	}
	// Errors are fine; a dead gofer is not.
	c.Unlink(ctx, &goferpb.UnlinkRequest{Dir: dir, Name: []byte("d"), Flags: unix.AT_REMOVEDIR, Origin: o})
	c.Rename(ctx, &goferpb.RenameRequest{OldDir: dir, OldName: []byte("d"), NewDir: dir, NewName: []byte("e"), Origin: o})
	alive(t, ctx, g, c)
}

// TestGoferHandleIDsTiedToSession: a peer cannot use handle ids another
// session was given (they are guessable: a boot prefix and a counter).
func TestGoferHandleIDsTiedToSession(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "secret"), []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, c := goferUnderAttack(t, root)
	ctx := ctxT(t)
	// The victim's session.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.Session(sctx, &goferpb.SessionRequest{ProtocolVersion: goferpb.ProtocolVersion})
	if err != nil {
		t.Fatal(err)
	}
	ev, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	victim := metadata.AppendToOutgoingContext(ctx, goferpb.SessionMetadataKey, strconv.FormatUint(ev.GetSessionId(), 10))
	vroot := attach(t, victim, c)
	w, err := c.Walk(victim, &goferpb.WalkRequest{Dir: vroot, Names: [][]byte{[]byte("secret")}})
	if err != nil || w.GetErrno() != 0 {
		t.Fatalf("victim's walk: %v errno %d", err, w.GetErrno())
	}
	id := w.GetFiles()[0].GetHandle().GetId()
	// The attacker, without a session, names the victim's id.
	if r, err := c.Open(ctx, &goferpb.OpenRequest{Handle: id, Flags: unix.O_RDONLY}); err != nil || unix.Errno(r.GetErrno()) != unix.EBADF {
		t.Fatalf("open of another session's handle: %v errno %v, want EBADF", err, unix.Errno(r.GetErrno()))
	}
	if r, err := c.Stat(ctx, &goferpb.StatRequest{Handle: id}); err != nil || unix.Errno(r.GetErrno()) != unix.EBADF {
		t.Fatalf("stat of another session's handle: %v errno %v, want EBADF", err, unix.Errno(r.GetErrno()))
	}
	if r, err := c.Read(ctx, &goferpb.ReadRequest{Handle: id, Length: 100}); err != nil || len(r.GetData()) != 0 {
		t.Fatalf("read of another session's handle: %v, %q", err, r.GetData())
	}
}

// TestGoferReopenForgedHandle: a file handle forged for a sibling of the
// root named "<root> (deleted)" passed the old path-string confinement
// check and was read and written outside the root.
func TestGoferReopenForgedHandle(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	outside := root + " (deleted)"
	if err := os.WriteFile(outside, []byte("outside the root"), 0o600); err != nil {
		t.Fatal(err)
	}
	fh, _, err := unix.NameToHandleAt(unix.AT_FDCWD, outside, 0)
	if err != nil {
		t.Skipf("no file handles here: %v", err)
	}
	forged := binary.LittleEndian.AppendUint32(nil, uint32(fh.Type()))
	forged = append(forged, fh.Bytes()...)
	_, c := goferUnderAttack(t, root)
	ctx := ctxT(t)
	attach(t, ctx, c)
	// As the old wire form, and with 16 bytes that are not the gofer's MAC.
	for _, f := range [][]byte{forged, append(append([]byte(nil), forged...), make([]byte, 16)...)} {
		r, err := c.Reopen(ctx, &goferpb.ReopenRequest{FileHandle: f})
		if err != nil {
			t.Fatal(err)
		}
		if r.GetErrno() == 0 {
			c.Open(ctx, &goferpb.OpenRequest{Handle: r.GetHandle().GetId(), Flags: unix.O_RDONLY})
			rr, _ := c.Read(ctx, &goferpb.ReadRequest{Handle: r.GetHandle().GetId(), Length: 100})
			t.Fatalf("a forged handle of a file outside the root was reopened (reads %q)", rr.GetData())
		}
	}
}

// TestGoferStripsSetuid: the application could leave a setuid-root binary
// on the host (chmod 6755 in the sandbox gave -rwsr-sr-x root).
func TestGoferStripsSetuid(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want os.FileMode
	}{
		{"default", nil, 0o755},
		{"--allow-setuid", []string{"--allow-setuid"}, 0o755 | os.ModeSetuid | os.ModeSetgid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			_, c := goferUnderAttack(t, root, tc.args...)
			ctx := ctxT(t)
			dir := attach(t, ctx, c)
			cr, err := c.Create(ctx, &goferpb.CreateRequest{Dir: dir, Name: []byte("a"), Flags: unix.O_RDWR, Mode: 0o6755})
			if err != nil || cr.GetErrno() != 0 {
				t.Fatalf("create: %v errno %d", err, cr.GetErrno())
			}
			if _, err := c.SetStat(ctx, &goferpb.SetStatRequest{Handle: cr.GetHandle().GetId(), Mask: unix.STATX_MODE, Mode: 0o6755}); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(filepath.Join(root, "a"))
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode() & (os.ModePerm | os.ModeSetuid | os.ModeSetgid); got != tc.want {
				t.Fatalf("host mode %v, want %v", got, tc.want)
			}
		})
	}
}
