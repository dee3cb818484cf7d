package client

import (
	"bytes"
	"testing"

	"gvisor.dev/gvisor/pkg/context"
	"gvisor.dev/gvisor/pkg/hostarch"
)

// TestPlanFileData: a plan that carries the whole file (MmapPlan.file_data,
// an id new to the client) fills the file it makes, so that faults
// anywhere in it read nothing from the server and see the plan's bytes;
// data of another length than the file's is not the whole file (the
// faults read it), and a file cached already keeps its pages.
func TestPlanFileData(t *testing.T) {
	const pg = hostarch.PageSize
	tests := []struct {
		name string
		size int
		// data is the plan's file_data, cached whether a look-up made
		// earlier (with no data) found the file first.
		data   func(file []byte) []byte
		cached bool
		// reads is how many PageReads the faults make; the mapping
		// must show the server's bytes (the file's) in every case.
		reads int
	}{
		{name: "new, whole", size: 5000, data: func(b []byte) []byte { return b }},
		{name: "new, whole, several chunks", size: 3*cacheChunk + 100, data: func(b []byte) []byte { return b }},
		{name: "new, no data", size: 5000, data: func([]byte) []byte { return nil }, reads: 1},
		{name: "new, short data", size: 5000, data: func(b []byte) []byte { return b[:4096] }, reads: 1},
		{name: "cached already", size: 5000, cached: true, data: func(b []byte) []byte { return bytes.Repeat([]byte("x"), len(b)) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := make([]byte, tc.size)
			for i := range file {
				file[i] = byte('a' + i%26)
			}
			files, fp := newFakePagesCache(t, file)
			ctx := context.Background()
			if tc.cached {
				f := files.get(ctx, 1, uint64(tc.size), 0, "", nil)
				end, _ := hostarch.Addr(tc.size).RoundUp()
				if _, err := f.Translate(ctx, mr(0, pg), mr(0, uint64(end)), hostarch.Read); err != nil {
					t.Fatal(err)
				}
				fp.reads = nil
				defer f.DecRef(ctx)
			}
			f := files.get(ctx, 1, uint64(tc.size), 0, "", tc.data(file))
			defer f.DecRef(ctx)
			end, _ := hostarch.Addr(tc.size).RoundUp()
			for off := uint64(0); off < uint64(end); off += pg {
				if _, err := f.Translate(ctx, mr(off, off+pg), mr(off, off+pg), hostarch.Read); err != nil {
					t.Fatalf("fault at %d: %v", off, err)
				}
			}
			if len(fp.reads) != tc.reads {
				t.Errorf("%d PageReads %v, want %d", len(fp.reads), fp.reads, tc.reads)
			}
			f.mu.Lock()
			got, err := f.copyOutLocked(0, uint64(tc.size))
			f.mu.Unlock()
			if err != nil || !bytes.Equal(got, file) {
				t.Errorf("the cached pages are not the file's (err %v)", err)
			}
		})
	}
}
