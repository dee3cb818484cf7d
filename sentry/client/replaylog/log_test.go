package replaylog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// Record keys as the wire carries them.
func fileKey(id uint64) string   { return statekey.File(id).String() }
func pipeKey(id uint64) string   { return statekey.Pipe(id).String() }
func writeKey(seq uint64) string { return statekey.Write(seq).String() }
func mapKey(id uint64) string    { return statekey.Mapped(id).String() }

// Record builders.
func recFile(id uint64, off int64, path string) *pb.StateRecord {
	return &pb.StateRecord{Key: fileKey(id), Value: &pb.StateRecord_File{File: &pb.FileState{
		Id: id, Kind: pb.FileState_GOFER, Flags: unix.O_WRONLY, Offset: off, Path: []byte(path), FileHandle: []byte("h" + path)}}}
}
func recFD(tab uint64, fd int32, file uint64) *pb.StateRecord {
	return &pb.StateRecord{Key: fmt.Sprintf("fdt/%d/%d", tab, fd), Value: &pb.StateRecord_Fd{Fd: &pb.FdState{FdTable: tab, Fd: fd, File: file}}}
}
func recWrite(seq, file uint64, off int64, n uint64) *pb.StateRecord {
	return &pb.StateRecord{Key: writeKey(seq), Value: &pb.StateRecord_Write{Write: &pb.WriteState{Seq: seq, File: file, Offset: off, Length: n}}}
}
func recPipeWrite(seq, wfile, pipe uint64, off int64, n uint64) *pb.StateRecord {
	return &pb.StateRecord{Key: writeKey(seq), Value: &pb.StateRecord_Write{Write: &pb.WriteState{Seq: seq, File: wfile, Offset: off, Length: n, Pipe: pipe}}}
}

// withData sets the data a write record carries (a write whose call
// did not carry its bytes: splice, copy_file_range).
func withData(rec *pb.StateRecord, data string) *pb.StateRecord {
	rec.GetWrite().Data = []byte(data)
	return rec
}
func recPipe(id, written, read uint64) *pb.StateRecord {
	return &pb.StateRecord{Key: pipeKey(id), Value: &pb.StateRecord_Pipe{Pipe: &pb.PipeState{Id: id, Written: written, Read: read}}}
}
func recDel(key string) *pb.StateRecord { return &pb.StateRecord{Key: key, Deleted: true} }
func recMap(id uint64, path string) *pb.StateRecord {
	return &pb.StateRecord{Key: mapKey(id), Value: &pb.StateRecord_Mapped{Mapped: &pb.MappedFileState{
		FileId: id, Path: []byte(path), FileHandle: []byte("h" + path), Refs: 1, Writable: true}}}
}
func recPageWrite(seq, file, mapped uint64, off int64, n uint64) *pb.StateRecord {
	return &pb.StateRecord{Key: writeKey(seq), Value: &pb.StateRecord_Write{Write: &pb.WriteState{Seq: seq, File: file, Offset: off, Length: n, MappedFile: mapped}}}
}
func callPageWrite(seq, id uint64, off uint64, data string) *pb.Call {
	return &pb.Call{Seq: seq, Op: &pb.Call_PageWrite{PageWrite: &pb.PageWrite{FileId: id, Offset: off, Data: []byte(data)}}}
}

// Call builders.
func callWrite(seq uint64, fd int, data string) *pb.Call {
	return &pb.Call{Seq: seq, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: unix.SYS_WRITE,
		Args: []uint64{uint64(fd), 0x1000, uint64(len(data))}, Inputs: []*pb.Region{{Addr: 0x1000, Data: []byte(data)}}}}}
}
func callWritev(seq uint64, fd int, parts ...string) *pb.Call {
	iov := make([]byte, 16*len(parts))
	inputs := []*pb.Region{{Addr: 0x2000, Data: iov}}
	addr := uint64(0x3000)
	for i, p := range parts {
		binary.LittleEndian.PutUint64(iov[16*i:], addr)
		binary.LittleEndian.PutUint64(iov[16*i+8:], uint64(len(p)))
		if len(p) > 0 {
			inputs = append(inputs, &pb.Region{Addr: addr, Data: []byte(p)})
		}
		addr += 0x1000
	}
	return &pb.Call{Seq: seq, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: unix.SYS_WRITEV,
		Args: []uint64{uint64(fd), 0x2000, uint64(len(parts))}, Inputs: inputs}}}
}
func callLseek(seq uint64) *pb.Call {
	return &pb.Call{Seq: seq, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: unix.SYS_LSEEK, Args: []uint64{3, 0, 0}}}}
}

// step is one input to a Log.
type step struct {
	call  *pb.Call
	state []*pb.StateRecord // a reply to call with these records
	push  *pb.Push
}

