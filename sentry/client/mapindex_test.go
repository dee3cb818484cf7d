package client

import (
	"fmt"
	"testing"

	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/memmap"
)

// fakeSpace is a memmap.MappingSpace key for the index.
type fakeSpace struct {
	memmap.MappingSpace
	name string
}

// TestMappableIndex: mappings added, removed in part or whole, moved, and
// kept apart per address space, as mm reports them.
func TestMappableIndex(t *testing.T) {
	r := func(s, e uint64) hostarch.AddrRange {
		return hostarch.AddrRange{Start: hostarch.Addr(s), End: hostarch.Addr(e)}
	}
	type op struct {
		add    bool
		ar     hostarch.AddrRange
		shared bool
	}
	for _, tc := range []struct {
		name  string
		ops   []op
		query hostarch.AddrRange
		want  string
	}{
		{"empty", nil, r(0, 0x10000), "[]"},
		{"one", []op{{true, r(0x1000, 0x3000), false}}, r(0, 0x10000), "[{0x1000-0x3000 false}]"},
		{"clipped to the query", []op{{true, r(0x1000, 0x5000), true}}, r(0x2000, 0x3000), "[{0x2000-0x3000 true}]"},
		{"outside the query", []op{{true, r(0x1000, 0x2000), false}}, r(0x2000, 0x3000), "[]"},
		{"sorted", []op{{true, r(0x5000, 0x6000), true}, {true, r(0x1000, 0x2000), false}}, r(0, 0x10000),
			"[{0x1000-0x2000 false} {0x5000-0x6000 true}]"},
		{"removed whole", []op{{true, r(0x1000, 0x2000), false}, {false, r(0x1000, 0x2000), false}}, r(0, 0x10000), "[]"},
		{"removed in the middle", []op{{true, r(0x1000, 0x5000), false}, {false, r(0x2000, 0x3000), false}}, r(0, 0x10000),
			"[{0x1000-0x2000 false} {0x3000-0x5000 false}]"},
		{"removed across two", []op{{true, r(0x1000, 0x3000), false}, {true, r(0x3000, 0x5000), true}, {false, r(0x2000, 0x4000), false}}, r(0, 0x10000),
			"[{0x1000-0x2000 false} {0x4000-0x5000 true}]"},
		{"a new mapping replaces an overlapped one", []op{{true, r(0x1000, 0x5000), false}, {true, r(0x2000, 0x3000), true}}, r(0, 0x10000),
			"[{0x1000-0x2000 false} {0x2000-0x3000 true} {0x3000-0x5000 false}]"},
		{"removing a hole", []op{{true, r(0x1000, 0x2000), false}, {false, r(0x8000, 0x9000), false}}, r(0, 0x10000), "[{0x1000-0x2000 false}]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var x mappableIndex
			ms := &fakeSpace{name: "a"}
			for _, o := range tc.ops {
				if o.add {
					x.add(ms, o.ar, o.shared, nil, uint64(o.ar.Start)+0x100000)
				} else {
					x.remove(ms, o.ar)
				}
			}
			var got []string
			for _, m := range x.in(ms, tc.query) {
				got = append(got, fmt.Sprintf("{%#x-%#x %v}", m.Start, m.End, m.sharedWritable))
				// Each range was added at offset its address +
				// 0x100000: pieces keep that.
				if m.off != uint64(m.Start)+0x100000 {
					t.Errorf("%v: offset %#x, want %#x", m.AddrRange, m.off, uint64(m.Start)+0x100000)
				}
			}
			if s := fmt.Sprintf("%v", got); s != tc.want && !(len(got) == 0 && tc.want == "[]") {
				t.Errorf("in(%v) = %s, want %s", tc.query, s, tc.want)
			}
			if other := x.in(&fakeSpace{name: "b"}, tc.query); len(other) != 0 {
				t.Errorf("another address space sees %v", other)
			}
		})
	}
	// An address space whose last range goes is forgotten.
	var x mappableIndex
	ms := &fakeSpace{name: "a"}
	x.add(ms, r(0x1000, 0x2000), false, nil, 0)
	x.remove(ms, r(0, 0x10000))
	if len(x.spaces) != 0 {
		t.Errorf("%d address spaces left", len(x.spaces))
	}
}
