package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestOCIOOMScoreAdj: process.oomScoreAdj is the first process's
// /proc/self/oom_score_adj, set as runc sets it (a privileged write
// before the exec), so it is also the minimum a process without
// CAP_SYS_RESOURCE may go back down to; an exec'd process gets the
// container's, whatever its process.json says (runc's exec too); a value
// the kernel would refuse fails create with runc's words and errno.
func TestOCIOOMScoreAdj(t *testing.T) {
	r := newOCIRuntime(t)
	// runc's default capabilities: no CAP_SYS_RESOURCE.
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	bundle := func(t *testing.T, adj *int, script string) string {
		return busyboxBundle(t, r, func(s *specs.Spec) {
			s.Process.Args = []string{"sh", "-c", script}
			s.Process.OOMScoreAdj = adj
			s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps}
		})
	}
	intp := func(v int) *int { return &v }
	// Reads the value, tries below it (refused), raises it and goes back
	// down to it; a child inherits it.
	const script = `cat /proc/self/oom_score_adj
v=$(cat /proc/self/oom_score_adj)
echo $((v-1)) > /proc/self/oom_score_adj 2>/dev/null && echo lowered || echo refused
echo 1000 > /proc/self/oom_score_adj && echo $v > /proc/self/oom_score_adj && cat /proc/self/oom_score_adj
sh -c 'cat /proc/self/oom_score_adj'`
	for _, tc := range []struct {
		name    string
		adj     *int
		wantOut string
		wantErr string // part of create's error
	}{
		{name: "unset", wantOut: "0\nrefused\n0\n0\n"},
		{name: "-500", adj: intp(-500), wantOut: "-500\nrefused\n-500\n-500\n"},
		{name: "-1000", adj: intp(-1000), wantOut: "-1000\nrefused\n-1000\n-1000\n"},
		{name: "1000", adj: intp(1000), wantOut: "1000\nrefused\n1000\n1000\n"},
		{name: "1001", adj: intp(1001), wantErr: "failed to update /proc/self/oom_score_adj: invalid argument"},
		{name: "-1001", adj: intp(-1001), wantErr: "failed to update /proc/self/oom_score_adj: invalid argument"},
		{name: "past an int", adj: intp(1 << 32), wantErr: "failed to update /proc/self/oom_score_adj: numerical result out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "oom" + strings.ReplaceAll(tc.name, " ", "-")
			c, msg, code := r.create(id, bundle(t, tc.adj, script))
			if tc.wantErr != "" {
				if code == 0 || !strings.Contains(msg, tc.wantErr) {
					t.Fatalf("create: exit %d, error %q; want a failure with %q", code, msg, tc.wantErr)
				}
				return
			}
			if code != 0 {
				t.Fatalf("create: exit %d: %s", code, msg)
			}
			r.must("start", id)
			if exit := c.wait(t); exit != 0 || c.out(t) != tc.wantOut {
				t.Errorf("exit %d, output %q; want 0, %q", exit, c.out(t), tc.wantOut)
			}
			r.must("delete", id)
		})
	}

	t.Run("exec", func(t *testing.T) {
		c, msg, code := r.create("oomexec", bundle(t, intp(-300), "echo ready; while true; do sleep 0.1; done"))
		if code != 0 {
			t.Fatalf("create: %s", msg)
		}
		r.must("start", "oomexec")
		waitFor(t, func() bool { return strings.Contains(c.out(t), "ready") })
		proc := filepath.Join(r.dir, "oom-process.json")
		b, _ := json.Marshal(specs.Process{Args: []string{"cat", "/proc/self/oom_score_adj"}, Env: []string{"PATH=/bin"}, Cwd: "/", OOMScoreAdj: intp(700)})
		if err := os.WriteFile(proc, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, code := r.run(nil, "exec", "--process", proc, "oomexec"); code != 0 || out != "-300\n" {
			t.Errorf("exec: exit %d, output %q; want the container's -300", code, out)
		}
		r.must("delete", "--force", "oomexec")
		c.wait(t)
	})
}
