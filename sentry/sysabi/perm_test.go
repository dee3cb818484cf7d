package sysabi

import (
	"testing"

	"gvisor.dev/gvisor/pkg/abi/linux"
)

// TestPermits checks generic_permission's order (owner, group, others)
// and what CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH grant.
func TestPermits(t *testing.T) {
	const (
		override   = 1 << linux.CAP_DAC_OVERRIDE
		readSearch = 1 << linux.CAP_DAC_READ_SEARCH
	)
	file := FileAttrs{Mode: linux.S_IFREG | 0o640, UID: 1000, GID: 100}
	script := FileAttrs{Mode: linux.S_IFREG | 0o744, UID: 1000, GID: 100}
	dir := FileAttrs{Mode: linux.S_IFDIR | 0o700, UID: 1000, GID: 100}
	tests := []struct {
		name string
		a    FileAttrs
		cr   Creds
		mask uint32
		want bool
	}{
		{"the owner reads and writes", file, Creds{FSUID: 1000}, MayRead | MayWrite, true},
		{"the owner's bits decide for the owner, not the others'", FileAttrs{Mode: linux.S_IFREG | 0o044, UID: 1000}, Creds{FSUID: 1000}, MayRead, false},
		{"the group reads", file, Creds{FSUID: 2000, InGroup: true}, MayRead, true},
		{"the group does not write", file, Creds{FSUID: 2000, InGroup: true}, MayWrite, false},
		{"others do not read", file, Creds{FSUID: 2000}, MayRead, false},
		{"CAP_DAC_OVERRIDE writes", file, Creds{FSUID: 2000, Caps: override}, MayWrite, true},
		{"CAP_DAC_OVERRIDE does not execute a file with no x bit", file, Creds{FSUID: 2000, Caps: override}, MayExec, false},
		{"CAP_DAC_OVERRIDE executes a file with one x bit", script, Creds{FSUID: 2000, Caps: override}, MayExec, true},
		{"CAP_DAC_OVERRIDE searches any directory", dir, Creds{FSUID: 2000, Caps: override}, MayExec | MayWrite, true},
		{"CAP_DAC_READ_SEARCH reads a file", file, Creds{FSUID: 2000, Caps: readSearch}, MayRead, true},
		{"CAP_DAC_READ_SEARCH does not write", file, Creds{FSUID: 2000, Caps: readSearch}, MayWrite, false},
		{"CAP_DAC_READ_SEARCH searches a directory", dir, Creds{FSUID: 2000, Caps: readSearch}, MayRead | MayExec, true},
	}
	for _, tc := range tests {
		if got := Permits(tc.a, tc.cr, tc.mask); got != tc.want {
			t.Errorf("%s: Permits = %v, want %v", tc.name, got, tc.want)
		}
	}
}
