package client

import (
	"testing"

	"gvisor.dev/gvisor/pkg/hostarch"
	"gvisor.dev/gvisor/pkg/sentry/memmap"
)

// countedMappable is a Mappable and MappingIdentity that counts its
// references (the rest of both interfaces is left nil: not called).
type countedMappable struct {
	memmap.Mappable
	memmap.MappingIdentity
	refs int
}

func (m *countedMappable) IncRef() { m.refs++ }

// TestMappableIndexHeldAt: heldAt names the Mappable at an address, with
// a reference taken, and nothing in a hole or for a Mappable that is no
// MappingIdentity.
func TestMappableIndexHeldAt(t *testing.T) {
	var x mappableIndex
	ms := &fakeSpace{name: "a"}
	f := &countedMappable{}
	plain := &fakeMappable{}
	x.add(ms, hostarch.AddrRange{Start: 0x1000, End: 0x3000}, true, f, 0)
	x.add(ms, hostarch.AddrRange{Start: 0x5000, End: 0x6000}, true, plain, 0)
	if got := x.heldAt(ms, 0x2fff); got != f || f.refs != 1 {
		t.Errorf("heldAt(0x2fff) = %v with %d refs, want the file with 1", got, f.refs)
	}
	for _, addr := range []hostarch.Addr{0, 0x3000, 0x4000, 0x5000, 0x7000} {
		if got := x.heldAt(ms, addr); got != nil {
			t.Errorf("heldAt(%#x) = %v, want nil", addr, got)
		}
	}
	if got := x.heldAt(&fakeSpace{name: "b"}, 0x1000); got != nil || f.refs != 1 {
		t.Errorf("heldAt in another space = %v (%d refs), want nil", got, f.refs)
	}
}

// fakeMappable is a Mappable and nothing else.
type fakeMappable struct{ memmap.Mappable }

// TestMapsAll: a range is mapped all from one Mappable only if the
// index's ranges cover it without a hole or another Mappable.
func TestMapsAll(t *testing.T) {
	a, b := &fakeMappable{}, &fakeMappable{}
	r := func(s, e hostarch.Addr, m memmap.Mappable) mappedRange {
		return mappedRange{AddrRange: hostarch.AddrRange{Start: s, End: e}, mappable: m}
	}
	for _, tc := range []struct {
		name   string
		mapped []mappedRange
		ar     hostarch.AddrRange
		want   bool
	}{
		{"none", nil, hostarch.AddrRange{Start: 0x1000, End: 0x2000}, false},
		{"one", []mappedRange{r(0x1000, 0x3000, a)}, hostarch.AddrRange{Start: 0x1000, End: 0x3000}, true},
		{"two adjacent", []mappedRange{r(0x1000, 0x2000, a), r(0x2000, 0x3000, a)}, hostarch.AddrRange{Start: 0x1000, End: 0x3000}, true},
		{"a hole", []mappedRange{r(0x1000, 0x2000, a), r(0x2800, 0x3000, a)}, hostarch.AddrRange{Start: 0x1000, End: 0x3000}, false},
		{"another Mappable", []mappedRange{r(0x1000, 0x2000, a), r(0x2000, 0x3000, b)}, hostarch.AddrRange{Start: 0x1000, End: 0x3000}, false},
		{"another outside the range", []mappedRange{r(0x1000, 0x2000, a), r(0x2000, 0x3000, b)}, hostarch.AddrRange{Start: 0x1000, End: 0x2000}, true},
		{"short", []mappedRange{r(0x1000, 0x2000, a)}, hostarch.AddrRange{Start: 0x1000, End: 0x3000}, false},
		{"starts late", []mappedRange{r(0x2000, 0x3000, a)}, hostarch.AddrRange{Start: 0x1000, End: 0x3000}, false},
	} {
		if got := mapsAll(tc.mapped, tc.ar, a); got != tc.want {
			t.Errorf("%s: mapsAll = %v, want %v", tc.name, got, tc.want)
		}
	}
}
