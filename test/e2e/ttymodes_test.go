package e2e

import (
	"path/filepath"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestTerminalModes runs a program that puts its terminal in raw mode in a
// pty, natively and under do: each key reaches it at once and unechoed,
// Ctrl-C included (a key, not a signal, with ISIG off), so the host
// terminal must take the modes the application set in the sandbox. The
// terminals must show the same thing.
func TestTerminalModes(t *testing.T) {
	tu.RequireRoot(t)
	prog := tu.StaticProgramFile(t, t.TempDir(), filepath.Join("testdata", "tty", "raw.c"))
	shown := map[string]string{}
	for _, run := range []struct {
		name string
		argv []string
	}{
		{"native", []string{prog}},
		{"sandbox", []string{tu.Binary(t), "do", "--", prog}},
	} {
		t.Run(run.name, func(t *testing.T) {
			s := startTerminalSession(t, nil, run.argv...)
			s.await("raw-ready", 1, "")
			for _, k := range []struct{ key, shows string }{{"x", "key-78"}, {"\x03", "key-03"}, {"q", "key-71"}} {
				if _, err := s.master.WriteString(k.key); err != nil {
					t.Fatal(err)
				}
				s.await(k.shows, 1, "")
			}
			s.await("canonical-1", 1, "")
			select {
			case <-s.done:
			case <-time.After(timeout):
				t.Fatalf("the program did not exit; the terminal shows:\n%s", s.transcript())
			}
			shown[run.name] = s.transcript()
		})
	}
	if len(shown) == 2 && shown["native"] != shown["sandbox"] {
		t.Errorf("the terminals differ\nnative:  %q\nsandbox: %q", shown["native"], shown["sandbox"])
	}
}
