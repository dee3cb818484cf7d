package chaos

import (
	"context"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestWorkloadsWithoutFaults proves the workloads run under an external
// server exactly as natively, the baseline every chaos run compares with.
func TestWorkloadsWithoutFaults(t *testing.T) {
	tu.RequireRoot(t)
	bin := tu.Binary(t)
	for _, w := range Workloads {
		t.Run(w.Name, func(t *testing.T) {
			ref := native(t, w)
			got, err := Run(context.Background(), w, Options{Binary: bin, Busybox: tu.Busybox, Dir: t.TempDir(), Timeout: 3 * time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if err := Compare(ref, got); err != nil {
				t.Error(err)
			}
			t.Logf("%s: %v", w.Name, got.Duration)
		})
	}
}

// native runs w directly on the host.
func native(t *testing.T, w Workload) Outcome {
	t.Helper()
	dir := t.TempDir()
	r := tu.Run(t, 3*time.Minute, dir, "", tu.Busybox, "sh", "-c", w.Script)
	files, err := Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	return Outcome{Stdout: r.Stdout, Stderr: r.Stderr, ExitCode: r.ExitCode, Files: files}
}
