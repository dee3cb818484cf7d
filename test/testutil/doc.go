// Package testutil holds helpers shared by the end-to-end, chaos, benchmark
// and public-suite harnesses: building the runsc-decoupled binary once,
// building gVisor's runsc (the reference, from the version in go.mod, cached
// in $TMPDIR), running commands natively and in the sandbox, starting
// daemons, compiling static test programs, and a private containerd with
// a busybox image (StartContainerd), a pod-style network namespace
// joined to the host by a veth pair with peers on its host end (VethNS),
// and small tmpfs disks to fill (MountTmpfs).
package testutil
