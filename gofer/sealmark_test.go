package gofer

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// TestSetIDReadOnceSealed: a gofer whose key has sealed no set-id bits
// reads no set-id attribute (a listing's entries, a stat), so a seal
// under the key that storeSetID did not write (by hand here) adds
// nothing; once the gofer stores one, it reads them, and so does a
// successor holding the key (the marker beside the key file), not one
// with a key in memory.
func TestSetIDReadOnceSealed(t *testing.T) {
	key := filepath.Join(t.TempDir(), "key")
	e := newEnv(t, WithHandleKeyFile(key))
	e.create(e.rootH, "plain", unix.O_RDWR, 0o755)
	writeHostFile(t, e.host("byhand"), "x")
	if err := os.Chmod(e.host("byhand"), 0o755); err != nil {
		t.Fatal(err)
	}
	seal := e.srv.keys.setIDValue(mustStat(t, e.host("byhand")), unix.S_ISUID)
	if err := unix.Setxattr(e.host("byhand"), setIDXattr, seal, 0); err != nil {
		t.Fatal(err)
	}
	reads := func() uint64 {
		e.srv.setIDs.mu.Lock()
		defer e.srv.setIDs.mu.Unlock()
		return e.srv.setIDs.misses
	}
	modes := func() map[string]uint32 {
		t.Helper()
		ls := must(t, "getdents", must2(e.c.Getdents(e.ctx, &goferpb.GetdentsRequest{Dir: e.rootH, Count: 100, Plus: true})))
		out := make(map[string]uint32)
		for i, ent := range ls.GetEntries() {
			out[string(ent.GetName())] = ls.GetStats()[i].GetMode() & 0o7777
		}
		return out
	}
	marker := key + sealMarkSuffix

	if got := modes()["byhand"]; got != 0o755 {
		t.Errorf("listing before any seal: byhand mode %#o, want 0755", got)
	}
	if got := e.stat(e.walkOne(e.rootH, "byhand")).GetMode() & 0o7777; got != 0o755 {
		t.Errorf("stat before any seal: byhand mode %#o, want 0755", got)
	}
	if n := reads(); n != 0 {
		t.Errorf("%d set-id attributes read before any seal, want none", n)
	}
	if _, err := os.Lstat(marker); !os.IsNotExist(err) {
		t.Errorf("marker before any seal: %v, want none", err)
	}

	// The gofer seals bits: from now on it reads them.
	must(t, "chmod 4755", must2(e.c.SetStat(e.ctx, &goferpb.SetStatRequest{Handle: e.walkOne(e.rootH, "plain"), Mask: unix.STATX_MODE, Mode: 0o4755})))
	if _, err := os.Lstat(marker); err != nil {
		t.Errorf("marker after a seal: %v", err)
	}
	got := modes()
	if got["plain"] != 0o4755 || got["byhand"] != 0o4755 {
		t.Errorf("listing after a seal: plain %#o, byhand %#o, want 04755 both", got["plain"], got["byhand"])
	}
	if n := reads(); n == 0 {
		t.Errorf("no set-id attribute read after a seal")
	}

	// Successors: with the key file, they read them; with a key in
	// memory, there is nothing to read.
	for _, tc := range []struct {
		name string
		opts []Option
		want uint32
	}{
		{"same key", []Option{WithHandleKeyFile(key)}, unix.S_ISUID},
		{"key in memory", nil, 0},
	} {
		srv, err := NewServer(e.root, testLogger(), tc.opts...)
		if err != nil {
			t.Fatal(err)
		}
		if got := srv.readSetID(mustOpenPath(t, e.host("plain")), mustStat(t, e.host("plain"))); got != tc.want {
			t.Errorf("%s: plain's set-id bits %#o, want %#o", tc.name, got, tc.want)
		}
		srv.Close()
	}
}
