package server

import (
	"testing"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"
)

func TestCapTransitions(t *testing.T) {
	const chown, kill, netRaw = 1 << linux.CAP_CHOWN, 1 << linux.CAP_KILL, 1 << linux.CAP_NET_RAW
	root := rootCreds(0, 0)
	keep := root
	keep.caps.securebits = secbitKeepCaps
	withAmbient := root
	withAmbient.caps.inheritable, withAmbient.caps.ambient = netRaw, netRaw
	setUIDs := func(cr creds, r, e, s uint32) creds {
		old := cr
		cr.ruid, cr.euid, cr.suid, cr.fsuid = r, e, s, e
		cr.fixSetuid(old)
		return cr
	}
	exec := func(cr creds) creds { cr.execCaps(); return cr }
	fsuid := func(cr creds, id uint32) creds {
		old := cr.fsuid
		cr.fsuid = id
		cr.fixSetfsuid(old)
		return cr
	}
	for _, tc := range []struct {
		name           string
		got            creds
		eff, prm, amb  uint64
		keepCapsRemain bool
	}{
		{"root", root, capAll, capAll, 0, false},
		{"leave root", setUIDs(root, 1000, 1000, 1000), 0, 0, 0, false},
		{"leave root keeping caps", setUIDs(keep, 1000, 1000, 1000), 0, capAll, 0, true},
		{"leave root drops ambient", setUIDs(withAmbient, 1000, 1000, 1000), 0, 0, 0, false},
		{"euid only", setUIDs(root, 0, 1000, 0), 0, capAll, 0, false},
		{"euid back", setUIDs(setUIDs(root, 0, 1000, 0), 0, 0, 0), capAll, capAll, 0, false},
		{"suid kept as root", setUIDs(root, 0, 0, 1000), capAll, capAll, 0, false},
		{"fsuid away", fsuid(root, 1000), capAll &^ capFSSet, capAll, 0, false},
		{"fsuid back", fsuid(fsuid(root, 1000), 0), capAll, capAll, 0, false},
		{"exec as root", exec(keep), capAll, capAll, 0, false},
		{"exec as user", exec(setUIDs(keep, 1000, 1000, 1000)), 0, 0, 0, false},
		{"exec as user with ambient", exec(setUIDs(func() creds { c := withAmbient; c.caps.securebits = secbitKeepCaps; return c }(), 1000, 1000, 1000)), 0, 0, 0, false},
		{"exec as user keeps ambient", func() creds {
			c := setUIDs(keep, 1000, 1000, 1000)
			c.caps.inheritable, c.caps.ambient = netRaw, netRaw
			return exec(c)
		}(), netRaw, netRaw, netRaw, false},
		{"exec as root with dropped bounding", func() creds {
			c := root
			c.caps.bounding &^= chown | kill
			return exec(c)
		}(), capAll &^ (chown | kill), capAll &^ (chown | kill), 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := tc.got.caps
			if cs.effective != tc.eff || cs.permitted != tc.prm || cs.ambient != tc.amb {
				t.Errorf("eff %#x prm %#x amb %#x, want %#x %#x %#x", cs.effective, cs.permitted, cs.ambient, tc.eff, tc.prm, tc.amb)
			}
			if got := cs.securebits&secbitKeepCaps != 0; got != tc.keepCapsRemain {
				t.Errorf("keep-caps %v, want %v", got, tc.keepCapsRemain)
			}
		})
	}
}

// TestExecSetID: execve's ids and capabilities for set-id programs.
func TestExecSetID(t *testing.T) {
	const netRaw = 1 << linux.CAP_NET_RAW
	u := user(1000, 1000)
	u.caps.inheritable, u.caps.ambient, u.caps.permitted = netRaw, netRaw, netRaw
	for _, tc := range []struct {
		name       string
		cr         creds
		image      fileAttrs
		nnp        bool
		euid, egid uint32
		effective  uint64
	}{
		{"plain", u, fileAttrs{unix.S_IFREG | 0755, 0, 0}, false, 1000, 1000, netRaw},
		{"setuid root", u, fileAttrs{unix.S_IFREG | 04755, 0, 0}, false, 0, 1000, capAll},
		{"setuid root, no_new_privs", u, fileAttrs{unix.S_IFREG | 04755, 0, 0}, true, 1000, 1000, netRaw},
		{"setuid other", u, fileAttrs{unix.S_IFREG | 04755, 7, 0}, false, 7, 1000, 0},
		{"setgid", u, fileAttrs{unix.S_IFREG | 02755, 0, 42}, false, 1000, 42, 0},
		{"setgid without g+x", u, fileAttrs{unix.S_IFREG | 02745, 0, 42}, false, 1000, 1000, netRaw},
		{"root runs setuid other", rootCreds(0, 0), fileAttrs{unix.S_IFREG | 04755, 7, 0}, false, 7, 0, 0},
	} {
		cr := tc.cr
		cr.execSetID(tc.image, tc.nnp)
		cr.execCaps()
		if cr.euid != tc.euid || cr.suid != tc.euid || cr.fsuid != tc.euid || cr.egid != tc.egid || cr.sgid != tc.egid || cr.fsgid != tc.egid || cr.ruid != tc.cr.ruid {
			t.Errorf("%s: ids r/e/s/fs %d/%d/%d/%d gid e/s/fs %d/%d/%d, want euid %d egid %d", tc.name,
				cr.ruid, cr.euid, cr.suid, cr.fsuid, cr.egid, cr.sgid, cr.fsgid, tc.euid, tc.egid)
		}
		if cr.caps.effective != tc.effective {
			t.Errorf("%s: effective %#x, want %#x", tc.name, cr.caps.effective, tc.effective)
		}
	}
}
