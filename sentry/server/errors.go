package server

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Kernel-internal restart errnos (include/linux/errno.h). A blocking call
// aborted by an Interrupt returns errRestartSys; the client turns it into a
// restart or EINTR according to the handler's SA_RESTART.
const (
	errRestartSys     = unix.Errno(512) // ERESTARTSYS
	errRestartNoIntr  = unix.Errno(513) // ERESTARTNOINTR
	errRestartNoHand  = unix.Errno(514) // ERESTARTNOHAND
	errRestartBlock   = unix.Errno(516) // ERESTART_RESTARTBLOCK
	maxErrno          = 4095
	errnoUnknownIsEIO = unix.EIO
)

// errnoOf maps an internal error to the positive Linux errno the
// application sees. Every handler error passes through here, at the
// dispatch boundary and nowhere else.
func errnoOf(err error) unix.Errno {
	if err == nil {
		return 0
	}
	var e unix.Errno
	if errors.As(err, &e) && e > 0 && e <= maxErrno {
		return e
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return unix.EINTR
	}
	return errnoUnknownIsEIO
}

// goferErr converts a gofer reply errno or RPC error into an internal
// error carrying the errno.
func goferErr(op string, errno int32, rpcErr error) error {
	if rpcErr != nil {
		return fmt.Errorf("gofer %s: %v: %w", op, rpcErr, unix.EIO)
	}
	if errno != 0 {
		if errno < 0 || errno > maxErrno {
			return fmt.Errorf("gofer %s: bad errno %d: %w", op, errno, unix.EIO)
		}
		return fmt.Errorf("gofer %s: %w", op, unix.Errno(errno))
	}
	return nil
}

func asErrno(err error, e *unix.Errno) bool { return errors.As(err, e) }

// outputsError is a failure whose writes to application memory still
// reach the application (capget's version write-back with EINVAL).
type outputsError struct{ err error }

func (e outputsError) Error() string { return e.err.Error() }
func (e outputsError) Unwrap() error { return e.err }

// keepsOutputs reports whether a failed call's outputs are copied out.
func keepsOutputs(err error) bool {
	var oe outputsError
	return errors.As(err, &oe)
}
