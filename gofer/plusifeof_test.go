package gofer

import (
	"fmt"
	"os"
	"testing"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
)

// TestGetdentsPlusIfEOF: with plus_if_eof, a listing comes with its
// entries' attributes only if it reaches the end of the directory, by
// handle and by subdirectory name (the sentry's lookups and listings
// ahead drop a directory they cannot list whole); without it, plus
// brings them either way.
func TestGetdentsPlusIfEOF(t *testing.T) {
	e := newEnv(t)
	if err := os.Mkdir(e.host("d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		writeHostFile(t, e.host(fmt.Sprintf("d/f%d", i)), "x")
	}
	d := e.walkOne(e.rootH, "d")
	for _, tc := range []struct {
		name      string
		req       *goferpb.GetdentsRequest
		eof       bool
		wantStats bool
	}{
		{"whole", &goferpb.GetdentsRequest{Dir: d, Count: 10, Plus: true, PlusIfEof: true}, true, true},
		{"cut short", &goferpb.GetdentsRequest{Dir: d, Count: 3, Plus: true, PlusIfEof: true}, false, false},
		{"cut short, plus alone", &goferpb.GetdentsRequest{Dir: d, Count: 3, Plus: true}, false, true},
		{"subdirectory whole", &goferpb.GetdentsRequest{Dir: e.rootH, Name: []byte("d"), Count: 10, Plus: true, PlusIfEof: true}, true, true},
		{"subdirectory cut short", &goferpb.GetdentsRequest{Dir: e.rootH, Name: []byte("d"), Count: 3, Plus: true, PlusIfEof: true}, false, false},
		{"subdirectory cut short, plus alone", &goferpb.GetdentsRequest{Dir: e.rootH, Name: []byte("d"), Count: 3, Plus: true}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := must(t, "getdents", must2(e.c.Getdents(e.ctx, tc.req)))
			if r.Eof != tc.eof {
				t.Fatalf("%d entries, eof %v; want eof %v", len(r.Entries), r.Eof, tc.eof)
			}
			if got := len(r.Stats); (got == len(r.Entries)) != tc.wantStats || (got != 0) != tc.wantStats {
				t.Errorf("%d stats for %d entries; want stats %v", got, len(r.Entries), tc.wantStats)
			}
		})
	}
}
