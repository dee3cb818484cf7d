package syserr

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"
)

func TestErrnoOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want unix.Errno
	}{
		{"nil", nil, 0},
		{"errno", unix.ENOENT, unix.ENOENT},
		{"wrapped errno", fmt.Errorf("open %q: %w", "/x", unix.EACCES), unix.EACCES},
		{"restart", fmt.Errorf("wait: %w", RestartSys), RestartSys},
		{"errno out of range", unix.Errno(MaxErrno + 1), UnknownErrno},
		{"canceled", fmt.Errorf("rpc: %w", context.Canceled), unix.EINTR},
		{"deadline", context.DeadlineExceeded, unix.EINTR},
		{"no errno", errors.New("bug"), UnknownErrno},
		{"kept outputs", KeepOutputs(unix.EINVAL), unix.EINVAL},
	} {
		if got := ErrnoOf(tc.err); got != tc.want {
			t.Errorf("%s: ErrnoOf = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestFromGofer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		errno  int32
		rpcErr error
		want   unix.Errno
	}{
		{"success", 0, nil, 0},
		{"errno", int32(unix.ENOTEMPTY), nil, unix.ENOTEMPTY},
		{"rpc failure", 0, errors.New("stream closed"), unix.EIO},
		{"negative errno", -2, nil, unix.EIO},
		{"errno out of range", MaxErrno + 1, nil, unix.EIO},
	} {
		err := FromGofer("walk", tc.errno, tc.rpcErr)
		if got := ErrnoOf(err); got != tc.want || (tc.want == 0) != (err == nil) {
			t.Errorf("%s: FromGofer = %v (errno %v), want errno %v", tc.name, err, got, tc.want)
		}
	}
}

func TestKeepsOutputs(t *testing.T) {
	if !KeepsOutputs(fmt.Errorf("capget: %w", KeepOutputs(unix.EINVAL))) {
		t.Error("a wrapped KeepOutputs error does not keep its outputs")
	}
	if KeepsOutputs(unix.EINVAL) || KeepsOutputs(nil) {
		t.Error("a plain error keeps its outputs")
	}
}
