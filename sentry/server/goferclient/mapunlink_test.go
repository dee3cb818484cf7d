package goferclient

import (
	"testing"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// TestMapUnlinkManyCopiesEveryField: mapUnlinkMany builds its request by
// hand, so every field of UnlinkManyRequest, one added later included,
// must reach it: a request with each field set (and an unknown one) maps
// to itself but for its dirs, which become the real handles (0 for an
// unknown one, and a lost handle reported).
func TestMapUnlinkManyCopiesEveryField(t *testing.T) {
	req := &goferpb.UnlinkManyRequest{}
	m := req.ProtoReflect()
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if !fd.IsList() {
			if fd.Kind() != protoreflect.BoolKind {
				t.Fatalf("field %s of kind %v: set it here", fd.Name(), fd.Kind())
			}
			m.Set(fd, protoreflect.ValueOfBool(true))
			continue
		}
		l := m.Mutable(fd).List()
		for j := range 3 {
			switch fd.Kind() {
			case protoreflect.Uint64Kind:
				l.Append(protoreflect.ValueOfUint64(uint64(10 + j)))
			case protoreflect.Uint32Kind:
				l.Append(protoreflect.ValueOfUint32(uint32(20 + j)))
			case protoreflect.BytesKind:
				l.Append(protoreflect.ValueOfBytes([]byte{byte('a' + j)}))
			case protoreflect.MessageKind:
				e := l.NewElement()
				mf := e.Message().Descriptor().Fields()
				for k := range mf.Len() {
					f := mf.Get(k)
					switch f.Kind() {
					case protoreflect.Uint64Kind:
						e.Message().Set(f, protoreflect.ValueOfUint64(uint64(30+j+k)))
					case protoreflect.StringKind:
						e.Message().Set(f, protoreflect.ValueOfString("c"))
					}
				}
				l.Append(e)
			default:
				t.Fatalf("field %s of kind %v: set it here", fd.Name(), fd.Kind())
			}
		}
	}
	m.SetUnknown(protoreflect.RawFields{0xf8, 0xff, 0x03, 0x01}) // field 8191, varint 1
	g := &GoferConn{handles: map[uint64]*vhandle{10: {real: 110}, 11: {real: 111, lost: true}}}
	got, uses, lost := g.mapRequest(req)
	want := proto.Clone(req).(*goferpb.UnlinkManyRequest)
	want.Dirs = []uint64{110, 111, 0}
	if !proto.Equal(want, got) {
		t.Errorf("mapped request %v, want %v", got, want)
	}
	if string(got.ProtoReflect().GetUnknown()) != string(req.ProtoReflect().GetUnknown()) {
		t.Errorf("unknown fields %x, want %x", got.ProtoReflect().GetUnknown(), req.ProtoReflect().GetUnknown())
	}
	if !lost || len(uses) != 2 || uses[0] != (use{10, 110}) || uses[1] != (use{11, 111}) {
		t.Errorf("uses %v, lost %v; want [{10 110} {11 111}], true", uses, lost)
	}
	if req.Dirs[0] != 10 {
		t.Errorf("the caller's request changed: dirs %v", req.Dirs)
	}
}

// TestSettleUnlinksErrnos: an UnlinkMany re-sent across a gofer restart
// whose reply is errnos becomes a reply of unlinks when settled: an
// unlink that found its name gone is taken as done naming no changed
// inode (it may have been another's removal, not found's), one that
// succeeded names its found inode, one that failed otherwise keeps its
// errno.
func TestSettleUnlinksErrnos(t *testing.T) {
	g := &GoferConn{log: hclog.NewNullLogger()}
	found := []*goferpb.InodeID{{Dev: 1, Ino: 7}, {Dev: 1, Ino: 8}, {Dev: 1, Ino: 9}}
	req := &goferpb.UnlinkManyRequest{Dirs: []uint64{1, 1, 1}, Names: [][]byte{[]byte("a"), []byte("b"), []byte("c")}, Found: found, ErrnosWanted: true}
	rep := &goferpb.UnlinkManyReply{Errnos: []int32{0, int32(unix.ENOENT), int32(unix.EACCES)}}
	g.settleUnlinks(req, rep)
	want := &goferpb.UnlinkManyReply{Unlinks: []*goferpb.UnlinkReply{
		{Changed: []*goferpb.InodeID{found[0]}}, {}, {Errno: int32(unix.EACCES)}}}
	if !proto.Equal(rep, want) {
		t.Errorf("settled %v, want %v", rep, want)
	}
}
