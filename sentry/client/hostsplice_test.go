package client

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/context"

	"github.com/runsc-decoupled/runsc-decoupled/platform"
)

// cachedFile returns a file of size bytes cached in a memory file of its
// own (no page committed by another test), its cache grown to each of
// grows in turn (an extent each), and a cleanup. The file is returned
// locked (f.mu).
func cachedFile(t testing.TB, size uint64, grows ...uint64) (*serverFile, func()) {
	t.Helper()
	mf, err := platform.NewMemoryFile()
	if err != nil {
		t.Fatal(err)
	}
	c := &client{mf: mf, log: hclog.NewNullLogger(), done: make(chan struct{})}
	c.files = newFileCache(c)
	f := c.files.get(context.Background(), 1, size, 0, "cached", nil)
	f.mu.Lock()
	for _, end := range append(grows, size) {
		if err := f.growLocked(end); err != nil {
			t.Fatal(err)
		}
	}
	return f, func() {
		f.mu.Unlock()
		mf.Destroy()
	}
}

// hostFDFile is cachedFile whose host fd reads path.
func hostFDFile(t testing.TB, path string, size uint64) (*serverFile, func()) {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f, done := cachedFile(t, size)
	f.hostFD = fd
	return f, func() {
		done()
		unix.Close(fd)
	}
}

// TestReadHost reads a file through its host fd into the cache, by
// splice and by pread, whole and from an offset, past its end: the cache
// holds the file's bytes and zeros after them.
func TestReadHost(t *testing.T) {
	const size = 3<<20 + 123 // not a whole page: the tail stays zero
	data := make([]byte, size)
	rand.New(rand.NewSource(1)).Read(data)
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	defer fillByFD.Store(fillByFD.Load())
	for _, splice := range []bool{true, false} {
		for _, c := range []struct{ off, length uint64 }{
			{0, 4 << 20},            // whole, past the end
			{1 << 20, 1 << 20},      // a window
			{2<<20 + 4096, 2 << 20}, // to the end from a page
		} {
			t.Run(fmt.Sprintf("splice=%v/%d+%d", splice, c.off, c.length), func(t *testing.T) {
				fillByFD.Store(splice)
				f, done := hostFDFile(t, path, size)
				defer done()
				got, err := f.readHostLocked(c.off, c.length)
				if err != nil {
					t.Fatal(err)
				}
				want := min(c.length, size-c.off)
				if got != want {
					t.Fatalf("read %d bytes, want %d", got, want)
				}
				if !fillByFD.Load() && splice {
					t.Fatalf("splice was refused")
				}
				cached, err := f.copyOutLocked(c.off, c.length)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(cached[:want], data[c.off:c.off+want]) {
					t.Fatalf("cached bytes differ from the file's")
				}
				if rest := cached[want:]; len(rest) > 0 && !bytes.Equal(rest, make([]byte, len(rest))) {
					t.Fatalf("cache past the file's end not zero")
				}
				if n := f.fc.hostReadBytes.Load(); n != want {
					t.Fatalf("hostReadBytes %d, want %d", n, want)
				}
			})
		}
	}
}

// BenchmarkReadHost times a 4 MiB read of a host fd into fresh cache
// pages, by splice and by pread into the populated internal mapping
// (docs/BENCHMARKS.md, "hostsplice").
func BenchmarkReadHost(b *testing.B) {
	const size = 4 << 20
	path := filepath.Join(b.TempDir(), "f")
	if err := os.WriteFile(path, bytes.Repeat([]byte{'x'}, size), 0o644); err != nil {
		b.Fatal(err)
	}
	defer fillByFD.Store(fillByFD.Load())
	for _, splice := range []bool{false, true} {
		b.Run(fmt.Sprintf("splice=%v", splice), func(b *testing.B) {
			fillByFD.Store(splice)
			b.SetBytes(size)
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				f, done := hostFDFile(b, path, size)
				b.StartTimer()
				_, err := f.readHostLocked(0, size)
				b.StopTimer()
				done()
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestCopyIn copies bytes into a cache of two extents (grown twice), at
// offsets inside one and across both, by the memory file's fd and through
// the mapping: the cache then holds them, and what it held around them.
func TestCopyIn(t *testing.T) {
	defer fillByFD.Store(fillByFD.Load())
	for _, byFD := range []bool{true, false} {
		for _, c := range []struct{ off, n uint64 }{{0, 4096}, {5000, 70000}, {60 << 10, 200 << 10}} {
			t.Run(fmt.Sprintf("byfd=%v/%d+%d", byFD, c.off, c.n), func(t *testing.T) {
				fillByFD.Store(byFD)
				const size = 256 << 10
				f, done := cachedFile(t, size, 64<<10)
				defer done()
				if len(f.exts) < 2 {
					t.Fatalf("%d extents, want 2", len(f.exts))
				}
				want := bytes.Repeat([]byte{'.'}, size)
				if err := f.copyInLocked(0, want); err != nil {
					t.Fatal(err)
				}
				data := make([]byte, c.n)
				rand.New(rand.NewSource(int64(c.off))).Read(data)
				if err := f.copyInLocked(c.off, data); err != nil {
					t.Fatal(err)
				}
				copy(want[c.off:], data)
				got, err := f.copyOutLocked(0, size)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("cache differs from what was copied in")
				}
			})
		}
	}
}
