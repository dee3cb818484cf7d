package vfs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
)

// openGofer opens gofer file p of f's tree as a description.
func (f *fixture) openGofer(t *testing.T, c *testCall, p string, flags uint32) (*fdesc.File, *GoferFile) {
	t.Helper()
	d, err := f.v.Resolve(c, f.v.Root, p, true)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	h, fh, err := f.v.OpenRegular(d, flags, nil)
	if err != nil {
		t.Fatalf("open %s: %v", p, err)
	}
	g := NewGoferFile(f.v, h, fh, nil)
	file := fdesc.NewFile(g, d, d.Owner(), flags)
	t.Cleanup(func() { file.DecRef() })
	return file, g
}

// setuidWrites answers every write as if the file were set-uid (the host
// may clear the bit itself on a write when the test lacks CAP_FSETID).
type setuidWrites struct{ goferpb.GoferClient }

func (g setuidWrites) Write(ctx context.Context, req *goferpb.WriteRequest, opts ...grpc.CallOption) (*goferpb.WriteReply, error) {
	r, err := g.GoferClient.Write(ctx, req, opts...)
	if err == nil && r.GetStat() != nil && bytes.HasPrefix(req.Data, []byte("suid")) {
		r.Stat.Mode |= unix.S_ISUID
	}
	return r, err
}

// TestGoferFileIO: reads and writes larger than one RPC are split in
// MaxGoferIO pieces and land whole; a write to a set-id file asks the
// kernel to clear the bits; a directory's description refuses I/O.
func TestGoferFileIO(t *testing.T) {
	f := newFixtureWrapped(t, func(g goferpb.GoferClient) goferpb.GoferClient { return setuidWrites{g} })
	f.write(t, "big", "")
	f.write(t, "suid", "x")
	c := f.call()
	defer c.done()
	file, g := f.openGofer(t, c, "/big", unix.O_RDWR)
	if h, ok := HandleOfFile(file); !ok || h != g.Handle {
		t.Fatalf("HandleOfFile = %d, %v; want %d", h, ok, g.Handle)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), (2*MaxGoferIO+MaxGoferIO/2)/16)
	for _, tc := range []struct {
		name string
		off  int64
	}{{"at 0", 0}, {"at an odd offset", 7}} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := g.Write(c, file, data, tc.off)
			if err != nil || n != len(data) {
				t.Fatalf("Write = %d, %v; want %d", n, err, len(data))
			}
			if c.Wrote == nil || c.Wrote.Size != uint64(tc.off)+uint64(len(data)) {
				t.Errorf("the call was told the size %v", c.Wrote)
			}
			got, err := g.Read(c, file, len(data)+100, tc.off)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("Read = %d bytes, %v; want the %d written", len(got), err, len(data))
			}
			host, err := os.ReadFile(filepath.Join(f.root, "big"))
			if err != nil || !bytes.Equal(host[tc.off:], data) {
				t.Fatalf("the host file differs: %v", err)
			}
		})
	}
	if _, err := g.Read(c, file, 1, -1); syserr.ErrnoOf(err) != unix.EINVAL {
		t.Errorf("Read at -1: %v, want EINVAL", err)
	}
	if len(f.k.killPriv) != 0 {
		t.Errorf("writes to a plain file asked to clear set-id bits: %v", f.k.killPriv)
	}
	sfile, sg := f.openGofer(t, c, "/suid", unix.O_WRONLY)
	if _, err := sg.Write(c, sfile, []byte("suid"), 0); err != nil {
		t.Fatal(err)
	}
	if len(f.k.killPriv) != 1 || f.k.killPriv[0] != sg.Handle {
		t.Errorf("a write to a set-uid file asked to clear the bits through %v, want [%d]", f.k.killPriv, sg.Handle)
	}
	dir := NewGoferDir(f.v, 0, nil)
	if _, err := dir.Read(c, nil, 1, 0); err != unix.EISDIR {
		t.Errorf("directory Read: %v", err)
	}
}

