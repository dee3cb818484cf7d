package gofer

import (
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// TestKeptReply: the reply cache keeps a copy of a reply its caller may
// still change (applyBefore adds a carried SetStat's parts to its reply,
// the door seals a reply's handles), of a CreateReply its errno alone (a
// hit answers from the file as it is then), and an UnlinkReply as it is.
func TestKeptReply(t *testing.T) {
	set := &goferpb.SetStatReply{Stat: &goferpb.Stat{Ino: 1}}
	kept := keptReply(set)
	set.Parts = append(set.Parts, &goferpb.SetStatReply{Errno: int32(unix.EPERM)})
	set.Stat.Ino = 2
	if want := (&goferpb.SetStatReply{Stat: &goferpb.Stat{Ino: 1}}); !proto.Equal(kept, want) {
		t.Errorf("kept SetStatReply %v after its caller changed it, want %v", kept, want)
	}
	mk := &goferpb.MkdirReply{Handle: &goferpb.Handle{Id: 1, FileHandle: []byte("raw")}}
	keptMk := keptReply(mk)
	mk.Handle.FileHandle = []byte("sealed")
	if got := string(keptMk.(*goferpb.MkdirReply).GetHandle().GetFileHandle()); got != "raw" {
		t.Errorf("kept MkdirReply's file handle %q after the door sealed it, want %q", got, "raw")
	}
	for _, tc := range []struct {
		reply, want proto.Message
	}{
		{&goferpb.CreateReply{Handle: &goferpb.Handle{Id: 1}, Stat: &goferpb.Stat{Ino: 3}, DirStat: &goferpb.Stat{Ino: 2}}, &goferpb.CreateReply{}},
		{&goferpb.CreateReply{Errno: int32(unix.EEXIST)}, &goferpb.CreateReply{Errno: int32(unix.EEXIST)}},
	} {
		if got := keptReply(tc.reply); !proto.Equal(got, tc.want) {
			t.Errorf("kept %v of %v, want %v", got, tc.reply, tc.want)
		}
	}
	un := &goferpb.UnlinkReply{Changed: []*goferpb.InodeID{{Dev: 1, Ino: 3}}}
	if got := keptReply(un); got != un {
		t.Errorf("kept UnlinkReply %p, want the reply itself %p", got, un)
	}
}
