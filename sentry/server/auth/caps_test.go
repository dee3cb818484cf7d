package auth

import (
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

func TestCapTransitions(t *testing.T) {
	const chown, kill, netRaw = 1 << linux.CAP_CHOWN, 1 << linux.CAP_KILL, 1 << linux.CAP_NET_RAW
	root := RootCreds(0, 0)
	keep := root
	keep.Caps.Securebits = SecbitKeepCaps
	withAmbient := root
	withAmbient.Caps.Inheritable, withAmbient.Caps.Ambient = netRaw, netRaw
	setUIDs := func(cr Creds, r, e, s uint32) Creds {
		old := cr
		cr.RUID, cr.EUID, cr.SUID, cr.FSUID = r, e, s, e
		cr.FixSetuid(old)
		return cr
	}
	exec := func(cr Creds) Creds { cr.ExecCaps(); return cr }
	fsuid := func(cr Creds, id uint32) Creds {
		old := cr.FSUID
		cr.FSUID = id
		cr.FixSetfsuid(old)
		return cr
	}
	for _, tc := range []struct {
		name           string
		got            Creds
		eff, prm, amb  uint64
		keepCapsRemain bool
	}{
		{"root", root, CapAll, CapAll, 0, false},
		{"leave root", setUIDs(root, 1000, 1000, 1000), 0, 0, 0, false},
		{"leave root keeping caps", setUIDs(keep, 1000, 1000, 1000), 0, CapAll, 0, true},
		{"leave root drops ambient", setUIDs(withAmbient, 1000, 1000, 1000), 0, 0, 0, false},
		{"euid only", setUIDs(root, 0, 1000, 0), 0, CapAll, 0, false},
		{"euid back", setUIDs(setUIDs(root, 0, 1000, 0), 0, 0, 0), CapAll, CapAll, 0, false},
		{"suid kept as root", setUIDs(root, 0, 0, 1000), CapAll, CapAll, 0, false},
		{"fsuid away", fsuid(root, 1000), CapAll &^ capFSSet, CapAll, 0, false},
		{"fsuid back", fsuid(fsuid(root, 1000), 0), CapAll, CapAll, 0, false},
		{"exec as root", exec(keep), CapAll, CapAll, 0, false},
		{"exec as user", exec(setUIDs(keep, 1000, 1000, 1000)), 0, 0, 0, false},
		{"exec as user with ambient", exec(setUIDs(func() Creds { c := withAmbient; c.Caps.Securebits = SecbitKeepCaps; return c }(), 1000, 1000, 1000)), 0, 0, 0, false},
		{"exec as user keeps ambient", func() Creds {
			c := setUIDs(keep, 1000, 1000, 1000)
			c.Caps.Inheritable, c.Caps.Ambient = netRaw, netRaw
			return exec(c)
		}(), netRaw, netRaw, netRaw, false},
		{"exec as root with dropped bounding", func() Creds {
			c := root
			c.Caps.Bounding &^= chown | kill
			return exec(c)
		}(), CapAll &^ (chown | kill), CapAll &^ (chown | kill), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := tc.got.Caps
			if cs.Effective != tc.eff || cs.Permitted != tc.prm || cs.Ambient != tc.amb {
				t.Errorf("eff %#x prm %#x amb %#x, want %#x %#x %#x", cs.Effective, cs.Permitted, cs.Ambient, tc.eff, tc.prm, tc.amb)
			}
			if got := cs.Securebits&SecbitKeepCaps != 0; got != tc.keepCapsRemain {
				t.Errorf("keep-caps %v, want %v", got, tc.keepCapsRemain)
			}
		})
	}
}

// TestExecSetID: execve's ids and capabilities for set-id programs.
func TestExecSetID(t *testing.T) {
	const netRaw = 1 << linux.CAP_NET_RAW
	u := user(1000, 1000)
	u.Caps.Inheritable, u.Caps.Ambient, u.Caps.Permitted = netRaw, netRaw, netRaw
	for _, tc := range []struct {
		name       string
		cr         Creds
		image      FileAttrs
		nnp        bool
		euid, egid uint32
		effective  uint64
	}{
		{"plain", u, FileAttrs{unix.S_IFREG | 0755, 0, 0}, false, 1000, 1000, netRaw},
		{"setuid root", u, FileAttrs{unix.S_IFREG | 04755, 0, 0}, false, 0, 1000, CapAll},
		{"setuid root, no_new_privs", u, FileAttrs{unix.S_IFREG | 04755, 0, 0}, true, 1000, 1000, netRaw},
		{"setuid other", u, FileAttrs{unix.S_IFREG | 04755, 7, 0}, false, 7, 1000, 0},
		{"setgid", u, FileAttrs{unix.S_IFREG | 02755, 0, 42}, false, 1000, 42, 0},
		{"setgid without g+x", u, FileAttrs{unix.S_IFREG | 02745, 0, 42}, false, 1000, 1000, netRaw},
		{"root runs setuid other", RootCreds(0, 0), FileAttrs{unix.S_IFREG | 04755, 7, 0}, false, 7, 0, 0},
	} {
		cr := tc.cr
		cr.ExecSetID(tc.image, tc.nnp)
		cr.ExecCaps()
		if cr.EUID != tc.euid || cr.SUID != tc.euid || cr.FSUID != tc.euid || cr.EGID != tc.egid || cr.SGID != tc.egid || cr.FSGID != tc.egid || cr.RUID != tc.cr.RUID {
			t.Errorf("%s: ids r/e/s/fs %d/%d/%d/%d gid e/s/fs %d/%d/%d, want euid %d egid %d", tc.name,
				cr.RUID, cr.EUID, cr.SUID, cr.FSUID, cr.EGID, cr.SGID, cr.FSGID, tc.euid, tc.egid)
		}
		if cr.Caps.Effective != tc.effective {
			t.Errorf("%s: effective %#x, want %#x", tc.name, cr.Caps.Effective, tc.effective)
		}
	}
}
