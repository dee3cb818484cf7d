// Package e2e runs real programs under `runsc-decoupled do` (embedded and
// with external daemons) and compares what they print, their exit status
// and the files they write with native runs of the same programs.
package e2e
