package fuzz

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// target is one fuzz function and the package directory that holds it,
// relative to the repository's root.
type target struct {
	dir, name string
}

var fuzzFunc = regexp.MustCompile(`^func (Fuzz\w+)\(\w+ \*testing\.F\)`)

// findTargets lists the fuzz targets under root, sorted.
func findTargets(t *testing.T, root string) []target {
	t.Helper()
	var out []target
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "out") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if m := fuzzFunc.FindStringSubmatch(sc.Text()); m != nil {
				rel, err := filepath.Rel(root, filepath.Dir(path))
				if err != nil {
					return err
				}
				out = append(out, target{dir: rel, name: m[1]})
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatalf("scan %s for fuzz targets: %v", root, err)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].dir != out[j].dir {
			return out[i].dir < out[j].dir
		}
		return out[i].name < out[j].name
	})
	return out
}

// TestFuzzTargets fuzzes each target of the repository for FUZZTIME
// (inputs or a duration).
func TestFuzzTargets(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	fuzztime := os.Getenv("FUZZTIME")
	if fuzztime == "" {
		// A count, not a duration (doc.go: Go 1.26's coordinator races
		// the end of a duration).
		fuzztime = "2000x"
	}
	targets := findTargets(t, root)
	// The wire and parsers this package exists for: if the scan misses
	// them, it is broken, not done.
	for _, want := range []string{"FuzzFrameReader", "FuzzSyscall", "FuzzGoferCall", "FuzzRestore", "FuzzDecodeLog"} {
		found := false
		for _, tg := range targets {
			found = found || tg.name == want
		}
		if !found {
			t.Fatalf("fuzz target %s not found among %v", want, targets)
		}
	}
	for _, tg := range targets {
		t.Run(tg.name, func(t *testing.T) {
			cmd := exec.Command("go", "test", "-run=^$", "-fuzz=^"+tg.name+"$", "-fuzztime="+fuzztime, "-parallel=1", "-timeout=10m", "./"+tg.dir)
			cmd.Dir = root
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("go test -fuzz=%s ./%s: %v\n%s", tg.name, tg.dir, err, out)
			}
		})
	}
}
