package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// store keeps one runner's results for one suite in dir: results.tsv (one
// line per test, rewritten after every test so a partial or repeated run
// keeps what the others measured) and <test>.out.
type store struct {
	dir     string
	results map[string]result // by test name; output not loaded
	order   []string          // test names in first-seen order
}

func newStore(dir string) (*store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("results directory: %w", err)
	}
	rs, err := readResults(dir)
	if err != nil {
		return nil, err
	}
	s := &store{dir: dir, results: map[string]result{}}
	for _, r := range rs {
		s.results[r.test] = r
		s.order = append(s.order, r.test)
	}
	return s, nil
}

// outputFile names the file holding a test's output ("chmod/00.t" has a
// slash).
func outputFile(dir, testName string) string {
	return filepath.Join(dir, strings.ReplaceAll(testName, "/", "_")+".out")
}

func (s *store) add(r result) error {
	if err := os.WriteFile(outputFile(s.dir, r.test), r.output, 0o644); err != nil {
		return fmt.Errorf("save output of %s: %w", r.test, err)
	}
	if _, ok := s.results[r.test]; !ok {
		s.order = append(s.order, r.test)
	}
	r.output = nil
	s.results[r.test] = r
	return s.save()
}

func (s *store) save() error {
	var b strings.Builder
	b.WriteString("# test\tdirectory\tstatus\texit\tseconds\n")
	for _, name := range s.order {
		x := s.results[name]
		fmt.Fprintf(&b, "%s\t%s\t%s\t%d\t%.1f\n", x.test, x.dir, x.status, x.exit, x.seconds)
	}
	tmp := filepath.Join(s.dir, "results.tsv.tmp")
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("save results: %w", err)
	}
	return os.Rename(tmp, filepath.Join(s.dir, "results.tsv"))
}

// forget drops a test's result and output, before it is run again.
func (s *store) forget(name string) error {
	if _, ok := s.results[name]; !ok {
		return nil
	}
	delete(s.results, name)
	for i, n := range s.order {
		if n == name {
			s.order = append(s.order[:i], s.order[i+1:]...)
			break
		}
	}
	if err := os.Remove(outputFile(s.dir, name)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("forget %s: %w", name, err)
	}
	return s.save()
}

// readResults loads dir/results.tsv; a missing file is no results.
func readResults(dir string) ([]result, error) {
	f, err := os.Open(filepath.Join(dir, "results.tsv"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	defer f.Close()
	var rs []result
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			return nil, fmt.Errorf("%s/results.tsv: bad line %q", dir, line)
		}
		exit, err1 := strconv.Atoi(f[3])
		secs, err2 := strconv.ParseFloat(f[4], 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s/results.tsv: bad numbers in %q", dir, line)
		}
		rs = append(rs, result{test: f[0], dir: f[1], status: f[2], exit: exit, seconds: secs})
	}
	return rs, sc.Err()
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
