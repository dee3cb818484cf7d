package main

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestBadCommandLines checks that bad input gets a clear error and the
// documented exit code, never a panic or a hang.
func TestBadCommandLines(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, nil, 0o644)
	logDir := filepath.Join(dir, "logs")
	os.Mkdir(logDir, 0o755)
	// A client log cut inside its first entry.
	os.WriteFile(filepath.Join(logDir, "c.rdlog"), []byte("RDCLOG\x00\x01\x10\x00\x00\x00"), 0o644)
	// A socket whose listener is gone (connection refused), and one
	// served by something else than a runsc-decoupled daemon.
	stale := filepath.Join(dir, "stale.sock")
	if l, err := net.Listen("unix", stale); err != nil {
		t.Fatal(err)
	} else {
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		l.Close()
	}
	httpSock := filepath.Join(dir, "http.sock")
	hl, err := net.Listen("unix", httpSock)
	if err != nil {
		t.Fatal(err)
	}
	defer hl.Close()
	go func() {
		for {
			c, err := hl.Accept()
			if err != nil {
				return
			}
			c.Read(make([]byte, 64))
			c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
			c.Close()
		}
	}()
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no verb", nil, 2, "usage"},
		{"unknown verb", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"help", []string{"--help"}, 0, ""},
		{"do help", []string{"do", "--help"}, 0, "-platform"},
		{"do without command", []string{"do"}, 2, "missing COMMAND"},
		{"do bad platform", []string{"do", "--platform", "vmx", "--", "/bin/true"}, 2, `--platform "vmx"`},
		{"do bad server", []string{"do", "--server", "nowhere", "--", "/bin/true"}, 125, "want host:port or unix:/path"},
		{"do root not a dir", []string{"do", "--root", notDir, "--", "/bin/true"}, 125, "not a directory"},
		{"do missing root", []string{"do", "--root", filepath.Join(dir, "none"), "--", "/bin/true"}, 125, "--root"},
		{"do unknown flag", []string{"do", "--bogus", "--", "/bin/true"}, 2, "flag provided but not defined"},
		{"do bad debug log", []string{"do", "--debug-log", filepath.Join(dir, "no/such/dir/log"), "--", "/bin/true"}, 125, "open debug log"},
		{"server without gofer", []string{"server", "--listen", "unix:" + filepath.Join(dir, "s.sock")}, 2, "usage"},
		{"server bad listen", []string{"server", "--listen", "bad", "--gofer", "unix:/x"}, 1, "want host:port or unix:/path"},
		{"gofer without listen", []string{"gofer"}, 2, "usage"},
		{"gofer missing root", []string{"gofer", "--listen", "unix:" + filepath.Join(dir, "g.sock"), "--root", filepath.Join(dir, "none")}, 1, "root"},
		{"gofer bad log level", []string{"gofer", "--listen", "unix:" + filepath.Join(dir, "g2.sock"), "--log-level", "loud"}, 1, `--log-level "loud"`},
		{"debug without server", []string{"debug", "state"}, 2, "usage"},
		{"debug log truncated", []string{"debug", "log", logDir}, 1, "c.rdlog: offset 8: truncated entry header"},
		{"debug log empty dir", []string{"debug", "log", dir + "/none"}, 1, "no such file"},
		{"debug log no dir", []string{"debug", "log"}, 2, "usage"},
		{"do bad dead-after", []string{"do", "--heartbeat", "100ms", "--dead-after", "50ms", "--", "/bin/true"}, 2, "--dead-after"},
		{"do bad grace", []string{"do", "--grace", "0s", "--", "/bin/true"}, 2, "--grace"},
		{"do bad second server", []string{"do", "--server", "unix:/a,nowhere", "--", "/bin/true"}, 125, "want host:port or unix:/path"},
		{"debug unreachable", []string{"debug", "--server", "unix:" + filepath.Join(dir, "none.sock"), "--timeout", "300ms", "state"}, 1, "state of unix:"},
		{"resend without server", []string{"resend", logDir}, 2, "usage"},
		{"resend without logs", []string{"resend", "--server", "unix:/x", dir + "/none"}, 1, "no such file"},
		{"resend truncated log", []string{"resend", "--server", "unix:" + filepath.Join(dir, "none.sock"), "--timeout", "300ms", logDir}, 1, "truncated entry header"},
		{"gofer plaintext off the machine", []string{"gofer", "--listen", "0.0.0.0:0"}, 1, "--tls-cert"},
		{"server half a TLS identity", []string{"server", "--listen", "127.0.0.1:0", "--gofer", "unix:/x", "--tls-cert", notDir}, 1, "needs a certificate, its key and a CA"},
		{"do plaintext off the machine", []string{"do", "--server", "192.0.2.1:7000", "--", "/bin/true"}, 125, "--insecure"},
		// A wrong --server is reported at once, with its cause (the
		// first connection does not wait for the recovery timeout).
		{"do absent server", []string{"do", "--server", "unix:" + filepath.Join(dir, "none.sock"), "--", "/bin/true"}, 125, "none.sock: nothing listening: dial unix " + filepath.Join(dir, "none.sock") + ": connect: no such file or directory"},
		{"do refused server", []string{"do", "--server", "unix:" + stale, "--", "/bin/true"}, 125, "connect: connection refused"},
		{"do servers none listening", []string{"do", "--server", "unix:" + stale + ",unix:" + filepath.Join(dir, "none.sock"), "--", "/bin/true"}, 125, "nothing listening at any server"},
		{"do not a server", []string{"do", "--server", "unix:" + httpSock, "--", "/bin/true"}, 125, "not a runsc-decoupled daemon"},
		{"do tcp nothing listening", []string{"do", "--insecure", "--server", "127.0.0.1:1", "--", "/bin/true"}, 125, "connection refused"},
		// start: errors name what failed, the program or the directory.
		{"do missing command", []string{"do", "--", filepath.Join(dir, "none")}, 125, `start: "` + filepath.Join(dir, "none") + `": no such file or directory`},
		{"do missing cwd", []string{"do", "--cwd", filepath.Join(dir, "none"), "--", "/bin/true"}, 125, `start: working directory "` + filepath.Join(dir, "none") + `": no such file or directory`},
		{"do cwd not a directory", []string{"do", "--cwd", notDir, "--", "/bin/true"}, 125, `start: working directory "` + notDir + `": not a directory`},
		{"version", []string{"version"}, 0, "runsc-decoupled version"},
		{"--version", []string{"--version"}, 0, "spec: "},
		{"help do", []string{"help", "do"}, 0, "-force-overlay"},
		{"help create", []string{"help", "create"}, 0, "-console-socket"},
		{"help checkpoint", []string{"help", "checkpoint"}, 0, "not supported"},
		{"help unknown", []string{"help", "frobnicate"}, 2, `unknown command "frobnicate"`},
		{"features extra argument", []string{"features", "x"}, 2, "no arguments"},
	}
	bin := tu.Binary(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			r := tu.Run(t, 30*time.Second, dir, "", append([]string{bin}, tc.args...)...)
			// Each fails at once or after a short timeout of its own: the
			// 60 s of a recovery timeout would be a hang to the user.
			if took := time.Since(start); took > 20*time.Second {
				t.Errorf("took %v", took)
			}
			if r.ExitCode != tc.wantCode {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.ExitCode, tc.wantCode, r.Stdout, r.Stderr)
			}
			out := r.Stdout + r.Stderr
			if !strings.Contains(out, tc.wantErr) {
				t.Errorf("output does not mention %q:\n%s", tc.wantErr, out)
			}
			if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") {
				t.Errorf("panicked:\n%s", out)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct{ status, want int }{
		{0, 0}, {3 << 8, 3}, {255 << 8, 255}, {9, 137}, {11, 139}, {15 | 0x80, 143},
	} {
		if got := exitCode(tc.status); got != tc.want {
			t.Errorf("exitCode(%#x) = %d, want %d", tc.status, got, tc.want)
		}
	}
}