func reply(call *pb.Call, recs ...*pb.StateRecord) step {
	return step{call: call, state: recs}
}
func durable(file, seq uint64) step {
	return step{push: &pb.Push{Msg: &pb.Push_Durable{Durable: &pb.Durable{File: file, Seq: seq}}}}
}
func durables(fileSeqs ...uint64) step {
	b := &pb.DurableBatch{}
	for i := 0; i+1 < len(fileSeqs); i += 2 {
		b.Files = append(b.Files, &pb.Durable{File: fileSeqs[i], Seq: fileSeqs[i+1]})
	}
	return step{push: &pb.Push{Msg: &pb.Push_Durables{Durables: b}}}
}
func update(recs ...*pb.StateRecord) step {
	return step{push: &pb.Push{Msg: &pb.Push_State{State: &pb.StateUpdate{Records: recs}}}}
}

func apply(l *Log, steps []step) {
	for _, s := range steps {
		if s.push != nil {
			l.FoldPush(s.push)
			continue
		}
		seq := uint64(0)
		if s.call != nil {
			seq = s.call.Seq
		}
		l.FoldReply(s.call, &pb.Reply{Seq: seq, State: s.state})
	}
}

func TestReplayLogFold(t *testing.T) {
	type rewrite struct {
		seq  uint64
		off  int64
		data string
		path string
	}
	cases := []struct {
		name  string
		steps []step
		// keys are the live keys (sorted as RestoreRecords sorts them).
		keys     []string
		rewrites []rewrite
		// pipes maps a pipe id to the unread bytes Restore carries.
		pipes map[uint64]string
	}{
		{
			name: "latest wins, deleted removes",
			steps: []step{
				reply(nil, recFile(1, 0, "/a"), recFD(1, 3, 1)),
				reply(nil, recFile(1, 10, "/a")),
				reply(nil, recFile(2, 0, "/b"), recFD(1, 4, 2)),
				update(recDel("fdt/1/4"), recDel(fileKey(2))),
			},
			keys: []string{"file/1", "fdt/1/3"},
		},
		{
			name: "a write-behind error is kept until a call reports it",
			steps: []step{
				reply(nil, recFile(1, 0, "/a")),
				reply(nil, &pb.StateRecord{Key: "wberr/40", Value: &pb.StateRecord_WriteError{
					WriteError: &pb.WriteErrorState{Ino: 40, Errno: 28}}}),
				reply(nil, &pb.StateRecord{Key: "wberr/41", Value: &pb.StateRecord_WriteError{
					WriteError: &pb.WriteErrorState{Ino: 41, Errno: 5}}}),
				reply(nil, recDel("wberr/40")),
			},
			keys: []string{"file/1", "wberr/41"},
		},
		{
			name: "write retained until durable",
			steps: []step{
				reply(nil, recFile(1, 0, "/a")),
				reply(callWrite(5, 3, "hello"), recWrite(5, 1, 0, 5), recFile(1, 5, "/a")),
				reply(callWrite(6, 3, "world"), recWrite(6, 1, 5, 5), recFile(1, 10, "/a")),
				reply(callWrite(7, 3, "!"), recWrite(7, 1, 10, 1), recFile(1, 11, "/a")),
				durable(1, 6),
			},
			keys:     []string{"file/1", "write/7"},
			rewrites: []rewrite{{7, 10, "!", "/a"}},
		},
		{
			name: "durable of another file keeps",
			steps: []step{
				reply(nil, recFile(1, 0, "/a"), recFile(2, 0, "/b")),
				reply(callWrite(5, 3, "aaaa"), recWrite(5, 1, 0, 4)),
				reply(callWrite(6, 4, "bbbb"), recWrite(6, 2, 0, 4)),
				durable(2, 100),
			},
			keys:     []string{"file/1", "file/2", "write/5"},
			rewrites: []rewrite{{5, 0, "aaaa", "/a"}},
		},
		{
			name: "a batch of durables: each file's own seq",
			steps: []step{
				reply(nil, recFile(1, 0, "/a"), recFile(2, 0, "/b"), recFile(3, 0, "/c")),
				reply(callWrite(5, 3, "aaaa"), recWrite(5, 1, 0, 4)),
				reply(callWrite(6, 4, "bbbb"), recWrite(6, 2, 0, 4)),
				reply(callWrite(7, 4, "cccc"), recWrite(7, 2, 4, 4)),
				reply(callWrite(8, 5, "dddd"), recWrite(8, 3, 0, 4)),
				durables(1, 5, 2, 6, 3, 100),
			},
			keys:     []string{"file/1", "file/2", "file/3", "write/7"},
			rewrites: []rewrite{{7, 4, "cccc", "/b"}},
		},
		{
			name: "short write keeps length bytes; writev gathers in order",
			steps: []step{
				reply(nil, recFile(1, 0, "/a")),
				reply(callWrite(5, 3, "0123456789"), recWrite(5, 1, 0, 4)),
				reply(callWritev(6, 3, "ab", "", "cd", "ef"), recWrite(6, 1, 4, 6)),
				reply(callWritev(7, 3, "xy", "z"), recWrite(7, 1, 100, 2)),
			},
			keys:     []string{"file/1", "write/5", "write/6", "write/7"},
			rewrites: []rewrite{{5, 0, "0123", "/a"}, {6, 4, "abcdef", "/a"}, {7, 100, "xy", "/a"}},
		},
		{
			name: "a write record's own data is retained, not the call's",
			steps: []step{
				reply(nil, recFile(1, 0, "/a"), recPipe(9, 0, 0)),
				reply(callWrite(5, 3, "ignored"), withData(recWrite(5, 1, 0, 6), "copied")),
				reply(callWrite(6, 4, "ignored"), withData(recPipeWrite(6, 2, 9, 0, 5), "piped"), recPipe(9, 5, 0)),
			},
			keys:     []string{"pipe/9", "file/1", "write/5"},
			rewrites: []rewrite{{5, 0, "copied", "/a"}},
			pipes:    map[uint64]string{9: "piped"},
		},
		{
			name: "file record gone: rewrite uses the path from write time",
			steps: []step{
				reply(nil, recFile(1, 0, "/a")),
				reply(callWrite(5, 3, "data"), recWrite(5, 1, 0, 4)),
				update(recDel(fileKey(1))),
			},
			keys:     []string{"write/5"},
			rewrites: []rewrite{{5, 0, "data", "/a"}},
		},
		{
			name: "pipe bytes retained until read",
			steps: []step{
				reply(nil, recPipe(9, 0, 0)),
				reply(callWrite(5, 4, "hello "), recPipeWrite(5, 2, 9, 0, 6), recPipe(9, 6, 0)),
				reply(callWrite(6, 4, "world"), recPipeWrite(6, 2, 9, 6, 5), recPipe(9, 11, 0)),
				reply(nil, recPipe(9, 11, 3)),
			},
			keys:  []string{"pipe/9"},
			pipes: map[uint64]string{9: "lo world"},
		},
		{
			name: "pipe read reported before the write's reply",
			steps: []step{
				reply(nil, recPipe(9, 0, 0)),
				// A reader consumed 4 bytes of a write whose reply comes
				// later.
				reply(nil, recPipe(9, 0, 4)),
				reply(callWrite(5, 4, "abcdefgh"), recPipeWrite(5, 2, 9, 0, 8), recPipe(9, 8, 4)),
			},
			keys:  []string{"pipe/9"},
			pipes: map[uint64]string{9: "efgh"},
		},
		{
			name: "short pipe write and pipe deletion",
			steps: []step{
				reply(nil, recPipe(9, 0, 0), recPipe(10, 0, 0)),
				reply(callWrite(5, 4, "abcdefgh"), recPipeWrite(5, 2, 9, 0, 3), recPipe(9, 3, 0)),
				reply(callWrite(6, 5, "zz"), recPipeWrite(6, 2, 10, 0, 2), recPipe(10, 2, 0)),
				update(recDel(pipeKey(10))),
			},
			keys:  []string{"pipe/9"},
			pipes: map[uint64]string{9: "abc"},
		},
		{
			// The description a PageWrite went through may be one no
			// fd names: the mapped file names the file.
			name: "a PageWrite is retained with the mapped file's handle",
			steps: []step{
				reply(nil, recMap(7, "/dev/shm/f")),
				reply(callPageWrite(8, 7, 4096, "hello"), recPageWrite(8, 4, 7, 4096, 5)),
				reply(callPageWrite(9, 7, 8192, "clipped"), recPageWrite(9, 4, 7, 8192, 3)),
			},
			keys:     []string{"map/7", "write/8", "write/9"},
			rewrites: []rewrite{{8, 4096, "hello", "/dev/shm/f"}, {9, 8192, "cli", "/dev/shm/f"}},
		},
		{
			name: "a durable PageWrite is dropped",
			steps: []step{
				reply(nil, recMap(7, "/m")),
				reply(callPageWrite(8, 7, 0, "x"), recPageWrite(8, 4, 7, 0, 1)),
				durable(4, 8),
			},
			keys: []string{"map/7"},
		},
		{
			name: "deleting a write record drops its data",
			steps: []step{
				reply(nil, recFile(1, 0, "/a")),
				reply(callWrite(5, 3, "x"), recWrite(5, 1, 0, 1)),
				update(recDel(writeKey(5))),
			},
			keys: []string{"file/1"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := New()
			apply(l, tc.steps)
			recs := l.RestoreRecords()
			var keys []string
			for _, r := range recs {
				keys = append(keys, r.Key)
				if ps := r.GetPipe(); ps != nil {
					want := tc.pipes[ps.Id]
					if string(ps.Data) != want {
						t.Errorf("pipe %d: Restore data %q, want %q", ps.Id, ps.Data, want)
					}
				}
			}
			if strings.Join(keys, " ") != strings.Join(tc.keys, " ") {
				t.Errorf("keys %q, want %q", keys, tc.keys)
			}
			rws := l.RetainedWrites()
			if len(rws) != len(tc.rewrites) {
				t.Fatalf("%d retained writes, want %d: %v", len(rws), len(tc.rewrites), rws)
			}
			var dataBytes int64
			for i, w := range tc.rewrites {
				got := rws[i]
				if got.Seq != w.seq || got.Offset != w.off || string(got.Data) != w.data || string(got.Path) != w.path || string(got.FileHandle) != "h"+w.path {
					t.Errorf("rewrite %d: got seq=%d off=%d data=%q path=%q handle=%q, want %+v", i, got.Seq, got.Offset, got.Data, got.Path, got.FileHandle, w)
				}
				dataBytes += int64(len(w.data))
			}
			for _, p := range tc.pipes {
				dataBytes += int64(len(p))
			}
			st := l.Stats()
			if st.DataBytes != dataBytes {
				t.Errorf("DataBytes %d, want %d", st.DataBytes, dataBytes)
			}
			// The size accounting matches a recount.
			var want int64 = dataBytes
			for k, r := range l.records {
				if proto.Size(r) != l.recSize[k] {
					t.Errorf("size of %s: %d, want %d", k, l.recSize[k], proto.Size(r))
				}
				want += int64(proto.Size(r))
			}
			// A write's record is kept as its fields: its size is
			// counted without encoding it.
			for seq, rw := range l.writes {
				if n := proto.Size(rw.record()); rw.recordSize() != n {
					t.Errorf("size of write %d's record: %d, want %d", seq, rw.recordSize(), n)
				}
				want += int64(rw.recordSize())
			}
			if st.Bytes != want {
				t.Errorf("Bytes %d, want %d", st.Bytes, want)
			}
		})
	}
}

