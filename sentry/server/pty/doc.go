// Package pty is the remote sentry's pseudo-terminals: the pairs an
// application makes by opening /dev/ptmx, with their slaves under
// /dev/pts (posix_openpt, grantpt, unlockpt, ptsname, TIOCGPTN,
// TIOCSPTLCK, TIOCGPTPEER). It owns each terminal's termios, window
// size, lock, and its two queues with Linux's line discipline between
// them (n_tty: canonical mode with ERASE, KILL, WERASE and EOF; ECHO,
// ECHOE, ECHOK, ECHONL, ECHOCTL; ICRNL, INLCR, IGNCR; OPOST with ONLCR,
// OCRNL; ISIG, whose characters it reports as signals for the caller to
// send to the foreground process group).
//
// It knows nothing of processes: the server keeps each terminal's session
// and foreground process group in the Terminal (SetSession, SetForeground)
// and does the signalling. Readers and writers that would block wait on
// Terminal.Changed.
//
// It also owns the terminals' replay records (record.go): Table.Record
// derives a terminal's PtyState ("pty/<index>"), Table.Changed tells the
// server's replay capture which terminal's record changed, and Restore,
// AttachMaster, AttachSlave and Prune rebuild the terminals on a new
// server. A terminal's record holds its queues too, so every read and
// write changes it.
//
// Dependencies: gVisor's pkg/abi/linux (termios layout and flags),
// golang.org/x/sys/unix, proto/sentrypb and sentry/statekey (the
// records). gVisor's fsimpl/devpts is not used: it needs kernel.Kernel
// and kernel.Task (job control, signals).
//
// Lock order: Table.mu > Terminal.mu; each is otherwise a leaf. The
// Changed hook is called with neither held; Record takes both, so the
// server may call it under its own locks.
package pty
