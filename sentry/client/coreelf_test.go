package client

import (
	"strings"
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/hostarch"
)

func TestExpandCorePattern(t *testing.T) {
	f := coreNameFacts{pid: 42, tid: 43, uid: 1000, gid: 100, sig: 11, time: time.Unix(1700000000, 0),
		hostname: "box/1", comm: "a/b", exe: "/usr/bin/prog", limit: ^uint64(0)}
	for _, tc := range []struct {
		pattern string
		usesPID bool
		want    string
	}{
		{"core", false, "core"},
		{"core", true, "core.42"},
		{"core.%p", true, "core.42"},
		{"%p-%P-%i-%I-%u-%g-%s-%t", false, "42-42-43-43-1000-100-11-1700000000"},
		{"%h.%e.%E", false, "box!1.a!b.!usr!bin!prog"},
		{"%c %% %z end%", false, "18446744073709551615 %  end"},
		{"/cores/%e", true, "/cores/a!b.42"},
	} {
		if got := expandCorePattern(tc.pattern, tc.usesPID, f); got != tc.want {
			t.Errorf("expandCorePattern(%q, %v) = %q, want %q", tc.pattern, tc.usesPID, got, tc.want)
		}
	}
	f.comm = ".."
	if got := expandCorePattern("%e", false, f); got != "!" {
		t.Errorf("%%e of \"..\" = %q, want \"!\"", got)
	}
}

func TestCoreHeaders(t *testing.T) {
	segs := []coreSegment{{start: 0x1000, end: 0x3000, flags: pfR | pfW, dumpSize: 0x2000}, {start: 0x5000, end: 0x6000, flags: pfR}}
	b, dataOff := coreHeaders(100, segs)
	if len(b) != elfHeaderSize+3*elfPhdrSize || dataOff != elfCorePage {
		t.Fatalf("headers %d bytes, data at %#x", len(b), dataOff)
	}
	if !strings.HasPrefix(string(b), "\x7fELF\x02\x01\x01") || b[16] != etCore {
		t.Errorf("bad ELF header % x", b[:20])
	}
}

func TestSplitDontDump(t *testing.T) {
	p := &process{}
	p.setDontDump(hostarch.AddrRange{Start: 0x2000, End: 0x3000}, true)
	got := p.splitDontDump([]coreVMA{{start: 0x1000, end: 0x4000, fileID: 7, offset: 0x10000}})
	if len(got) != 3 || got[1].start != 0x2000 || got[1].end != 0x3000 || !got[1].dontDump || got[0].dontDump || got[2].dontDump || got[2].offset != 0x12000 {
		t.Errorf("split = %+v", got)
	}
	p.setDontDump(hostarch.AddrRange{Start: 0x2000, End: 0x3000}, false)
	if got := p.splitDontDump([]coreVMA{{start: 0x1000, end: 0x4000}}); len(got) != 1 {
		t.Errorf("after MADV_DODUMP: %+v", got)
	}
}

func TestSplitWritten(t *testing.T) {
	vmas := []coreVMA{{start: 0x1000, end: 0x5000, fileID: 3, offset: 0x8000}, {start: 0x6000, end: 0x8000}}
	got := splitWritten(vmas, []hostarch.AddrRange{{Start: 0x3000, End: 0x4000}, {Start: 0x6000, End: 0x7000}})
	if len(got) != 4 || got[1].start != 0x3000 || got[1].end != 0x4000 || got[1].offset != 0xa000 || got[2].offset != 0xb000 || got[3].start != 0x6000 || got[3].end != 0x8000 {
		t.Errorf("split = %+v", got)
	}
}
