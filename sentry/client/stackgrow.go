package client

import (
	"strings"

	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/limits"
	"gvisor.dev/gvisor/pkg/sentry/memmap"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// MAP_GROWSDOWN: gVisor's mm records the flag but never extends such a
// mapping, so a fault on an unmapped page below one grows it here, as
// Linux's expand_downwards does, and the fault is then handled again.

// stackGuardGap is Linux's stack_guard_gap: a growsdown mapping does not
// grow to within this distance above the end of an accessible mapping
// below it (unless that one grows down too).
const stackGuardGap = 256 * hostarch.PageSize

// growsDown says whether an smaps entry has VM_GROWSDOWN ("gd").
func growsDown(v *pb.VMA) bool {
	for _, line := range strings.Split(v.Smaps, "\n") {
		if flags, ok := strings.CutPrefix(line, "VmFlags:"); ok {
			for _, f := range strings.Fields(flags) {
				if f == "gd" {
					return true
				}
			}
		}
	}
	return false
}

// growStackTo extends the growsdown mapping just above addr, an unmapped
// address, down to addr's page and reports whether it did: not when the
// mapping above does not grow down, when the grown mapping would exceed
// RLIMIT_STACK, or when it would come within the guard gap of the
// mapping below. Only faults take this path (a rare, slow one: it reads
// every mapping's smaps).
func (t *task) growStackTo(addr hostarch.Addr) bool {
	page := addr.RoundDown()
	vmas := smapsVMAs(t.mm)
	above := -1
	for i, v := range vmas {
		if v.Start > uint64(addr) {
			above = i
			break
		}
		if v.End > uint64(addr) {
			return false // mapped after all
		}
	}
	if above < 0 || !growsDown(vmas[above]) {
		return false
	}
	// The grown mapping's size counts every contiguous growsdown mapping
	// above it (they may not have merged).
	top := vmas[above].End
	for i := above + 1; i < len(vmas) && vmas[i].Start == top && growsDown(vmas[i]); i++ {
		top = vmas[i].End
	}
	if lim := t.proc.limits.Get(limits.Stack).Cur; lim != limits.Infinity && top-uint64(page) > lim {
		return false
	}
	if above > 0 {
		below := vmas[above-1]
		if !growsDown(below) && below.Perms != 0 && uint64(page)-below.End < stackGuardGap {
			return false
		}
	}
	v := vmas[above]
	_, err := t.mm.MMap(t.gctx, memmap.MMapOpts{
		Length:    v.Start - uint64(page),
		Addr:      page,
		Fixed:     true,
		NoReplace: true,
		Private:   true,
		Perms:     hostarch.AccessType{Read: v.Perms&4 != 0, Write: v.Perms&2 != 0, Execute: v.Perms&1 != 0},
		MaxPerms:  hostarch.AnyAccess,
		GrowsDown: true,
		NameMut:   memmap.NameMutAnon, // as an anonymous mmap's, so they merge
	})
	return err == nil
}
