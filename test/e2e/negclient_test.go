package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// memberUnlink matches tar's unlink of a member in the strace log and
// where the client answered it.
var memberUnlink = regexp.MustCompile(`unlink\("(?:\./)?top/d[01]/f\d+"\) = .*where=(\w+)`)

// etcOpenWaited matches tar's waited opens of /etc/passwd and /etc/group
// (it looks the owner's names up for each member) and the fstat of the
// fd opened.
var etcOpenWaited = regexp.MustCompile(`openat\(AT_FDCWD, "/etc/(passwd|group)", .*where=forwarded`)

// TestCompleteNamesTarCalls runs busybox tar -xf of 200 files in two
// directories it makes, with the complete-names copies and without,
// and counts the calls tar waited for per file: with them, the unlink
// of each new member is answered by the client (ENOENT: the directory
// was made by this client and the name not since), so neither it nor
// the creation posted after it waits. tar's opens of /etc/passwd and
// /etc/group for each member are posted while the previous member's
// chown, chmod and utimensat are without a reply (they change files
// created after the kept answers of those opens arrived:
// readCache.attrsOnlyOfNewerLocked); they wait only at the start and
// when a lease expires. Measured besides the stats of the directories:
// 1.12-1.15 waited calls per file without, 0.26-0.99 with before the
// /etc opens were posted (0.3 of them per file at load 17), 0.0-0.1
// now. Members named "./top/..." (an archive made with `tar -C dir .`)
// had every unlink waited (1.0 a file) before copyPath.
func TestCompleteNamesTarCalls(t *testing.T) {
	tu.RequireRoot(t)
	const files = 200
	archives := map[string]string{"top": tarOf(t, files), "./top": tarTreeNamed(t, files, 2, "./top")}
	tests := []struct {
		name  string
		flags []string
		// top is how the archive names the members' top directory.
		top string
		// minLocal is the fewest member unlinks answered here per
		// file; maxWaited the most waited calls per file but the
		// stats of the directories.
		minLocal, maxWaited float64
	}{
		{name: "without", flags: []string{"--complete-names=false"}, top: "top", minLocal: 0, maxWaited: 1.3},
		{name: "with", top: "top", minLocal: 0.9, maxWaited: 0.25},
		{name: "with ./ names", top: "./top", minLocal: 0.9, maxWaited: 0.25},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, log, _ := stracedRun(t, dir, tc.flags, "top", tu.Busybox, "tar", "-xf", archives[tc.top])
			checkTarExtracted(t, dir, files)
			where := map[string]int{}
			for _, m := range memberUnlink.FindAllStringSubmatch(log, -1) {
				where[m[1]]++
			}
			for _, m := range createdOpen.FindAllStringSubmatch(log, -1) {
				where["create "+m[1]]++
			}
			local := float64(files-where["forwarded"]) / files
			dirStats := len(dirStat.FindAllString(log, -1))
			waited := float64(waitedCalls(t, log)) / files
			others := waited - float64(dirStats)/files
			etc := float64(len(etcOpenWaited.FindAllString(log, -1))) / files
			t.Logf("per file: %.2f waited calls (%.2f besides the stats of the directories, %.2f opens of /etc/passwd or /etc/group); unlinks and creations %v",
				waited, others, etc, where)
			if etc > 0.1 {
				t.Errorf("%.2f waited opens of /etc/passwd or /etc/group per file, want at most 0.1 (the start, and an expired lease now and then)", etc)
			}
			if local < tc.minLocal || (tc.minLocal == 0 && local != 0) {
				t.Errorf("%.2f member unlinks per file answered by the client, want at least %v (none without)", local, tc.minLocal)
			}
			if others > tc.maxWaited {
				t.Errorf("%.2f waited calls per file besides the stats of the directories, want at most %v", others, tc.maxWaited)
			}
			if t.Failed() {
				for _, l := range strings.Split(log, "\n") {
					if strings.Contains(l, "top/d0/f00") || strings.Contains(l, "mkdir") {
						t.Log(l)
					}
				}
			}
		})
	}
}

// destMissingStat matches cp's stat of a name it is about to create in
// the copy (dst/...), with where it was answered; srcStat its stat of a
// name in the tree it copies (src/...).
var (
	destMissingStat = regexp.MustCompile(`newfstatat\(AT_FDCWD, "dst/[^"]*", 0x[0-9a-f]+, 0x100\) = -1 ENOENT .*where=(\w+)`)
	srcStat         = regexp.MustCompile(`newfstatat\(AT_FDCWD, "src/[^"]*", 0x[0-9a-f]+, 0x100\) = 0 .*where=(\w+)`)
)

