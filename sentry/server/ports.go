package server

import "github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel"

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
