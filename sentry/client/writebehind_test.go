package client

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// writeBehindSrc writes 1100 times to fd 5, which the server recorded as
// a regular file open for writing, then to fd 6, a file open O_SYNC.
const writeBehindSrc = `
#include <stdio.h>
#include <unistd.h>
int main(void) {
	char b[64];
	int bad = 0;
	for (int i = 0; i < 1100; i++)
		if (write(5, "0123456789", 10) != 10)
			bad++;
	int s = write(6, "sync", 4);
	int n = snprintf(b, sizeof b, "%d %d\n", bad, s);
	write(1, b, n);
	return 0;
}
`

// TestWriteBehindBound: writes to a regular file are posted (the fake
// holds their replies until a call arrives that the client waits for;
// the fake handles calls concurrently, so they are told apart by seq),
// but no more than maxPostedCalls at once: the next write waits, and is
// answered after the held ones, in order. A write to an O_SYNC file
// waits.
func TestWriteBehindBound(t *testing.T) {
	requireRoot(t)
	forEachPlatform(t, func(t *testing.T, platform string) {
		bin := buildC(t, "writebehind", writeBehindSrc)
		var mu sync.Mutex
		var held []*pb.Call
		var firstPosted, firstWaited uint64 // seqs
		syncPosted := false
		target := "unix:" + filepath.Join(t.TempDir(), "s.sock")
		startFakeSentryAt(t, target, func(ss *session, c *pb.Call) bool {
			switch op := c.Op.(type) {
			case *pb.Call_Start:
				file := func(id uint64, flags uint32) *pb.StateRecord {
					return &pb.StateRecord{Key: statekey.File(id).String(), Value: &pb.StateRecord_File{File: &pb.FileState{
						Id: id, Kind: pb.FileState_GOFER, Regular: true, Flags: flags, FileHandle: []byte{byte(id)}}}}
				}
				ss.replyStart(c, op.Start, func(plan *pb.ExecPlan) []*pb.StateRecord {
					return []*pb.StateRecord{
						{Key: "proc/100", Value: &pb.StateRecord_Process{Process: &pb.ProcessState{Pid: 100, FdTable: 1, Fs: 1, Init: true}}},
						{Key: "fdt/1/5", Value: &pb.StateRecord_Fd{Fd: &pb.FdState{FdTable: 1, Fd: 5, File: 9}}},
						{Key: "fdt/1/6", Value: &pb.StateRecord_Fd{Fd: &pb.FdState{FdTable: 1, Fd: 6, File: 10}}},
						file(9, unix.O_WRONLY), file(10, unix.O_WRONLY|unix.O_SYNC),
					}
				})
				return true
			case *pb.Call_Syscall:
				sc := op.Syscall
				if sc.Sysno != unix.SYS_WRITE || (sc.Args[0] != 5 && sc.Args[0] != 6) {
					return false
				}
				mu.Lock()
				defer mu.Unlock()
				if sc.Args[0] == 6 {
					syncPosted = sc.Posted
				}
				if sc.Posted {
					if firstPosted == 0 || c.Seq < firstPosted {
						firstPosted = c.Seq
					}
					held = append(held, c)
					return true
				}
				if firstWaited == 0 {
					firstWaited = c.Seq
				}
				for _, h := range held {
					ss.reply(&pb.Reply{Seq: h.Seq, Ret: int64(h.GetSyscall().Args[2])})
				}
				held = nil
				ss.reply(&pb.Reply{Seq: c.Seq, Ret: int64(sc.Args[2])})
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
			Log: hclog.New(&hclog.LoggerOptions{Name: "client", Level: hclog.Info, Output: testWriter{t}}),
		})
		if err != nil || status != 0 {
			t.Fatalf("Run: status %#x, %v; stderr %q", status, err, stderr.String())
		}
		if got, want := stdout.String(), "0 4\n"; got != want {
			t.Errorf("stdout %q, want %q", got, want)
		}
		mu.Lock()
		defer mu.Unlock()
		if n := firstWaited - firstPosted; n != maxPostedCalls {
			t.Errorf("the first write waited for came after %d posted ones, want %d", n, maxPostedCalls)
		}
		if syncPosted {
			t.Errorf("a write to an O_SYNC file was posted")
		}
	})
}

// TestFileKeys checks that the client knows a gofer file by its file
// handle, else by its inode number (do's overlay gives no handles), so
// that its descriptions and mappings share one key and other files'
// differ, and that a mapping known by neither may be any file known by
// its inode number.
func TestFileKeys(t *testing.T) {
	file := func(id uint64, fh string, ino uint64) *pb.StateRecord {
		return &pb.StateRecord{Key: statekey.File(id).String(), Value: &pb.StateRecord_File{File: &pb.FileState{
			Id: id, Kind: pb.FileState_GOFER, Regular: true, Flags: unix.O_WRONLY, FileHandle: []byte(fh), Ino: ino}}}
	}
	mapping := func(id uint64, fh string, ino uint64) *pb.StateRecord {
		return &pb.StateRecord{Key: statekey.Mapped(id).String(), Value: &pb.StateRecord_Mapped{Mapped: &pb.MappedFileState{
			FileId: id, FileHandle: []byte(fh), Ino: ino}}}
	}
	tests := []struct {
		name string
		recs []*pb.StateRecord
		// same says whether descriptions 1 and 2 have one key; mapped
		// whether description 1's file may be mapped.
		same, mapped bool
	}{
		{name: "one handle", recs: []*pb.StateRecord{file(1, "h", 0), file(2, "h", 0)}, same: true},
		{name: "two handles", recs: []*pb.StateRecord{file(1, "h", 5), file(2, "g", 5)}},
		{name: "one inode", recs: []*pb.StateRecord{file(1, "", 5), file(2, "", 5)}, same: true},
		{name: "two inodes", recs: []*pb.StateRecord{file(1, "", 5), file(2, "", 6)}},
		{name: "its inode mapped", recs: []*pb.StateRecord{file(1, "", 5), file(2, "", 6), mapping(9, "", 5)}, mapped: true},
		{name: "another inode mapped", recs: []*pb.StateRecord{file(1, "", 5), file(2, "", 6), mapping(9, "", 6)}},
		{name: "a mapping known by neither", recs: []*pb.StateRecord{file(1, "", 5), file(2, "", 6), mapping(9, "", 0)}, mapped: true},
		{name: "a handle's file and a mapping known by neither", recs: []*pb.StateRecord{file(1, "h", 0), file(2, "g", 0), mapping(9, "", 0)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ps pipelineState
			ps.observe(tc.recs)
			ps.mu.Lock()
			defer ps.mu.Unlock()
			h1, h2 := ps.files[1].handle, ps.files[2].handle
			if h1 == "" || h2 == "" {
				t.Fatalf("keys %q and %q: want both known", h1, h2)
			}
			if got := h1 == h2; got != tc.same {
				t.Errorf("descriptions 1 and 2 share a key: %v, want %v", got, tc.same)
			}
			if got := ps.mayBeMappedLocked(h1); got != tc.mapped {
				t.Errorf("description 1's file may be mapped: %v, want %v", got, tc.mapped)
			}
		})
	}
}

// TestReportsWriteErrorCall: the calls after whose reply the client
// forgets a description's kept write-behind error are those whose reply
// the server gives it to (sentry/server's posted.go): a sync_file_range
// only when it passes its checks and waits for a write-out.
func TestReportsWriteErrorCall(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sysno uintptr
		args  [6]uint64
		want  bool
	}{
		{"fsync", unix.SYS_FSYNC, [6]uint64{3}, true},
		{"write", unix.SYS_WRITE, [6]uint64{3, 0x1000, 1}, true},
		{"read", unix.SYS_READ, [6]uint64{3, 0x1000, 1}, false},
		{"sync_file_range waiting after", unix.SYS_SYNC_FILE_RANGE, [6]uint64{3, 0, 0, unix.SYNC_FILE_RANGE_WRITE_AND_WAIT}, true},
		{"sync_file_range waiting before", unix.SYS_SYNC_FILE_RANGE, [6]uint64{3, 0, 0, unix.SYNC_FILE_RANGE_WAIT_BEFORE}, true},
		{"sync_file_range writing out only", unix.SYS_SYNC_FILE_RANGE, [6]uint64{3, 0, 0, unix.SYNC_FILE_RANGE_WRITE}, false},
		{"sync_file_range with a bad flag", unix.SYS_SYNC_FILE_RANGE, [6]uint64{3, 0, 0, 8 | unix.SYNC_FILE_RANGE_WAIT_AFTER}, false},
		{"sync_file_range of a negative offset", unix.SYS_SYNC_FILE_RANGE, [6]uint64{3, ^uint64(0), 0, unix.SYNC_FILE_RANGE_WAIT_AFTER}, false},
		{"readahead", unix.SYS_READAHEAD, [6]uint64{3, 0, 4096}, false},
		{"close_range", unix.SYS_CLOSE_RANGE, [6]uint64{3, 3, 0}, false},
	} {
		if got := reportsWriteErrorCall(tc.sysno, tc.args); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
