package e2e

import (
	"bufio"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// pipedRun is a started command that the test drives: it writes the
// command's stdin and reads its stdout line by line; stderr is kept for
// failure messages.
type pipedRun struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  *bufio.Reader
	stderr *strings.Builder
}

// startPiped starts argv with its stdin and stdout piped to the test.
// The command is killed when the test ends if it is still running.
func startPiped(t *testing.T, argv ...string) *pipedRun {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &pipedRun{cmd: cmd, stdin: stdin, lines: bufio.NewReader(stdout), stderr: &strings.Builder{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", argv[0], err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return p
}

// waitLine waits up to timeout for the command's next line of stdout (a
// program saying it finished a pass) and fails the test, with its
// stderr, if the command ends or stays silent.
func (p *pipedRun) waitLine(t *testing.T, timeout time.Duration) string {
	t.Helper()
	type line struct {
		text string
		err  error
	}
	got := make(chan line, 1)
	go func() { s, err := p.lines.ReadString('\n'); got <- line{s, err} }()
	select {
	case l := <-got:
		if l.err != nil {
			t.Fatalf("program: %v; stderr:\n%s", l.err, p.stderr.String())
		}
		return l.text
	case <-time.After(timeout):
		t.Fatalf("program did not finish its pass in %v; stderr:\n%s", timeout, p.stderr.String())
		return ""
	}
}
