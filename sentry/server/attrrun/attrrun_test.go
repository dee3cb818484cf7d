package attrrun

import (
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

func TestMerge(t *testing.T) {
	const h = 7
	chown := &goferpb.SetStatRequest{Handle: h, Mask: unix.STATX_UID | unix.STATX_GID | unix.STATX_MODE, Uid: 1, Gid: 2, Mode: 0o755}
	chmod := &goferpb.SetStatRequest{Handle: h, Mask: unix.STATX_MODE, Mode: 0o4755}
	times := &goferpb.SetStatRequest{Handle: h, Mask: unix.STATX_ATIME | unix.STATX_MTIME, AtimeNs: 10, MtimeNs: 20}
	mtime := &goferpb.SetStatRequest{Handle: h, Mask: unix.STATX_MTIME, MtimeNs: 30}
	tests := []struct {
		name string
		a, b *goferpb.SetStatRequest
		want *goferpb.SetStatRequest // nil: not mergeable
	}{
		{"chown then chmod: the chmod's mode", chown, chmod,
			&goferpb.SetStatRequest{Handle: h, Mask: unix.STATX_UID | unix.STATX_GID | unix.STATX_MODE, Uid: 1, Gid: 2, Mode: 0o4755}},
		{"chmod then times", chmod, times,
			&goferpb.SetStatRequest{Handle: h, Mask: unix.STATX_MODE | unix.STATX_ATIME | unix.STATX_MTIME, Mode: 0o4755, AtimeNs: 10, MtimeNs: 20}},
		{"times then a later mtime", times, mtime,
			&goferpb.SetStatRequest{Handle: h, Mask: unix.STATX_ATIME | unix.STATX_MTIME, AtimeNs: 10, MtimeNs: 30}},
		{"chmod then chown: the gofer would change the owner first", chmod, chown, nil},
		{"times then chown", times, chown,
			&goferpb.SetStatRequest{Handle: h, Mask: unix.STATX_UID | unix.STATX_GID | unix.STATX_MODE | unix.STATX_ATIME | unix.STATX_MTIME, Uid: 1, Gid: 2, Mode: 0o755, AtimeNs: 10, MtimeNs: 20}},
		{"another file", chmod, &goferpb.SetStatRequest{Handle: h + 1, Mask: unix.STATX_MODE}, nil},
		{"a truncation", chmod, &goferpb.SetStatRequest{Handle: h, Mask: unix.STATX_SIZE}, nil},
		{"UTIME_NOW", chmod, &goferpb.SetStatRequest{Handle: h, Mask: unix.STATX_MTIME, MtimeNow: true}, nil},
		{"no handle", &goferpb.SetStatRequest{Mask: unix.STATX_MODE}, &goferpb.SetStatRequest{Mask: unix.STATX_MODE}, nil},
	}
	for _, tc := range tests {
		got, ok := Merge(tc.a, tc.b)
		if ok != (tc.want != nil) || (ok && !proto.Equal(got, tc.want)) {
			t.Errorf("%s: Merge = %v, %v; want %v", tc.name, got, ok, tc.want)
		}
	}
}

func TestPending(t *testing.T) {
	o := func(seq uint64) *goferpb.Origin { return &goferpb.Origin{ClientId: "c", Seq: seq} }
	var p Pending
	if !p.Empty() {
		t.Fatal("the zero Pending holds something")
	}
	if p.Add(&goferpb.SetStatRequest{Handle: 1, Mask: unix.STATX_SIZE, Origin: o(1)}) {
		t.Fatal("a truncation was held")
	}
	for i, r := range []*goferpb.SetStatRequest{
		{Handle: 1, Mask: unix.STATX_UID, Uid: 5, Origin: o(2)},
		{Handle: 1, Mask: unix.STATX_MODE, Mode: 0o600, Origin: o(3)},
		{Handle: 1, Mask: unix.STATX_MTIME, MtimeNs: 9, Origin: o(4)},
	} {
		if p.SetsTimes() {
			t.Fatalf("before part %d: the held changes set the times", i)
		}
		if !p.Add(r) {
			t.Fatalf("part %d not held", i)
		}
	}
	if !p.SetsTimes() {
		t.Error("a held utimensat does not set the times")
	}
	if p.Add(&goferpb.SetStatRequest{Handle: 2, Mask: unix.STATX_MODE, Origin: o(5)}) {
		t.Fatal("another file's change was held with these")
	}
	merged, parts := p.Take()
	want := &goferpb.SetStatRequest{Handle: 1, Mask: unix.STATX_UID | unix.STATX_MODE | unix.STATX_MTIME, Uid: 5, Mode: 0o600, MtimeNs: 9,
		Origin: &goferpb.Origin{ClientId: "c", Seq: 4, Part: MergedPart}}
	if !proto.Equal(merged, want) || len(parts) != 3 || parts[2].Origin.Part != 0 {
		t.Errorf("Take = %v, %d parts (last %v); want %v and 3", merged, len(parts), parts[len(parts)-1].Origin, want)
	}
	if !p.Empty() {
		t.Error("Take left changes held")
	}
}
