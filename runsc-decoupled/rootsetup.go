package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/hashicorp/go-hclog"

	"github.com/runsc-decoupled/runsc-decoupled/oci"
)

// applyRootSetup performs the gofer's --root-setup (a JSON oci.RootSetup)
// under root and returns the directory to serve. It refuses to run in the
// mount namespace of its parent: the mounts must not reach the host's.
func applyRootSetup(root, setupJSON string, log hclog.Logger) (string, error) {
	var s oci.RootSetup
	if err := json.Unmarshal([]byte(setupJSON), &s); err != nil {
		return "", err
	}
	self, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		return "", err
	}
	parent, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", os.Getppid()))
	if err != nil {
		return "", err
	}
	if self == parent {
		return "", fmt.Errorf("the gofer shares its parent's mount namespace (start it with CLONE_NEWNS)")
	}
	return s.Apply(root, func(msg string) { log.Warn(msg) })
}
