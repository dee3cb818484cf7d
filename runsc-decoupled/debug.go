package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

func runDebug(args []string) int {
	fs := flag.NewFlagSet("debug", flag.ContinueOnError)
	srv := fs.String("server", "", "the remote sentry at `TARGET`; required")
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	if ok, code := parseFlags(fs, args, "debug --server TARGET state"); !ok {
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
	cc, err := grpc.NewClient(t.GRPCTarget(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fail("debug", err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	r, err := sentrypb.NewSentryClient(cc).Debug(ctx, &sentrypb.DebugRequest{}, grpc.WaitForReady(true))
	if err != nil {
		return fail("debug", fmt.Errorf("state of %s: %w", t, err))
	}
	fmt.Fprint(os.Stdout, r.Text)
	return 0
}
