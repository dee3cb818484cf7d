package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/mapped"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/sysabi"
)

func fileReleaseCall(posted bool, ids ...uint64) *sentrypb.Call {
	return &sentrypb.Call{Op: &sentrypb.Call_FileRelease{FileRelease: &sentrypb.FileRelease{FileIds: ids, Posted: posted}}}
}

// TestReplayFileReleaseOnce: a FileRelease, posted or waited, whose reply
// came is not re-sent by a recovery, and one whose reply did not (the
// server applied it, or never read it) is re-sent to the state Restore
// rebuilt from the mapped id's record: either way each reference is
// dropped once. The id is mapped twice and released once, so it must
// still serve PageRead after the recovery, and no more after a second
// release.
func TestReplayFileReleaseOnce(t *testing.T) {
	for _, tc := range []struct {
		name string
		// lost: the server applied the release, its reply died with it;
		// unread: the server died before it read the release.
		posted, lost, unread bool
	}{
		{name: "waited, reply came"},
		{name: "waited, reply lost", lost: true},
		{name: "waited, never read", unread: true},
		{name: "posted, reply came", posted: true},
		{name: "posted, reply lost", posted: true, lost: true},
		{name: "posted, never read", posted: true, unread: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReplayer(t)
			r.start()
			// Not busybox: the process runs it, which holds a reference.
			fd := r.open("/tmp/mapped", unix.O_RDWR|unix.O_CREAT)
			r.write(1, fd, strings.Repeat("m", 5000), nil)
			var id uint64
			for i := 0; i < 2; i++ {
				rep := r.sys(1, unix.SYS_MMAP, 0, 8192, unix.PROT_READ, unix.MAP_PRIVATE, fd, 0)
				if rep.Errno != 0 || rep.GetMmap().GetFileId() == 0 {
					t.Fatalf("mmap: %v", rep)
				}
				if id != 0 && rep.GetMmap().GetFileId() != id {
					t.Fatalf("the second mmap of the same file got id %d, want %d", rep.GetMmap().GetFileId(), id)
				}
				id = rep.GetMmap().GetFileId()
			}
			release := fileReleaseCall(tc.posted, id)
			if tc.unread {
				r.mu.Lock()
				r.seq++
				release.Seq = r.seq
				r.mu.Unlock()
			} else {
				r.call(release, tc.lost)
			}
			resend := tc.lost || tc.unread
			r.recover(nil)
			if resend {
				if rep := r.call(release, false); rep.Errno != 0 {
					t.Fatalf("re-sent release: errno %v", unix.Errno(rep.Errno))
				}
			}
			rec := r.records()
			var refs uint32
			for _, rc := range rec {
				if rc.Key == statekey.Mapped(id).String() {
					refs = rc.GetMapped().GetRefs()
				}
			}
			if refs != 1 {
				t.Errorf("the mapped id's record has %d references after one release of two, want 1", refs)
			}
			pageRead := func() *sentrypb.Reply {
				return r.call(&sentrypb.Call{Op: &sentrypb.Call_PageRead{PageRead: &sentrypb.PageRead{FileId: id, Length: 4096}}}, false)
			}
			if rep := pageRead(); rep.Errno != 0 || len(rep.GetData()) != 4096 {
				t.Fatalf("PageRead of the id still mapped once: errno %v, %d bytes", unix.Errno(rep.Errno), len(rep.GetData()))
			}
			r.call(fileReleaseCall(tc.posted, id), false)
			if rep := pageRead(); rep.Errno != int32(unix.EBADF) {
				t.Errorf("PageRead after the last release: errno %v, want EBADF", unix.Errno(rep.Errno))
			}
		})
	}
}

