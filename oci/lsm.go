package oci

import (
	"os"
	"strings"
)

// Linux security module labels (process.apparmorProfile,
// process.selinuxLabel, linux.mountLabel).
//
// runc applies them to the container's host process, and fails when the
// host's kernel lacks the module (AppArmor: the write of the profile to
// /proc/self/attr/exec fails; SELinux: its validation refuses a process
// label, and a mount label makes its mounts fail). runsc ignores them
// with a warning: the application's system calls never reach the host
// kernel, the sentry serves them. This runtime does both: without the
// module it fails as runc, naming the field; with it, the field is
// noted and not applied, as runsc.

// appArmorEnabled and seLinuxEnabled say whether this host's kernel runs
// the module (variables for tests).
var (
	appArmorEnabled = func() bool {
		if _, err := os.Stat("/sys/kernel/security/apparmor"); err != nil {
			return false
		}
		b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled")
		return err == nil && strings.HasPrefix(string(b), "Y")
	}
	seLinuxEnabled = func() bool {
		_, err := os.Stat("/sys/fs/selinux/enforce")
		return err == nil
	}
)

// lsmLabel checks one label field: an error naming it when the host
// lacks module, else a note (nil for an empty value).
func lsmLabel(field, value, module string, enabled func() bool) (string, error) {
	if value == "" {
		return "", nil
	}
	if !enabled() {
		return "", fieldError(field, "%q: %s is not enabled on this host (runc fails the same way)", value, module)
	}
	return field + " " + value + ": not applied to the application, whose system calls the sentry serves (as runsc)", nil
}
