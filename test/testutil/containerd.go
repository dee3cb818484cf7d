package testutil

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Containerd is a private containerd (its own root, state and socket in
// a temp dir) that drives containers through ctr and containerd's runc.v2
// shim with --runc-binary set to a runtime (runsc-decoupled, runc or
// runsc), as a user of Debian's containerd would. Its fields are set by
// StartContainerd and not changed after.
type Containerd struct {
	t   testing.TB
	dir string
	// Sock is containerd's gRPC socket, NS the namespace its containers
	// are made in.
	Sock, NS string
	// Bin is the runtime RunArgs names (runsc-decoupled).
	Bin string
	// Image is the imported busybox image.
	Image string
	// RuncRoot is where the shim keeps the runtime's state (its --root).
	RuncRoot string
}

// ctrTimeout bounds one ctr command.
const ctrTimeout = 60 * time.Second

// StartContainerd starts a private containerd, stopped (with its
// containers) when the test ends, and imports a busybox image into it.
func StartContainerd(t testing.TB) *Containerd {
	t.Helper()
	RequireRoot(t)
	for _, b := range []string{"containerd", "ctr", "containerd-shim-runc-v2"} {
		if _, err := exec.LookPath(b); err != nil {
			t.Fatalf("%s not installed: run test/setup.sh (%v)", b, err)
		}
	}
	// Socket paths must stay short (108 bytes): a short temp dir.
	dir, err := os.MkdirTemp("", "rd-ctrd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	c := &Containerd{t: t, dir: dir, Sock: filepath.Join(dir, "c.sock"), NS: fmt.Sprintf("rdtest%d", os.Getpid()), Bin: Binary(t)}
	// The shim keeps runc's state under /run/containerd/runc/<namespace>.
	c.RuncRoot = filepath.Join("/run/containerd/runc", c.NS)
	cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[debug]
  address = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.Sock, c.Sock+".ttrpc", filepath.Join(dir, "d.sock"))
	cfgPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command("containerd", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Containers first (their shims outlive containerd), then it.
		out, _ := c.CtrErr("task", "ls", "-q")
		for _, id := range strings.Fields(out) {
			c.CtrErr("task", "kill", "-s", "KILL", id)
		}
		time.Sleep(200 * time.Millisecond)
		out, _ = c.CtrErr("container", "ls", "-q")
		for _, id := range strings.Fields(out) {
			c.CtrErr("task", "delete", "-f", id)
			c.CtrErr("container", "delete", id)
		}
		cmd.Process.Kill()
		cmd.Wait()
		UnmountRunscNetns(c.RuncRoot)
		os.RemoveAll(c.RuncRoot)
		if t.Failed() {
			t.Logf("containerd log:\n%s", log.String())
		}
	})
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := c.CtrErr("version"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not start:\n%s", log.String())
		}
	}
	c.Image = c.importBusybox()
	return c
}

// CtrErr runs ctr against this containerd and returns its combined output.
func (c *Containerd) CtrErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ctrTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ctr", append([]string{"--address", c.Sock, "--namespace", c.NS}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Ctr runs ctr and returns stdout, stderr and its exit code.
func (c *Containerd) Ctr(args ...string) (string, string, int) {
	c.t.Helper()
	r := Run(c.t, ctrTimeout, "", "", append([]string{"ctr", "--address", c.Sock, "--namespace", c.NS}, args...)...)
	return r.Stdout, r.Stderr, r.ExitCode
}

// RunArgs are ctr run's flags for a container of the test image on c.Bin.
func (c *Containerd) RunArgs(extra ...string) []string {
	return c.RunArgsWith(c.Bin, extra...)
}

// RunArgsWith are ctr run's flags for a container on the runtime bin.
func (c *Containerd) RunArgsWith(bin string, extra ...string) []string {
	return append([]string{"run", "--snapshotter", "native", "--runtime", "io.containerd.runc.v2", "--runc-binary", bin}, extra...)
}

// importBusybox builds a one-layer OCI image of static busybox and
// imports it; it returns the image's name.
func (c *Containerd) importBusybox() string {
	c.t.Helper()
	const name = "docker.io/library/rd-busybox:latest"
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	bb, err := os.ReadFile(Busybox)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, d := range []string{"bin/", "etc/", "tmp/", "proc/", "dev/", "sys/"} {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: mode})
	}
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bb))})
	tw.Write(bb)
	for _, n := range []string{"sh", "echo", "cat", "ls", "sleep", "pwd", "env", "id", "touch", "hostname", "true"} {
		tw.WriteHeader(&tar.Header{Name: "bin/" + n, Typeflag: tar.TypeSymlink, Linkname: "busybox", Mode: 0o777})
	}
	tw.Close()

	blobs := map[string][]byte{}
	add := func(b []byte) (string, int) {
		sum := sha256.Sum256(b)
		d := "sha256:" + hex.EncodeToString(sum[:])
		blobs[hex.EncodeToString(sum[:])] = b
		return d, len(b)
	}
	layerDigest, layerSize := add(layer.Bytes())
	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"config":       map[string]any{"Env": []string{"PATH=/bin"}, "Cmd": []string{"sh"}, "WorkingDir": "/"},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{layerDigest}},
	})
	configDigest, configSize := add(config)
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        map[string]any{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": configDigest, "size": configSize},
		"layers":        []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layerDigest, "size": layerSize}},
	})
	manifestDigest, manifestSize := add(manifest)
	index, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"manifests": []any{map[string]any{
			"mediaType":   "application/vnd.oci.image.manifest.v1+json",
			"digest":      manifestDigest,
			"size":        manifestSize,
			"platform":    map[string]string{"architecture": "amd64", "os": "linux"},
			"annotations": map[string]string{"io.containerd.image.name": name, "org.opencontainers.image.ref.name": "latest"},
		}},
	})
	var image bytes.Buffer
	iw := tar.NewWriter(&image)
	file := func(name string, b []byte) {
		iw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b))})
		iw.Write(b)
	}
	file("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`))
	file("index.json", index)
	for d, b := range blobs {
		file("blobs/sha256/"+d, b)
	}
	iw.Close()
	path := filepath.Join(c.dir, "image.tar")
	if err := os.WriteFile(path, image.Bytes(), 0o644); err != nil {
		c.t.Fatal(err)
	}
	if out, err := c.CtrErr("image", "import", "--snapshotter", "native", path); err != nil {
		c.t.Fatalf("ctr image import: %v\n%s", err, out)
	}
	return name
}

// UnmountRunscNetns unmounts the network namespace runsc leaves bound at
// ROOT/null-netns (with --network=none), so that root can be removed.
func UnmountRunscNetns(root string) {
	syscall.Unmount(filepath.Join(root, "null-netns"), syscall.MNT_DETACH)
}
