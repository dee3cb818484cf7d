package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// test is one runtest entry or one pjdfstest file.
type test struct {
	suite string   // "ltp" or "pjdfstest"
	name  string   // runtest entry name, or "chmod/00.t"
	dir   string   // LTP syscalls directory, or pjdfstest's tests/ subdirectory
	argv  []string // absolute program path first
	env   []string // the whole environment; TMPDIR is added per run
}

// Statuses of a test run.
const (
	statusPass    = "pass"
	statusFail    = "fail"
	statusConf    = "conf" // LTP: only TCONF (exit 32); pjdfstest: plan 1..0
	statusTimeout = "timeout"
)

type result struct {
	test, dir, status string
	exit              int // -1 when killed by the timeout or never started
	seconds           float64
	output            []byte // head and tail of stdout and stderr, interleaved
}

// keptOutput bounds what is kept of each end of a test's output: the first
// error line is near the start, the reason it stopped near the end.
const keptOutput = 16 << 10

// headAndTail reads the first and the last keptOutput bytes of f.
func headAndTail(f *os.File) []byte {
	fi, err := f.Stat()
	if err != nil {
		return []byte(fmt.Sprintf("suites: output: %v\n", err))
	}
	size := fi.Size()
	if size <= 2*keptOutput {
		b := make([]byte, size)
		n, _ := f.ReadAt(b, 0)
		return b[:n]
	}
	head, tail := make([]byte, keptOutput), make([]byte, keptOutput)
	n, _ := f.ReadAt(head, 0)
	m, _ := f.ReadAt(tail, size-keptOutput)
	var b bytes.Buffer
	b.Write(head[:n])
	fmt.Fprintf(&b, "\n[... %d bytes left out ...]\n", size-2*keptOutput)
	b.Write(tail[:m])
	return b.Bytes()
}

// execute runs t under one runner in a fresh scratch directory (its cwd and
// TMPDIR) and classifies the outcome.
func execute(ctx context.Context, t test, runner string, wrap wrapper, scratchRoot string, timeout time.Duration) result {
	res := result{test: t.name, dir: t.dir, exit: -1, status: statusFail}
	scratch, err := os.MkdirTemp(scratchRoot, runner+"-")
	if err != nil {
		res.output = []byte(fmt.Sprintf("suites: scratch directory: %v\n", err))
		return res
	}
	defer os.RemoveAll(scratch)
	// Tests run as root and may leave read-only modes behind.
	os.Chmod(scratch, 0o777)

	argv := wrap(t.argv)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = scratch
	cmd.Env = append(append([]string(nil), t.env...), "TMPDIR="+scratch)
	out, err := os.CreateTemp(scratchRoot, "output-")
	if err != nil {
		res.output = []byte(fmt.Sprintf("suites: output file: %v\n", err))
		return res
	}
	defer os.Remove(out.Name())
	defer out.Close()
	// One pipe for stdout and stderr, copied to the file by us: a file
	// handed to the test directly would be reopened at offset 0 by a
	// runner that reopens its stdio (runsc does), overwriting the start.
	// The pipe is ours (an *os.File), so Wait does not wait for stragglers
	// that still hold it.
	pr, pw, err := os.Pipe()
	if err != nil {
		res.output = []byte(fmt.Sprintf("suites: output pipe: %v\n", err))
		return res
	}
	defer pr.Close()
	cmd.Stdout, cmd.Stderr = pw, pw
	// A session of its own, so the timeout kills every process the test
	// started (and the sandbox's helpers), not only the first: LTP's
	// library moves the test into a process group of its own, but only
	// setsid leaves a session.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL}

	start := time.Now()
	err = cmd.Start()
	pw.Close()
	if err != nil {
		res.output = []byte(fmt.Sprintf("suites: start %q: %v\n", argv[0], err))
		return res
	}
	copied := make(chan struct{})
	go func() {
		io.Copy(out, pr)
		close(copied)
	}()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	timedOut, exited := false, false
	select {
	case err = <-waited:
		exited = true
	case <-timer.C:
		timedOut = true
	case <-ctx.Done():
	}
	// On a timeout the whole group goes; after a normal exit, stragglers of
	// the finished test go too.
	killSession(cmd.Process.Pid)
	if !exited {
		err = <-waited
	}
	// Every writer is dead now, unless it left the session.
	select {
	case <-copied:
	case <-time.After(5 * time.Second):
		pr.Close()
		<-copied
	}
	res.seconds = time.Since(start).Seconds()
	res.output = headAndTail(out)
	var ee *exec.ExitError
	switch {
	case timedOut:
		res.status = statusTimeout
		res.output = append(res.output, fmt.Sprintf("\nsuites: killed after %v\n", timeout)...)
		return res
	case err == nil:
		res.exit = 0
	case errors.As(err, &ee) && ee.Exited():
		res.exit = ee.ExitCode()
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.exit = 128 + int(ws.Signal())
		}
	default:
		res.output = append(res.output, fmt.Sprintf("\nsuites: wait: %v\n", err)...)
	}
	switch t.suite {
	case "ltp":
		res.status = ltpStatus(res.exit)
	case "pjdfstest":
		res.status = tapStatus(res.exit, res.output)
	}
	return res
}

// killSession kills every process of session sid until none is left (a
// dying parent may fork once more). Zombies are left to their parents.
func killSession(sid int) {
	for round := 0; round < 100; round++ {
		found := false
		ents, err := os.ReadDir("/proc")
		if err != nil {
			return
		}
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
			if err != nil {
				continue
			}
			// After the command name, which may hold spaces and parens:
			// state ppid pgrp session ...
			i := bytes.LastIndexByte(stat, ')')
			if i < 0 {
				continue
			}
			f := strings.Fields(string(stat[i+1:]))
			if len(f) < 4 || f[0] == "Z" || f[3] != strconv.Itoa(sid) {
				continue
			}
			syscall.Kill(pid, syscall.SIGKILL)
			found = true
		}
		if !found {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
