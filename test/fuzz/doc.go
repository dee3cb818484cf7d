// Package fuzz runs every fuzz target of the repository for a bounded
// time, so that CI fuzzes the parsers and wire handlers (the framed
// reader, each server system call, each gofer request, restore records,
// the replay log) and not only their seed corpora, which each package's
// own tests already run.
//
// Targets are found by scanning the repository's test files for
// `func FuzzX(f *testing.F)`, so a new target is fuzzed without being
// listed here. Each runs in a `go test -fuzz` of its own package, with
// one worker, for $FUZZTIME (default 3s). A failing input is written to
// that package's testdata/fuzz directory by `go test`, and the test here
// fails with its output.
//
// It depends on the go command only; nothing depends on it.
package fuzz
