package e2e

import (
	"regexp"
	"strconv"
	"testing"

	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// heapCounts matches the client's end-of-run line's heap counts
// (sentry/client's runtimeCounts).
var heapCounts = regexp.MustCompile(`heap_allocs=(\d+) heap_alloc_bytes=(\d+)`)

// TestPostedWriteAllocs counts what a 4 KiB write behind costs the
// client in memory (testdata/postalloc/wb4k.c, the benchmark's write4k
// loop): allocations and bytes allocated per write, as the difference
// between a run of few writes and one of more, so that start-up and exit
// cancel out. The write's bytes are copied out of the application once
// (4 KiB, kept by the replay log until the gofer reports them durable)
// and into the batch's frame (a buffer reused); the rest is the call,
// its packed reply (FeaturePostedWrites: an entry of posted_writes, its
// write record made here) folded, and the runtime's own (heartbeats,
// timers: the longer run makes more). It was 23 allocations and
// 10.8-11.1 KiB a write (the log copied the bytes again, and the call
// carried a Reply it never used); 19-20 and 6.0-6.5 KiB with each reply
// decoded with its write record and its description's; 12.8 and 5.6-5.8
// KiB packed; 5.9 with the write retained from the packed entry's fields
// (no record, key or retained-write object a write: replaylog's
// writes.go), and the call, its count in flight and its read-cache
// posting in one allocation (wbCall, no closures).
func TestPostedWriteAllocs(t *testing.T) {
	tu.RequireRoot(t)
	prog := tu.StaticProgram(t, t.TempDir(), "wb4k", testdataSource(t, "postalloc", "wb4k"))
	run := func(n int) (allocs, bytes float64) {
		t.Helper()
		_, log := sandboxLogged(t, t.TempDir(), nil, nil, prog, strconv.Itoa(n))
		v := logInts(t, log, heapCounts)
		return float64(v[0]), float64(v[1])
	}
	const few, many = 500, 2500
	a1, b1 := run(few)
	a2, b2 := run(many)
	allocs, bytes := (a2-a1)/(many-few), (b2-b1)/(many-few)
	t.Logf("per 4 KiB write behind: %.1f allocations, %.0f bytes allocated", allocs, bytes)
	if allocs > 8 {
		t.Errorf("a 4 KiB write behind makes %.1f allocations, want at most 8 (its record made from the packed reply and folded, and two closures, made it 12.8)", allocs)
	}
	if bytes > 4096+3072 {
		t.Errorf("a 4 KiB write behind allocates %.0f bytes, want at most %d (its bytes copied once, 4096, and the call's and reply's small objects)", bytes, 4096+3072)
	}
}

// writeBufferCounts matches the client's end-of-run line's counts of
// write buffers (replaylog.Log.WriteBufferCounts).
var writeBufferCounts = regexp.MustCompile(`write_buffers_made=(\d+) write_buffers_reused=(\d+)`)

// TestWriteBuffersReused: a 4 KiB write behind's bytes are copied into a
// buffer of the replay log's pool, which takes it back once a Durable
// push drops the write; so past the first writes the server had not yet
// made durable (it flushes every 8 MiB or 500 ms), the writes reuse
// buffers instead of allocating 4 KiB each (whose fresh pages faulted in
// and which the collector then freed). Before: every write allocated. A
// write merged into the queued one before it (sentry/client/
// writemerge.go) gives its buffer back at once, and the merged call's
// bytes grow into buffers of the pool too: at least one pooled buffer a
// write.
func TestWriteBuffersReused(t *testing.T) {
	tu.RequireRoot(t)
	prog := tu.StaticProgram(t, t.TempDir(), "wb4k", testdataSource(t, "postalloc", "wb4k"))
	const writes = 12000
	_, log := sandboxLogged(t, t.TempDir(), nil, nil, prog, strconv.Itoa(writes))
	v := logInts(t, log, writeBufferCounts)
	made, reused := v[0], v[1]
	t.Logf("%d writes: %d buffers made, %d reused", writes, made, reused)
	if made+reused < writes {
		t.Errorf("%d pooled buffers taken for %d writes of 4 KiB, want at least one each", made+reused, writes)
	}
	if made > (made+reused)/2 {
		t.Errorf("%d of %d buffers taken made, want at most half: the durable writes' buffers are not reused", made, made+reused)
	}
}
