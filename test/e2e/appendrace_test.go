package e2e

import (
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestConcurrentAppends compares with native two processes appending
// lines to one file at once (a shell's >> opens it O_APPEND for each
// line), through the gofer (--force-overlay=false) and do's overlay: no
// line may cover another, as two appenders that found the same end
// would (the server orders a file's appends: vfs.AppendLock). Each
// writer's lines are counted, in order, and the file's lines in all.
func TestConcurrentAppends(t *testing.T) {
	tu.RequireRoot(t)
	const script = `rm -f f; a() { i=0; while [ $i -lt 300 ]; do echo "$1 $i" >> f; i=$((i+1)); done; }
a x & a y & a z & wait
wc -l < f; grep -c '^x ' f; grep '^y ' f | sort -c -n -k2 && echo y in order; grep '^z ' f | cut -d' ' -f2 | md5sum`
	for _, tc := range []struct {
		name  string
		flags []string
	}{
		{name: "through the gofer", flags: []string{"--force-overlay=false"}},
		{name: "do's overlay"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			want := tu.Run(t, timeout, dir, "", tu.Busybox, "sh", "-c", script)
			compare(t, want, tu.Sandbox(t, timeout, dir, "", tc.flags, tu.Busybox, "sh", "-c", script))
		})
	}
}
