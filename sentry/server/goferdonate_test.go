package server

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/runsc-decoupled/runsc-decoupled/gofer"
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/goferclient"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// donatingEnv is countingEnv whose server reaches its gofer as a server
// on the gofer's machine does: a Calls stream on the framed wire over
// the gofer's Unix socket, which carries donated fds. donate is the
// gofer's WithDonateFDs.
func donatingEnv(t *testing.T, donate bool) (*env, *rpcCounter, *goferProc, *goferclient.GoferConn) {
	t.Helper()
	return donatingEnvWrap(t, donate, nil)
}

// donatingEnvWrap is donatingEnv whose Calls streams are wrapped by wrap
// (if not nil).
func donatingEnvWrap(t *testing.T, donate bool, wrap func(*transport.FramedStream) goferclient.MsgStream) (*env, *rpcCounter, *goferProc, *goferclient.GoferConn) {
	t.Helper()
	root := newRoot(t)
	p := startGoferProc(t, root, gofer.WithDonateFDs(donate))
	rc := &rpcCounter{counts: make(map[string]int)}
	cc, err := grpc.NewClient("unix://"+p.Sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	target := transport.Target{Network: "unix", Address: p.Sock}
	gc := goferclient.NewGoferConn(cc, testLog(),
		goferclient.WithStreamDialer(func(ctx context.Context) (goferclient.MsgStream, error) {
			st, err := transport.DialFramedStream(ctx, target)
			if err != nil || wrap == nil {
				return st, err
			}
			return wrap(st), nil
		}),
		goferclient.WithWrap(func(inner grpc.ClientConnInterface) grpc.ClientConnInterface {
			return &countingConn{ClientConnInterface: inner, rc: rc}
		}))
	t.Cleanup(gc.Close)
	e, _ := startedOverGoferConn(t, root, gc)
	return e, rc, p, gc
}

// TestGoferRPCsPerCallDonated counts the gofer RPCs of file reads and
// writes when the gofer donates fds (zero: the server preads and
// pwrites the fds itself) and when it does not (one each, as
// TestGoferRPCsPerCall shows), and checks the bytes landed.
func TestGoferRPCsPerCallDonated(t *testing.T) {
	releasesInBatchesOnly(t)
	for _, donate := range []bool{true, false} {
		t.Run(fmt.Sprintf("donate=%v", donate), func(t *testing.T) {
			e, rc, _, gc := donatingEnv(t, donate)
			freezeClock(e)
			base := gc.Donations() // the exec'd busybox's, if donated
			m := e.mem
			sb, buf := m.zeros(144), m.zeros(4096)
			if err := os.WriteFile(filepath.Join(e.root, "tmp/existing"), make([]byte, 8192), 0644); err != nil {
				t.Fatal(err)
			}
			existing := m.str("/tmp/existing")
			data := m.alloc(bytes.Repeat([]byte("d"), 4096))
			for name, content := range map[string]string{"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n", "etc/group": "root:x:0:\n"} {
				if err := os.MkdirAll(filepath.Join(e.root, "etc"), 0755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(e.root, name), []byte(content), 0644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(e.root, "tmp/archive"), make([]byte, 1<<20), 0644); err != nil {
				t.Fatal(err)
			}
			archive := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str("/tmp/archive"), unix.O_RDONLY, 0))
			passwd, group, times := m.str("/etc/passwd"), m.str("/etc/group"), m.zeros(32)
			readFile := func(path uint64) {
				fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, path, unix.O_RDONLY, 0))
				e.ok(1, unix.SYS_NEWFSTATAT, fd, m.str(""), sb, unix.AT_EMPTY_PATH)
				e.ok(1, unix.SYS_READ, fd, buf, 4096)
				e.ok(1, unix.SYS_CLOSE, fd)
			}
			// Twice: the second open takes the handle the first kept
			// (vfs/kept.go), whose attributes the first read made
			// stale: its fstat asks the gofer once.
			for range 2 {
				readFile(passwd)
				readFile(group)
			}
			rfd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, existing, unix.O_RDWR, 0))
			afd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, existing, unix.O_WRONLY|unix.O_APPEND, 0))
			if err := os.WriteFile(filepath.Join(e.root, "tmp/moving"), make([]byte, 3*4096), 0644); err != nil {
				t.Fatal(err)
			}
			mfd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str("/tmp/moving"), unix.O_RDWR, 0))
			one := func(name string) map[string]int {
				if donate {
					return nil
				}
				return map[string]int{name: 1}
			}
			n := 0
			tests := []struct {
				name string
				do   func()
				want map[string]int
			}{
				// A small file read before is answered from the
				// server's data cache, and opened through the handle
				// its last description kept (a Walk before, asking
				// for no fd).
				{"open, fstat, read, close of a small file read before", func() {
					before := gc.Donations()
					readFile(passwd)
					if got := gc.Donations() - before; got != 0 {
						t.Errorf("%d fds donated for a file whose data is cached", got)
					}
				}, nil},
				{"4 KiB pwrite", func() { e.ok(1, unix.SYS_PWRITE64, rfd, data, 4096, 0) }, one("Write")},
				{"4 KiB pread", func() { e.ok(1, unix.SYS_PREAD64, rfd, buf, 4096, 4096) }, one("Read")},
				// The reply of a donated write carries the file's
				// attributes, so fstat needs no Stat.
				{"4 KiB pwrite then fstat", func() {
					e.ok(1, unix.SYS_PWRITE64, rfd, data, 4096, 0)
					e.ok(1, unix.SYS_FSTAT, rfd, sb)
				}, one("Write")},
				// O_APPEND's Write goes to the gofer either way (a
				// re-sent append must land once); the end of the file
				// it needs is the donated fd's fstat.
				{"4 KiB O_APPEND write", func() { e.ok(1, unix.SYS_WRITE, afd, data, 4096) }, map[string]int{"Stat": 1 - b2i(donate), "Write": 1}},
				// A fallocate that moves bytes is sent with the file's
				// size before it (a re-sent one must not run twice on
				// a restarted gofer): the donated fd's statx, else a
				// Stat.
				{"collapse and insert a range", func() {
					e.ok(1, unix.SYS_FALLOCATE, mfd, unix.FALLOC_FL_COLLAPSE_RANGE, 0, 4096)
					e.ok(1, unix.SYS_FALLOCATE, mfd, unix.FALLOC_FL_INSERT_RANGE, 0, 4096)
				}, map[string]int{"Stat": 2 - 2*b2i(donate), "Fallocate": 2}},
				{"create+write+close", func() {
					n++
					fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str(fmt.Sprintf("/tmp/new%d", n)), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0644))
					e.ok(1, unix.SYS_WRITE, fd, data, 4096)
					e.ok(1, unix.SYS_CLOSE, fd)
				}, map[string]int{"Create": 1, "Write": 1 - b2i(donate)}},
				// busybox tar x's calls for one file, as in
				// TestGoferRPCsPerCall: the archive's Reads and the
				// file's Write are the server's own.
				{"busybox tar's calls for one file", func() {
					n++
					name := m.str(fmt.Sprintf("/tmp/tar%d", n))
					e.ok(1, unix.SYS_READ, archive, buf, 512)
					e.fails(unix.ENOENT, 1, unix.SYS_UNLINKAT, atFDCWD64, name, 0)
					fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0644))
					e.ok(1, unix.SYS_READ, archive, buf, 3000)
					e.ok(1, unix.SYS_WRITE, fd, buf, 3000)
					e.ok(1, unix.SYS_CLOSE, fd)
					readFile(passwd)
					readFile(group)
					e.ok(1, unix.SYS_FCHOWNAT, atFDCWD64, name, 0, 0, 0)
					e.ok(1, unix.SYS_FCHMODAT, atFDCWD64, name, 0644)
					e.ok(1, unix.SYS_UTIMENSAT, atFDCWD64, name, times, 0)
				}, map[string]int{"Walk": 1, "Read": 2 - 2*b2i(donate), "Create": 1, "Write": 1 - b2i(donate), "SetStat": 3}},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					for round := 0; round < 3; round++ {
						rc.take()
						tc.do()
						got := rc.take()
						delete(got, "Fsync")
						if fmtCounts(got) != fmtCounts(tc.want) {
							t.Errorf("round %d: gofer RPCs %s, want %s", round, fmtCounts(got), fmtCounts(tc.want))
						}
					}
				})
			}
			if held := gc.Donations() - base; (held > 0) != donate {
				t.Errorf("the server holds %d donated fds, donation %v", held, donate)
			}
			// The fstat after a donated write saw the write.
			e.ok(1, unix.SYS_PWRITE64, rfd, data, 4096, 20000)
			e.ok(1, unix.SYS_FSTAT, rfd, sb)
			if size := int64(binaryLE64(m.bytes(sb+48, 8))); size != 24096 {
				t.Errorf("fstat after a write to 24096: size %d", size)
			}
			e.ok(1, unix.SYS_FSYNC, rfd)
			got, err := os.ReadFile(filepath.Join(e.root, "tmp/existing"))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 24096 || !bytes.Equal(got[:4096], bytes.Repeat([]byte("d"), 4096)) || !bytes.Equal(got[20000:], bytes.Repeat([]byte("d"), 4096)) {
				t.Errorf("file after the writes: %d bytes, %q...", len(got), got[:min(len(got), 16)])
			}
			e.ok(1, unix.SYS_CLOSE, rfd)
			e.ok(1, unix.SYS_CLOSE, afd)
			e.ok(1, unix.SYS_CLOSE, mfd)
			e.ok(1, unix.SYS_CLOSE, archive)
			// Closed files go once their writes are durable (sync) and
			// their handles released (batched); those of read-only
			// descriptions are kept (vfs/kept.go) until the client
			// goes, as here.
			e.ok(1, unix.SYS_SYNC)
			onlyVFS(t, e).ReleaseAll()
			for deadline := time.Now().Add(10 * time.Second); ; {
				flushReleases(e)
				held := gc.Donations() - base
				if held == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d donated fds held after every file was closed", held)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func binaryLE64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// TestDonatedWritesOutliveGofer: a write loop through donated fds goes
// on while the gofer is dead (the fds are the kernel's open files, not
// the gofer's), and once a new gofer is up the fsync through it covers
// every acknowledged write: none is lost, the file holds them all and
// the server has nothing left to announce durable.
func TestDonatedWritesOutliveGofer(t *testing.T) {
	e, _, p, gc := donatingEnv(t, true)
	m := e.mem
	const blocks = 30
	fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str("/tmp/loop"), unix.O_CREAT|unix.O_RDWR, 0644))
	if gc.Donations() == 0 {
		t.Fatal("no fd donated for the opened file")
	}
	var want []byte
	for i := 0; i < blocks; i++ {
		switch i {
		case blocks / 3:
			p.Kill()
		case 2 * blocks / 3:
			p.Start()
		}
		block := bytes.Repeat([]byte{byte('a' + i%26)}, 4096)
		want = append(want, block...)
		if n := e.ok(1, unix.SYS_PWRITE64, fd, m.alloc(block), 4096, uint64(i*4096)); n != 4096 {
			t.Fatalf("pwrite %d: %d bytes", i, n)
		}
	}
	e.ok(1, unix.SYS_FSYNC, fd)
	got, err := os.ReadFile(filepath.Join(e.root, "tmp/loop"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("file holds %d bytes, want the %d written", len(got), len(want))
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		pending := 0
		e.srv.mu.Lock()
		for c := range e.srv.clients {
			pending += len(c.k.Dur.Pending())
		}
		e.srv.mu.Unlock()
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d files still have writes not announced durable after fsync", pending)
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.ok(1, unix.SYS_CLOSE, fd)
}

// TestDonatedAppendOnce: with donated fds, an O_APPEND write whose reply
// a server kill swallowed, re-sent to the next server, still lands once
// (it goes through the gofer's reply cache), and a positional write
// re-sent lands at the same place; the new server got fresh donations.
func TestDonatedAppendOnce(t *testing.T) {
	r := newReplayerDonating(t, true)
	m := r.mem
	r.start()
	logfd := r.open("/tmp/log", unix.O_CREAT|unix.O_WRONLY|unix.O_APPEND)
	datafd := r.open("/tmp/data", unix.O_CREAT|unix.O_RDWR)
	r.write(1, logfd, "one\n", nil)
	r.write(1, datafd, "0123456789", nil)
	lost := []*sentrypb.Call{
		r.syscallCall(1, unix.SYS_WRITE, logfd, m.alloc([]byte("two\n")), 4),
		r.syscallCall(1, unix.SYS_PWRITE64, datafd, m.alloc([]byte("ab")), 2, 4),
	}
	for _, c := range lost {
		if rep := r.call(c, true); rep.Errno != 0 {
			t.Fatalf("%v: errno %v", c, unix.Errno(rep.Errno))
		}
	}
	r.recover(nil)
	if r.gc.Donations() == 0 {
		t.Error("the new server got no donated fds as it reopened the files")
	}
	for _, c := range lost {
		if rep := r.call(c, false); rep.Errno != 0 {
			t.Fatalf("re-sent %v: errno %v", c, unix.Errno(rep.Errno))
		}
	}
	for name, want := range map[string]string{"tmp/log": "one\ntwo\n", "tmp/data": "0123ab6789"} {
		if b, _ := os.ReadFile(filepath.Join(r.root, name)); string(b) != want {
			t.Errorf("%s holds %q, want %q", name, b, want)
		}
	}
}

// truncatingStream is a Calls stream whose next read fails as when the
// kernel drops donated fds (a full fd table), once fail is set. Its calls
// all go on it (no call channels), so that the stream reads their
// results. (transport's TestCallChannelFDsTruncated covers a channel's fd
// socket.)
type truncatingStream struct {
	*transport.FramedStream
	fail *atomic.Bool
}

func (truncatingStream) StreamOnly() {}

func (s truncatingStream) RecvRaw() ([]byte, error) {
	if s.fail.Swap(false) {
		return nil, fmt.Errorf("frame: %w", transport.ErrFDsTruncated)
	}
	return s.FramedStream.RecvRaw()
}

// TestDonationsStopAfterDroppedFDs: once a stream failed because the
// kernel dropped donated fds, the server asks for no more (each would
// break the next stream the same way) and serves files through the
// gofer, correctly.
func TestDonationsStopAfterDroppedFDs(t *testing.T) {
	var fail atomic.Bool
	e, rc, _, gc := donatingEnvWrap(t, true, func(st *transport.FramedStream) goferclient.MsgStream {
		return truncatingStream{st, &fail}
	})
	m := e.mem
	a := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str("/tmp/a"), unix.O_CREAT|unix.O_RDWR, 0644))
	held := gc.Donations()
	if held == 0 {
		t.Fatal("no donation before the failure")
	}
	fail.Store(true)
	// A call whose result comes on the stream: the stream's read after
	// it fails.
	e.ok(1, unix.SYS_CLOSE, uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str("/tmp/a"), unix.O_RDONLY, 0)))
	for deadline := time.Now().Add(10 * time.Second); !gc.DonationsLost(); {
		if time.Now().After(deadline) {
			t.Fatal("the stream's failure was not taken as dropped fds")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// With the open that came before the failure. The count may still
	// go down (the read-only open's handle is released off the call's
	// path, batched), never up.
	held = gc.Donations()
	b := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str("/tmp/b"), unix.O_CREAT|unix.O_RDWR, 0644))
	if got := gc.Donations(); got > held {
		t.Errorf("donations went from %d to %d after fds were dropped", held, got)
	}
	rc.take()
	data := m.alloc([]byte("through the gofer"))
	e.ok(1, unix.SYS_PWRITE64, b, data, 17, 0)
	e.ok(1, unix.SYS_PWRITE64, a, data, 17, 0) // a keeps its fd
	if got := rc.take(); got["Write"] != 1 {
		t.Errorf("gofer RPCs %s, want the one Write of the file without a donated fd", fmtCounts(got))
	}
	if got, _ := os.ReadFile(filepath.Join(e.root, "tmp/b")); string(got) != "through the gofer" {
		t.Errorf("file holds %q", got)
	}
}

