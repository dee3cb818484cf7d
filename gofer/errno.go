package gofer

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// errnoOf maps an error produced anywhere in this package to the positive
// Linux errno carried in replies. It is the only place where internal errors
// become wire errors. Errors that carry no errno (which would be a bug in
// this package) map to EIO.
func errnoOf(err error) int32 {
	if err == nil {
		return 0
	}
	var e unix.Errno
	if errors.As(err, &e) && e != 0 {
		return int32(e)
	}
	return int32(unix.EIO)
}

// wrap adds context to err, keeping its errno reachable by errors.As.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
}

// errorf returns an error carrying errno e with a message for the logs.
func errorf(e unix.Errno, format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), e)
}
