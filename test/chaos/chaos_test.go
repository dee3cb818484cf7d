package chaos

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

var (
	kills = flag.Int("chaos.kills", 20, "server kills per workload")
	seed  = flag.Int64("chaos.seed", 0, "random seed for kill times (0: from the clock)")
)

func testSeed(t *testing.T) int64 {
	s := *seed
	if s == 0 {
		s = time.Now().UnixNano()
	}
	t.Logf("seed %d (rerun with -chaos.seed=%d)", s, s)
	return s
}

// TestServerKills is guarantee 1 (docs/ARCHITECTURE.md): kill -9 of the remote sentry
// at random moments, restarted each time on the same address; stdout, exit
// status and every file must match a native run and a run with no kill.
func TestServerKills(t *testing.T) {
	tu.RequireRoot(t)
	bin := tu.Binary(t)
	s := testSeed(t)
	for _, w := range Workloads {
		t.Run(w.Name, func(t *testing.T) {
			pod := podFor(t, w)
			ref := native(t, w, pod)
			interval := killInterval(t, bin, w, ref, *kills, pod)
			opts := Options{Binary: bin, Kills: *kills, Interval: interval, Seed: s, Timeout: 6 * time.Minute, Pod: pod}
			got := runFaulty(t, w, ref, opts)
			if faster := clamp(got.Duration/time.Duration(2*(*kills+1)), 50*time.Millisecond, 1500*time.Millisecond); got.Kills < *kills && faster < interval {
				// The calm run was slower than this one (the machine's
				// load fell between them), so the kills were spread
				// past the workload's end: run it again, spaced for
				// the time it took with kills.
				t.Logf("%d of %d kills in %v: again with kills every ~%v", got.Kills, *kills, got.Duration.Round(time.Millisecond), faster.Round(time.Millisecond))
				interval, opts.Interval = faster, faster
				got = runFaulty(t, w, ref, opts)
			}
			if got.Kills < *kills {
				t.Errorf("only %d of %d kills happened before the workload ended (interval %v)", got.Kills, *kills, interval)
			}
			if w.Pod != nil {
				checkPodRetries(t, got)
			}
			if m := resendsRE.FindString(got.Stderr); m != "" {
				t.Logf("%s (%d recoveries)", m, len(pauseRE.FindAllString(got.ClientLog, -1)))
			}
			t.Logf("%s: kills every ~%v, %d kills %v", w.Name, interval.Round(time.Millisecond), got.Kills, got.Duration.Round(time.Millisecond))
		})
	}
}

// TestGoferKills is guarantee 3: kill -9 of the gofer and restart; no
// acknowledged write is lost, not even to a file unlinked while open (the
// gofer silly-renamed it).
func TestGoferKills(t *testing.T) {
	tu.RequireRoot(t)
	bin := tu.Binary(t)
	for _, name := range []string{"append", "renamed-unlinked", "shmap", "tmpfs", "pwrite-loop", "truncate-rewrite", "exchange", "leased-copy", "tar-attrs", "gnu-rm", "gnu-find"} {
		t.Run(name, func(t *testing.T) {
			w, _ := Find(name)
			ref := native(t, w, nil)
			got := runFaulty(t, w, ref, Options{
				Binary: bin, Kills: 3, Interval: killInterval(t, bin, w, ref, 3, nil), Victim: "gofer", Seed: testSeed(t), Timeout: 4 * time.Minute,
			})
			if got.Kills == 0 {
				t.Errorf("the gofer was never killed")
			}
		})
	}
}

// TestRewriteFailed is guarantee 6: a write the application was told
// succeeded, which the host lost before it was durable and the recovery
// cannot make again (the disk is full), is reported, not dropped
// (rewritefail.go has the scenario and what the application gets): the
// first fsync and the first syncfs after the loss fail with EIO, the
// file lacks the write until the disk has room and the next server
// failure's recovery makes it, then holds every byte the application
// wrote. Real daemons are killed (a server kill at a random moment, then
// the gofer, the server at the crash, with the disk still full, and
// once the disk has room)
// and the recovery's Rewrites really fail (ENOSPC on a full tmpfs); the
// output and files are compared with a native run and a sandboxed run
// with the same full disk and no fault, but for what the loss changes
// (RewriteFailedOutcome). The writes' description stays open, or is
// closed before the crash and the file opened again after it (the
// closed description is kept, with its writes, until they are durable,
// so the failure is its and reported to the new one).
func TestRewriteFailed(t *testing.T) {
	tu.RequireRoot(t)
	bin := tu.Binary(t)
	for _, w := range Conducted {
		t.Run(w.Name, func(t *testing.T) { testRewriteFailed(t, bin, w) })
	}
}