// TestPostedFileReleaseOrder: a waited call sent after a posted
// FileRelease runs once the release finished, as after a posted system
// call: an unlink of the file then finds it no longer mapped. The
// release is held (its reply cannot be sent while the test holds the
// stream's send lock); the unlink must not run meanwhile. A waited
// release is not waited for (the client waited for it already).
func TestPostedFileReleaseOrder(t *testing.T) {
	for _, tc := range []struct {
		name        string
		posted      bool
		unlinkWaits bool
	}{
		{name: "posted", posted: true, unlinkWaits: true},
		{name: "waited", posted: false, unlinkWaits: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := started(t)
			m := e.mem
			fd := uint64(e.ok(1, unix.SYS_OPEN, m.str("/tmp/mapped"), unix.O_RDWR|unix.O_CREAT, 0o644))
			e.ok(1, unix.SYS_WRITE, fd, m.alloc([]byte("mapped")), 6)
			mp := e.sys(1, unix.SYS_MMAP, 0, 4096, unix.PROT_READ, unix.MAP_PRIVATE, fd, 0).GetMmap()
			if mp.GetFileId() == 0 {
				t.Fatal("mmap handed no file id")
			}
			e.ok(1, unix.SYS_CLOSE, fd)
			var st *clientStream
			e.srv.mu.Lock()
			for c := range e.srv.clients {
				st = c.stream
			}
			e.srv.mu.Unlock()

			st.sendMu.Lock()
			held := true
			defer func() {
				if held {
					st.sendMu.Unlock()
				}
			}()
			rel := fileReleaseCall(tc.posted, mp.GetFileId())
			relCh, err := e.conn.Go(rel)
			if err != nil {
				t.Fatal(err)
			}
			a := [6]uint64{m.str("/tmp/mapped")}
			var inputs []*sentrypb.Region
			for _, in := range sysabi.Inputs(unix.SYS_UNLINK, a, m) {
				inputs = append(inputs, &sentrypb.Region{Addr: in.Addr, Data: in.Data})
			}
			unlink := &sentrypb.Call{Tid: 1, Op: &sentrypb.Call_Syscall{Syscall: &sentrypb.Syscall{Sysno: unix.SYS_UNLINK, Args: a[:], Inputs: inputs}}}
			unlinkCh, err := e.conn.Go(unlink)
			if err != nil {
				t.Fatal(err)
			}
			host := filepath.Join(e.root, "tmp/mapped")
			deadline := time.Now().Add(300 * time.Millisecond)
			for time.Now().Before(deadline) {
				if _, err := os.Stat(host); err != nil {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			_, statErr := os.Stat(host)
			if ran := statErr != nil; ran == tc.unlinkWaits {
				t.Errorf("while the release was held, the unlink after it ran: %v, want %v", ran, !tc.unlinkWaits)
			}
			st.sendMu.Unlock()
			held = false
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, ch := range []<-chan *sentrypb.Reply{relCh, unlinkCh} {
				if rep, err := e.conn.Await(ctx, ch); err != nil || rep.Errno != 0 {
					t.Fatalf("reply %v, %v", rep, err)
				}
			}
			if _, err := os.Stat(host); !os.IsNotExist(err) {
				t.Errorf("the file is still there after its unlink: %v", err)
			}
		})
	}
}

// TestFileReleaseRecordsWithReply: the record of an id a FileRelease
// changed goes in the release's reply, never in a message sent before it
// (a recovery would re-send the release to a Restore that had its effect
// already, and drop a reference twice). A push is sent while the release
// drops its references (from the table's change hook): it must wait for
// the reply and carry nothing of the id.
func TestFileReleaseRecordsWithReply(t *testing.T) {
	for _, tc := range []struct {
		name   string
		posted bool
	}{
		{name: "posted", posted: true},
		{name: "waited"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := started(t)
			m := e.mem
			var c *client
			e.srv.mu.Lock()
			for cl := range e.srv.clients {
				c = cl
			}
			e.srv.mu.Unlock()
			k := c.k
			var armed atomic.Bool
			var once sync.Once
			k.Maps = mapped.NewTable[*fdesc.File](func(id uint64) {
				k.Trk.TouchMapped(id)
				if !armed.Load() {
					return
				}
				once.Do(func() {
					done := make(chan struct{})
					go func() {
						c.stream.Push(&sentrypb.Push{Msg: &sentrypb.Push_State{State: &sentrypb.StateUpdate{}}})
						close(done)
					}()
					select {
					case <-done:
					case <-time.After(100 * time.Millisecond):
					}
				})
			})
			fd := uint64(e.ok(1, unix.SYS_OPEN, m.str("/tmp/mapped"), unix.O_RDWR|unix.O_CREAT, 0o644))
			e.ok(1, unix.SYS_WRITE, fd, m.alloc([]byte("mapped")), 6)
			id := e.sys(1, unix.SYS_MMAP, 0, 4096, unix.PROT_READ, unix.MAP_PRIVATE, fd, 0).GetMmap().GetFileId()
			if id == 0 {
				t.Fatal("mmap handed no file id")
			}
			key := statekey.Mapped(id).String()
			for len(e.pushCh) > 0 {
				<-e.pushCh // earlier pushes
			}
			armed.Store(true)
			rep := e.call(fileReleaseCall(tc.posted, id))
			inReply := false
			for _, rec := range rep.State {
				inReply = inReply || (rec.Key == key && rec.Deleted)
			}
			if !inReply {
				t.Errorf("the release's reply does not delete %s: %v", key, rep.State)
			}
			p := e.waitPush(func(p *sentrypb.Push) bool { return p.GetState() != nil })
			for _, rec := range p.GetState().GetRecords() {
				if rec.Key == key {
					t.Errorf("a push sent while the release ran carries %s", key)
				}
			}
		})
	}
}
