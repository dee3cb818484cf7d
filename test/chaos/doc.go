// Package chaos runs workloads under `runsc-decoupled do --server` while a
// killer kill -9s the remote sentry (or the gofer) at random moments, and
// compares stdout, exit status and every file the workload wrote with a run
// that had no kill (docs/ARCHITECTURE.md, "Guarantees").
//
// A network workload (Workload.Pod) runs with --network=sandbox in a
// pod-style veth namespace its caller makes (testutil.VethNS), against
// peers the harness serves on the namespace's host end (podnet.go).
//
// A conducted workload (Workload.Conduct, conduct.go) is driven in step
// with its output instead: the conductor answers on its stdin and kills
// and restarts the daemons at the points it chooses, to play a host's
// crash on a small disk the run mounts (Workload.Disk; rewritefail.go,
// a failed Rewrite).
//
// The harness is used by chaos_test.go (what CI runs) and by the rd-chaos
// command for long runs:
//
//	go run ./test/chaos/rd-chaos --kills 200 --workload append
//
// To chase a rare failure, five environment variables change what a run
// records: CHAOS_CLIENT_LOG_LEVEL (the client's --log-level, info by
// default; debug logs every recovery step, trace also every fd slot record
// folded, the Restore's and the calls re-sent), CHAOS_DAEMON_LOG_LEVEL (the
// server's and gofer's, warn by default), CHAOS_STRACE (any value: the
// client's --strace, every forwarded call in its log),
// CHAOS_SERVER_STRACE (any value: each server's --strace, every call it
// ran with its seq, in daemons.log, at info level unless
// CHAOS_DAEMON_LOG_LEVEL says otherwise) and
// CHAOS_KEEP_LOGS=DIR (a failed test's daemons.log and client.log are
// copied there in full; the test output has only their tails). A run that
// times out also leaves stacks.log: the goroutines of the daemons still
// running, grouped by stack (their --profile-heap text, on SIGUSR2):
//
//	CHAOS_KEEP_LOGS=/tmp/k CHAOS_STRACE=1 go test ./test/chaos -run 'TestServerKills/^proctree$' -count=50
package chaos
