package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/runsc-decoupled/runsc-decoupled/oci"
)

// applyRootSetup performs the gofer's --root-setup (a JSON oci.RootSetup)
// under root. It refuses to run in the mount namespace of its parent: the
// mounts must not reach the host's.
func applyRootSetup(root, setupJSON string) error {
	var s oci.RootSetup
	if err := json.Unmarshal([]byte(setupJSON), &s); err != nil {
		return err
	}
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return err
	}
	parent, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", os.Getppid()))
	if err != nil {
		return err
	}
	if self == parent {
		return fmt.Errorf("the gofer shares its parent's mount namespace (start it with CLONE_NEWNS)")
	}
	return s.Apply(root)
}
