package transport

import (
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/flipcall"
)

// TestAttachCallChannelAbort: a channel whose granting peer never takes
// it (a gofer killed right after the grant) holds AttachCallChannel only
// until abort closes: it fails then, where it waited forever before.
func TestAttachCallChannelAbort(t *testing.T) {
	var pwa flipcall.PacketWindowAllocator
	if err := pwa.Init(); err != nil {
		t.Fatal(err)
	}
	defer pwa.Destroy()
	if _, err := pwa.Allocate(CallChannelWindow); err != nil {
		t.Fatal(err)
	}
	// No server side: nothing will ever take the connection.
	abort := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		ch, err := AttachCallChannel(pwa.FD(), CallChannelWindow, abort)
		if ch != nil {
			ch.Shutdown()
			ch.Destroy()
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("attached before the abort: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(abort)
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("attached to a channel nobody serves")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("AttachCallChannel still waits 10 s after the abort")
	}
}
