package syserr

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Kernel-internal restart errnos (include/linux/errno.h). A blocking call
// aborted by an Interrupt returns RestartSys; the client turns it into a
// restart or EINTR according to the handler's SA_RESTART.
const (
	RestartSys    = unix.Errno(512) // ERESTARTSYS
	RestartNoIntr = unix.Errno(513) // ERESTARTNOINTR
	RestartNoHand = unix.Errno(514) // ERESTARTNOHAND
	RestartBlock  = unix.Errno(516) // ERESTART_RESTARTBLOCK
)

// MaxErrno is the largest errno (Linux's MAX_ERRNO).
const MaxErrno = 4095

// UnknownErrno is the errno of an error that carries none: a bug or a
// failure of the server's own, logged where it is answered.
const UnknownErrno = unix.EIO

// ErrnoOf maps an internal error to the positive Linux errno the
// application sees. Every handler error passes through here, at the
// dispatch boundary and nowhere else.
func ErrnoOf(err error) unix.Errno {
	if err == nil {
		return 0
	}
	var e unix.Errno
	if errors.As(err, &e) && e > 0 && e <= MaxErrno {
		return e
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return unix.EINTR
	}
	return UnknownErrno
}

// IsErrno reports whether err carries an errno.
func IsErrno(err error) bool {
	var e unix.Errno
	return err != nil && errors.As(err, &e)
}

// FromGofer converts a gofer reply errno or RPC error into an internal
// error carrying the errno.
func FromGofer(op string, errno int32, rpcErr error) error {
	if rpcErr != nil {
		return fmt.Errorf("gofer %s: %v: %w", op, rpcErr, unix.EIO)
	}
	if errno != 0 {
		if errno < 0 || errno > MaxErrno {
			return fmt.Errorf("gofer %s: bad errno %d: %w", op, errno, unix.EIO)
		}
		return fmt.Errorf("gofer %s: %w", op, unix.Errno(errno))
	}
	return nil
}

// outputsError is a failure whose writes to application memory still
// reach the application.
type outputsError struct{ err error }

func (e outputsError) Error() string { return e.err.Error() }
func (e outputsError) Unwrap() error { return e.err }

// KeepOutputs returns err as a failure whose writes to application
// memory still reach the application (capget's version write-back with
// EINVAL).
func KeepOutputs(err error) error { return outputsError{err} }

// KeepsOutputs reports whether a failed call's outputs are copied out.
func KeepsOutputs(err error) bool {
	var oe outputsError
	return errors.As(err, &oe)
}
