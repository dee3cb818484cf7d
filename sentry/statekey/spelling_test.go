package statekey

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// keyLike reports whether string literal v spells (part of) a record key:
// a kind's prefix alone ("fdt/", to be concatenated), followed by an id
// ("proc/1") or by a format verb ("proc/%d"), or a whole id-less key
// ("sysv/ids").
func keyLike(v string) bool {
	for _, p := range Prefixes() {
		if !strings.HasSuffix(p, "/") {
			if v == p && strings.Contains(p, "/") {
				return true
			}
			p += "/"
		}
		rest, ok := strings.CutPrefix(v, p)
		if !ok {
			continue
		}
		if rest == "" || rest[0] == '%' || (rest[0] >= '0' && rest[0] <= '9') {
			return true
		}
	}
	return false
}

func TestKeyLike(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"fdt/", true}, {"proc/%d", true}, {"write/12", true}, {"sysv/ids", true}, {"sysv/sem/", true},
		{"stdin/", true}, {"timer/%d/real", true},
		{"stdin", false}, {"ids", false}, {"fs/lease-break-time", false}, {"/proc/self", false},
		{"itimer/", false}, {"proc", false}, {"sys/fs/pipe-max-size", false},
	} {
		if got := keyLike(tc.s); got != tc.want {
			t.Errorf("keyLike(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

// TestKeysAreSpelledOnlyHere fails if code outside this package (tests,
// generated code and the test/ harnesses aside) spells a record key in
// a string literal: keys are built with this package's constructors and
// read with Parse, so the two sentries cannot drift apart.
func TestKeysAreSpelledOnlyHere(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found from the package directory: %v", err)
	}
	self, _ := filepath.Abs(".")
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path == self || path == filepath.Join(root, "test") || (path != root && (strings.HasPrefix(name, ".") || name == "testdata")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || strings.HasSuffix(path, ".pb.go") {
			return nil
		}
		files++
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			v, err := strconv.Unquote(lit.Value)
			if err == nil && keyLike(v) {
				t.Errorf("%s: the literal %s spells a state record key; use package statekey", fset.Position(lit.Pos()), lit.Value)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 {
		t.Fatalf("only %d Go files checked under %s: the walk is broken", files, root)
	}
}
