package client

import (
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

func TestParseMapsLine(t *testing.T) {
	for _, c := range []struct {
		line string
		want *pb.VMA
	}{
		{"00400000-00401000 r--p 00000000 00:fffff 7                           server-file:7\n",
			&pb.VMA{Start: 0x400000, End: 0x401000, Perms: 4, FileId: 7}},
		{"7ea6406c2000-7ea640ec2000 rw-p 00000000 00:00 0                          [stack]\n",
			&pb.VMA{Start: 0x7ea6406c2000, End: 0x7ea640ec2000, Perms: 6, Name: []byte("[stack]")}},
		{"7f0000000000-7f0000001000 rwxs 00002000 00:00 0                          /dev/zero (deleted)\n",
			&pb.VMA{Start: 0x7f0000000000, End: 0x7f0000001000, Perms: 7, Shared: true, Offset: 0x2000, Name: []byte("/dev/zero (deleted)")}},
		{"005e5000-005ec000 rw-p 00000000 00:00 0 \n", &pb.VMA{Start: 0x5e5000, End: 0x5ec000, Perms: 6}},
		{"Size:                  4 kB\n", nil},
		{"VmFlags: rd ex \n", nil},
		{"00400000-00401000 r--pp 0 00:00 0\n", nil},
	} {
		got := parseMapsLine(c.line)
		if (got == nil) != (c.want == nil) || (got != nil && !proto.Equal(got, c.want)) {
			t.Errorf("parseMapsLine(%q) = %v, want %v", c.line, got, c.want)
		}
	}
}