func testRewriteFailed(t *testing.T, bin string, w Workload) {
	s := testSeed(t)
	run := func(o Options) (Outcome, string) {
		t.Helper()
		o.Busybox, o.Dir, o.Seed, o.Timeout, o.Logf = tu.Busybox, t.TempDir(), s, 2*time.Minute, t.Logf
		got, err := Run(context.Background(), w, o)
		if err != nil {
			dumpLog(t, o.Dir)
			t.Fatal(err)
		}
		return got, o.Dir
	}
	ref, _ := run(Options{Native: true})
	if ref.ExitCode != 0 {
		t.Fatalf("native: exit %d\n%s\n%s", ref.ExitCode, ref.Stdout, ref.Stderr)
	}
	calm, dir := run(Options{Binary: bin})
	if err := Compare(ref, calm); err != nil {
		dumpLog(t, dir)
		t.Fatalf("with the full disk and no fault: %v", err)
	}
	want, err := w.Expect(ref)
	if err != nil {
		t.Fatal(err)
	}
	got := runFaulty(t, w, want, Options{Binary: bin, Kills: 1, Seed: s, Timeout: 2 * time.Minute})
	if got.Kills != 5 {
		t.Errorf("%d kills, want 5 (the server, the gofer, the server at the crash, with the disk full and after the room)", got.Kills)
	}
	// The Rewrites failed at the recoveries with the disk full alone,
	// and the client said so.
	var failed []string
	for _, m := range rewritesFailedRE.FindAllStringSubmatch(got.ClientLog, -1) {
		failed = append(failed, m[1])
	}
	if len(failed) != 4 || failed[0] != "0" || failed[1] == "0" || failed[2] != failed[1] || failed[3] != "0" {
		t.Errorf("Rewrites failed at each recovery: %q, want none, some (the lost records' writes), as many, none", failed)
	}
	if !failedRewriteRE.MatchString(got.ClientLog) {
		t.Errorf("the client logged no failed Rewrite naming work/d/data:\n%s", got.ClientLog)
	}
	t.Logf("%d kills, %v", got.Kills, got.Duration.Round(time.Millisecond))
}

var pauseRE = regexp.MustCompile(`pause_ms=([0-9.]+)`)

// failedRewriteRE finds the client's error line of a failed Rewrite of
// TestRewriteFailed's file.
var failedRewriteRE = regexp.MustCompile(`\[ERROR\] .*could not be re-sent.* path=/\S*/work/d/data `)

// rewritesFailedRE finds how many Rewrites failed at a recovery.
var rewritesFailedRE = regexp.MustCompile(`recovered from a remote sentry failure.* rewrites_failed=([0-9]+)`)

// TestFailover is guarantee 2: two sentries share one gofer; the active
// one is killed for good and the application resumes on the other. The
// pause is reported.
func TestFailover(t *testing.T) {
	tu.RequireRoot(t)
	bin := tu.Binary(t)
	for _, name := range []string{"append", "proctree"} {
		t.Run(name, func(t *testing.T) {
			w, _ := Find(name)
			got := runFaulty(t, w, native(t, w, nil), Options{
				Binary: bin, Kills: 1, Interval: 300 * time.Millisecond, Failover: true, Seed: testSeed(t), Timeout: 4 * time.Minute,
			})
			if got.Kills != 1 {
				t.Fatalf("the first server was not killed")
			}
			m := pauseRE.FindStringSubmatch(got.ClientLog)
			if m == nil {
				t.Fatalf("the client logged no recovery:\n%s", got.ClientLog)
			}
			t.Logf("failover pause: %s ms", m[1])
		})
	}
}

