// Package fuzz runs every fuzz target of the repository for a bounded
// time, so that CI fuzzes the parsers and wire handlers (the framed
// reader, each server system call, each gofer request, restore records,
// the replay log) and not only their seed corpora, which each package's
// own tests already run.
//
// Targets are found by scanning the repository's test files for
// `func FuzzX(f *testing.F)`, so a new target is fuzzed without being
// listed here. Each runs in a `go test -fuzz` of its own package, with
// one worker, for $FUZZTIME (`go test -fuzztime`: by default 2000x, a
// count of inputs; a duration such as 60s works too, but Go 1.26's fuzzing
// coordinator can report the end of a duration as a failure, "context
// deadline exceeded", on a loaded machine: go.dev/issue/75804, fixed in
// Go 1.27). A failing input is written to
// that package's testdata/fuzz directory by `go test`, and the test here
// fails with its output.
//
// It depends on the go command only; nothing depends on it.
package fuzz
