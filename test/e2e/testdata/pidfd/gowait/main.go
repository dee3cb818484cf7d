// Command gowait starts children with os/exec, signals them and waits
// for them, as Go programs do: since Go 1.23 the os package probes
// pidfd_open, pidfd_send_signal, waitid(P_PIDFD) and clone(CLONE_PIDFD)
// once and, when they all work, keeps a pidfd per child (Process.Signal
// is pidfd_send_signal, Process.Wait waitid(P_PIDFD)). It prints whether
// a pidfd was held while a child ran, and what the waits reported: the
// output is compared with a native run.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "sleep":
			time.Sleep(time.Minute)
		case "exit":
			os.Exit(3)
		}
		return
	}
	self, err := os.Executable()
	if err != nil {
		fail(err)
	}

	sleeper := exec.Command(self, "sleep")
	if err := sleeper.Start(); err != nil {
		fail(err)
	}
	fmt.Println("pidfd held while the child runs:", holdsPidfd())
	if err := sleeper.Process.Signal(syscall.SIGTERM); err != nil {
		fail(err)
	}
	err = sleeper.Wait()
	fmt.Println("signalled child:", err)
	fmt.Println("signal after wait:", sleeper.Process.Signal(syscall.SIGTERM))

	out, err := exec.Command(self, "exit").CombinedOutput()
	fmt.Printf("exiting child: %q %v\n", out, err)

	p, err := os.StartProcess(self, []string{self, "sleep"}, &os.ProcAttr{})
	if err != nil {
		fail(err)
	}
	if err := p.Kill(); err != nil {
		fail(err)
	}
	st, err := p.Wait()
	if err != nil {
		fail(err)
	}
	fmt.Println("killed child:", st)
}

// holdsPidfd reports whether one of the process's fds is a pidfd.
func holdsPidfd() bool {
	links, _ := filepath.Glob("/proc/self/fd/*")
	for _, l := range links {
		if t, err := os.Readlink(l); err == nil && t == "anon_inode:[pidfd]" {
			return true
		}
	}
	return false
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gowait:", err)
	os.Exit(1)
}
