package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/client/replaylog"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

const debugSynopsis = "debug --server TARGET state | debug log DIR"

func runDebug(args []string) int {
	if len(args) > 0 && args[0] == "log" {
		return runDebugLog(args[1:])
	}
	fs := flag.NewFlagSet("debug", flag.ContinueOnError)
	srv := fs.String("server", "", "the remote sentry at `TARGET`; required")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	var tlsf tlsFlags
	tlsf.register(fs)
	if ok, code := parseFlags(fs, args, debugSynopsis); !ok {
		return code
	}
	if *srv == "" || fs.NArg() != 1 || fs.Arg(0) != "state" {
		fs.Usage()
		return 2
	}
	t, err := transport.ParseTarget(*srv)
	if err != nil {
		return fail("debug", err)
	}
	if err := tlsf.check(t); err != nil {
		return fail("debug", err)
	}
	creds, err := tlsf.files.DialCredentials(t)
	if err != nil {
		return fail("debug", err)
	}
	cc, err := grpc.NewClient(t.GRPCTarget(), grpc.WithTransportCredentials(creds))
	if err != nil {
		return fail("debug", err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	r, err := sentrypb.NewSentryClient(cc).Debug(ctx, &sentrypb.DebugRequest{}, grpc.WaitForReady(true))
	if err != nil {
		if rerr := transport.Refusal(t); rerr != nil {
			err = rerr
		}
		return fail("debug", fmt.Errorf("state of %s: %w", t, err))
	}
	fmt.Fprint(os.Stdout, r.Text)
	return 0
}

// runDebugLog prints the durable client logs (do --log-dir) in a
// directory, or one log file.
func runDebugLog(args []string) int {
	fs := flag.NewFlagSet("debug log", flag.ContinueOnError)
	if ok, code := parseFlags(fs, args, "debug log DIR|FILE"); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	if err := replaylog.DumpLogDir(os.Stdout, fs.Arg(0)); err != nil {
		return fail("debug log", err)
	}
	return 0
}
