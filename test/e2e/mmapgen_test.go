package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestPrivateMmapSeesOtherClientsWrite runs testdata/readcache/pingpong.c
// as a writer and a holder (a reader that keeps a private mapping of the
// data from one step to the next) in two sandboxes on one server, and as
// two host processes. The writer rewrites the data at the same size each
// step; the holder's new mappings, and the one it holds, must show the
// step's value. While the holder maps the file the server hands the same
// file id again, and before the file's gen (sentry/server/mapped) the
// client kept the old pages for the new mappings: "stale mapping 0 at
// step 2". Without the read cache and donated fds too, so that no lease
// and no host fd take part.
func TestPrivateMmapSeesOtherClientsWrite(t *testing.T) {
	tu.RequireRoot(t)
	prog := readCacheProgram(t, "pingpong")
	const steps = "20"
	run := func(t *testing.T, argv func(role, dir string) []string) {
		dir := t.TempDir()
		for _, f := range []string{"data", "flag", "ack"} {
			if err := os.WriteFile(filepath.Join(dir, f), []byte("0000"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		w, rout, rerr := tu.RunBeside(t, 3*time.Minute, dir, argv("holder", dir), argv("writer", dir))
		if w.ExitCode != 0 || rerr != nil {
			t.Fatalf("writer: exit %d\n%s%s\nholder: %v\n%s", w.ExitCode, w.Stdout, w.Stderr, rerr, rout)
		}
		if rout != "holder: "+steps+" steps\n" || w.Stdout != "writer: "+steps+" steps\n" {
			t.Errorf("writer said %q, holder %q", w.Stdout, rout)
		}
	}
	t.Run("native", func(t *testing.T) {
		run(t, func(role, dir string) []string { return []string{prog, role, dir, steps} })
	})
	for _, tc := range []struct {
		name string
		// gofer and do are the flags of the gofer and of both
		// sandboxes.
		gofer, do []string
	}{
		{name: "two sandboxes"},
		{name: "two sandboxes without read cache or donated fds",
			gofer: []string{"--donate-fds=false"}, do: []string{"--read-cache=false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sock := t.TempDir()
			g := tu.StartDaemon(t, sock, "gofer", "gofer", append([]string{"--root", "/"}, tc.gofer...)...)
			s := tu.StartDaemon(t, sock, "server", "server", "--gofer", g.Target)
			run(t, func(role, dir string) []string {
				argv := append([]string{tu.Binary(t), "do", "--force-overlay=false", "--server", s.Target, "--cwd", dir}, tc.do...)
				return append(argv, "--", prog, role, dir, steps)
			})
		})
	}
}
