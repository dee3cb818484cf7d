package replaylog

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// oldFormatLog encodes a durable log as the client wrote it before keys
// were typed: the keys are the literal strings the server sent then.
func oldFormatLog(t *testing.T, recs []*pb.StateRecord, data map[string][]byte) []byte {
	t.Helper()
	out := append([]byte(nil), logMagic...)
	out = appendEntry(out, append([]byte{entMeta}, "old-client"...))
	for _, rec := range recs {
		b, err := proto.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		out = encodeRecord(out, b, data[rec.Key])
	}
	return out
}

func TestDurableLogWrittenBeforeTypedKeysStillReads(t *testing.T) {
	recs := []*pb.StateRecord{
		{Key: "ids", Value: &pb.StateRecord_Ids{Ids: &pb.IdState{NextObject: 20, LastPid: 7}}},
		{Key: "proc/7", Value: &pb.StateRecord_Process{Process: &pb.ProcessState{Pid: 7, FdTable: 1, Init: true}}},
		{Key: "thread/7", Value: &pb.StateRecord_Thread{Thread: &pb.ThreadState{Tid: 7, Pid: 7}}},
		{Key: "file/3", Value: &pb.StateRecord_File{File: &pb.FileState{Id: 3, Path: []byte("/tmp/x"), FileHandle: []byte("h")}}},
		{Key: "fdt/1/3", Value: &pb.StateRecord_Fd{Fd: &pb.FdState{FdTable: 1, Fd: 3, File: 3}}},
		{Key: "write/12", Value: &pb.StateRecord_Write{Write: &pb.WriteState{Seq: 12, File: 3, Length: 5}}},
		{Key: "timer/7/real", Value: &pb.StateRecord_Timer{Timer: &pb.TimerState{Pid: 7, Id: -1}}},
		{Key: "stdin/2", Value: &pb.StateRecord_Stdin{Stdin: &pb.StdinState{Read: 4, StdioSet: 2}}},
		{Key: "sysv/sem/0", Value: &pb.StateRecord_SysvSem{SysvSem: &pb.SysvSemState{}}},
		{Key: "lock/99", Value: &pb.StateRecord_Lock{Lock: &pb.LockState{Ino: 99}}},
		{Key: "mount/5", Value: &pb.StateRecord_Mount{Mount: &pb.MountState{Id: 5}}},
		{Key: "thread/7", Deleted: true},
	}
	ll, err := DecodeLog("old.log", oldFormatLog(t, recs, map[string][]byte{"write/12": []byte("hello")}))
	if err != nil {
		t.Fatalf("decoding a log with the old keys: %v", err)
	}
	l := ll.Log
	for _, tc := range []struct {
		key  statekey.Key
		want bool
	}{
		{statekey.IDs(), true}, {statekey.Proc(7), true}, {statekey.Thread(7), false}, {statekey.File(3), true},
		{statekey.FD(1, 3), true}, {statekey.Write(12), true}, {statekey.Timer(7, statekey.TimerReal), true},
		{statekey.Stdin(2), true}, {statekey.SysvSem(0), true}, {statekey.Lock(99), true}, {statekey.Mount(5), true},
	} {
		if got := l.Record(tc.key) != nil; got != tc.want {
			t.Errorf("Record(%v) present = %v, want %v", tc.key, got, tc.want)
		}
	}
	if w := l.RetainedWrites(); len(w) != 1 || string(w[0].Data) != "hello" || string(w[0].Path) != "/tmp/x" {
		t.Errorf("retained writes = %+v, want the one write with its data", w)
	}
	// Restore sends them in key order, numerically within a kind.
	var keys []string
	for _, rec := range l.RestoreRecords() {
		keys = append(keys, rec.Key)
	}
	if got, want := strings.Join(keys, " "), "ids proc/7 file/3 fdt/1/3 write/12 lock/99 mount/5 stdin/2 sysv/sem/0 timer/7/real"; got != want {
		t.Errorf("restore order %q, want %q", got, want)
	}
}

func TestDurableLogWithUnknownKeyIsRefused(t *testing.T) {
	for _, key := range []string{"bogus/1", "proc/x", "fdt/1", "proc/01"} {
		_, err := DecodeLog("bad.log", oldFormatLog(t, []*pb.StateRecord{
			{Key: "proc/1", Value: &pb.StateRecord_Process{Process: &pb.ProcessState{Pid: 1}}},
			{Key: key, Value: &pb.StateRecord_Process{Process: &pb.ProcessState{Pid: 2}}},
		}, nil))
		var le *LogError
		if !errors.As(err, &le) || !strings.Contains(err.Error(), key) {
			t.Errorf("key %q: error %v, want a *LogError naming the key", key, err)
		}
	}
}

func TestLiveRecordWithUnknownKeyIsDropped(t *testing.T) {
	l := New()
	var warned []string
	l.SetWarn(func(msg string, _ ...any) { warned = append(warned, msg) })
	l.Fold(&pb.StateRecord{Key: "proc/1", Value: &pb.StateRecord_Process{Process: &pb.ProcessState{Pid: 1}}}, nil)
	l.Fold(&pb.StateRecord{Key: "proc/-1", Value: &pb.StateRecord_Process{Process: &pb.ProcessState{Pid: 1}}}, nil)
	l.Fold(&pb.StateRecord{Key: "nonsense", Value: &pb.StateRecord_Process{Process: &pb.ProcessState{Pid: 1}}}, nil)
	if n := len(l.RestoreRecords()); n != 1 {
		t.Errorf("%d records kept, want 1", n)
	}
	if len(warned) != 1 {
		t.Errorf("warnings %q, want one", warned)
	}
}
