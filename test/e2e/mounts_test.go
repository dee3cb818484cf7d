package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// leftTmpfsDirs lists the gofer directories of tmpfs mounts in the host's
// /dev/shm and /tmp (where a sandbox serving / keeps them).
func leftTmpfsDirs() []string {
	var out []string
	for _, dir := range []string{"/dev/shm", "/tmp"} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "rd-tmpfs-") {
				out = append(out, filepath.Join(dir, e.Name()))
			}
		}
	}
	return out
}

// TestMountTmpfsProgram compares mount(2) and umount2(2) of a tmpfs with
// Linux: options, statfs, mountinfo and mounts lines, crossing the mount
// point, EXDEV, EBUSY, EROFS, ENODEV, remounts and a lazy unmount.
func TestMountTmpfsProgram(t *testing.T) {
	tu.RequireRoot(t)
	buildDir, nativeDir, sandboxDir := t.TempDir(), t.TempDir(), t.TempDir()
	src, err := os.ReadFile(filepath.Join("testdata", "mounts", "tmpfs.c"))
	if err != nil {
		t.Fatal(err)
	}
	prog := tu.StaticProgram(t, buildDir, "tmpfs", string(src))
	before := leftTmpfsDirs()
	want := tu.Run(t, timeout, nativeDir, "", prog)
	if !strings.Contains(want.Stdout, "mount: 0 errno 0") {
		t.Fatalf("mount of a tmpfs failed natively (root without CAP_SYS_ADMIN?):\n%s", want.Stdout)
	}
	// The program prints absolute paths only as the mount lines' keys:
	// the two runs' directories differ in name only.
	got := tu.Sandbox(t, timeout, sandboxDir, "", nil, prog)
	compare(t, want, got)
	if left := leftTmpfsDirs(); len(left) > len(before) {
		t.Errorf("tmpfs directories left behind: %v (before: %v)", left, before)
	}
}

// TestVolumeMountinfo: do's --volume binds are in the sandbox's mount
// table.
func TestVolumeMountinfo(t *testing.T) {
	tu.RequireRoot(t)
	host := t.TempDir()
	got := tu.Sandbox(t, timeout, t.TempDir(), "", []string{"--volume", host + ":/vol:ro"}, "/bin/cat", "/proc/self/mountinfo")
	re := regexp.MustCompile(`(?m)^\d+ 1 \d+:\d+ / /vol ro,relatime - bind ` + regexp.QuoteMeta(host) + ` rw$`)
	if got.ExitCode != 0 || !re.MatchString(got.Stdout) {
		t.Errorf("mountinfo (exit %d) lacks the volume:\n%s\n%s", got.ExitCode, got.Stdout, got.Stderr)
	}
}
