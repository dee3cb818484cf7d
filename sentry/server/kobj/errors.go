package kobj

import (
	"errors"

	"golang.org/x/sys/unix"
	gerrors "gvisor.dev/gvisor/pkg/errors"
	"gvisor.dev/gvisor/pkg/errors/linuxerr"
	"gvisor.dev/gvisor/pkg/syserr"
	"gvisor.dev/gvisor/pkg/tcpip"
)

// Errno converts an error from gVisor code (its errors.Error, syserr.Error
// or a tcpip.Error) into the unix.Errno the server's dispatch maps to a
// reply; other errors (already unix.Errno, or wrapping one) pass
// through. nil stays nil.
func Errno(err error) error {
	if err == nil {
		return nil
	}
	var ge *gerrors.Error
	if errors.As(err, &ge) {
		return unix.Errno(ge.Errno())
	}
	return err
}

// SysErr converts a syserr.Error (nil: success) into a unix.Errno. An
// error without an errno (transport's "closed for receive", which is an
// end of file) is nil.
func SysErr(e *syserr.Error) error {
	if e == nil || e.ToLinux() == 0 {
		return nil
	}
	return unix.Errno(e.ToLinux())
}

// TCPIPErr converts a tcpip.Error (nil: success) into a unix.Errno.
func TCPIPErr(e tcpip.Error) error {
	if e == nil {
		return nil
	}
	return SysErr(syserr.TranslateNetstackError(e))
}

// WouldBlock reports whether err is gVisor's or Linux's EAGAIN.
func WouldBlock(err error) bool {
	return errors.Is(err, linuxerr.ErrWouldBlock) || errors.Is(err, unix.EAGAIN) ||
		errors.Is(Errno(err), unix.EAGAIN)
}