// TestSetIDTakesWriteFD: a chmod giving a file set-id bits through the
// server takes its donated write fds away, so that later writes go
// through the gofer's Write path (which clears the bits as Linux does
// for an unprivileged writer); reads keep their fd.
func TestSetIDTakesWriteFD(t *testing.T) {
	e, rc, _, _ := donatingEnv(t, true)
	freezeClock(e)
	m := e.mem
	fd := uint64(e.ok(1, unix.SYS_OPENAT, atFDCWD64, m.str("/tmp/s"), unix.O_CREAT|unix.O_RDWR, 0755))
	data, buf := m.alloc([]byte("data")), m.zeros(4)
	rc.take()
	e.ok(1, unix.SYS_PWRITE64, fd, data, 4, 0)
	if got := rc.take(); len(got) != 0 {
		t.Fatalf("a donated write made gofer RPCs %s", fmtCounts(got))
	}
	e.ok(1, unix.SYS_FCHMOD, fd, 04755)
	rc.take()
	e.ok(1, unix.SYS_PWRITE64, fd, data, 4, 4)
	if got := rc.take(); got["Write"] != 1 {
		t.Errorf("a write to a set-id file made gofer RPCs %s, want its Write", fmtCounts(got))
	}
	e.ok(1, unix.SYS_PREAD64, fd, buf, 4, 0)
	if got := rc.take(); len(got) != 0 {
		t.Errorf("a read of the set-id file made gofer RPCs %s, want none (its read fd stays)", fmtCounts(got))
	}
	if got, _ := os.ReadFile(filepath.Join(e.root, "tmp/s")); string(got) != "datadata" {
		t.Errorf("file holds %q", got)
	}
	e.ok(1, unix.SYS_CLOSE, fd)
}
