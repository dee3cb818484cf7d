// Command rd-chaos runs the chaos workloads with many kills, for runs
// longer than CI's:
//
//	go build -o /tmp/rd ./runsc-decoupled
//	go run ./test/chaos/rd-chaos --binary /tmp/rd --kills 200
//
// A conducted workload (chaos.Conducted) makes its own kills: --kills
// above 0 only turns them on, so try it under many seeds:
//
//	for i in $(seq 50); do go run ./test/chaos/rd-chaos --binary /tmp/rd --workload rewrite-enospc --seed $i || break; done
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/runsc-decoupled/runsc-decoupled/test/chaos"
	"github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

func main() {
	bin := flag.String("binary", "", "runsc-decoupled binary (required)")
	busybox := flag.String("busybox", "/bin/busybox", "static busybox")
	kills := flag.Int("kills", 20, "kills per workload")
	interval := flag.Duration("interval", 300*time.Millisecond, "mean time between kills")
	victim := flag.String("victim", "server", "what to kill: server or gofer")
	failover := flag.Bool("failover", false, "run a second server and leave the first dead")
	only := flag.String("workload", "", "run only this workload")
	seed := flag.Int64("seed", time.Now().UnixNano(), "random seed for kill times")
	flag.Parse()
	if *bin == "" {
		flag.Usage()
		os.Exit(2)
	}
	failed := false
	for _, w := range append(chaos.Workloads[:len(chaos.Workloads):len(chaos.Workloads)], chaos.Conducted...) {
		if *only != "" && w.Name != *only {
			continue
		}
		var pod *testutil.VethNS
		if w.Pod != nil {
			var err error
			if pod, err = testutil.MakeVethNS(); err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", w.Name, err)
				failed = true
				continue
			}
		}
		var ref chaos.Outcome
		run := func(k int) (chaos.Outcome, error) {
			dir, err := os.MkdirTemp("", "rd-chaos-")
			if err != nil {
				return chaos.Outcome{}, err
			}
			o, err := chaos.Run(context.Background(), w, chaos.Options{
				Binary: *bin, Busybox: *busybox, Dir: dir, Kills: k, Interval: *interval,
				Victim: *victim, Failover: *failover && k > 0 && w.Conduct == nil, Seed: *seed, Pod: pod,
				Logf: func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) },
			})
			switch {
			case err == nil && k == 0 && o.ExitCode == 125:
				// runsc-decoupled's own failure (a bad build, a
				// missing platform): a faulty run failing the same way
				// would compare equal to it.
				err = fmt.Errorf("runsc-decoupled failed (exit 125): %s", strings.TrimSpace(o.Stderr))
			case err == nil && k > 0:
				want := ref
				if w.Expect != nil {
					want, err = w.Expect(ref)
				}
				if err == nil {
					err = chaos.Compare(want, o)
				}
			}
			if err != nil {
				// The daemons' and the client's logs explain a failure.
				fmt.Fprintf(os.Stderr, "%s: kept %s (daemons.log, client.log)\n", w.Name, dir)
			} else {
				os.RemoveAll(dir)
			}
			return o, err
		}
		var err error
		ref, err = run(0)
		if err != nil {
			if pod != nil {
				pod.Remove()
			}
			fmt.Fprintf(os.Stderr, "%s: reference run: %v\n", w.Name, err)
			failed = true
			continue
		}
		got, err := run(*kills)
		if pod != nil {
			pod.Remove()
		}
		if err == nil {
			err = got.Leak()
		}
		if err != nil {
			fmt.Printf("FAIL %s (seed %d): %v\n", w.Name, *seed, err)
			failed = true
			continue
		}
		fmt.Printf("ok   %s: %d kills, %v (no kill: %v)\n", w.Name, got.Kills, got.Duration.Round(time.Millisecond), ref.Duration.Round(time.Millisecond))
	}
	if failed {
		os.Exit(1)
	}
}
