package server

// Core dumps: a process killed by a signal whose default action dumps
// core reports WCOREDUMP in its wait status (CLD_DUMPED in SIGCHLD and
// waitid) when its RLIMIT_CORE soft limit is not 0, as Linux does when
// it writes the core. No core file is written (nor by gVisor): the
// application's memory is the client's, and the status is what
// programs and tests look at (kernel.Process.KilledStatusLocked).

// prlimitCore sets whether the process dumps core: the client sends its
// RLIMIT_CORE after each change (it owns the limit and answers
// getrlimit itself).
func prlimitCore(c *syscallCtx, newAddr uint64) (int64, error) {
	if newAddr == 0 {
		return 0, nil
	}
	cur, err := copyInRlimit(c, newAddr)
	if err != nil {
		return 0, err
	}
	k, p := c.Kernel, c.Thread.Proc
	k.Mu.Lock()
	p.CoreDumps = cur != 0
	k.Trk.Changed(p)
	k.Mu.Unlock()
	return 0, nil
}
