package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

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

// checkNoTmpfsLeft fails t if a tmpfs directory not among before stays
// in place: one that goes within a minute was another sandbox's (the
// chaos suite's tmpfs workload runs beside the e2e tests in CI), one
// left by this test's sandbox stays.
func checkNoTmpfsLeft(t *testing.T, before []string) {
	t.Helper()
	var left []string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(250 * time.Millisecond) {
		left = left[:0]
		for _, d := range leftTmpfsDirs() {
			if !slices.Contains(before, d) {
				left = append(left, d)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(left) > 0 {
		t.Errorf("tmpfs directories left behind: %v (before: %v)", left, before)
	}
}

// TestMountTmpfsProgram compares mount(2) and umount2(2) of a tmpfs with
// Linux: options, statfs, mountinfo and mounts lines, crossing the mount
// point, EXDEV, EBUSY, EROFS, ENODEV, remounts and a lazy unmount.
func TestMountTmpfsProgram(t *testing.T) {
	tu.RequireRoot(t)
	buildDir, nativeDir, sandboxDir := t.TempDir(), t.TempDir(), t.TempDir()
	prog := tu.StaticProgramFile(t, buildDir, filepath.Join("testdata", "mounts", "tmpfs.c"))
	before := leftTmpfsDirs()
	want := tu.Run(t, timeout, nativeDir, "", prog)
	if !strings.Contains(want.Stdout, "mount: 0 errno 0") {
		t.Fatalf("mount of a tmpfs failed natively (root without CAP_SYS_ADMIN?):\n%s", want.Stdout)
	}
	// The program prints absolute paths only as the mount lines' keys:
	// the two runs' directories differ in name only.
	got := tu.Sandbox(t, timeout, sandboxDir, "", nil, prog)
	compare(t, want, got)
	checkNoTmpfsLeft(t, before)
}

// TestVolumeMountinfo: do's --volume binds are in the sandbox's mount
// table.
func TestVolumeMountinfo(t *testing.T) {
	tu.RequireRoot(t)
	host := t.TempDir()
	got := tu.Sandbox(t, timeout, t.TempDir(), "", []string{"--volume", host + ":/vol:ro"}, "/bin/cat", "/proc/self/mountinfo")
	// A bind's root field is the directory it binds, as Linux shows it.
	re := regexp.MustCompile(`(?m)^\d+ 1 \d+:\d+ ` + regexp.QuoteMeta(host) + ` /vol ro,relatime - bind ` + regexp.QuoteMeta(host) + ` rw$`)
	if got.ExitCode != 0 || !re.MatchString(got.Stdout) {
		t.Errorf("mountinfo (exit %d) lacks the volume:\n%s\n%s", got.ExitCode, got.Stdout, got.Stderr)
	}
}

// TestMountRecoveryKill kills the remote sentry while a program works in
// a tmpfs it mounted (an open file in it, its working directory in it):
// after recovery the mount, its file, the descriptor and the mount table
// are as they were (the output matches Linux), and the unmount removes
// the mount's directory.
func TestMountRecoveryKill(t *testing.T) {
	tu.RequireRoot(t)
	before := leftTmpfsDirs()
	want, got, k := killAtPhase1(t, tu.StaticProgram(t, t.TempDir(), "recover", testdataSource(t, "mounts", "recover")))
	compare(t, want, got)
	checkNoTmpfsLeft(t, before)
	if t.Failed() {
		t.Logf("server log:\n%s", k.server.Log)
	}
}

// TestOCIMountInside: in a container with a read-only root, the
// application mounts a tmpfs and uses /dev/shm (both are directories of
// the gofer's own tmpfs under the root, which the application never
// sees), and mountinfo lists config.json's /dev/shm, /dev/mqueue and /sys.
func TestOCIMountInside(t *testing.T) {
	r := newOCIRuntime(t)
	bundle := busyboxBundle(t, r, func(s *specs.Spec) {
		s.Root.Readonly = true
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			specs.Mount{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			specs.Mount{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}})
		s.Process.Args = []string{"sh", "-c", `busybox mount -t tmpfs -o size=1m scratch /tmp && echo in-tmpfs > /tmp/f && cat /tmp/f &&
echo in-shm > /dev/shm/g && cat /dev/shm/g &&
busybox umount /tmp && ls /tmp && echo unmounted &&
while read -r id parent dev root target opts rest; do case $target in /dev/shm|/dev/mqueue|/sys) echo "$target ${rest#*- }";; esac; done < /proc/self/mountinfo`}
	})
	c, errOut, code := r.create("mnt-inside", bundle)
	if code != 0 {
		t.Fatalf("create: exit %d: %s", code, errOut)
	}
	r.must("start", "mnt-inside")
	if code := c.wait(t); code != 0 {
		t.Errorf("exit %d, output:\n%s", code, c.out(t))
	}
	// mode=1777 is tmpfs's default: mountinfo does not show it.
	want := "in-tmpfs\nin-shm\nunmounted\n/dev/shm tmpfs shm rw,size=65536k\n/dev/mqueue mqueue mqueue rw\n/sys sysfs sysfs ro"
	if got := strings.TrimRight(c.out(t), "\n"); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
	r.must("delete", "mnt-inside")
}