// TestMemfdSeals: what each seal refuses, as Linux's memfd.
func TestMemfdSeals(t *testing.T) {
	f := newFixture(t)
	f.write(t, "m", "12345678")
	c := f.call()
	defer c.done()
	file, g := f.openGofer(t, c, "/m", unix.O_RDWR)
	for _, tc := range []struct {
		name          string
		seals         uint32
		write         error // 4 bytes at 6 (growing), 2 at 0
		writeIn       error
		shrink, grow  error
		punch, extend error
	}{
		{name: "none"},
		{name: "write", seals: unix.F_SEAL_WRITE, write: unix.EPERM, writeIn: unix.EPERM, punch: unix.EPERM},
		{name: "future write", seals: unix.F_SEAL_FUTURE_WRITE, write: unix.EPERM, writeIn: unix.EPERM, punch: unix.EPERM},
		{name: "grow", seals: unix.F_SEAL_GROW, write: unix.EPERM, grow: unix.EPERM, extend: unix.EPERM},
		{name: "shrink", seals: unix.F_SEAL_SHRINK, shrink: unix.EPERM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMemfd("name", tc.seals)
			g.Memfd = m
			defer func() { g.Memfd = nil }()
			if MemfdOf(file) != m {
				t.Fatalf("MemfdOf is not the file's memfd")
			}
			for _, chk := range []struct {
				what      string
				got, want error
			}{
				{"growing write", m.CheckWrite(c, file, 6, 4), tc.write},
				{"write inside", m.CheckWrite(c, file, 0, 2), tc.writeIn},
				{"shrink", m.CheckResize(c, file, 4), tc.shrink},
				{"grow", m.CheckResize(c, file, 16), tc.grow},
				{"punch", m.CheckFallocate(c, file, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 0, 2), tc.punch},
				{"extend", m.CheckFallocate(c, file, 0, 4, 8), tc.extend},
			} {
				if chk.got != chk.want {
					t.Errorf("%s: %v, want %v", chk.what, chk.got, chk.want)
				}
			}
		})
	}
	m := NewMemfd("m", 0)
	if err := m.AddSeals(unix.F_SEAL_WRITE, true); err != unix.EBUSY {
		t.Errorf("F_SEAL_WRITE with a writable mapping: %v, want EBUSY", err)
	}
	if err := m.AddSeals(unix.F_SEAL_GROW|unix.F_SEAL_SEAL, false); err != nil {
		t.Fatal(err)
	}
	if err := m.AddSeals(unix.F_SEAL_SHRINK, false); err != unix.EPERM {
		t.Errorf("a seal after F_SEAL_SEAL: %v, want EPERM", err)
	}
	m.MergeSeals(unix.F_SEAL_WRITE)
	if st := m.State(); string(st.Name) != "m" || st.Seals != unix.F_SEAL_GROW|unix.F_SEAL_SEAL|unix.F_SEAL_WRITE {
		t.Errorf("State = %v", st)
	}
}

// TestSynthFiles: /dev's files and a lost file answer as Linux's and
// an NFS client's stale handle do.
func TestSynthFiles(t *testing.T) {
	f := newFixture(t)
	c := f.call()
	defer c.done()
	null, err := f.v.Resolve(c, f.v.Root, "/dev/null", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kind              DevKind
		read              []byte
		written           int
		writeErr          error
		randomOrZeroBytes bool
	}{
		{kind: DevNull, read: nil, written: 3},
		{kind: DevZero, read: make([]byte, 3), written: 3},
		{kind: DevFull, read: make([]byte, 3), writeErr: unix.ENOSPC},
		{kind: DevRandom, written: 3, randomOrZeroBytes: true},
	} {
		df := &DevFile{Kind: tc.kind, D: null}
		b, err := df.Read(c, nil, 3, 0)
		if err != nil || (!tc.randomOrZeroBytes && !bytes.Equal(b, tc.read)) || (tc.randomOrZeroBytes && len(b) != 3) {
			t.Errorf("kind %d: Read = %q, %v", tc.kind, b, err)
		}
		if n, err := df.Write(c, nil, []byte("abc"), 0); n != tc.written || err != tc.writeErr {
			t.Errorf("kind %d: Write = %d, %v", tc.kind, n, err)
		}
		if st, err := df.Stat(c); err != nil || st.Ino != null.Ino() || st.Dev != SynthDev {
			t.Errorf("kind %d: Stat = %v, %v", tc.kind, st, err)
		}
	}
	lost := &LostFile{FH: []byte("h"), Path: "/gone"}
	if _, err := lost.Read(c, nil, 1, 0); err != unix.ESTALE {
		t.Errorf("lost Read: %v", err)
	}
	if _, err := lost.Stat(c); err != unix.ESTALE {
		t.Errorf("lost Stat: %v", err)
	}
	pf := &PathFile{D: f.v.Root}
	if st, err := pf.Stat(c); err != nil || st.Ino != f.v.Root.Ino() {
		t.Errorf("path file Stat = %v, %v", st, err)
	}
}
