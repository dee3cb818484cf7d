// Command benchtable turns the output of test/bench's BenchmarkSyscall,
// BenchmarkWorkload and BenchmarkHTTP (one or more runs, concatenated) into a Markdown table:
// one row per system call or workload, one column per mode, each cell the
// median of all samples and its ratio to gVisor's runsc on the same
// platform. Lines starting with "# " (run.sh's load averages) are repeated
// under the table.
//
//	go run ./test/bench/benchtable < test/bench/out/results.txt
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// benchLine matches "BenchmarkGroup/row/column-GOMAXPROCS  N  metrics...".
var benchLine = regexp.MustCompile(`^Benchmark(\w+)/([^/\s]+)/([^/\s]+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// samples holds the values seen for each group, row and column, and the
// order in which rows and columns first appeared.
type samples struct {
	groups []string
	rows   map[string][]string // group -> rows
	cols   map[string][]string // group -> columns
	vals   map[[3]string][]float64
	notes  []string
}

// metric picks the number a benchmark line reports: ns per system call or
// per request when the program measured it itself, else the time of the
// whole run.
func metric(fields []string) (float64, bool) {
	var op float64
	found := false
	for i := 0; i+1 < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			continue
		}
		switch fields[i+1] {
		case "ns/syscall", "ns/request":
			return v, true
		case "ns/op":
			op, found = v, true
		}
	}
	return op, found
}

func parse(r io.Reader) (*samples, error) {
	s := &samples{rows: map[string][]string{}, cols: map[string][]string{}, vals: map[[3]string][]float64{}}
	seen := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# ") {
			s.notes = append(s.notes, strings.TrimPrefix(line, "# "))
			continue
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v, ok := metric(strings.Fields(m[4]))
		if !ok {
			continue
		}
		g, row, col := m[1], m[2], m[3]
		if !seen[g] {
			seen[g] = true
			s.groups = append(s.groups, g)
		}
		if !seen[g+"/r/"+row] {
			seen[g+"/r/"+row] = true
			s.rows[g] = append(s.rows[g], row)
		}
		if !seen[g+"/c/"+col] {
			seen[g+"/c/"+col] = true
			s.cols[g] = append(s.cols[g], col)
		}
		k := [3]string{g, row, col}
		s.vals[k] = append(s.vals[k], v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read benchmark output: %w", err)
	}
	return s, nil
}

func median(v []float64) float64 {
	c := append([]float64(nil), v...)
	sort.Float64s(c)
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

// human prints nanoseconds with a unit that keeps three significant digits.
func human(ns float64) string {
	for _, u := range []struct {
		div  float64
		name string
	}{{1e9, "s"}, {1e6, "ms"}, {1e3, "µs"}} {
		if ns >= u.div {
			return sig3(ns/u.div) + " " + u.name
		}
	}
	return sig3(ns) + " ns"
}

func sig3(x float64) string {
	switch {
	case x >= 100:
		return strconv.FormatFloat(x, 'f', 0, 64)
	case x >= 10:
		return strconv.FormatFloat(x, 'f', 1, 64)
	default:
		return strconv.FormatFloat(x, 'f', 2, 64)
	}
}

// reference is the runsc column a column is compared with: the same
// platform, so the ratio is the cost of the remote design alone.
func reference(col string) string {
	if strings.HasPrefix(col, "runsc-") {
		return ""
	}
	if strings.Contains(col, "ptrace") {
		return "runsc-ptrace"
	}
	return "runsc-systrap"
}

func ratio(x float64) string {
	switch {
	case x >= 10:
		return strconv.FormatFloat(x, 'f', 0, 64)
	default:
		return strconv.FormatFloat(x, 'f', 2, 64)
	}
}

func write(w io.Writer, s *samples) {
	for _, g := range s.groups {
		cols := s.cols[g]
		fmt.Fprintf(w, "| %s | %s |\n", strings.ToLower(g), strings.Join(cols, " | "))
		fmt.Fprintf(w, "|---%s|\n", strings.Repeat("|---", len(cols)))
		counts := map[int]bool{}
		for _, row := range s.rows[g] {
			cells := []string{row}
			for _, col := range cols {
				v := s.vals[[3]string{g, row, col}]
				if len(v) == 0 {
					cells = append(cells, "—")
					continue
				}
				counts[len(v)] = true
				med := median(v)
				cell := human(med)
				if ref := s.vals[[3]string{g, row, reference(col)}]; reference(col) != "" && len(ref) > 0 {
					cell += " (×" + ratio(med/median(ref)) + ")"
				}
				cells = append(cells, cell)
			}
			fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
		}
		var n []string
		for c := range counts {
			n = append(n, strconv.Itoa(c))
		}
		sort.Strings(n)
		fmt.Fprintf(w, "\nMedians of %s samples per cell; (×R) is the ratio to runsc on the same platform.\n\n", strings.Join(n, "/"))
	}
	for _, n := range s.notes {
		fmt.Fprintf(w, "%s\n", n)
	}
}

func main() {
	s, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	if len(s.groups) == 0 {
		fmt.Fprintln(os.Stderr, "benchtable: no BenchmarkGroup/row/column lines on stdin")
		os.Exit(1)
	}
	write(os.Stdout, s)
}
