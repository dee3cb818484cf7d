// Package e2e runs real programs under `runsc-decoupled do` (embedded and
// with external daemons) and compares what they print, their exit status
// and the files they write with native runs of the same programs.
//
// The tests that kill the remote sentry under a running program
// (serverKillRun) take two variables for chasing a failure:
// E2E_CLIENT_LOG_LEVEL=trace logs every fd record the client folds, the
// Restore's and the calls re-sent; E2E_KEEP_LOGS=DIR (an existing
// directory) keeps a failed test's client log there in full:
//
//	E2E_KEEP_LOGS=/tmp/k E2E_CLIENT_LOG_LEVEL=trace go test ./test/e2e -run '^TestPostedOpenServerKill$' -count=20
package e2e
