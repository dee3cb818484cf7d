package client

import (
	"context"
	"fmt"
	"github.com/hashicorp/go-hclog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// pipelineSrc closes fd 5, which the server recorded as open: the close
// is not waited for. Closing it again, or fd 7, which no record names, is
// forwarded (EBADF).
const pipelineSrc = `
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
	char b[64];
	int r1 = close(5);
	int r2 = close(5), e2 = errno;
	int r3 = close(7), e3 = errno;
	int n = snprintf(b, sizeof b, "%d %d %d %d %d\n", r1, r2, e2 == EBADF, r3, e3 == EBADF);
	write(1, b, n);
	return 0;
}
`

// TestPipelinedClose: a close of an fd the server recorded as open
// returns 0 without waiting for its reply (the fake answers it only
// after the thread's next call arrived; a client that waited would
// hang); a second close of the fd, and a close of an fd no record names,
// are forwarded and fail with EBADF.
func TestPipelinedClose(t *testing.T) {
	requireRoot(t)
	forEachPlatform(t, func(t *testing.T, platform string) {
		bin := buildC(t, "pipeline", pipelineSrc)
		var mu sync.Mutex
		var held []*pb.Call
		var order []string
		target := "unix:" + filepath.Join(t.TempDir(), "s.sock")
		startFakeSentryAt(t, target, func(ss *session, c *pb.Call) bool {
			switch op := c.Op.(type) {
			case *pb.Call_Start:
				ss.replyStart(c, op.Start, func(plan *pb.ExecPlan) []*pb.StateRecord {
					return []*pb.StateRecord{
						{Key: "proc/100", Value: &pb.StateRecord_Process{Process: &pb.ProcessState{Pid: 100, FdTable: 1, Init: true}}},
						{Key: "fdt/1/5", Value: &pb.StateRecord_Fd{Fd: &pb.FdState{FdTable: 1, Fd: 5, File: 9}}},
					}
				})
				return true
			case *pb.Call_Syscall:
				if op.Syscall.Sysno != unix.SYS_CLOSE {
					return false
				}
				mu.Lock()
				defer mu.Unlock()
				fd := op.Syscall.Args[0]
				order = append(order, fmt.Sprintf("close(%d)", fd))
				if fd != 5 {
					ss.reply(&pb.Reply{Seq: c.Seq, Errno: int32(unix.EBADF)})
					return true
				}
				// Both closes of fd 5 are answered once both arrived (the
				// fake runs calls concurrently; a server runs a thread's
				// calls in seq order): the first closes it, the second
				// finds it closed. A client that waited for the first
				// would never send the second.
				held = append(held, c)
				if len(held) == 2 {
					first, second := held[0], held[1]
					if second.Seq < first.Seq {
						first, second = second, first
					}
					ss.reply(&pb.Reply{Seq: first.Seq, State: []*pb.StateRecord{{Key: "fdt/1/5", Deleted: true}}})
					ss.reply(&pb.Reply{Seq: second.Seq, Errno: int32(unix.EBADF)})
				}
				return true
			}
			return false
		})
		var stdout, stderr syncBuffer
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		status, err := Run(ctx, Config{
			Server: target, Platform: platform, Argv: []string{bin}, Cwd: "/",
			Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
			Log: hclog.New(&hclog.LoggerOptions{Name: "client", Level: hclog.Info, Output: testWriter{t}}), Strace: true,
		})
		if err != nil || status != 0 {
			t.Fatalf("Run: status %#x, %v; stderr %q", status, err, stderr.String())
		}
		if got, want := stdout.String(), "0 -1 1 -1 1\n"; got != want {
			t.Errorf("stdout %q, want %q", got, want)
		}
		mu.Lock()
		defer mu.Unlock()
		if got, want := strings.Join(order, " "), "close(5) close(5) close(7)"; got != want {
			t.Errorf("closes the server saw: %s, want %s", got, want)
		}
	})
}
