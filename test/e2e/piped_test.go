package e2e

import (
	"bufio"
	"io"
	"os/exec"
	"strings"
	"testing"
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