// liveStateSteps is a fixed live state: a process, a cwd, an open file
// with a non-durable write and a pipe with unread bytes.
func liveStateSteps() []step {
	return []step{
		reply(nil, &pb.StateRecord{Key: "proc/100", Value: &pb.StateRecord_Process{Process: &pb.ProcessState{Pid: 100, FdTable: 1, Fs: 2, Sighand: 3, Init: true, Argv: [][]byte{[]byte("sh")}}}},
			&pb.StateRecord{Key: "thread/100", Value: &pb.StateRecord_Thread{Thread: &pb.ThreadState{Tid: 100, Pid: 100}}},
			&pb.StateRecord{Key: "fs/2", Value: &pb.StateRecord_Fs{Fs: &pb.FsState{Id: 2, Cwd: []byte("/tmp"), Umask: 0o22}}},
			recFile(4, 0, "/tmp/f"), recFD(1, 3, 4), recPipe(5, 0, 0)),
		reply(callWrite(10, 3, "pending data"), recWrite(10, 4, 0, 12), recFile(4, 12, "/tmp/f")),
		reply(callWrite(11, 6, "unread"), recPipeWrite(11, 7, 5, 0, 6), recPipe(5, 6, 0)),
	}
}

// TestReplayLogCompacted: the log's size depends on the live state, not
// on how many calls were made (lseek and read loops over one fd).
func TestReplayLogCompacted(t *testing.T) {
	measure := func(calls int) LogStats {
		l := New()
		apply(l, liveStateSteps())
		seq := uint64(100)
		for i := 0; i < calls; i++ {
			seq++
			// lseek/read move the offset: each reply carries the file.
			l.FoldReply(callLseek(seq), &pb.Reply{Seq: seq, State: []*pb.StateRecord{recFile(4, int64(i%4096), "/tmp/f")}})
			if i%1000 == 0 {
				// Now and then a write made durable.
				seq++
				l.FoldReply(callWrite(seq, 5, "x"), &pb.Reply{Seq: seq, State: []*pb.StateRecord{recWrite(seq, 8, 12, 1)}})
				l.Durable(8, seq)
			}
		}
		l.FoldReply(callLseek(seq+1), &pb.Reply{Seq: seq + 1, State: []*pb.StateRecord{recFile(4, 12, "/tmp/f")}})
		return l.Stats()
	}
	small, big := measure(1_000), measure(1_000_000)
	t.Logf("after 1,000 calls: %+v; after 1,000,000: %+v", small, big)
	if small.Writes != 1 || small.DataBytes != 12+6 {
		t.Errorf("live state lost: %+v", small)
	}
	if small.Records != big.Records || small.Writes != big.Writes || small.DataBytes != big.DataBytes {
		t.Errorf("log after 1e6 calls %+v differs from after 1e3 %+v", big, small)
	}
	if d := big.Bytes - small.Bytes; d < -16 || d > 16 {
		t.Errorf("log bytes %d after 1e6 calls vs %d after 1e3", big.Bytes, small.Bytes)
	}
}

