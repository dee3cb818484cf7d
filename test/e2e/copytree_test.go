package e2e

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// cpSourceLstat matches cp -r's lstat of each source name and where it
// was answered.
var cpSourceLstat = regexp.MustCompile(`newfstatat\(AT_FDCWD, "src/[^"]+", 0x[0-9a-f]+, 0x100\) = 0 .*where=(\w+)`)

// cpSourceFstat matches cp's fstat of each source it opened (fd 3) and
// where it was answered.
var cpSourceFstat = regexp.MustCompile(`newfstatat\(0x3, "", 0x[0-9a-f]+, 0x1000\) = 0 .*where=(\w+)`)

// makeCopyTree makes src under dir: 12 directories of 30 files of
// different sizes, and returns the number of files.
func makeCopyTree(t *testing.T, dir string) int {
	t.Helper()
	files := 0
	for d := 0; d < 12; d++ {
		sub := filepath.Join(dir, "src", fmt.Sprintf("d%02d", d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := 0; f < 30; f++ {
			data := strings.Repeat(fmt.Sprintf("%d/%d\n", d, f), 1+f*7)
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%02d", f)), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
			files++
		}
	}
	return files
}

// TestCopyTreeOnClient runs GNU cp -r of 360 files into do's overlay
// (the default) natively and under do, and compares the copies. cp
// lstats each source name after listing its directory, opens it and
// fstats it (answered from leases ahead, asked by the first fstat of a
// directory's files), asks FICLONE of the copy (filekind.go) and copies
// with copy_file_range (posted with the leased bytes). The listing's
// answers hold while the copies before are written behind, which change
// only files made after the answers came (pipelineState.born), and while
// the overlay's new files are written, whose inode numbers no longer
// meet its directories' (oci.mountOverlay's xino: before, each new
// upper file of the number of a directory above the source took back
// every answer under it).
func TestCopyTreeOnClient(t *testing.T) {
	tu.RequireRoot(t)
	script := `/usr/bin/cp -r src dst && find dst -type f -exec stat -c '%s %a %n' {} + | sort | md5sum && find dst -type d | sort | md5sum && cat dst/*/* | md5sum &&
		stat -c %d . src src/d00/f00 dst dst/d00/f00 | uniq | wc -l`
	files, dir, log := treeRun(t, makeCopyTree, script, "--force-overlay")
	checkWhere(t, "source lstats", whereCounts(cpSourceLstat, log), files, files/20)
	// The first fstat of each directory's files asks for the leases of
	// the small files listed after it (sentry/client/dataahead.go),
	// which answer the others' fstat and post their copy_file_range.
	checkWhere(t, "source fstats", whereCounts(cpSourceFstat, log), files, files/5)
	if _, err := os.Stat(filepath.Join(dir, "dst")); !os.IsNotExist(err) {
		t.Errorf("dst on the host after a copy into do's overlay: %v", err)
	}
}

// makeLargeCopyTree makes src under dir: 4 directories of 20 files of
// 100,000 bytes (over the 64 KiB leases ahead had been bounded by, under
// an open's whole-file lease, 256 KiB), and returns the number of files.
func makeLargeCopyTree(t *testing.T, dir string) int {
	t.Helper()
	for d := 0; d < 4; d++ {
		sub := filepath.Join(dir, "src", fmt.Sprintf("d%d", d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := 0; f < 20; f++ {
			data := strings.Repeat(fmt.Sprintf("%03d\n", d*20+f), 25000)
			if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%02d", f)), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return 80
}

// TestCopyLargeSourcesOnClient runs GNU cp -r of 80 files of 100,000
// bytes: the first fstat of each directory's sources asks the leases
// ahead of the others, which now take files up to 256 KiB whole
// (dataAheadMaxSize), so their fstats are answered and their copies
// posted from them. Bounded at 64 KiB, each such source's fstat waited
// for its own lease (cp -r of c++/12: 38 of its 77 waited source fstats).
func TestCopyLargeSourcesOnClient(t *testing.T) {
	tu.RequireRoot(t)
	script := `/usr/bin/cp -r src dst && cat dst/*/* | md5sum`
	files, _, log := treeRun(t, makeLargeCopyTree, script, "--force-overlay")
	checkWhere(t, "source fstats", whereCounts(cpSourceFstat, log), files, files/8)
}

// cpFrames matches the client's counts of the socket frames it sent and
// received, and of the creating opens and mkdirs it posted.
var cpFrames = regexp.MustCompile(`socket_sent=(\d+) posted_late=\d+ socket_received=(\d+) .*posted_creates=(\d+) posted_unlinks=\d+ posted_mkdirs=(\d+)`)

// makeDirsCopyTree makes src under dir: 100 directories of one file
// each, and returns the number of entries (directories and files) a copy
// makes.
func makeDirsCopyTree(t *testing.T, dir string) int {
	t.Helper()
	for d := 0; d < 100; d++ {
		sub := filepath.Join(dir, "src", fmt.Sprintf("d%02d", d))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, "f"), []byte(fmt.Sprintf("%d\n", d)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return 200
}

// TestCopyCreationRidesNextCall runs GNU cp -r under do and counts the
// socket frames it sends per entry it makes. cp creates each copy (a
// posted open) and fstats it right after (a waited call, on a call
// channel); it makes each directory (a posted mkdir) and lstats it
// right after: the creation goes in the next call's channel call, and
// its reply comes in that call's reply (postcreate.go, sendWithNext).
// Sent at once, each cost a frame of its own each way (files: 1.13 sent
// a file; directories of one file: 0.72 an entry). The post delay is
// long here so that a slow machine's queue, due before the fstat, does
// not send the calls before the creation on the socket.
func TestCopyCreationRidesNextCall(t *testing.T) {
	tu.RequireRoot(t)
	tests := []struct {
		name     string
		makeTree func(*testing.T, string) int
		script   string
	}{
		{"files", makeCopyTree, `/usr/bin/cp -r src dst && cat dst/*/* | md5sum`},
		{"directories", makeDirsCopyTree, `/usr/bin/cp -r src dst && find dst | sort | md5sum && cat dst/*/f | md5sum`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nat := t.TempDir()
			tc.makeTree(t, nat)
			want := tu.Run(t, time.Minute, nat, "", tu.Busybox, "sh", "-c", tc.script)
			dir := t.TempDir()
			entries := tc.makeTree(t, dir)
			_, log := sandboxLogged(t, dir, []string{"--post-delay", "100ms"}, &want, tu.Busybox, "sh", "-c", tc.script)
			n := logInts(t, log, cpFrames)
			sent, received := float64(n[0])/float64(entries), float64(n[1])/float64(entries)
			t.Logf("%d entries, %d creations and %d mkdirs posted: %.2f socket frames sent an entry, %.2f received", entries, n[2], n[3], sent, received)
			if n[2]+n[3] < entries*9/10 {
				t.Fatalf("%d creations and %d mkdirs posted for %d entries: the test no longer counts what it says", n[2], n[3], entries)
			}
			if sent > 0.45 {
				t.Errorf("%.2f socket frames sent an entry, want at most 0.45", sent)
			}
		})
	}
}

// makeLateLeasesTree makes src under dir: a directory a of 64 small
// files f00..f63 (1,000 bytes each, leased ahead) and 160 large files
// h000..h159 of 240,000 bytes (38 MB: more than the client's read cache
// holds, 32 MiB; each too large to be leased ahead, so leased by its own
// fstat and used). GNU cp copies a directory's entries in the order of
// their inode numbers: the files are named by theirs, f00 and f33..f63
// the lowest, then the large ones, then f01..f32 (lateFiles). It returns
// the number of small files.
func makeLateLeasesTree(t *testing.T, dir string) int {
	t.Helper()
	a := filepath.Join(dir, "src", "a")
	if err := os.MkdirAll(a, 0o755); err != nil {
		t.Fatal(err)
	}
	type made struct {
		name string
		ino  uint64
	}
	files := make([]made, 224)
	for i := range files {
		name := filepath.Join(a, fmt.Sprintf("n%03d", i))
		if err := os.WriteFile(name, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		files[i] = made{name, inoOf(t, name)}
	}
	slices.SortFunc(files, func(x, y made) int { return cmp.Compare(x.ino, y.ino) })
	for i, f := range files {
		// The late files are named first after f00, where the first
		// fstat's ask (names after f00's) starts: a loaded server's
		// grant, within its time budget, leases them first.
		name, size := fmt.Sprintf("f%02d", i+32), 1000
		switch {
		case i == 0:
			name = "f00"
		case i >= 32 && i < 192:
			name, size = fmt.Sprintf("h%03d", i-32), 240000
		case i >= 192:
			name = fmt.Sprintf("f%02d", i-191)
		}
		data := []byte(strings.Repeat(fmt.Sprintf("%07d\n", i), size/8))
		if err := os.WriteFile(f.name, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(f.name, filepath.Join(a, name)); err != nil {
			t.Fatal(err)
		}
	}
	return 64
}

// inoOf returns the inode number of file name.
func inoOf(t *testing.T, name string) uint64 {
	t.Helper()
	fi, err := os.Lstat(name)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// lateFiles are the small files makeLateLeasesTree numbers after the
// large ones: cp copies them after 38 MB.
func lateFiles() []string {
	var late []string
	for i := 1; i <= 32; i++ {
		late = append(late, fmt.Sprintf("f%02d", i))
	}
	return late
}

// lateCopyWhere counts where cp's fstat of each source named in late and
// its copy_file_range were answered.
func lateCopyWhere(log []byte, late []string) (fstat, copies map[string]int) {
	fstat, copies = map[string]int{}, map[string]int{}
	open := regexp.MustCompile(`client: openat\(AT_FDCWD, "src/a/(f\d\d)", 0x20000`)
	where := regexp.MustCompile(`where=(\w+)`)
	inLate := false
	for _, line := range strings.Split(string(log), "\n") {
		if m := open.FindStringSubmatch(line); m != nil {
			inLate = slices.Contains(late, m[1])
			continue
		}
		if strings.Contains(line, "client: openat(") && !(strings.Contains(line, `"dst/a/f`) && strings.Contains(line, ", 0xc1, ")) {
			// Another file's open (not the copy's creation).
			inLate = false
		}
		w := where.FindStringSubmatch(line)
		if !inLate || w == nil {
			continue
		}
		switch {
		case strings.Contains(line, `newfstatat(0x3, "", `):
			fstat[w[1]]++
		case strings.Contains(line, "copy_file_range(0x3, ") && !strings.Contains(line, ") = 0 "):
			copies[w[1]]++
		}
	}
	return fstat, copies
}

// TestLeasesAheadOutliveLaterCopies runs GNU cp -r of a directory whose
// first fstat asks the leases ahead of its small files, of which cp
// copies the late ones (by inode number) only after 38 MB of large
// files. Their copies fill the client's read cache; the leases ahead no
// description used yet are dropped after the leases used
// (readCache.evictionVictimLocked), so the late files' fstat and
// copy_file_range are answered and posted from them. Dropped first by
// their grant's age (before), each waited (and the server, which still
// counted them held, sent no lease again).
func TestLeasesAheadOutliveLaterCopies(t *testing.T) {
	tu.RequireRoot(t)
	script := `/usr/bin/cp -r src dst && cat dst/a/f* | md5sum && cat dst/a/h15* | md5sum && ls dst/a | md5sum`
	_, _, log := treeRun(t, makeLateLeasesTree, script, "--force-overlay")
	late := lateFiles()
	fstat, copies := lateCopyWhere(log, late)
	checkWhere(t, "late files' fstats", fstat, len(late), 2)
	checkWhere(t, "late files' copies", copies, len(late), 2)
}
