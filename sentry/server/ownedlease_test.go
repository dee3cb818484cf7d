package server

import (
	"bytes"
	"testing"

	"gvisor.dev/gvisor/pkg/abi/linux"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestOwnedLeaseMessages checks what an owned lease costs and when it is
// granted (readlease/owned.go): a file created, written and closed
// brings no lease and no revocation, whatever opens it next; an lseek
// that asks is granted the lease, with the file's size, only if nothing
// but the creating description's marked writes changed the file and
// nothing else opened it; a creating open that asks is granted it with
// size 0 and the file's stat (fstat's answer), an open that found the
// file nothing; the lease's end at the close sends nothing, and an open
// while it is held revokes it.
func TestOwnedLeaseMessages(t *testing.T) {
	const data = "hello, owned"
	tests := []struct {
		name string
		// between runs after the creation and a marked write of data
		// through fd, before the lseek that asks for the lease.
		between func(c *ownedClient, fd uint64)
		// lseek says an lseek asks for the lease; reopenHeld opens the
		// file again while the description is open, after it.
		lseek, reopenHeld bool
		// openAsks says the creating open asks for the lease
		// (Syscall.owned_wanted); existed that the file is there
		// before it.
		openAsks, existed bool
		granted, revoked  bool
	}{
		{name: "granted with the creating open", openAsks: true, granted: true},
		{name: "granted with the creating open, reopened while leased", openAsks: true, reopenHeld: true, granted: true, revoked: true},
		{name: "an open that found the file", openAsks: true, existed: true},
		{name: "written and closed"},
		{name: "read back", lseek: true, granted: true},
		{name: "reopened while leased", lseek: true, reopenHeld: true, granted: true, revoked: true},
		{name: "unmarked write", lseek: true, between: func(c *ownedClient, fd uint64) {
			c.e.ownedWrite = false
			c.write(fd, "x")
			c.e.ownedWrite = true
		}},
		{name: "opened before the lseek", lseek: true, between: func(c *ownedClient, fd uint64) {
			c.e.ok(1, unix.SYS_CLOSE, uint64(c.open(unix.O_RDONLY)))
		}},
		{name: "truncated before the lseek", lseek: true, between: func(c *ownedClient, fd uint64) {
			c.e.ownedWrite = false
			c.e.ok(1, unix.SYS_FTRUNCATE, fd, 1)
			c.e.ownedWrite = true
		}},
		// A truncation behind (the client's copy took it): to the size
		// written, as the go command's build cache entries.
		{name: "marked truncation before the lseek", lseek: true, granted: true, between: func(c *ownedClient, fd uint64) {
			c.e.ok(1, unix.SYS_FTRUNCATE, fd, uint64(len(data)))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newOwnedClient(t)
			if tc.existed {
				c.e.ok(1, unix.SYS_CLOSE, uint64(c.open(unix.O_CREAT|unix.O_WRONLY)))
			}
			c.e.ownedWanted = tc.openAsks
			r := c.e.sys(1, unix.SYS_OPENAT, uint64(atFDCWD64), c.path, unix.O_CREAT|unix.O_RDWR|unix.O_TRUNC, 0o644)
			c.e.ownedWanted = false
			if r.Errno != 0 {
				t.Fatalf("open: %v", unix.Errno(r.Errno))
			}
			fd := uint64(r.Ret)
			lease := r.Lease
			if lease != nil && lease.Size != 0 {
				t.Errorf("the creating open's lease says size %d, want 0", lease.Size)
			}
			if lease != nil {
				// Its stat is fstat's answer (as's fstat of the object
				// file it just created).
				var st linux.Stat
				fr := c.e.sys(1, unix.SYS_FSTAT, fd, c.e.mem.alloc(make([]byte, st.SizeBytes())))
				if fr.Errno != 0 || len(fr.Outputs) != 1 {
					t.Fatalf("fstat: %v, %d outputs", unix.Errno(fr.Errno), len(fr.Outputs))
				}
				if !bytes.Equal(lease.Stat, fr.Outputs[0].Data) {
					t.Errorf("the creating open's lease says stat %x, fstat %x", lease.Stat, fr.Outputs[0].Data)
				}
			}
			c.write(fd, data)
			if tc.between != nil {
				tc.between(c, fd)
			}
			if tc.lseek {
				c.e.ownedWanted = true
				r := c.e.sys(1, unix.SYS_LSEEK, fd, 0, unix.SEEK_SET)
				c.e.ownedWanted = false
				if r.Errno != 0 {
					t.Fatalf("lseek: %v", unix.Errno(r.Errno))
				}
				lease = r.Lease
				c.write(fd, data)
			}
			if got := lease != nil && lease.Owned; got != tc.granted {
				t.Fatalf("owned lease granted: %v (%v), want %v", got, lease, tc.granted)
			}
			if tc.granted && tc.lseek && lease.Size != uint64(len(data)) {
				t.Errorf("the lease says size %d, want %d", lease.Size, len(data))
			}
			if tc.reopenHeld {
				c.e.ok(1, unix.SYS_CLOSE, uint64(c.open(unix.O_RDONLY)))
			}
			c.e.ok(1, unix.SYS_CLOSE, fd)
			// Opens after the close revoke nothing: the claim ended.
			c.e.ok(1, unix.SYS_CLOSE, uint64(c.open(unix.O_RDONLY)))
			revoked := c.revoked()
			if want := 0; tc.revoked {
				if len(revoked) != 1 || revoked[0] != lease.Id {
					t.Errorf("revoked %v, want lease %d", revoked, lease.Id)
				}
			} else if len(revoked) != want {
				t.Errorf("revoked %v, want nothing (a message for a file nobody read back)", revoked)
			}
			for _, ev := range c.e.events {
				if r, ok := ev.(*sentrypb.Reply); ok && r.Lease != nil && r.Lease != lease {
					t.Errorf("a reply (seq %d) brought lease %v", r.Seq, r.Lease)
				}
			}
		})
	}
}

// ownedClient is a client that takes read leases, with a path to create.
type ownedClient struct {
	e    *env
	path uint64
}

func newOwnedClient(t *testing.T) *ownedClient {
	c := &ownedClient{e: secondClient(t, started(t), &sentrypb.Hello{ReadLeases: true})}
	c.e.leaseWanted, c.e.ownedWrite = true, true
	c.path = c.e.mem.str("/tmp/owned")
	return c
}

// open opens the path with flags and returns the fd.
func (c *ownedClient) open(flags int) int64 {
	return c.e.ok(1, unix.SYS_OPENAT, uint64(atFDCWD64), c.path, uint64(flags), 0o644)
}

// write writes s through fd.
func (c *ownedClient) write(fd uint64, s string) {
	if n := c.e.ok(1, unix.SYS_WRITE, fd, c.e.mem.alloc([]byte(s)), uint64(len(s))); n != int64(len(s)) {
		c.e.t.Fatalf("wrote %d of %d bytes", n, len(s))
	}
}

// revoked returns the lease ids the client's LeaseRevoke pushes named.
func (c *ownedClient) revoked() []uint64 {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	var ids []uint64
	for _, ev := range c.e.events {
		if p, ok := ev.(*sentrypb.Push); ok && p.GetLeaseRevoke() != nil {
			ids = append(ids, p.GetLeaseRevoke().Ids...)
		}
	}
	return ids
}