// runFaulty runs w with the faults o asks for (in a fresh directory,
// logging to t) and fails t if the outcome differs from ref, the run of w
// without faults, or if the gofer kept the handles of killed servers. The
// daemons' and client's logs of a failed run are printed.
func runFaulty(t *testing.T, w Workload, ref Outcome, o Options) Outcome {
	t.Helper()
	o.Busybox, o.Dir, o.Logf = tu.Busybox, t.TempDir(), t.Logf
	got, err := Run(context.Background(), w, o)
	if err != nil {
		dumpLog(t, o.Dir)
		t.Fatal(err)
	}
	if err := Compare(ref, got); err != nil {
		t.Errorf("with %d kills of the %s (failover %v): %v", got.Kills, victimName(o), o.Failover, err)
		dumpLog(t, o.Dir)
	}
	if err := got.Leak(); err != nil {
		t.Error(err)
	}
	return got
}

func victimName(o Options) string {
	if o.Victim == "" {
		return "server"
	}
	return o.Victim
}

// killInterval runs w once without faults, checks it against ref (printing
// the logs of a run that differs), and
// returns the mean time between kills that spreads n kills over the first
// half of that run: they hit every phase of a long workload (not only its
// start) and all land even if the faulty run goes twice as fast as the
// calm one (a short workload on a quiet machine finished before a fixed
// interval's first kill). Each kill also pauses the workload for at least
// the client's dead-after (500ms).
func killInterval(t *testing.T, bin string, w Workload, ref Outcome, n int, pod *tu.VethNS) time.Duration {
	t.Helper()
	dir := t.TempDir()
	calm, err := Run(context.Background(), w, Options{Binary: bin, Busybox: tu.Busybox, Dir: dir, Timeout: 3 * time.Minute, Pod: pod})
	if err != nil {
		t.Fatal(err)
	}
	if err := Compare(ref, calm); err != nil {
		dumpLog(t, dir)
		t.Fatalf("without faults: %v", err)
	}
	t.Logf("%s without faults: %v", w.Name, calm.Duration.Round(time.Millisecond))
	return clamp(calm.Duration/time.Duration(2*(n+1)), 50*time.Millisecond, 1500*time.Millisecond)
}

func clamp(d, lo, hi time.Duration) time.Duration {
	return max(lo, min(d, hi))
}

func dumpLog(t *testing.T, dir string) {
	keep := os.Getenv("CHAOS_KEEP_LOGS")
	for _, f := range []string{"daemons.log", "client.log", "stacks.log"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err == nil {
			if keep != "" {
				tu.KeepLog(t, keep, f, b)
			}
			if len(b) > 20000 {
				b = b[len(b)-20000:]
			}
			t.Logf("%s (tail):\n%s", f, b)
		}
	}
}

// podFor makes the pod's network namespace a network workload runs in
// (nil for the others).
func podFor(t *testing.T, w Workload) *tu.VethNS {
	if w.Pod == nil {
		return nil
	}
	return tu.NewVethNS(t)
}

// resendsRE finds what a workload says on stderr of the requests it
// had to send again (ptyloop.c).
var resendsRE = regexp.MustCompile(`[a-z]+ resends: [0-9]+`)

// podRetriesRE finds the counts podnet.c prints on stderr.
var podRetriesRE = regexp.MustCompile(`podnet retries: tcp ([0-9]+) udp ([0-9]+)`)

// checkPodRetries fails t unless the kills made the workload or its
// outside client retry: a network workload that passed without a retry
// did not test recovery. (Which side retries depends on where the kills
// land: a connect in flight is simply made again on the new server, so
// even 20 kills may leave the TCP exchanges without a retry.)
func checkPodRetries(t *testing.T, got Outcome) {
	t.Helper()
	m := podRetriesRE.FindStringSubmatch(got.Stderr)
	if m == nil {
		t.Errorf("no retry counts on stderr:\n%s", got.Stderr)
		return
	}
	t.Logf("retries over %d kills (%d recoveries): tcp %s, udp %s, outside client %d", got.Kills, len(pauseRE.FindAllString(got.ClientLog, -1)), m[1], m[2], got.PeerRetries)
	if got.Kills >= 5 && m[1] == "0" && m[2] == "0" && got.PeerRetries == 0 {
		t.Errorf("%d kills, yet neither the workload nor its outside client retried: the kills missed the network", got.Kills)
	}
}

