package chaos

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// A failed Rewrite (docs/ARCHITECTURE.md, "Recovery", "A Rewrite that
// fails"), with real processes and a real failure.
//
// A write that was answered is in the host's page cache, so the Rewrite
// a recovery sends for it finds its bytes in the file and writes
// nothing (kernel.fileHolds): a full disk alone makes no Rewrite fail.
// A Rewrite must write when the host lost the write before it was
// durable: a crash of the gofer's machine. RewriteFailed plays one,
// from the host's side: the gofer dies first (every fsync goes through
// it, so nothing written from then on becomes durable, while the server
// still writes through the fds it was donated), then the server; the
// file loses what was written after the gofer's death (truncated back
// to its size then), and the disk is full (a tmpfs of 1 MiB, filled)
// when both come back. The recovery's Rewrites of the lost records
// then really fail with ENOSPC.
//
// What the application gets (rwfail.c prints it):
//
//   - Its writes all succeeded when it made them, and nothing reports
//     the loss until it syncs: then the next fsync of the description
//     returns EIO, once (the next one 0), and so does the next syncfs,
//     counted apart (errseq, as Linux reports a writeback error). The
//     same holds for a description opened after the crash, when the
//     one that wrote was closed before it (RewriteFailedClosed: the
//     server keeps a closed description while its writes are not
//     durable, so the client's records keep it and it is restored).
//   - A write made after the loss that needs no block more (record 0
//     again, in place) succeeds, and the fsync makes it durable: its
//     Durable passes the lost writes, which the server names held, so
//     the client drops it and keeps them.
//   - Until a recovery makes the writes again, the file lacks them: it
//     is as the host left it (here 8 records short).
//   - The client keeps the failed writes and re-sends them at each
//     recovery. One while the disk is still full fails them again, and
//     the new server reports its own failure: the next fsync returns EIO
//     again, once. Once the disk has room again, the next server
//     failure's recovery makes them: the file then holds every byte the
//     application wrote, as in the run without faults, and later fsyncs
//     return 0.
//
// Only the syncs' lines and the lack differ from a run with the same
// full disk and no fault (RewriteFailedOutcome): there the records
// were never lost, so a full disk needs nothing written again.

//go:embed testdata/rwfail.c
var rwfailC string

const (
	// rwfailRecord is rwfail.c's REC, the size of a record.
	rwfailRecord = 4096
	// rwfailAfter is rwfail.c's AFTER: the records written after the
	// gofer's death, which the host loses.
	rwfailAfter = 8
)

// RewriteFailed is the workload of TestRewriteFailed (above).
var RewriteFailed = Workload{
	Name:    "rewrite-enospc",
	Script:  `./prog; s=$?; rm prog; exit $s`,
	CSource: rwfailC,
	Disk:    &Disk{Dir: "d", Size: 1 << 20},
	Conduct: conductRewriteFailed,
	Expect:  RewriteFailedOutcome,
}

// RewriteFailedClosed is RewriteFailed with the description closed
// before the crash and the file opened again after it.
var RewriteFailedClosed = Workload{
	Name:    "rewrite-enospc-closed",
	Script:  `./prog closed; s=$?; rm prog; exit $s`,
	CSource: rwfailC,
	Disk:    &Disk{Dir: "d", Size: 1 << 20},
	Conduct: conductRewriteFailed,
	Expect:  RewriteFailedOutcome,
}

// Conducted are the workloads that make their own faults (Conduct).
var Conducted = []Workload{RewriteFailed, RewriteFailedClosed}

