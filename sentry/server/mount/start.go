package mount

import (
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// The mounts a Start lists and the limits mount(2) and a Start share.

// DataMax bounds mount(2)'s data (Linux copies one page).
const DataMax = 4096

// MaxStart bounds the mounts a Start may list.
const MaxStart = 64

// FromStart checks the mounts a Start lists (made outside the sentry:
// the gofer serves them, the table only lists them; but /dev/mqueue,
// which the sentry serves: vfs.IsMqueueMount).
func FromStart(specs []*sentrypb.MountSpec) ([]Mount, error) {
	if len(specs) > MaxStart {
		return nil, fmt.Errorf("start: %d mounts (at most %d): %w", len(specs), MaxStart, unix.EINVAL)
	}
	var out []Mount
	for i, sp := range specs {
		bad := func(why string) error {
			return fmt.Errorf("start: mounts[%d] (%q): %s: %w", i, sp.GetTarget(), why, unix.EINVAL)
		}
		if sp == nil || !path.IsAbs(sp.Target) || len(sp.Target) >= 4096 || len(sp.Source) >= 4096 || len(sp.Data) > DataMax {
			return nil, bad("want an absolute target")
		}
		if sp.Fstype == "" || len(sp.Fstype) > 64 || strings.ContainsAny(sp.Fstype, " \t\n/") {
			return nil, bad("bad type")
		}
		if sp.Flags&^PerMountFlags != 0 {
			return nil, bad("bad flags")
		}
		m := Mount{FSType: sp.Fstype, Source: sp.Source, Target: path.Clean(sp.Target), Flags: sp.Flags, Data: sp.Data,
			SuperReadOnly: sp.Flags&unix.MS_RDONLY != 0 && sp.Fstype != "bind"}
		if m.Flags&(unix.MS_NOATIME|unix.MS_STRICTATIME) == 0 {
			m.Flags |= unix.MS_RELATIME
		}
		m.Flags &^= unix.MS_STRICTATIME
		if m.Source == "" {
			m.Source = sp.Fstype
		}
		if sp.Fstype == "bind" && path.IsAbs(sp.Source) {
			// mountinfo's root: the bound directory's path (in the
			// host's file system, as the gofer mounted it).
			m.Root = path.Clean(sp.Source)
		}
		if sp.Fstype == "tmpfs" {
			o, err := ParseTmpfsOptions(sp.Data, 0)
			if err != nil {
				return nil, bad(err.Error())
			}
			m.Tmpfs, m.FSOptions = o, o.String()
		}
		out = append(out, m)
	}
	return out, nil
}

// PropagationFlags change a mount's propagation (with MS_REC, that of the
// mounts under it too).
const PropagationFlags = unix.MS_SHARED | unix.MS_PRIVATE | unix.MS_SLAVE | unix.MS_UNBINDABLE

// StartPropagation checks Start's root_propagation: 0, or one propagation
// flag with or without MS_REC.
func StartPropagation(flags uint64) (kind uint64, rec bool, err error) {
	kind = flags &^ unix.MS_REC
	if flags == 0 {
		return 0, false, nil
	}
	if kind&^PropagationFlags != 0 || kind == 0 || kind&(kind-1) != 0 {
		return 0, false, fmt.Errorf("start: root propagation %#x: %w", flags, unix.EINVAL)
	}
	return kind, flags&unix.MS_REC != 0, nil
}
