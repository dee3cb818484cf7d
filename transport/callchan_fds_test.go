package transport

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestCallChannelFDsTruncated: TakeFD returns the one fd a result's
// message brought on a call channel's fd socket; a message with none,
// with more than one, or whose fds the kernel had to drop (more than
// its control buffer holds: ErrFDsTruncated, as on the stream) is an
// error, and an fd missing never blocks.
func TestCallChannelFDsTruncated(t *testing.T) {
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	null := int(f.Fd())
	for _, tc := range []struct {
		name      string
		send      int // fds in the message; -1: no message
		wantErr   bool
		truncated bool
	}{
		{"one fd", 1, false, false},
		{"no message", -1, true, false},
		{"no fd", 0, true, false},
		{"two fds", 2, true, false},
		{"more than fit", 8, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			socks, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(socks[0])
			ch := &CallChannel{fdSock: socks[1]}
			defer unix.Close(socks[1])
			if tc.send >= 0 {
				var oob []byte
				if tc.send > 0 {
					fds := make([]int, tc.send)
					for i := range fds {
						fds[i] = null
					}
					oob = unix.UnixRights(fds...)
				}
				if err := unix.Sendmsg(socks[0], []byte{0}, oob, nil, 0); err != nil {
					t.Fatal(err)
				}
			}
			fd, err := ch.TakeFD()
			if (err != nil) != tc.wantErr {
				t.Fatalf("TakeFD: fd %d, err %v; want an error: %v", fd, err, tc.wantErr)
			}
			if got := errors.Is(err, ErrFDsTruncated); got != tc.truncated {
				t.Errorf("TakeFD: %v; ErrFDsTruncated %v, want %v", err, got, tc.truncated)
			}
			if err == nil {
				var a, b unix.Stat_t
				if unix.Fstat(fd, &a) != nil || unix.Fstat(null, &b) != nil || a.Rdev != b.Rdev {
					t.Errorf("TakeFD gave fd %d, not /dev/null", fd)
				}
				unix.Close(fd)
			} else if fd != -1 {
				t.Errorf("TakeFD failed with fd %d", fd)
			}
		})
	}
}

// TestTakeFDAllocs: donating an fd on a call channel's fd socket and
// taking it off allocate nothing (sendmsg and recvmsg with control
// buffers on the stack and the channel's own, sized as unix says).
func TestTakeFDAllocs(t *testing.T) {
	if unix.CmsgLen(0) != cmsgLen0 || unix.CmsgSpace(4*4) != cmsgSpace4FDs || unix.CmsgSpace(4) != cmsgSpace1FD {
		t.Fatalf("control message sizes %d, %d, %d; unix says %d, %d, %d", cmsgLen0, cmsgSpace4FDs, cmsgSpace1FD, unix.CmsgLen(0), unix.CmsgSpace(16), unix.CmsgSpace(4))
	}
	socks, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(socks[0])
	defer unix.Close(socks[1])
	f, err := os.Open("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const runs = 50
	null := int(f.Fd())
	var sendErr error
	if allocs := testing.AllocsPerRun(runs, func() {
		if err := sendOneFD(socks[0], null); err != nil {
			sendErr = err
		}
	}); allocs != 0 {
		t.Errorf("%.1f allocations per fd sent, want none", allocs)
	}
	if sendErr != nil {
		t.Fatal(sendErr)
	}
	ch := &CallChannel{fdSock: socks[1]}
	allocs := testing.AllocsPerRun(runs, func() {
		fd, err := ch.TakeFD()
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per TakeFD, want none", allocs)
	}
}