// conductRewriteFailed drives rwfail.c: k records (16 to 63, from the
// seed), a server kill at a random moment among them, the gofer's
// death, 8 records more, the host's crash (above), the full disk, a
// server kill, then the room and a server kill. The reference runs get
// the full disk and the room at the same steps, and no fault.
func conductRewriteFailed(c *Conductor) error {
	k := 16 + c.Rand.Intn(48)
	data := filepath.Join(c.Dir, "d", "data")
	fill := filepath.Join(c.Dir, "d", "fill")
	// replaceServer kills the server and starts a new one (a recovery),
	// in a run with faults.
	replaceServer := func() error {
		if !c.Faults {
			return nil
		}
		if err := c.Kill("server"); err != nil {
			return err
		}
		return c.Restart("server")
	}
	steps := []func() error{
		func() error { return c.Await("step start") },
		func() error { return c.Send(strconv.Itoa(k)) },
		func() error {
			if !c.Faults {
				return nil
			}
			// An ordinary recovery, among the first records (their
			// Rewrites find their bytes in the file) or after them.
			time.Sleep(time.Duration(c.Rand.Int63n(int64(time.Duration(3*k) * time.Millisecond))))
			if err := c.Kill("server"); err != nil {
				return err
			}
			return c.Restart("server")
		},
		func() error { return c.Await("step written-before") },
		func() error {
			if !c.Faults {
				return nil
			}
			if err := c.AwaitRecovery(); err != nil {
				return err
			}
			if err := c.Kill("gofer"); err != nil {
				return err
			}
			return checkSize(data, int64(k)*rwfailRecord)
		},
		func() error { return c.Send("go") },
		func() error { return c.Await("step written-after") },
		func() error {
			if !c.Faults {
				return nil
			}
			if err := c.Kill("server"); err != nil {
				return err
			}
			if err := checkSize(data, int64(k+rwfailAfter)*rwfailRecord); err != nil {
				return err
			}
			return os.Truncate(data, int64(k)*rwfailRecord)
		},
		func() error { return fillDisk(fill) },
		func() error {
			if !c.Faults {
				return nil
			}
			if err := c.Restart("gofer"); err != nil {
				return err
			}
			return c.Restart("server")
		},
		func() error { return c.Send("go") },
		func() error { return c.Await("step reported") },
		// Another recovery while the disk is still full: the Rewrites
		// fail again, and the new server reports them.
		replaceServer,
		func() error { return c.Send("go") },
		func() error { return c.Await("step reported-again") },
		func() error { return os.Remove(fill) },
		replaceServer,
		func() error { return c.Send("go") },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return fmt.Errorf("%d records before the crash: %w", k, err)
		}
	}
	return nil
}

// checkSize fails unless the file at path is size bytes long.
func checkSize(path string, size int64) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.Size() != size {
		return fmt.Errorf("%s is %d bytes long, want %d", path, fi.Size(), size)
	}
	return nil
}

// fillDisk writes the file at path until its file system has no free
// block left.
func fillDisk(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, size := range []int{64 << 10, 4 << 10} {
		b := make([]byte, size)
		for {
			if _, err := f.Write(b); err != nil {
				if !errors.Is(err, unix.ENOSPC) {
					return fmt.Errorf("fill %s: %w", path, err)
				}
				break
			}
		}
	}
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(path), &st); err != nil {
		return err
	}
	if st.Bfree != 0 {
		return fmt.Errorf("%s filled, %d blocks are still free", filepath.Dir(path), st.Bfree)
	}
	return nil
}

// RewriteFailedOutcome is the outcome the faulty run of RewriteFailed
// must have, given ref, a run with the same full disk and no fault: its
// stdout says EIO at the first fsync and the first syncfs after the
// loss and at the first fsync after the next recovery, and the file 8
// records short until the room and the recovery after it; the rest,
// and the files, are ref's.
func RewriteFailedOutcome(ref Outcome) (Outcome, error) {
	want := ref
	for _, r := range []struct{ calm, faulty string }{
		{"after the loss: fsync 0, again 0; syncfs 0, again 0", "after the loss: fsync EIO, again 0; syncfs EIO, again 0"},
		{"missing while held: 0 bytes", fmt.Sprintf("missing while held: %d bytes", rwfailAfter*rwfailRecord)},
		{"the disk still full: fsync 0, again 0", "the disk still full: fsync EIO, again 0"},
	} {
		if !strings.Contains(want.Stdout, r.calm+"\n") {
			return Outcome{}, fmt.Errorf("the reference run did not print %q:\n%s", r.calm, ref.Stdout)
		}
		want.Stdout = strings.Replace(want.Stdout, r.calm+"\n", r.faulty+"\n", 1)
	}
	return want, nil
}
