package main

import (
	"fmt"
	"regexp"
	"strings"
)

// Failures are grouped by cause: the first line that says what went wrong,
// with what differs from test to test (addresses, sizes, pids, scratch
// paths, line numbers of test files) taken out, so that one missing feature
// shows up as one group.

var (
	hexNumber = regexp.MustCompile(`0x[0-9a-fA-F]+`)
	// Numbers of three digits or more (sizes, pids, addresses, times);
	// small ones are mostly constants worth reading (fds, socket domains,
	// errno values).
	decNumber  = regexp.MustCompile(`\d{3,}`)
	sourceSite = regexp.MustCompile(`([\w.+-]+\.[ch]):\d+:\s*`)
	// pjdfstest names its files pjdfstest_<md5>, or by length.
	pjdName   = regexp.MustCompile(`pjdfstest_[0-9a-f]{32}|[0-9a-f]{32,}`)
	pjdExpect = regexp.MustCompile(`^not ok \d+ - tried '(\S+)[^']*', expected (.*), got (.*)$`)
	ltpToken  = regexp.MustCompile(`\b(TBROK|TFAIL)\b`)
	// Each test's scratch directory, and the random name LTP gives the
	// temporary directory it makes in it.
	scratchPath = regexp.MustCompile(`[/\w.-]*suites-scratch-\d+/\w+-\d+`)
	ltpTmpdir   = regexp.MustCompile(`\bLTP_\w+`)
)

func normalize(s string) string {
	s = scratchPath.ReplaceAllString(s, "$$TMPDIR")
	s = ltpTmpdir.ReplaceAllString(s, "LTP_*")
	s = hexNumber.ReplaceAllString(s, "0x@")
	s = decNumber.ReplaceAllString(s, "N")
	s = strings.ReplaceAll(s, "0x@", "0x?")
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return s
}

func lines(output []byte) []string {
	var ls []string
	for _, l := range strings.Split(string(output), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			ls = append(ls, l)
		}
	}
	return ls
}

// lastLine is the last line the test printed (not the runner's own note).
func lastLine(ls []string) string {
	for i := len(ls) - 1; i >= 0; i-- {
		if !strings.HasPrefix(ls[i], "suites: ") {
			return ls[i]
		}
	}
	return "(no output)"
}

// ltpCause is the first TBROK line, else the first TFAIL line, keeping the
// library site (tst_test.c:148) but not a test file's line.
func ltpCause(status string, exit int, output []byte) string {
	ls := lines(output)
	if status == statusTimeout {
		site, msg := ltpSplit(lastLine(ls))
		return "timeout, last line: " + site + normalize(msg)
	}
	for _, tok := range []string{"TBROK", "TFAIL"} {
		for _, l := range ls {
			if m := ltpToken.FindStringSubmatchIndex(l); m != nil && l[m[2]:m[3]] == tok {
				site, msg := ltpSplit(l)
				return site + normalize(msg)
			}
		}
	}
	return fmt.Sprintf("exit %d, last line: %s", exit, normalize(lastLine(ls)))
}

// ltpSplit splits an LTP result line into the library site it came from
// ("tst_test.c:148: ", kept whole: it names one place in the library) and
// "TOKEN: message", for both the new library's "file.c:N: TBROK: msg" and
// the old one's "name  1  TBROK  :  file.c:N: msg". A test file's own site
// is dropped: it differs from test to test for the same cause.
func ltpSplit(l string) (site, msg string) {
	m := ltpToken.FindStringSubmatchIndex(l)
	if m == nil {
		return "", l
	}
	prefix, tok, rest := l[:m[0]], l[m[2]:m[3]], l[m[1]:]
	rest = strings.TrimLeft(rest, " \t:")
	rest = strings.TrimLeft(sourceSite.ReplaceAllString(rest, ""), " :")
	if s := sourceSite.FindStringSubmatch(prefix); s != nil && isLTPLibrary(s[1]) {
		site = strings.TrimSpace(s[0]) + " "
	}
	return site, tok + ": " + rest
}

func isLTPLibrary(file string) bool {
	for _, p := range []string{"tst_", "safe_", "lib", "parse_opts", "self_exec"} {
		if strings.HasPrefix(file, p) {
			return true
		}
	}
	return false
}

// pjdfstestCause is what stopped the script before its plan, else the
// first failed assertion as "call: expected X, got Y".
func pjdfstestCause(status string, exit int, output []byte) string {
	ls := lines(output)
	if status == statusTimeout {
		return "timeout, last line: " + normalize(pjdName.ReplaceAllString(lastLine(ls), "NAME"))
	}
	for _, l := range ls {
		if tapPlan.MatchString(l) {
			break
		}
		if !tapResult.MatchString(l) {
			return "before the plan: " + normalize(pjdName.ReplaceAllString(l, "NAME"))
		}
	}
	for _, l := range ls {
		if !strings.HasPrefix(l, "not ok") || strings.Contains(l, "# TODO") {
			continue
		}
		if m := pjdExpect.FindStringSubmatch(l); m != nil {
			return fmt.Sprintf("%s: expected %s, got %s", m[1], m[2], normalize(m[3]))
		}
		return normalize(pjdName.ReplaceAllString(l, "NAME"))
	}
	return fmt.Sprintf("exit %d, plan not met, last line: %s", exit, normalize(pjdName.ReplaceAllString(lastLine(ls), "NAME")))
}
