package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"

	"github.com/hashicorp/go-hclog"
)

// startCPUProfile writes a CPU profile of this process to path until the
// returned function is called. An empty path profiles nothing.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--profile-cpu: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--profile-cpu: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// startHeapProfile writes a heap profile of this process to path, and its
// text form with the runtime's memory statistics and goroutines to
// path.txt, each time it receives SIGUSR2 (replacing the last ones), for
// finding where a daemon's memory goes. An empty path does nothing.
func startHeapProfile(path string, log hclog.Logger) (stop func()) {
	if path == "" {
		return func() {}
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR2)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-sigs:
			case <-done:
				return
			}
			if err := writeHeapProfile(path); err != nil {
				log.Warn("--profile-heap", "err", err)
			}
		}
	}()
	return func() { signal.Stop(sigs); close(done) }
}

func writeHeapProfile(path string) error {
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	// The text form ends with runtime.MemStats: stacks, idle heap and
	// the rest of what RSS holds beyond live objects.
	t, err := os.Create(path + ".txt")
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(t, 1); err != nil {
		t.Close()
		return err
	}
	if err := pprof.Lookup("goroutine").WriteTo(t, 1); err != nil {
		t.Close()
		return err
	}
	return t.Close()
}
