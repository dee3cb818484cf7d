package replaylog

import (
	"testing"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TestNonUTF8PathsSurvive: the state records carry paths, names and
// arguments as bytes, so a cwd, an open file, an executable, a memfd or a
// mount whose name is not UTF-8 survives the Restore a client sends a new
// server (a marshalled message), and the durable log on disk.
func TestNonUTF8PathsSurvive(t *testing.T) {
	cwd, file, exe := "/tmp/d\xff\x80", "/tmp/d\xff\x80/f\xe9", "/bin/\xfeprog"
	recs := []*pb.StateRecord{
		{Key: "proc/100", Value: &pb.StateRecord_Process{Process: &pb.ProcessState{Pid: 100, FdTable: 1, Fs: 2, Sighand: 3, Init: true,
			Comm: []byte("\xfeprog"), Argv: [][]byte{[]byte(exe), []byte("arg\xff")}, Env: [][]byte{[]byte("V=\xc0")}, Exe: []byte(exe)}}},
		{Key: "fs/2", Value: &pb.StateRecord_Fs{Fs: &pb.FsState{Id: 2, Cwd: []byte(cwd), CwdHandle: []byte("h"), Umask: 0o22}}},
		{Key: "file/4", Value: &pb.StateRecord_File{File: &pb.FileState{Id: 4, Kind: pb.FileState_GOFER, Path: []byte(file), FileHandle: []byte("hf"),
			Memfd: &pb.MemfdState{Name: []byte("m\xff")}}}},
		{Key: "mount/300", Value: &pb.StateRecord_Mount{Mount: &pb.MountState{Id: 300, ParentId: 1, Fstype: "tmpfs", Source: []byte("s\xff"), Target: []byte("/mnt/\xff")}}},
	}
	dir := t.TempDir()
	l := New()
	d, err := OpenDurable(dir, "c", l, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	apply(l, []step{reply(nil, recs...)})
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	b, err := proto.Marshal(&pb.Restore{Records: l.RestoreRecords()})
	if err != nil {
		t.Fatalf("marshal Restore: %v", err)
	}
	var got pb.Restore
	if err := proto.Unmarshal(b, &got); err != nil {
		t.Fatalf("unmarshal Restore: %v", err)
	}
	ll, err := LoadLog(LogPath(dir, "c"))
	if err != nil {
		t.Fatalf("load durable log: %v", err)
	}
	for what, rs := range map[string][]*pb.StateRecord{"restore": got.GetRecords(), "durable log": ll.Log.RestoreRecords()} {
		byKey := map[string]*pb.StateRecord{}
		for _, r := range rs {
			byKey[r.GetKey()] = r
		}
		for _, want := range recs {
			if !proto.Equal(byKey[want.GetKey()], want) {
				t.Errorf("%s: %s is %v, want %v", what, want.GetKey(), byKey[want.GetKey()], want)
			}
		}
		if c := string(byKey["fs/2"].GetFs().GetCwd()); c != cwd {
			t.Errorf("%s: cwd %q, want %q", what, c, cwd)
		}
	}
}