// TestREADMEFlags checks that every flag README.md gives a subcommand
// (`runsc-decoupled VERB ... --flag`, up to the command's own `--`) is
// one that subcommand's --help lists.
func TestREADMEFlags(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(tu.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	use := regexp.MustCompile("(?:runsc-decoupled(?:-bin)?[ ]+|`)(do|server|gofer|debug|resend)\\b([^`\\n]*)")
	flagRE := regexp.MustCompile(`--([a-z][a-z-]*)`)
	bin := tu.Binary(t)
	helps := map[string]string{}
	checked := 0
	for _, m := range use.FindAllStringSubmatch(string(readme), -1) {
		verb, rest := m[1], m[2]
		rest, _, _ = strings.Cut(rest, " -- ")
		if _, ok := helps[verb]; !ok {
			r := tu.Run(t, 30*time.Second, "", "", bin, verb, "--help")
			helps[verb] = r.Stdout + r.Stderr
		}
		for _, f := range flagRE.FindAllStringSubmatch(rest, -1) {
			checked++
			if !regexp.MustCompile(`(?m)^  -` + regexp.QuoteMeta(f[1]) + `\b`).MatchString(helps[verb]) {
				t.Errorf("README gives %s --%s, which `%s --help` does not list", verb, f[1], verb)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("found only %d flags in README's command lines: the pattern no longer matches it", checked)
	}
}