func BenchmarkReplayLogFold(b *testing.B) {
	l := New()
	apply(l, liveStateSteps())
	rep := &pb.Reply{State: []*pb.StateRecord{recFile(4, 7, "/tmp/f")}}
	call := callLseek(1)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		l.FoldReply(call, rep)
	}
}

// sameLog compares two logs' live state.
func sameLog(t *testing.T, got, want *Log) {
	t.Helper()
	gr, wr := got.RestoreRecords(), want.RestoreRecords()
	if len(gr) != len(wr) {
		t.Fatalf("%d records, want %d", len(gr), len(wr))
	}
	for i := range gr {
		if !proto.Equal(gr[i], wr[i]) {
			t.Errorf("record %d: %v, want %v", i, gr[i], wr[i])
		}
	}
	gw, ww := got.RetainedWrites(), want.RetainedWrites()
	if len(gw) != len(ww) {
		t.Fatalf("%d writes, want %d", len(gw), len(ww))
	}
	for i := range gw {
		if !proto.Equal(gw[i], ww[i]) {
			t.Errorf("write %d: %v, want %v", i, gw[i], ww[i])
		}
	}
	if g, w := got.Stats(), want.Stats(); g != w {
		t.Errorf("stats %+v, want %+v", g, w)
	}
}

func TestDurableLogRoundTrip(t *testing.T) {
	dir := t.TempDir()
	l := New()
	d, err := OpenDurable(dir, "client/1", l, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	apply(l, liveStateSteps())
	apply(l, []step{
		reply(callWrite(20, 3, "more"), recWrite(20, 4, 12, 4), recFile(4, 16, "/tmp/f")),
		reply(callWrite(21, 3, "again"), recWrite(21, 4, 16, 5), recFile(4, 21, "/tmp/f")),
		durable(4, 20),
		reply(callWrite(22, 6, "MORE"), recPipeWrite(22, 7, 5, 6, 4), recPipe(5, 10, 2)),
	})
	// Enough updates to force compactions.
	for i := 0; i < 20000; i++ {
		l.FoldReply(callLseek(uint64(100+i)), &pb.Reply{State: []*pb.StateRecord{recFile(4, int64(i), "/tmp/f")}})
	}
	l.FoldReply(callLseek(1), &pb.Reply{State: []*pb.StateRecord{recFile(4, 21, "/tmp/f")}})
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	path := LogPath(dir, "client/1")
	ll, err := LoadLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if ll.ClientID != "client/1" {
		t.Errorf("client id %q", ll.ClientID)
	}
	sameLog(t, ll.Log, l)
	if start, data := ll.Log.PipeBytes(5); start != 2 || string(data) != "readMORE" {
		t.Errorf("pipe bytes at %d: %q, want \"readMORE\" at 2", start, data)
	}
	fi, _ := os.Stat(path)
	t.Logf("log file %d bytes, live %d, %d compactions", fi.Size(), l.Stats().Bytes, d.compactions)
	if d.compactions == 0 {
		t.Errorf("no compaction after 20000 updates (file %d bytes)", fi.Size())
	}
	if fi.Size() > 2*logMinCompact {
		t.Errorf("log file %d bytes: not compacted", fi.Size())
	}

	// The dump names records, writes and pipe bytes.
	var out bytes.Buffer
	if err := DumpLogDir(&out, dir); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"proc/100", "fdt/1/3", "file/4", `path:"/tmp/f"`, "seq=21 file=4 offset=16 length=5", `"again"`, "pipe/5 [2,10)", `"readMORE"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dump lacks %q:\n%s", want, out.String())
		}
	}

	// A truncated file gives an error naming the file and offset.
	b, _ := os.ReadFile(path)
	for _, n := range []int{3, len(b) - 1, len(b) - 9} {
		_, err := DecodeLog(path, b[:n])
		var le *LogError
		if !errors.As(err, &le) || le.File != path || !strings.Contains(err.Error(), "offset") {
			t.Errorf("truncated to %d: error %v", n, err)
		}
	}
	// A flipped byte is caught by the checksum.
	bad := append([]byte(nil), b...)
	bad[len(bad)-2] ^= 0xff
	if _, err := DecodeLog(path, bad); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("corrupted: error %v", err)
	}
}

// TestDurableLogGroupCommit: changes reach the file within a commit
// interval, without Close.
func TestDurableLogGroupCommit(t *testing.T) {
	dir := t.TempDir()
	l := New()
	d, err := OpenDurable(dir, "c", l, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	apply(l, liveStateSteps())
	path := LogPath(dir, "c")
	var ll *LoadedLog
	for i := 0; i < 100; i++ {
		ll, err = LoadLog(path)
		if err == nil && ll.Log.Stats().Records == l.Stats().Records {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	sameLog(t, ll.Log, l)
}

func FuzzDecodeLog(f *testing.F) {
	l := New()
	apply(l, liveStateSteps())
	l.mu.Lock()
	snap := encodeSnapshotLocked(l, "fuzz")
	l.mu.Unlock()
	f.Add(snap)
	f.Add(snap[:len(snap)/2])
	f.Add(logMagic)
	f.Add([]byte("garbage"))
	// Entries of each kind with hostile values.
	hostile := append([]byte(nil), logMagic...)
	rec, _ := proto.Marshal(recPipeWrite(1, 1, 1, -5, 1<<62))
	hostile = encodeRecord(hostile, rec, []byte("x"))
	hostile = appendEntry(hostile, append([]byte{entPipe}, binary.AppendUvarint(binary.AppendUvarint(nil, 1), ^uint64(0)-2)...))
	hostile = appendEntry(hostile, []byte{entDurable, 1, 2})
	hostile = appendEntry(hostile, []byte{99})
	f.Add(hostile)
	f.Fuzz(func(t *testing.T, b []byte) {
		ll, err := DecodeLog("fuzz.rdlog", b)
		if err != nil {
			var le *LogError
			if !errors.As(err, &le) || le.File != "fuzz.rdlog" || le.Offset < 0 || le.Offset > int64(len(b)) {
				t.Fatalf("error %v is not a LogError within the file", err)
			}
		}
		if ll == nil {
			t.Fatal("nil result")
		}
		// Whatever was decoded can be used.
		ll.Log.RestoreRecords()
		ll.Log.RetainedWrites()
		ll.Log.Stats()
		var out bytes.Buffer
		dir := t.TempDir()
		p := filepath.Join(dir, "x"+LogSuffix)
		os.WriteFile(p, b, 0o600)
		DumpLog(&out, p)
	})
}

// BenchmarkRestoreAfterCalls measures the client's side of a replay
// (building Restore and the Rewrites, and their encoded size) after 1e3
// and 1e6 prior calls with the same live state: both stay flat.
func BenchmarkRestoreAfterCalls(b *testing.B) {
	for _, calls := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprint(calls), func(b *testing.B) {
			l := New()
			apply(l, liveStateSteps())
			for i := 0; i < calls; i++ {
				l.FoldReply(callLseek(uint64(100+i)), &pb.Reply{State: []*pb.StateRecord{recFile(4, int64(i%4096), "/tmp/f")}})
			}
			b.ResetTimer()
			size := 0
			for i := 0; i < b.N; i++ {
				r := &pb.Restore{Records: l.RestoreRecords()}
				size = proto.Size(r)
				for _, w := range l.RetainedWrites() {
					size += proto.Size(w)
				}
			}
			b.ReportMetric(float64(size), "replay-bytes")
		})
	}
}

// TestRemoveLog: resend --remove takes away a log and the snapshot a
// client killed while compacting left beside it (the log stays the
// authority, the snapshot is never read), and only those.
func TestRemoveLog(t *testing.T) {
	for _, tc := range []struct {
		name     string
		snapshot bool
	}{{"log alone", false}, {"with a torn snapshot", true}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			log := filepath.Join(dir, "client-1"+LogSuffix)
			other := filepath.Join(dir, "client-2"+LogSuffix)
			for _, p := range []string{log, other} {
				if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if tc.snapshot {
				if err := os.WriteFile(log+snapshotSuffix, []byte("half"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if err := RemoveLog(log); err != nil {
				t.Fatal(err)
			}
			ents, _ := os.ReadDir(dir)
			if len(ents) != 1 || ents[0].Name() != filepath.Base(other) {
				t.Fatalf("left %v, want only %s", ents, filepath.Base(other))
			}
			if err := RemoveLog(log); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("second RemoveLog: %v, want not exist", err)
			}
		})
	}
}

// TestLeasedCopyRetained: a sendfile or copy_file_range that carried the
// bytes the client read from its lease (Syscall.leased_data) retains
// them as a write's, for the Rewrite after a server failure; one whose
// record carries the bytes (the server read them) retains those.
func TestLeasedCopyRetained(t *testing.T) {
	tests := []struct {
		name  string
		sysno int32
		data  string
		rec   *pb.StateRecord
		want  string
	}{
		{"sendfile", unix.SYS_SENDFILE, "leased bytes", recWrite(7, 8, 100, 12), "leased bytes"},
		{"copy_file_range", unix.SYS_COPY_FILE_RANGE, "copied", recWrite(7, 8, 0, 6), "copied"},
		{"sendfile read by the server", unix.SYS_SENDFILE, "", withData(recWrite(7, 8, 0, 5), "srvrd"), "srvrd"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := New()
			l.Fold(recFile(8, 0, "/tmp/out"), nil)
			call := &pb.Call{Seq: 7, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: tc.sysno,
				Args: []uint64{4, 3, 0, 64}, Posted: true, LeasedData: []byte(tc.data)}}}
			l.FoldReply(call, &pb.Reply{Seq: 7, State: []*pb.StateRecord{tc.rec}})
			rw := l.RetainedWrites()
			if len(rw) != 1 || string(rw[0].Data) != tc.want || rw[0].Offset != tc.rec.GetWrite().Offset {
				t.Fatalf("retained %v, want one write of %q at %d", rw, tc.want, tc.rec.GetWrite().Offset)
			}
		})
	}
}

// TestRetainedWriteCopies: a write's bytes that are its call's own (a
// write's input, a writev's gathered buffers, a PageWrite's pages) are
// retained as they are, with no copy (a 4 KiB write behind copied its
// bytes once more here: 4.5 µs of the client's 77 per call, with the
// garbage collector's share); so are a leased copy's bytes (a slice of
// the read cache's copy of its file, which no one changes: cp -r copied
// each file once more here, in the fold of the batch its copy's fstat
// waits for); a loaded durable log's are copied.
func TestRetainedWriteCopies(t *testing.T) {
	page := strings.Repeat("p", 4096)
	tests := []struct {
		name string
		call func(seq uint64) *pb.Call
		// src is the bytes the call holds (the first buffer for writev).
		src     func(c *pb.Call) []byte
		want    string
		aliased bool
	}{
		{"write", func(seq uint64) *pb.Call { return callWrite(seq, 3, page) },
			func(c *pb.Call) []byte { return c.GetSyscall().Inputs[0].Data }, page, true},
		{"pagewrite", func(seq uint64) *pb.Call { return callPageWrite(seq, 9, 0, page) },
			func(c *pb.Call) []byte { return c.GetPageWrite().Data }, page, true},
		{"writev", func(seq uint64) *pb.Call { return callWritev(seq, 3, page[:2048], page[2048:]) },
			func(c *pb.Call) []byte { return c.GetSyscall().Inputs[1].Data }, page, false},
		{"sendfile", func(seq uint64) *pb.Call {
			return &pb.Call{Seq: seq, Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: unix.SYS_SENDFILE,
				Args: []uint64{4, 3, 0, 4096}, Posted: true, LeasedData: []byte(page)}}}
		}, func(c *pb.Call) []byte { return c.GetSyscall().LeasedData }, page, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := New()
			l.Fold(recFile(8, 0, "/tmp/out"), nil)
			l.Fold(recMap(9, "/tmp/out"), nil)
			rec := func(seq uint64) *pb.StateRecord {
				if tc.name == "pagewrite" {
					return recPageWrite(seq, 8, 9, 0, 4096)
				}
				return recWrite(seq, 8, 0, 4096)
			}
			call := tc.call(1)
			l.FoldReply(call, &pb.Reply{Seq: 1, State: []*pb.StateRecord{rec(1)}})
			src := tc.src(call)
			rw := l.RetainedWrites()
			if len(rw) != 1 || string(rw[0].Data) != tc.want {
				t.Fatalf("retained %d writes, want one of the call's %d bytes", len(rw), len(tc.want))
			}
			if got := &rw[0].Data[0] == &src[0]; got != tc.aliased {
				t.Errorf("retained bytes are the call's own: %v, want %v", got, tc.aliased)
			}
			// Bytes allocated per fold of a 4 KiB write (the call and
			// reply made beforehand): a copy is 4 KiB of them.
			const n = 100
			calls, replies := make([]*pb.Call, n), make([]*pb.Reply, n)
			for i := range n {
				seq := uint64(2 + i)
				calls[i], replies[i] = tc.call(seq), &pb.Reply{Seq: seq, State: []*pb.StateRecord{rec(seq)}}
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for i := range n {
				l.FoldReply(calls[i], replies[i])
			}
			runtime.ReadMemStats(&after)
			perFold := float64(after.TotalAlloc-before.TotalAlloc) / n
			t.Logf("%.0f bytes allocated per fold", perFold)
			// A gathered writev is copied once, by writeData.
			if copied := perFold >= 4096; copied == tc.aliased {
				t.Errorf("%.0f bytes allocated per fold of a 4 KiB write, want a copy: %v", perFold, !tc.aliased)
			}
		})
	}
	t.Run("durable log", func(t *testing.T) {
		l := New()
		buf := []byte("0123456789")
		l.Fold(recWrite(3, 8, 0, 10), buf)
		buf[0] = 'x'
		if rw := l.RetainedWrites(); len(rw) != 1 || string(rw[0].Data) != "0123456789" {
			t.Fatalf("retained %v, want a copy of the loaded bytes", rw)
		}
	})
}

// TestWrittenReply: a write behind's packed reply (Reply.written) folds
// as the reply carrying its write record would: the same record under
// "write/<seq>", the same retained write of the call's own bytes (not a
// copy), the same log size; a packed pwrite the same too.
func TestWrittenReply(t *testing.T) {
	page := strings.Repeat("p", 4096)
	for _, tc := range []struct {
		name   string
		offset int64
		moved  int64
	}{
		{"write", 8192, 12288},
		{"pwrite", 100, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fold := func(packed bool) (*Log, *pb.Call) {
				l := New()
				l.Fold(recFile(8, 0, "/tmp/out"), nil)
				call := callWrite(5, 3, page)
				r := &pb.Reply{Seq: 5, Ret: 4096}
				if packed {
					r.Written = &pb.PostedWrite{File: 8, Offset: tc.offset, MovedTo: tc.moved}
				} else {
					r.State = []*pb.StateRecord{recWrite(5, 8, tc.offset, 4096)}
				}
				l.FoldReply(call, r)
				return l, call
			}
			withRecords, _ := fold(false)
			packed, call := fold(true)
			want, got := withRecords.Record(statekey.Write(5)), packed.Record(statekey.Write(5))
			if got == nil || !proto.Equal(got, want) {
				t.Errorf("packed reply's record %v, want %v", got, want)
			}
			rw := packed.RetainedWrites()
			if len(rw) != 1 || rw[0].Offset != tc.offset || string(rw[0].Data) != page || string(rw[0].Path) != "/tmp/out" {
				t.Fatalf("retained %v, want the call's 4 KiB at %d of /tmp/out", rw, tc.offset)
			}
			if &rw[0].Data[0] != &call.GetSyscall().Inputs[0].Data[0] {
				t.Errorf("the packed reply's write retained a copy, want the call's bytes")
			}
			if g, w := packed.Stats(), withRecords.Stats(); g != w {
				t.Errorf("log stats %+v, want %+v", g, w)
			}
		})
	}
}

// BenchmarkWriteBehindFold is the log's work for one 4 KiB write behind
// as the client does it: a buffer from WriteBuffer, the packed reply
// (Reply.written) folded as pooled, and a Durable push every 256 writes
// that drops them (the server's flush), so buffers come back.
func BenchmarkWriteBehindFold(b *testing.B) {
	l := New()
	apply(l, liveStateSteps())
	wb := newWriteBehind(l)
	const flushEvery = 256
	seq := uint64(1000)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		seq++
		wb.fold(seq, int64(i)*4096, int64(i+1)*4096)
		if i%flushEvery == flushEvery-1 {
			l.Durable(4, seq)
		}
	}
}

// writeBehind folds 4 KiB writes behind of file 4 as the client does:
// a buffer from WriteBuffer, the packed reply (Reply.written) folded as
// pooled.
type writeBehind struct {
	l    *Log
	call *pb.Call
	r    *pb.Reply
}

func newWriteBehind(l *Log) *writeBehind {
	return &writeBehind{
		l: l,
		call: &pb.Call{Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: unix.SYS_WRITE,
			Args: []uint64{3, 0x1000, 4096}, Inputs: []*pb.Region{{Addr: 0x1000}}}}},
		r: &pb.Reply{Ret: 4096, Written: &pb.PostedWrite{File: 4}},
	}
}

// fold folds write seq at offset, which left the description's offset
// at movedTo.
func (wb *writeBehind) fold(seq uint64, offset, movedTo int64) {
	wb.call.GetSyscall().Inputs[0].Data, _ = wb.l.WriteBuffer(4096)
	wb.call.Seq, wb.r.Seq = seq, seq
	wb.r.Written.Offset, wb.r.Written.MovedTo = offset, movedTo
	wb.l.FoldPooledReply(wb.call, wb.r)
}

// TestDanglingFDs checks the description of fd records naming a
// description the log lacks, with what folded each: none while every fd
// names a live description; the reply that deleted the description, or
// "never folded".
func TestDanglingFDs(t *testing.T) {
	fdRec := func(table uint64, fd int32, file uint64) *pb.StateRecord {
		return &pb.StateRecord{Key: statekey.FD(table, fd).String(), Value: &pb.StateRecord_Fd{Fd: &pb.FdState{FdTable: table, Fd: fd, File: file}}}
	}
	fileRec := func(id uint64) *pb.StateRecord {
		return &pb.StateRecord{Key: statekey.File(id).String(), Value: &pb.StateRecord_File{File: &pb.FileState{Id: id}}}
	}
	gone := func(k statekey.Key) *pb.StateRecord { return &pb.StateRecord{Key: k.String(), Deleted: true} }
	call := func(sysno int32) *pb.Call {
		return &pb.Call{Op: &pb.Call_Syscall{Syscall: &pb.Syscall{Sysno: sysno}}}
	}
	tests := []struct {
		name    string
		replies []*pb.Reply // folded in order, each the reply to call seq i+1 (sysno 3 * (i+1))
		want    []string
	}{
		{name: "consistent", replies: []*pb.Reply{{State: []*pb.StateRecord{fileRec(7), fdRec(1, 3, 7)}}}},
		{name: "the description deleted, the fd kept", replies: []*pb.Reply{
			{State: []*pb.StateRecord{fileRec(7), fdRec(1, 3, 7)}},
			{State: []*pb.StateRecord{gone(statekey.File(7))}},
		}, want: []string{"fdt/1/3 (from the reply to seq 1 (system call 3)) names description 7: deleted by the reply to seq 2 (system call 6)"}},
		{name: "the fd and its description both deleted", replies: []*pb.Reply{
			{State: []*pb.StateRecord{fileRec(7), fdRec(1, 3, 7)}},
			{State: []*pb.StateRecord{gone(statekey.FD(1, 3)), gone(statekey.File(7))}},
		}},
		{name: "a description never folded", replies: []*pb.Reply{{State: []*pb.StateRecord{fdRec(1, 4, 9)}}},
			want: []string{"fdt/1/4 (from the reply to seq 1 (system call 3)) names description 9: never folded"}},
		{name: "a description folded again after its deletion", replies: []*pb.Reply{
			{State: []*pb.StateRecord{fileRec(7), fdRec(1, 3, 7)}},
			{State: []*pb.StateRecord{gone(statekey.File(7))}},
			{State: []*pb.StateRecord{fileRec(7)}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := New()
			for i, r := range tc.replies {
				r.Seq = uint64(i + 1)
				l.FoldReply(call(int32(3*(i+1))), r)
			}
			if got := l.DanglingFDs(); !slices.Equal(got, tc.want) {
				t.Errorf("DanglingFDs() = %q, want %q", got, tc.want)
			}
		})
	}
}
