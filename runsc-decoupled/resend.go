package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/runsc-decoupled/runsc-decoupled/sentry/client"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/client/replaylog"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

const resendSynopsis = "resend --server TARGET [--remove] DIR|FILE"

// runResend re-sends the retained writes of dead clients' durable logs
// (do --log-dir) through a remote sentry.
func runResend(args []string) int {
	fs := flag.NewFlagSet("resend", flag.ContinueOnError)
	srv := fs.String("server", "", "the remote sentry at `TARGET` to write through; required")
	remove := fs.Bool("remove", false, "delete each log whose writes were all re-sent")
	timeout := fs.Duration("timeout", time.Minute, "give up on a log after this long")
	var tlsf tlsFlags
	tlsf.register(fs)
	if ok, code := parseFlags(fs, args, resendSynopsis); !ok {
		return code
	}
	if *srv == "" || fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	t, err := transport.ParseTarget(*srv)
	if err != nil {
		return fail("resend", err)
	}
	if err := tlsf.check(t); err != nil {
		return fail("resend", err)
	}
	paths, err := replaylog.LogFiles(fs.Arg(0))
	if err != nil {
		return fail("resend", err)
	}
	code := 0
	for _, p := range paths {
		// A log whose tail is torn (the client died mid-append) still
		// gives the writes decoded before the tear.
		ll, err := replaylog.LoadLog(p)
		if err != nil && (ll == nil || ll.Entries == 0) {
			fmt.Fprintf(os.Stderr, "runsc-decoupled resend: %v\n", err)
			code = 1
			continue
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "runsc-decoupled resend: %v (re-sending the %d entries before it)\n", err, ll.Entries)
		}
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		st, err := client.ResendWrites(ctx, *srv, transport.Options{TLS: tlsf.files}, ll, func(done, total int) {
			if done == total || done%100 == 0 {
				fmt.Fprintf(os.Stderr, "%s: %d/%d writes\n", filepath.Base(p), done, total)
			}
		})
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "runsc-decoupled resend: %s: %v\n", p, err)
			code = 1
			continue
		}
		fmt.Printf("%s: client %s: %d writes (%d bytes) re-sent and durable", p, ll.ClientID, st.Writes, st.Bytes)
		for _, f := range st.Failed {
			fmt.Printf("\n  failed: %s", f)
		}
		fmt.Println()
		if len(st.Failed) > 0 {
			code = 1
			continue
		}
		if *remove {
			if err := replaylog.RemoveLog(p); err != nil {
				fmt.Fprintf(os.Stderr, "runsc-decoupled resend: %v\n", err)
				code = 1
			}
		}
	}
	return code
}
