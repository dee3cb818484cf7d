package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// containerRuntime is one column of BenchmarkContainer: an OCI runtime
// binary and the global flags it is run with.
type containerRuntime struct {
	name string
	// bin is the runtime as the shim runs it (--runc-binary): for runsc,
	// a script adding global flags.
	bin  string
	skip string
}

// BenchmarkContainer times starting a container of /bin/true until it
// has exited and been removed, side by side for runsc-decoupled, runc and
// gVisor's runsc (systrap, no network: RunscArgv's flags): `run` is the
// runtime alone (`RUNTIME run --bundle B ID`); `ctr` is the same through
// containerd and its runc.v2 shim (`ctr run --rm`), as Kubernetes starts
// a container.
func BenchmarkContainer(b *testing.B) {
	tu.RequireRoot(b)
	dir := b.TempDir()
	bundle := trueBundle(b, dir)
	runtimes := []containerRuntime{{name: "runsc-decoupled", bin: tu.Binary(b)}}
	runc, err := exec.LookPath("runc")
	rc := containerRuntime{name: "runc", bin: runc}
	if err != nil {
		rc.skip = "runc not installed: run test/setup.sh"
	}
	runtimes = append(runtimes, rc)
	rbin, why := runscUnavailable(dir, "systrap")
	rs := containerRuntime{name: "runsc-systrap", skip: why}
	if why == "" {
		rs.bin = filepath.Join(dir, "runsc-systrap")
		script := fmt.Sprintf("#!/bin/sh\nexec %q --network=none --platform=systrap \"$@\"\n", rbin)
		if err := os.WriteFile(rs.bin, []byte(script), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	runtimes = append(runtimes, rs)

	var ctrd *tu.Containerd
	ctrSkip := ""
	if _, err := exec.LookPath("containerd"); err != nil {
		ctrSkip = "containerd not installed: run test/setup.sh"
	} else {
		ctrd = tu.StartContainerd(b)
	}
	// runsc leaves its network namespace bound under its root.
	b.Cleanup(func() { tu.UnmountRunscNetns(filepath.Join(dir, "root-"+rs.name)) })
	seq := 0
	nextID := func() string { seq++; return fmt.Sprintf("bench-%d-%d", os.Getpid(), seq) }

	for _, row := range []string{"run", "ctr"} {
		for _, rt := range runtimes {
			b.Run(row+"/"+rt.name, func(b *testing.B) {
				if rt.skip != "" {
					b.Skip(rt.skip)
				}
				if row == "ctr" && ctrSkip != "" {
					b.Skip(ctrSkip)
				}
				root := filepath.Join(dir, "root-"+rt.name)
				for i := 0; i < b.N; i++ {
					var argv []string
					if row == "run" {
						argv = []string{rt.bin, "--root", root, "run", "--bundle", bundle, nextID()}
					} else {
						argv = append([]string{"ctr", "--address", ctrd.Sock, "--namespace", ctrd.NS}, ctrd.RunArgsWith(rt.bin, "--rm", ctrd.Image, nextID(), "/bin/true")...)
					}
					r := tu.Run(b, 2*time.Minute, dir, "", argv...)
					if r.ExitCode != 0 {
						b.Fatalf("%q: exit %d: %s%s", argv, r.ExitCode, r.Stdout, r.Stderr)
					}
				}
			})
		}
	}
}

// trueBundle makes an OCI bundle under dir whose container runs
// /bin/true (static busybox) with runc's usual mounts and namespaces.
func trueBundle(b *testing.B, dir string) string {
	bundle := filepath.Join(dir, "bundle")
	rootfs := filepath.Join(bundle, "rootfs")
	for _, d := range []string{"bin", "proc", "dev", "tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			b.Fatal(err)
		}
	}
	bb, err := os.ReadFile(tu.Busybox)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), bb, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", "true")); err != nil {
		b.Fatal(err)
	}
	spec := specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: "rootfs", Readonly: true},
		Process: &specs.Process{
			Args: []string{"/bin/true"},
			Env:  []string{"PATH=/bin"},
			Cwd:  "/",
		},
		Hostname: "bench",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace}, {Type: specs.MountNamespace}},
		},
	}
	js, err := json.Marshal(&spec)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), js, 0o644); err != nil {
		b.Fatal(err)
	}
	return bundle
}
