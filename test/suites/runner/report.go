package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

var suiteTitle = map[string]string{"ltp": "LTP syscalls (runtest entries)", "pjdfstest": "pjdfstest (.t files)"}

var runnerTitle = map[string]string{"native": "native", "runsc": "runsc (systrap)", "decoupled": "runsc-decoupled do"}

// measured is every result found under out: suite -> runner -> test -> result.
type measured map[string]map[string]map[string]result

func load(out string) (measured, error) {
	m := measured{}
	for _, suite := range []string{"ltp", "pjdfstest"} {
		for _, runner := range runnerOrder {
			dir := filepath.Join(out, suite, runner)
			rs, err := readResults(dir)
			if err != nil {
				return nil, err
			}
			if len(rs) == 0 {
				continue
			}
			if m[suite] == nil {
				m[suite] = map[string]map[string]result{}
			}
			m[suite][runner] = map[string]result{}
			for _, r := range rs {
				m[suite][runner][r.test] = r
			}
		}
	}
	return m, nil
}

func (m measured) runners(suite string) []string {
	var rs []string
	for _, r := range runnerOrder {
		if _, ok := m[suite][r]; ok {
			rs = append(rs, r)
		}
	}
	return rs
}

// report writes table.md (pass counts per runner, then per directory) and
// triage.md (each non-native runner's failures grouped by cause) into out,
// and prints the table.
func report(out string, w io.Writer) error {
	m, err := load(out)
	if err != nil {
		return err
	}
	if len(m) == 0 {
		return fmt.Errorf("no results under %s", out)
	}
	var table, triage strings.Builder
	for _, suite := range []string{"ltp", "pjdfstest"} {
		if m[suite] == nil {
			continue
		}
		writeTable(&table, m, suite)
		for _, r := range m.runners(suite) {
			if r != "native" {
				if err := writeTriage(&triage, out, m, suite, r); err != nil {
					return err
				}
			}
		}
	}
	if err := os.WriteFile(filepath.Join(out, "table.md"), []byte(table.String()), 0o644); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	if err := os.WriteFile(filepath.Join(out, "triage.md"), []byte(triage.String()), 0o644); err != nil {
		return fmt.Errorf("write triage: %w", err)
	}
	_, err = io.WriteString(w, table.String())
	return err
}

func writeTable(b *strings.Builder, m measured, suite string) {
	runners := m.runners(suite)
	all := map[string]string{} // test -> directory
	for _, r := range runners {
		for name, res := range m[suite][r] {
			all[name] = res.dir
		}
	}
	dirs := map[string]int{}
	for _, d := range all {
		dirs[d]++
	}
	fmt.Fprintf(b, "| %s: %d in %d directories |", suiteTitle[suite], len(all), len(dirs))
	for _, r := range runners {
		fmt.Fprintf(b, " %s |", runnerTitle[r])
	}
	b.WriteString("\n|---|" + strings.Repeat("---|", len(runners)) + "\n")
	for _, st := range []string{statusPass, statusConf, statusFail, statusTimeout, "not run"} {
		fmt.Fprintf(b, "| %s |", st)
		for _, r := range runners {
			n := 0
			for name := range all {
				res, ok := m[suite][r][name]
				if (ok && res.status == st) || (!ok && st == "not run") {
					n++
				}
			}
			fmt.Fprintf(b, " %d |", n)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")

	// Passes per directory: where a runner is weakest.
	fmt.Fprintf(b, "<details><summary>%s: passes per directory</summary>\n\n| directory | tests |", suiteTitle[suite])
	for _, r := range runners {
		fmt.Fprintf(b, " %s |", runnerTitle[r])
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(runners)) + "\n")
	for _, d := range sortedKeys(dirs) {
		fmt.Fprintf(b, "| %s | %d |", d, dirs[d])
		for _, r := range runners {
			n := 0
			for name, dir := range all {
				if dir == d && m[suite][r][name].status == statusPass {
					n++
				}
			}
			fmt.Fprintf(b, " %d |", n)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n</details>\n\n")
}

type causeGroup struct {
	cause        string
	tests        []string
	passNatively int
}

// writeTriage groups a runner's failed and timed-out tests by cause, most
// frequent first, and says how many of each pass natively.
func writeTriage(b *strings.Builder, out string, m measured, suite, runner string) error {
	groups := map[string]*causeGroup{}
	failed := 0
	for _, name := range sortedKeys(m[suite][runner]) {
		res := m[suite][runner][name]
		if res.status != statusFail && res.status != statusTimeout {
			continue
		}
		failed++
		output, err := os.ReadFile(outputFile(filepath.Join(out, suite, runner), name))
		if err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("read output of %s: %w", name, err)
		}
		var cause string
		if suite == "ltp" {
			cause = ltpCause(res.status, res.exit, output)
		} else {
			cause = pjdfstestCause(res.status, res.exit, output)
		}
		g := groups[cause]
		if g == nil {
			g = &causeGroup{cause: cause}
			groups[cause] = g
		}
		g.tests = append(g.tests, name)
		if m[suite]["native"][name].status == statusPass {
			g.passNatively++
		}
	}
	list := make([]*causeGroup, 0, len(groups))
	for _, g := range groups {
		list = append(list, g)
	}
	sort.Slice(list, func(i, j int) bool {
		if len(list[i].tests) != len(list[j].tests) {
			return len(list[i].tests) > len(list[j].tests)
		}
		return list[i].cause < list[j].cause
	})
	notRun := map[string]bool{}
	for _, r := range m.runners(suite) {
		for name := range m[suite][r] {
			if _, ok := m[suite][runner][name]; !ok {
				notRun[name] = true
			}
		}
	}
	fmt.Fprintf(b, "## %s under %s: %d failed or timed out, by first error\n\n", suiteTitle[suite], runnerTitle[runner], failed)
	if len(notRun) > 0 {
		fmt.Fprintf(b, "%d not run (interrupted, or given up on after timeouts in a row).\n\n", len(notRun))
	}
	b.WriteString("| tests | pass natively | cause | which |\n|---|---|---|---|\n")
	for _, g := range list {
		which := g.tests
		more := ""
		if len(which) > 12 {
			which, more = which[:12], fmt.Sprintf(" and %d more", len(g.tests)-12)
		}
		fmt.Fprintf(b, "| %d | %d | `%s` | %s%s |\n", len(g.tests), g.passNatively,
			strings.ReplaceAll(g.cause, "|", "\\|"), strings.Join(which, " "), more)
	}
	b.WriteString("\n")
	return nil
}
