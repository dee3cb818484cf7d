package mount

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

const pageSize = 4096

// TmpfsOptions are a tmpfs's options (mm/shmem.c: shmem_parse_one).
type TmpfsOptions struct {
	// Size is the size limit in bytes, rounded up to pages; 0 with
	// HasSize means unlimited, and without HasSize the default (half of
	// the machine's memory, not shown).
	Size    uint64
	HasSize bool
	// NrInodes limits the files (0: the default, not shown).
	NrInodes    uint64
	HasNrInodes bool
	// Mode is the root directory's mode (default 01777), UID and GID its
	// owner (default 0).
	Mode     uint32
	UID, GID uint32
	// ReadOnly is "ro" among the options (a superblock flag).
	ReadOnly bool
}

// ParseTmpfsOptions parses mount(2)'s data for a tmpfs as Linux does:
// comma-separated; size= (bytes with a k/m/g/t/p/e suffix, or a
// percentage of totalRAM, ignored when totalRAM is 0), nr_blocks=, nr_inodes=, mode= (octal), uid=,
// gid=, huge=, and the generic ro/rw/sync/... flags. Anything else, or a
// bad value, is EINVAL.
func ParseTmpfsOptions(data string, totalRAM uint64) (TmpfsOptions, error) {
	o := TmpfsOptions{Mode: 01777}
	for _, opt := range strings.Split(data, ",") {
		if opt == "" {
			continue
		}
		key, val, hasVal := strings.Cut(opt, "=")
		bad := func(err error) (TmpfsOptions, error) {
			return TmpfsOptions{}, fmt.Errorf("tmpfs option %q: %v: %w", opt, err, unix.EINVAL)
		}
		switch key {
		case "ro", "rw", "sync", "async", "dirsync", "mand", "nomand", "lazytime", "nolazytime", "silent":
			if hasVal {
				return bad(fmt.Errorf("takes no value"))
			}
			switch key {
			case "ro":
				o.ReadOnly = true
			case "rw":
				o.ReadOnly = false
			}
			continue
		}
		if !hasVal {
			return bad(fmt.Errorf("unknown or needs a value"))
		}
		switch key {
		case "size":
			var n uint64
			if p, ok := strings.CutSuffix(val, "%"); ok {
				pct, err := strconv.ParseUint(p, 10, 64)
				if err != nil || pct > 100*1024 {
					return bad(fmt.Errorf("bad percentage"))
				}
				if totalRAM == 0 {
					// The machine's memory is not known (a mount
					// listed at start): the default size.
					continue
				}
				n = totalRAM / 100 * pct
			} else {
				var err error
				if n, err = memparse(val); err != nil {
					return bad(err)
				}
			}
			o.Size, o.HasSize = (n+pageSize-1)/pageSize*pageSize, true
		case "nr_blocks":
			n, err := memparse(val)
			if err != nil || n > 1<<52 {
				return bad(fmt.Errorf("bad block count"))
			}
			o.Size, o.HasSize = n*pageSize, true
		case "nr_inodes":
			n, err := memparse(val)
			if err != nil {
				return bad(err)
			}
			o.NrInodes, o.HasNrInodes = n, true
		case "mode":
			n, err := strconv.ParseUint(val, 8, 32)
			if err != nil {
				return bad(err)
			}
			o.Mode = uint32(n) & 07777
		case "uid", "gid":
			n, err := strconv.ParseUint(val, 10, 32)
			if err != nil || n == 0xffffffff {
				return bad(fmt.Errorf("bad id"))
			}
			if key == "uid" {
				o.UID = uint32(n)
			} else {
				o.GID = uint32(n)
			}
		case "huge":
			switch val {
			case "never", "always", "within_size", "advise", "deny", "force":
			default:
				return bad(fmt.Errorf("bad huge"))
			}
		default:
			return bad(fmt.Errorf("unknown"))
		}
	}
	return o, nil
}

// memparse parses a number with an optional binary suffix as the kernel's
// memparse, in any base strtoull takes (0x..., 0...), requiring that
// nothing follows.
func memparse(s string) (uint64, error) {
	shift := 0
	if s != "" {
		switch s[len(s)-1] {
		case 'k', 'K':
			shift = 10
		case 'm', 'M':
			shift = 20
		case 'g', 'G':
			shift = 30
		case 't', 'T':
			shift = 40
		case 'p', 'P':
			shift = 50
		case 'e', 'E':
			shift = 60
		}
		if shift != 0 {
			s = s[:len(s)-1]
		}
	}
	n, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		return 0, fmt.Errorf("bad number %q", s)
	}
	if shift > 0 && n > (1<<(64-shift))-1 {
		return 0, fmt.Errorf("%q overflows", s)
	}
	return n << shift, nil
}

// String is the options as mountinfo shows them (shmem_show_options):
// only those that differ from the defaults, each with a leading comma.
func (o TmpfsOptions) String() string {
	var b strings.Builder
	if o.HasSize {
		fmt.Fprintf(&b, ",size=%dk", o.Size/1024)
	}
	if o.HasNrInodes {
		fmt.Fprintf(&b, ",nr_inodes=%d", o.NrInodes)
	}
	if o.Mode != 01777 {
		fmt.Fprintf(&b, ",mode=%03o", o.Mode)
	}
	if o.UID != 0 {
		fmt.Fprintf(&b, ",uid=%d", o.UID)
	}
	if o.GID != 0 {
		fmt.Fprintf(&b, ",gid=%d", o.GID)
	}
	return b.String()
}
