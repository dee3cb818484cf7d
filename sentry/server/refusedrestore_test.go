package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// TestRefusedRestoreReleasesFiles: a restore the server refuses (an fd
// of the records names a description they do not have) releases the
// descriptions it rebuilt before refusing: their gofer handles and
// donated fds. A client retries such a restore for a minute, a new
// client each time; each attempt once kept the files it had reopened,
// and thousands of them ran the gofer out of fds (EMFILE: chaos
// cat-ahead).
func TestRefusedRestoreReleasesFiles(t *testing.T) {
	r := newReplayerDonating(t, true)
	r.start()
	const files = 4
	for i := 0; i < files; i++ {
		name := fmt.Sprintf("tmp/k%d", i)
		if err := os.WriteFile(filepath.Join(r.root, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		r.open("/"+name, unix.O_RDWR)
	}
	recs := r.restoreRecords(nil)
	var bad *sentrypb.StateRecord
	for _, rec := range recs {
		if fd := rec.GetFd(); fd != nil {
			b := proto.Clone(fd).(*sentrypb.FdState)
			b.Fd, b.File = 60, 1<<40
			bad = &sentrypb.StateRecord{Key: statekey.FD(b.FdTable, b.Fd).String(), Value: &sentrypb.StateRecord_Fd{Fd: b}}
			break
		}
	}
	if bad == nil {
		t.Fatal("no fd record")
	}
	recs = append(recs, bad)
	r.crash()
	r.startServer(true)
	sock := r.sock
	open := func() map[string]string {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		m := make(map[string]string, len(ents))
		for _, e := range ents {
			m[e.Name()], _ = os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		}
		return m
	}
	fds := func() int { return len(open()) }
	attempt := func() {
		rep := r.call(&sentrypb.Call{Op: &sentrypb.Call_Restore{Restore: &sentrypb.Restore{Records: recs}}}, false)
		if unix.Errno(rep.Errno) != unix.EINVAL {
			t.Fatalf("restore with an fd of no description: errno %v, want EINVAL", unix.Errno(rep.Errno))
		}
		// As the client's next attempt: this connection goes, another
		// comes.
		r.conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := transport.Dial(ctx, "unix:"+sock, transport.Options{
			Hello:  &sentrypb.Hello{ClientId: "replaying-client", Resume: true},
			OnPush: r.onPush,
		})
		if err != nil {
			t.Fatal(err)
		}
		r.conn = conn
	}
	attempt() // the first may open what stays (the server's gofer stream)
	openBefore := open()
	before := len(openBefore)
	const attempts = 10
	for i := 0; i < attempts; i++ {
		attempt()
	}
	// A client's state is freed after its connection goes: give the
	// last one time (a leak stays; a loaded CI once took longer than
	// 5 s to free one attempt's attach: its root's fd and 6 sockets).
	var after int
	for deadline := time.Now().Add(20 * time.Second); ; {
		if after = fds(); after <= before+2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if after > before+2 {
		var added []string
		for fd, target := range open() {
			if openBefore[fd] != target {
				added = append(added, fd+" -> "+target)
			}
		}
		sort.Strings(added)
		t.Errorf("%d fds open after %d refused restores of %d files, %d before: they kept what they rebuilt (new: %s)", after, attempts, files, before, strings.Join(added, ", "))
	}
}
