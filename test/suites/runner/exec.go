package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
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
	// A file rather than a pipe: Wait returns when the test exits, even if
	// a straggler it left behind still holds the output open.
	out, err := os.CreateTemp(scratchRoot, "output-")
	if err != nil {
		res.output = []byte(fmt.Sprintf("suites: output file: %v\n", err))
		return res
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	// A group of its own, so the timeout kills every process the test
	// started (and the sandbox's helpers), not only the first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	start := time.Now()
	if err := cmd.Start(); err != nil {
		res.output = []byte(fmt.Sprintf("suites: start %q: %v\n", argv[0], err))
		return res
	}
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
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if !exited {
		err = <-waited
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
