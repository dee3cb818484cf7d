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
// finding where a daemon's memory goes. An empty path does nothing. The
// files are opened now: a daemon that has confined itself can neither see
// their directory nor create files (its seccomp filter).
func startHeapProfile(path string, log hclog.Logger) (stop func()) {
	if path == "" {
		return func() {}
	}
	bin, err := os.Create(path)
	if err != nil {
		log.Warn("--profile-heap", "err", err)
		return func() {}
	}
	txt, err := os.Create(path + ".txt")
	if err != nil {
		bin.Close()
		log.Warn("--profile-heap", "err", err)
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
			if err := writeHeapProfile(bin, txt); err != nil {
				log.Warn("--profile-heap", "err", err)
			}
		}
	}()
	return func() { signal.Stop(sigs); close(done); bin.Close(); txt.Close() }
}

// rewind empties f for a new profile.
func rewind(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.Seek(0, 0)
	return err
}

func writeHeapProfile(bin, txt *os.File) error {
	runtime.GC()
	if err := rewind(bin); err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(bin, 0); err != nil {
		return err
	}
	// The text form ends with runtime.MemStats: stacks, idle heap and
	// the rest of what RSS holds beyond live objects.
	if err := rewind(txt); err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(txt, 1); err != nil {
		return err
	}
	return pprof.Lookup("goroutine").WriteTo(txt, 1)
}
