// Package testutil holds helpers shared by the end-to-end, chaos and
// benchmark harnesses: building the runsc-decoupled binary once, running
// commands natively and in the sandbox, starting daemons, and compiling
// static test programs.
package testutil
