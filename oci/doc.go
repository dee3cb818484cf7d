// Package oci is the OCI runtime's container model: it reads a bundle's
// config.json into a Plan the sandbox can run (refusing, with an error
// naming the field, what it cannot honour), keeps each container's state
// under the runtime root (--root DIR/ID/state.json), and sets up the tree
// a gofer serves (bind and tmpfs mounts, a read-only root, or do's
// in-memory overlay) in that gofer's own mount namespace (RootSetup).
//
// It owns: the on-disk state of containers (one directory each, written
// whole with rename so readers never see half a file; the records of a
// container's running exec processes, x<PID>.start; the container's
// cgroup, as gVisor's runsc/cgroup records it,
// for delete) and the
// translation of runtime-spec fields into client.Config fields and gofer
// mounts (masked and read-only paths included), and the wire of the spawn
// socket on which an exec process asks the container's process for its
// process (spawn.go). It does not run anything: the command (runsc-decoupled/oci*.go)
// starts the per-container process, which runs the client sentry and the
// embedded daemons as do does.
//
// Dependencies: github.com/opencontainers/runtime-spec (the spec and state
// types), golang.org/x/sys/unix. It must not import the sentries, the
// gofer, transport or the command.
//
// Concurrency: no shared state in memory. A container's state file is
// written by the per-container process (status changes) and by create and
// delete, never at the same moment in the container's life; each write is
// atomic (a temp file renamed over the old one).
package oci