// TestCompleteNamesCopyCalls runs busybox cp -a of a tree of 200 files
// in two directories: cp makes each directory of the copy (posted
// mkdir) and lstats each name before it creates it there. The copy of
// the new directory's complete names answers those lstats (ENOENT) on
// the client: all 202 (the files' and the two directories') waited
// before, none after. cp lstats each source name (listed by its
// getdents64) while the previous file's posted chown, chmod and
// utimensat are in flight: they change a file created after the
// listing's answers arrived, not theirs, which are answered on the
// client (199 of 202 waited before, none after), and the source's open
// is posted. Per file cp then waits for its sendfile alone: waited calls
// per file 2.05 -> 1.05.
func TestCompleteNamesCopyCalls(t *testing.T) {
	tu.RequireRoot(t)
	const files = 200
	dir := t.TempDir()
	for i := range files {
		sub := filepath.Join(dir, "src", fmt.Sprintf("d%d", i%2))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%03d", i)), []byte(strings.Repeat("x", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, log, _ := stracedRun(t, dir, nil, "dst", tu.Busybox, "cp", "-a", "src", "dst")
	if r := tu.Run(t, timeout, dir, "", "diff", "-r", "src", "dst"); r.ExitCode != 0 {
		t.Fatalf("the copy differs: %s%s", r.Stdout, r.Stderr)
	}
	count := func(re *regexp.Regexp) map[string]int {
		where := map[string]int{}
		for _, m := range re.FindAllStringSubmatch(log, -1) {
			where[m[1]]++
		}
		return where
	}
	dst, src := count(destMissingStat), count(srcStat)
	waited := float64(waitedCalls(t, log)) / files
	t.Logf("lstats of names about to be made in the copy: %v; of the source's names: %v; waited calls per file: %.2f", dst, src, waited)
	for _, c := range []struct {
		what  string
		where map[string]int
	}{{"names to make", dst}, {"source names", src}} {
		if n := c.where["cached"] + c.where["forwarded"]; n != files+2 {
			t.Errorf("%d lstats of %s, want %d (the files and the two directories)", n, c.what, files+2)
		}
		if c.where["forwarded"] > 2 {
			t.Errorf("%d lstats of %s sent to the server, want at most 2", c.where["forwarded"], c.what)
		}
	}
	if waited > 1.2 {
		t.Errorf("%.2f waited calls per file, want at most 1.2 (its sendfile)", waited)
	}
}

// TestCompleteNamesTwoSandboxes runs testdata/negclient/othermade.c in
// two sandboxes on one server and natively: the creator makes d and its
// unlink of d/x is answered by its client (ENOENT, from its copy of d's
// complete names); the other sandbox then makes d/x, and the creator's
// next unlink of d/x must remove it, as natively (the other's creation
// revoked the copy's lease before its reply). The same for y in e, made
// and then the creator's working directory, unlinked as y (the copy kept
// for the working directory). The server's leases last a minute, so a
// copy not revoked would still answer ENOENT.
func TestCompleteNamesTwoSandboxes(t *testing.T) {
	tu.RequireRoot(t)
	prog := tu.StaticProgramFile(t, t.TempDir(), filepath.Join("testdata", "negclient", "othermade.c"))
	run := func(t *testing.T, argv func(role, dir string) []string) string {
		dir := t.TempDir()
		r, out, err := tu.RunBeside(t, 3*time.Minute, dir, argv("other", dir), argv("creator", dir))
		if r.ExitCode != 0 || err != nil {
			t.Fatalf("creator: exit %d\n%s%s\nother: %v\n%s", r.ExitCode, r.Stdout, r.Stderr, err, out)
		}
		return out + r.Stdout
	}
	sock := t.TempDir()
	g := tu.StartDaemon(t, sock, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemon(t, sock, "server", "server", "--gofer", g.Target, "--read-lease-ttl", "60s")
	native := run(t, func(role, dir string) []string { return []string{prog, role, dir} })
	logs := t.TempDir()
	sandboxed := run(t, func(role, dir string) []string {
		return []string{tu.Binary(t), "do", "--force-overlay=false", "--server", s.Target, "--cwd", dir, "--strace",
			"--debug-log", filepath.Join(logs, role+".log"), "--", prog, role, dir}
	})
	if sandboxed != native {
		t.Errorf("in two sandboxes:\n%s\nnatively:\n%s", sandboxed, native)
	}
	log, err := os.ReadFile(filepath.Join(logs, "creator.log"))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(regexp.MustCompile(`unlink\("y"\) = -1 ENOENT.*where=cached`).FindAll(log, -1)); n != 1 {
		t.Errorf("%d of the creator's unlinks of y in e, its working directory, answered on the client, want 1 (the first)", n)
	}
	if n := len(regexp.MustCompile(`unlink\("[^"]*/d/x"\) = -1 ENOENT.*where=cached`).FindAll(log, -1)); n != 1 {
		t.Errorf("%d of the creator's unlinks of d/x answered on the client, want 1 (the first)", n)
	}
}
