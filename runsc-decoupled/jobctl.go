package main

import (
	"syscall"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/client"
)

// terminalSignal is the client.Signal for sig when this process got it
// from its controlling terminal (tty: the application's stdio is that
// terminal). The keys' signals (Ctrl-C, Ctrl-\, Ctrl-Z) go to the
// terminal's foreground process group in the sandbox, as the line
// discipline sends them; SIGTSTP spares the first process unless it has a
// handler (a PID namespace's init is not stopped by its terminal), so
// that Ctrl-Z cannot freeze a sandbox whose only process nobody could
// continue. Other signals go to the first process.
func terminalSignal(sig syscall.Signal, tty bool) client.Signal {
	s := client.Signal{Signo: int(sig)}
	if tty {
		switch sig {
		case syscall.SIGINT, syscall.SIGQUIT:
			s.Foreground = true
		case syscall.SIGTSTP:
			s.Foreground, s.AsContainer = true, true
		}
	}
	return s
}

// forwardTerminalStop calls send for each SIGTSTP this process gets
// (Ctrl-Z at its terminal) when tty, until the returned stop is called;
// without a terminal SIGTSTP keeps its default action (this process
// stops, as any command would).
func forwardTerminalStop(tty bool, send func(syscall.Signal)) (stop func()) {
	if !tty {
		return func() {}
	}
	return forwardSignalsOf(send, syscall.SIGTSTP)
}

// killForeground sends a terminal key's signal to the container's
// foreground process group once the container runs (before start no
// process has the console yet, and it is dropped).
func (b *containerBooter) killForeground(s client.Signal) {
	b.startOnce.Lock()
	started := b.started
	b.startOnce.Unlock()
	if !started {
		return
	}
	if err := sendSignal(b.signals, b.runDone, s); err != nil {
		b.log.warnf("terminal signal %d: %v", s.Signo, err)
	}
}
