package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// pjdfstestTests returns every tests/<call>/NN.t of a built pjdfstest tree.
// The scripts find the pjdfstest program by walking up from their own path,
// and work in their current directory (the scratch directory).
func pjdfstestTests(tree string) ([]test, error) {
	if tree == "" {
		return nil, fmt.Errorf("the pjdfstest suite needs -pjdfstest")
	}
	tree, err := filepath.Abs(tree)
	if err != nil {
		return nil, fmt.Errorf("pjdfstest tree: %w", err)
	}
	files, err := filepath.Glob(filepath.Join(tree, "tests", "*", "*.t"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no tests/*/*.t under %q (%v)", tree, err)
	}
	sort.Strings(files)
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C"}
	var tests []test
	for _, f := range files {
		dir := filepath.Base(filepath.Dir(f))
		tests = append(tests, test{
			suite: "pjdfstest",
			name:  dir + "/" + filepath.Base(f),
			dir:   dir,
			argv:  []string{"/bin/sh", f},
			env:   env,
		})
	}
	return tests, nil
}

var (
	tapPlan   = regexp.MustCompile(`^1\.\.(\d+)`)
	tapResult = regexp.MustCompile(`^(not )?ok\b`)
)

// tapStatus judges a TAP stream as prove does: the file passes when it
// exits 0, states a plan, and reports exactly that many assertions, none
// failed (a failure marked # TODO does not count). A plan of 1..0 is a skip.
func tapStatus(exit int, output []byte) string {
	planned, ok, failed := -1, 0, 0
	for _, line := range strings.Split(string(output), "\n") {
		if m := tapPlan.FindStringSubmatch(line); m != nil && planned < 0 {
			planned, _ = strconv.Atoi(m[1])
			continue
		}
		m := tapResult.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if m[1] != "" && !strings.Contains(line, "# TODO") {
			failed++
		} else {
			ok++
		}
	}
	switch {
	case exit == 0 && planned == 0 && ok+failed == 0:
		return statusConf
	case exit == 0 && planned > 0 && failed == 0 && ok == planned:
		return statusPass
	}
	return statusFail
}
