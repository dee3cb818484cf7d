package client

import (
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/hostarch"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// Children's CPU times (Linux's signal->cutime and cstime; their peak
// resident sets the same way: maxrss.go): the times of
// a process's reaped children, each one's own and its reaped children's,
// which times(2), getrusage(RUSAGE_CHILDREN) and the rusage of wait4 and
// waitid report.
//
// The client measures every process's CPU time; the server decides which
// child a wait reaps and says so in the wait's reply (Reply.reaped_pid).
// The receiving goroutine adds the child's times to the waiter's process
// as it folds that reply (onReply), before the reply's records (among
// them the deletion of the child's record) drop the child from the
// client's table of unreaped processes (client.unreaped). A child reaped
// without a wait (its parent ignores SIGCHLD) gives its times to no one,
// as in Linux.

// cpuPair is a user and a system CPU time.
type cpuPair struct{ user, sys time.Duration }

// registerProc adds p, just made, to the unreaped processes.
func (c *client) registerProc(p *process) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.unreaped == nil {
		c.unreaped = make(map[int32]*process)
	}
	c.unreaped[p.pid] = p
}

// childTimes is p's children's times.
func (p *process) childTimes() cpuPair {
	return cpuPair{time.Duration(p.childUserNS.Load()), time.Duration(p.childSysNS.Load())}
}

// accountReaped adds the times of child pid, which a wait of thread tid
// reaped, to tid's process, and keeps them on the thread for the wait's
// rusage. Called by the receiving goroutine.
func (c *client) accountReaped(tid, pid int32) {
	c.mu.Lock()
	child, waiter := c.unreaped[pid], c.tasks[tid]
	c.mu.Unlock()
	if child == nil || waiter == nil {
		return
	}
	u, s := child.cpuTimes()
	ct := child.childTimes()
	total := cpuPair{u + ct.user, s + ct.sys}
	waiter.proc.childUserNS.Add(int64(total.user))
	waiter.proc.childSysNS.Add(int64(total.sys))
	waiter.proc.retiredIO.add(child.ioCounts())
	maxRSS := max(child.selfMaxRSS(), child.childMaxRSSKB.Load())
	atomicMax(&waiter.proc.childMaxRSSKB, maxRSS)
	waiter.mu.Lock()
	waiter.reapedTimes = total
	waiter.reapedMaxRSS = maxRSS
	waiter.mu.Unlock()
}

// forgetReaped drops the processes whose records recs delete (reaped).
func (c *client) forgetReaped(recs []*pb.StateRecord) {
	for _, rec := range recs {
		if !rec.Deleted {
			continue
		}
		key, err := statekey.Parse(rec.GetKey())
		if err != nil || key.Kind != statekey.KindProc {
			continue
		}
		c.mu.Lock()
		delete(c.unreaped, key.PID())
		c.mu.Unlock()
	}
}

// putRusageTimes writes ru_utime and ru_stime of the struct rusage at
// addr.
func (t *task) putRusageTimes(addr uint64, times cpuPair) unix.Errno {
	var b [32]byte
	putTimeval := func(off int, d time.Duration) {
		hostarch.ByteOrder.PutUint64(b[off:], uint64(d/time.Second))
		hostarch.ByteOrder.PutUint64(b[off+8:], uint64(d%time.Second/time.Microsecond))
	}
	putTimeval(0, times.user)
	putTimeval(16, times.sys)
	return t.copyOut(addr, b[:])
}

// noteReaped gives a wait4 or waitid that reaped a child the child's
// times and peak resident set in its rusage (the server wrote zeros).
func (t *task) noteReaped(sysno uintptr, args [6]uint64, reply *pb.Reply) {
	if reply.GetReapedPid() == 0 {
		return
	}
	var addr uint64
	switch sysno {
	case unix.SYS_WAIT4:
		addr = args[3]
	case unix.SYS_WAITID:
		addr = args[4]
	}
	if addr == 0 {
		return
	}
	t.mu.Lock()
	times, maxRSS := t.reapedTimes, t.reapedMaxRSS
	t.mu.Unlock()
	t.putRusageTimes(addr, times)
	t.putRusageMaxRSS(addr, maxRSS)
}
