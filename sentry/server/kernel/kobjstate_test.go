package kernel

import (
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/socket"
)

// TestBindRestoredWaits: a restored host socket whose address another
// socket still listens on (the old session's, when the client recovered
// onto the same server) binds once that socket is closed, within the
// wait; without a wait it fails EADDRINUSE.
func TestBindRestoredWaits(t *testing.T) {
	for _, tc := range []struct {
		name    string
		closeIn time.Duration // when the holder closes (0: never)
		wait    time.Duration
		want    error
	}{
		{name: "freed while waiting", closeIn: 100 * time.Millisecond, wait: 5 * time.Second},
		{name: "held, no wait", wait: 0, want: unix.EADDRINUSE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			holder, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			var once sync.Once
			closeHolder := func() { once.Do(func() { unix.Close(holder) }) }
			defer closeHolder()
			if err := unix.SetsockoptInt(holder, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
				t.Fatal(err)
			}
			if err := unix.Bind(holder, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
				t.Fatal(err)
			}
			if err := unix.Listen(holder, 1); err != nil {
				t.Fatal(err)
			}
			sa, err := unix.Getsockname(holder)
			if err != nil {
				t.Fatal(err)
			}
			raw := make([]byte, 16)
			binary.LittleEndian.PutUint16(raw, unix.AF_INET)
			binary.BigEndian.PutUint16(raw[2:], uint16(sa.(*unix.SockaddrInet4).Port))
			copy(raw[4:], []byte{127, 0, 0, 1})
			hs, err := socket.NewHostInet(unix.AF_INET, true)
			if err != nil {
				t.Fatal(err)
			}
			defer hs.Release()
			if tc.closeIn > 0 {
				timer := time.AfterFunc(tc.closeIn, closeHolder)
				defer timer.Stop()
			}
			err = bindRestored(hs, raw, tc.wait)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("bind: %v, want %v", err, tc.want)
			}
		})
	}
}
