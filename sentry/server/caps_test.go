package server

import (
	"testing"

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