// native runs w directly on the host (in pod's namespace for a network
// workload).
func native(t *testing.T, w Workload, pod *tu.VethNS) Outcome {
	t.Helper()
	if w.Pod != nil {
		out, err := Run(context.Background(), w, Options{Busybox: tu.Busybox, Dir: t.TempDir(), Timeout: 3 * time.Minute, Pod: pod, Native: true})
		if err != nil {
			t.Fatalf("native %s: %v", w.Name, err)
		}
		if out.ExitCode != 0 {
			t.Fatalf("native %s: exit %d: %s", w.Name, out.ExitCode, out.Stderr)
		}
		return out
	}
	dir := t.TempDir()
	if err := Prepare(dir, w); err != nil {
		t.Fatal(err)
	}
	r := tu.Run(t, 3*time.Minute, dir, w.Stdin, tu.Busybox, "sh", "-c", w.Script)
	files, err := Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.ExitCode != 0 {
		t.Fatalf("native %s: exit %d: %s", w.Name, r.ExitCode, r.Stderr)
	}
	return Outcome{Stdout: r.Stdout, Stderr: r.Stderr, ExitCode: r.ExitCode, Files: files}
}

// TestClientKill is guarantee 4: a client killed with SIGKILL loses the
// application, but files are not corrupted: each file holds a prefix of
// what a complete run writes, made of whole lines (every line is one
// write).
func TestClientKill(t *testing.T) {
	tu.RequireRoot(t)
	bin := tu.Binary(t)
	w, _ := Find("append")
	refDir := t.TempDir()
	tu.Run(t, 3*time.Minute, refDir, "", tu.Busybox, "sh", "-c", w.Script)
	for i, after := range []time.Duration{300 * time.Millisecond, 900 * time.Millisecond, 1500 * time.Millisecond} {
		t.Run(fmt.Sprint("kill", i), func(t *testing.T) {
			dir := t.TempDir()
			g := tu.StartDaemon(t, dir, "gofer", "gofer", "--root", "/")
			s := tu.StartDaemon(t, dir, "server", "server", "--gofer", g.Target)
			work := filepath.Join(dir, "work")
			os.Mkdir(work, 0o755)
			cmd := exec.Command(bin, "do", "--server", s.Target, "--cwd", work, "--", tu.Busybox, "sh", "-c", w.Script)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(after)
			cmd.Process.Kill()
			cmd.Wait()
			// The server notices the client is gone and frees its state;
			// the files stay as the acknowledged writes left them.
			time.Sleep(200 * time.Millisecond)
			total := 0
			for _, f := range []string{"a.txt", "b.txt", "c.txt"} {
				want, _ := os.ReadFile(filepath.Join(refDir, f))
				got, err := os.ReadFile(filepath.Join(work, f))
				if err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
				if !bytes.HasPrefix(want, got) || (len(got) > 0 && got[len(got)-1] != '\n') {
					t.Errorf("%s after a client kill at %v is not a prefix of whole lines (%d bytes): %q", f, after, len(got), tail(got))
				}
				total += len(got)
			}
			if after > time.Second && total == 0 {
				t.Errorf("nothing was written %v into the run: the kill came too early to prove anything", after)
			}
		})
	}
}

func tail(b []byte) []byte {
	if len(b) > 80 {
		return b[len(b)-80:]
	}
	return b
}

// TestHungRunStacks: a run that times out leaves the daemons' goroutines
// in stacks.log, so that a hang in CI says where the daemons wait.
func TestHungRunStacks(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	w := Workload{Name: "hang", Script: "sleep 30"}
	_, err := Run(context.Background(), w, Options{Binary: tu.Binary(t), Busybox: tu.Busybox, Dir: dir, Timeout: 3 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("Run: %v, want a time-out", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "stacks.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"== gofer gofer.sock", "== server a.sock", "goroutine profile:", "runsc-decoupled/sentry/server."} {
		if !strings.Contains(string(b), want) {
			t.Errorf("stacks.log lacks %q:\n%s", want, b)
		}
	}
}
