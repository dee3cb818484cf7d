package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// LTP's exit status is a bit set of result kinds (include/tst_res_flags.h):
// TFAIL 1, TBROK 2, TWARN 4, TCONF 32. 0 is a pass; 32 alone means every
// check was skipped as not applicable (counted apart, as conf).
const ltpConf = 32

func ltpStatus(exit int) string {
	switch exit {
	case 0:
		return statusPass
	case ltpConf:
		return statusConf
	}
	return statusFail
}

// readWords returns the words of a list file, ignoring # comments.
func readWords(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %q: %w", path, err)
	}
	var words []string
	for _, line := range strings.Split(string(b), "\n") {
		line, _, _ = strings.Cut(line, "#")
		words = append(words, strings.Fields(line)...)
	}
	return words, nil
}

// runtestEntry is one line of an LTP runtest file: "name program args...".
type runtestEntry struct {
	name string
	argv []string
}

func parseRuntest(r io.Reader) ([]runtestEntry, error) {
	var entries []runtestEntry
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			return nil, fmt.Errorf("runtest line %q: no program", line)
		}
		// runltp hands these lines to a shell; none in runtest/syscalls
		// needs one, and one that did would need its own handling here.
		if strings.ContainsAny(line, "|;&$<>`'\"\\") {
			return nil, fmt.Errorf("runtest line %q needs a shell", line)
		}
		entries = append(entries, runtestEntry{name: f[0], argv: f[1:]})
	}
	return entries, sc.Err()
}

// ltpTests returns the runtest/syscalls entries whose program is built from
// one of the chosen directories, in runtest order. Which directory a program
// comes from is read from the source tree it was built in.
func ltpTests(prefix, src, dirsFile string) ([]test, error) {
	if prefix == "" || src == "" || dirsFile == "" {
		return nil, fmt.Errorf("the ltp suite needs -ltp, -ltp-src and -ltp-dirs")
	}
	dirs, err := readWords(dirsFile)
	if err != nil {
		return nil, err
	}
	dirOf := map[string]string{}
	for _, d := range dirs {
		path := filepath.Join(src, "testcases/kernel/syscalls", d)
		ents, err := os.ReadDir(path)
		if err != nil {
			return nil, fmt.Errorf("LTP directory %s: %w", d, err)
		}
		for _, e := range ents {
			if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				dirOf[e.Name()] = d
			}
		}
	}
	f, err := os.Open(filepath.Join(prefix, "runtest/syscalls"))
	if err != nil {
		return nil, fmt.Errorf("LTP runtest file: %w", err)
	}
	defer f.Close()
	entries, err := parseRuntest(f)
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(prefix, "testcases/bin")
	env := []string{
		"PATH=" + bin + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LTPROOT=" + prefix,
		"LTP_COLORIZE_OUTPUT=0",
		"HOME=/root",
		"LANG=C",
	}
	var tests []test
	built := map[string]bool{}
	for _, e := range entries {
		d, ok := dirOf[e.argv[0]]
		if !ok {
			continue
		}
		built[d] = true
		// From a shell, as runltp does: under runsc and the sandbox the
		// first process is PID 1 of its namespace, and LTP's library takes
		// a test process whose parent is PID 1 for an orphan and kills it.
		argv := append([]string{"/bin/sh", "-c", `"$@"; exit $?`, "sh", filepath.Join(bin, e.argv[0])}, e.argv[1:]...)
		tests = append(tests, test{suite: "ltp", name: e.name, dir: d, argv: argv, env: env})
	}
	var missing []string
	for _, d := range dirs {
		if !built[d] {
			missing = append(missing, d)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		fmt.Fprintf(os.Stderr, "suites: no built LTP program with a runtest entry in: %s\n", strings.Join(missing, " "))
	}
	return tests, nil
}
