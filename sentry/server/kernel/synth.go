package kernel

import (
	"fmt"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fsimpl/synth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/mqueue"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/procfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
)

// The synthesized /dev and /proc are package fsimpl/synth's
// (Kernel.Synth); this file is what they read of the kernel's state,
// synth.Kernel, and procfs.Source (procsource.go) from it.

// synthKernel is the kernel as package fsimpl/synth sees it: a defined
// type over Kernel, so that its methods, named as synth.Kernel names
// them, are not the Kernel's own.
type synthKernel Kernel

var _ synth.Kernel = (*synthKernel)(nil)

// SynthKernel is k as its synthesized files read it.
func (k *Kernel) SynthKernel() synth.Kernel { return (*synthKernel)(k) }

// Lookup is synth.Kernel's: whether n is a process or a live thread.
func (sk *synthKernel) Lookup(n int32) (isProc bool, owner int32) {
	k := (*Kernel)(sk)
	k.Mu.Lock()
	defer k.Mu.Unlock()
	if _, ok := k.Procs[n]; ok {
		return true, 0
	}
	if t := k.Threads[n]; t != nil {
		if _, live := t.Proc.Live[t]; live {
			return false, t.Proc.PID
		}
	}
	return false, 0
}

// ProcGen is synth.Kernel's: process pid's Gen (0: none).
func (sk *synthKernel) ProcGen(pid int32) uint64 {
	k := (*Kernel)(sk)
	k.Mu.Lock()
	defer k.Mu.Unlock()
	if p := k.Procs[pid]; p != nil {
		return p.Gen
	}
	return 0
}

// IsLiveThread is synth.Kernel's: whether tid is a live thread of
// process pid.
func (sk *synthKernel) IsLiveThread(pid, tid int32) bool {
	k := (*Kernel)(sk)
	k.Mu.Lock()
	defer k.Mu.Unlock()
	t := k.Threads[tid]
	if t == nil || t.Proc.PID != pid {
		return false
	}
	_, live := t.Proc.Live[t]
	return live
}

// LiveThreads is synth.Kernel's: the TIDs of process pid's live
// threads.
func (sk *synthKernel) LiveThreads(pid int32) []int {
	k := (*Kernel)(sk)
	k.Mu.Lock()
	defer k.Mu.Unlock()
	var tids []int
	if p := k.Procs[pid]; p != nil {
		for t := range p.Live {
			tids = append(tids, int(t.TID))
		}
	}
	sort.Ints(tids)
	return tids
}

// ProcFDFile returns (a reference to) fd of process pid, as open of
// /proc/<pid>/fd/<n> and its stat name it.
func (k *Kernel) ProcFDFile(pid, fd int32) (*fdesc.File, error) {
	f, _, err := k.SynthKernel().FD(pid, fd)
	return f, err
}

// fdTableOf returns process pid's fd table, nil if none.
func (k *Kernel) fdTableOf(pid int32) *fdtable.Table {
	k.Mu.Lock()
	defer k.Mu.Unlock()
	if p := k.Procs[pid]; p != nil {
		return p.FDs
	}
	return nil
}

// FD is synth.Kernel's: a reference to fd of process pid, and its
// close-on-exec flag.
func (sk *synthKernel) FD(pid, fd int32) (*fdesc.File, bool, error) {
	k := (*Kernel)(sk)
	tab := k.fdTableOf(pid)
	if tab == nil {
		return nil, false, unix.ENOENT
	}
	return tab.Get(fd)
}

// FDs is synth.Kernel's: the fds of process pid.
func (sk *synthKernel) FDs(pid int32) ([]int32, bool) {
	k := (*Kernel)(sk)
	tab := k.fdTableOf(pid)
	if tab == nil {
		return nil, false
	}
	return tab.List(), true
}

// PIDs is synth.Kernel's: the processes, sorted.
func (sk *synthKernel) PIDs() []int {
	k := (*Kernel)(sk)
	k.Mu.Lock()
	pids := make([]int, 0, len(k.Procs))
	for pid := range k.Procs {
		pids = append(pids, int(pid))
	}
	k.Mu.Unlock()
	sort.Ints(pids)
	return pids
}

// Links is synth.Kernel's: process pid's working directory, root and
// executable.
func (sk *synthKernel) Links(pid int32) (cwd, root, exe *vfs.Dentry, err error) {
	k := (*Kernel)(sk)
	k.Mu.Lock()
	defer k.Mu.Unlock()
	p := k.Procs[pid]
	if p == nil || p.Zombie {
		return nil, nil, nil, unix.ENOENT
	}
	if p.FS != nil {
		cwd, root = p.FS.Cwd, p.FS.Root
	}
	return cwd, root, p.Exe, nil
}

// FileName is synth.Kernel's: /proc/<pid>/fd/<n>'s name of a pipe end or
// a stdio file.
func (sk *synthKernel) FileName(f *fdesc.File) (string, bool) {
	switch impl := f.Impl.(type) {
	case *PipeEnd:
		return fmt.Sprintf("pipe:[%d]", impl.P.Ino()), true
	case *StdioFile:
		if impl.Tty {
			return "/dev/pts/0", true
		}
		// The inode number its fstat reports, as Linux's link names a
		// pipe's (it read "pipe:[stdio0]").
		st, err := impl.Stat(nil)
		if err != nil {
			return "", false
		}
		return fmt.Sprintf("pipe:[%d]", st.Ino), true
	}
	return "", false
}

// CallerIDs is synth.Kernel's: the PID and TID of call c.
func (sk *synthKernel) CallerIDs(c vfs.Caller) (pid, tid int32) {
	sc := TaskFromCall(c)
	return sc.PID(), sc.TID()
}

// Source is synth.Kernel's: the state procfs renders.
func (sk *synthKernel) Source() procfs.Source { return procSource{(*Kernel)(sk)} }

func (sk *synthKernel) Mqueues() *mqueue.Registry { return sk.MQ }
