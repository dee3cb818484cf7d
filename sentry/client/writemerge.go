package client

import (
	"golang.org/x/sys/unix"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// Merged writes behind (docs/ARCHITECTURE.md, "Merged writes behind").
//
// A loop of small writes to a file (write4k, a tar member's body, a
// linker's output) posts one write behind per call, and each costs the
// server a call (decode, dispatch, a gofer write's bookkeeping, a reply)
// and the client its posting and its reply's folding. As a page cache
// gathers a run of writes before they reach the disk, a write behind
// that continues the task's previous one, while that one is still
// unsent, is appended to it instead of being posted: the queued call
// becomes one write of both calls' bytes (mergeWrite).
//
// It continues it when:
//   - the previous write behind is the connection's last queued posted
//     call, unsent, and the queue is not yet due (the transport's
//     MergePosted checks it under its send lock): nothing of any thread
//     of this client was posted or sent after it, so nothing could have
//     observed the file or the description's offset, or changed them,
//     in between (an lseek, ftruncate, fsync, close, dup, a read, a write
//     to another fd: each posts or waits, and so queues after it or takes
//     the queue along). A call the client answers itself changes no
//     server state it does not also post.
//   - it is the same call (write, or pwrite64) through the same fd and
//     description, and a pwrite64 starts where the previous one ends
//     (a write follows the description's offset, which nothing moved in
//     between; with O_APPEND both land at the end, in order). writev and
//     pwritev are not merged.
//   - both are owned writes, or neither (Syscall.owned_write,
//     ownedfile.go): the copy took the bytes already.
//   - the merged call's bytes stay within maxMergedWrite, and the
//     session's bound of posted bytes in flight (maxPostedBytes) takes
//     the added bytes.
//
// The merged call is one call in every respect: one seq, one reply, one
// replay-log record whose data is all the bytes (a recovery re-sends it
// once, and the gofer's reply cache applies it once), one count in
// flight (wbCount) and one read-cache posting. Its count is the sum the
// application was told; the server applies the error rule to it as to
// any write behind (sentry/server/posted.go). A short count keeps EIO on
// the description, as a short unmerged write does; a count cut short
// exactly between two of the application's writes (Syscall.write_parts)
// continues, as the next unmerged write would have been tried, and a
// failure then is the kept error (the ENOSPC the next write would have
// met): the description's offset and kept error are those of the
// unmerged writes.

// maxMergedWrite bounds a merged write's bytes: the transport's flush
// threshold of a batch (postedFlushBytes, 256 KiB), which sends the
// queue once a merge fills it, and the replay log's largest pooled
// buffer.
const maxMergedWrite = 256 << 10

// minMergeParts is the write size whose merged call's parts fill the
// slice made for them at once (4 KiB: 64 parts).
const minMergeParts = 4 << 10

// maxWriteParts bounds the application writes a merged call carries
// (Syscall.write_parts): 64 writes of 4 KiB fill maxMergedWrite.
const maxWriteParts = 1024

// mergeWrite appends write behind data, of system call sysno (write or
// pwrite64) with args, to t's previous write behind of description
// file, if it may (see above), and reports whether it did; owned says
// the owned copy took data (ownedWrite). The caller gives back data's
// buffer once merged: the merge copied it.
func (t *task) mergeWrite(file uint64, sysno uintptr, args [6]uint64, data []byte, owned bool) bool {
	prev := t.lastWB
	if prev == nil || !mayMerge(prev, file, sysno, args, len(data), owned) {
		return false
	}
	prev.appending = data
	merged := t.c.conn.MergePosted(&prev.postedCall, len(data), prev)
	prev.appending = nil
	if !merged {
		return false
	}
	t.posted = true
	return true
}

// Merge implements transport.Merger: it appends wc.appending to wc's
// bytes. Called under the transport's send lock while wc is queued and
// unsent: its reply cannot come before it is sent.
func (wc *wbCall) Merge() int {
	rl, data := wc.t.c.rl, wc.appending
	old := wc.input.Data
	total := len(old) + len(data)
	buf, pooled := old, wc.pooledData
	if cap(old) < total {
		buf, pooled = rl.WriteBuffer(total)
		copy(buf, old)
		if wc.pooledData {
			// Only the call held it: the owned copy and the read
			// cache copied its bytes.
			rl.PutWriteBuffer(old)
		}
	}
	buf = buf[:total]
	copy(buf[len(old):], data)
	parts := wc.sc.WriteParts
	if parts == nil {
		parts = &pb.WriteParts{Lengths: append(make([]uint64, 0, maxMergedWrite/minMergeParts), uint64(len(old)))}
		wc.sc.WriteParts = parts
	}
	parts.Lengths = append(parts.Lengths, uint64(len(data)))
	wc.input.Data, wc.data, wc.pooledData = buf, buf, pooled
	wc.args[2] = uint64(total)
	wc.n = uint64(total)
	return len(data)
}

// mayMerge says whether a write behind of n bytes (sysno, args; owned:
// an owned write) to description file may continue prev, the task's
// previous write behind, as far as the calls themselves tell (the
// transport decides whether prev is still unsent and last).
func mayMerge(prev *wbCall, file uint64, sysno uintptr, args [6]uint64, n int, owned bool) bool {
	if prev.file != file || uintptr(prev.sc.Sysno) != sysno || prev.args[0] != args[0] ||
		prev.sc.OwnedWrite != owned || len(prev.sc.Inputs) != 1 ||
		len(prev.input.Data)+n > maxMergedWrite || len(prev.sc.WriteParts.GetLengths()) >= maxWriteParts {
		return false
	}
	switch sysno {
	case unix.SYS_WRITE:
		return true
	case unix.SYS_PWRITE64:
		return int64(args[3]) >= 0 && args[3] == prev.args[3]+uint64(len(prev.input.Data))
	}
	return false
}

// MergePosted runs m, which adds added bytes to the inputs of pc, a
// posted call, if pc is still unsent and the connection's last queued
// call (transport's MergePosted), and the bytes in flight take the
// added ones (maxPostedBytes), and reports whether it ran. The merged
// call is in flight as pc was: a recovery re-sends it whole.
func (s *remoteSession) MergePosted(pc *postedCall, added int, m transport.Merger) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	// pc must be the session's last call: nothing posted or sent after
	// it (each took a seq under s.mu). The transport's own check (its
	// queue's last call) misses a call posted after the connection died,
	// which it did not queue but which the recovery re-sends after pc.
	if s.recovering || s.fatal != nil || pc.conn != s.conn || pc.gen != s.connGen || pc.call.Seq != s.seq {
		return false
	}
	s.imu.Lock()
	room := s.postedBytes+added <= maxPostedBytes
	s.imu.Unlock()
	if !room {
		return false
	}
	// s.mu orders posts: no call is posted or sent on the session
	// between the check and the merge, and postedBytes only shrinks
	// meanwhile (replies).
	// A failed send of the queue the merge filled leaves the merged
	// call in flight: the recovery the dead connection starts
	// (monitor) re-sends it, as post's.
	merged, _ := s.conn.MergePosted(&pc.call, m)
	if !merged {
		return false
	}
	// Under imu after the merge: a reply's fold (onReply, under imu
	// first) sees the merged call.
	s.imu.Lock()
	s.postedBytes += added
	s.imu.Unlock()
	s.mergedWrites.Add(1)
	return true
}
