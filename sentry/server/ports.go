package server

import (
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/epoll"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/eventfd"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/inet"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/inotify"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/netlink"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/signalfd"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/timerfd"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/unixsock"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"
)

// kernelPorts is the kernel as the packages below see it: the methods of
// their interfaces (vfs.Kernel and fdesc.Owner, synth.Kernel,
// devpts.Kernel, signalfd.Reader, unixsock.Namespace, netlink.Router)
// and of the kernel's own (kernel.Files).
// It is a defined type over the kernel's own struct, so that
// ports(k) is a pointer conversion: the kernel (clientState) keeps no
// methods, and becomes package kernel's type while these stay here,
// their bodies calling kernel functions not yet moved. Every value of an
// interface that holds the kernel holds a *kernelPorts (an fdesc.Owner
// compared with one must be one too).
type kernelPorts clientState

// ports is k as the packages below see it.
func ports(k *clientState) *kernelPorts { return (*kernelPorts)(k) }

var _ kernel.Files = (*kernelPorts)(nil)

// WriteAt is write(2)'s write through f (syscalls_io.go).
func (kp *kernelPorts) WriteAt(c *syscallCtx, f *file, b []byte, off int64, appendMode bool) (int, int64, error) {
	return writeAt(c, f, b, off, appendMode)
}

// KobjState is the kind and state of f's record when f is a kernel object
// whose state the server derives (restore_kobj.go and the file kinds'
// glue): eventfd, timerfd, signalfd, inotify, epoll, sockets.
func (kp *kernelPorts) KobjState(f *file) (sentrypb.FileState_Kind, *sentrypb.KernelObjectState, bool) {
	switch impl := f.Impl.(type) {
	case *eventfd.File:
		kind, kobj := eventfdState(impl)
		return kind, kobj, true
	case *timerfd.File:
		kind, kobj := timerfdState(impl)
		return kind, kobj, true
	case *signalfd.File:
		kind, kobj := signalfdState(impl)
		return kind, kobj, true
	case *inotify.File:
		kind, kobj := inotifyState((*clientState)(kp), impl)
		return kind, kobj, true
	case *epoll.File:
		kind, kobj := epollState((*clientState)(kp), impl)
		return kind, kobj, true
	case *inet.File:
		kind, kobj := inetState(impl)
		return kind, kobj, true
	case *inet.HostFile:
		kind, kobj := hostInetState(impl)
		return kind, kobj, true
	case *netlink.File:
		kind, kobj := netlinkState(impl)
		return kind, kobj, true
	case *unixsock.File:
		kind, kobj := unixState(impl)
		return kind, kobj, true
	}
	return 0, nil, false
}

// RecordAsync fills the owner, signal and lease fields of f's record
// (leases.go).
func (kp *kernelPorts) RecordAsync(f *file, st *sentrypb.FileState) {
	recordAsync((*clientState)(kp), f, st)
}
