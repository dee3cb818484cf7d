package readlease

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// TestGrantPathListingCost grants the path leases of a find's listings
// (200 entries each, two keys per entry after the walk's five, one for a
// file that is no directory) at 10,000 entries a second of a fake clock,
// and counts what they cost: grants refused, allocations per entry, and
// the leases the registry keeps (the live ones alone: a lease lives a
// second).
func TestGrantPathListingCost(t *testing.T) {
	const (
		listings = 200
		entries  = 200
		perEntry = 1.1                   // keys: one per file, two per directory
		step     = 20 * time.Millisecond // 10,000 entries a second
	)
	r := New(time.Second)
	now := time.Unix(1000, 0)
	r.SetClock(func() time.Time { return now })
	c := newClient(r, true)
	walk := []Key{PathKey(PathSearch, 2), PathKey(PathSearch, 3), PathKey(PathSearch, 4), PathKey(PathSearch, 5), PathKey(PathAttrs, 5)}
	keys := make([][]Key, listings)
	ino := uint64(1000)
	for i := range keys {
		keys[i] = append([]Key(nil), walk...)
		for j := 0; j < entries; j++ {
			// One entry in ten is a directory, as in /usr/include.
			keys[i] = append(keys[i], PathKey(PathSearch, ino), AttrsKey(ino, j%10 == 0))
			ino++
		}
	}
	// Warm the maps up with a listing of other inodes.
	warm := append([]Key(nil), walk...)
	for j := 0; j < entries; j++ {
		warm = append(warm, PathKey(PathSearch, 1<<40+uint64(j)), PathKey(PathAttrs, 1<<40+uint64(j)))
	}
	if _, _, _, ok := r.GrantPath(c.h, r.BeginPath(), warm); !ok {
		t.Fatal("warm-up grant refused")
	}
	refused, most := 0, 0
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range keys {
		now = now.Add(step)
		if _, _, _, ok := r.GrantPath(c.h, r.BeginPath(), keys[i]); !ok {
			refused++
		}
		most = max(most, len(r.files))
	}
	runtime.ReadMemStats(&after)
	allocs := float64(after.Mallocs-before.Mallocs) / (listings * entries)
	perListing := int(entries * perEntry)
	live := int(time.Second/step)*perListing + len(walk)
	t.Logf("%d of %d grants refused; per entry %.1f allocations; at most %d keys in the registry (%d live)", refused, listings, allocs, most, live)
	if refused > 0 {
		t.Errorf("%d grants refused", refused)
	}
	if most > live+perListing {
		t.Errorf("the registry kept up to %d keys, want the %d live ones and one listing's", most, live)
	}
	// 4.8 with a map per key and holder, 0.9 with 64 spare entries.
	if allocs > 0.5 {
		t.Errorf("%.1f allocations per entry, want at most 0.5", allocs)
	}
}

// TestAttrsKey checks that the attributes key of a file that is no
// directory is revoked by the changes that revoke a directory's, but for
// a name made in it, which only a directory has.
func TestAttrsKey(t *testing.T) {
	ctx := context.Background()
	const ino = 30
	tests := []struct {
		name        string
		dir         bool
		change      func(r *Registry)
		wantRevoked bool
	}{
		{"a file changed", false, func(r *Registry) { r.Changed(ctx, Key{Dev: 1, Ino: ino}) }, true},
		{"a directory changed", true, func(r *Registry) { r.Changed(ctx, Key{Dev: 1, Ino: ino}) }, true},
		{"a name made in a directory", true, func(r *Registry) { r.DirChanged(ctx, ino) }, true},
		{"a name made in a directory of the file's number", false, func(r *Registry) { r.DirChanged(ctx, ino) }, false},
		{"a mount", false, func(r *Registry) { r.ChangedPaths(ctx) }, true},
		{"another file changed", false, func(r *Registry) { r.Changed(ctx, Key{Dev: 1, Ino: ino + 1}) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(time.Minute)
			c := newClient(r, true)
			ids, _, _, ok := r.GrantPath(c.h, r.BeginPath(), []Key{PathKey(PathSearch, ino), AttrsKey(ino, tc.dir)})
			if !ok {
				t.Fatal("grant refused")
			}
			if shared := ids[0] == ids[1]; shared == tc.dir {
				t.Errorf("ids %v: one lease for both keys %v, want %v", ids, shared, !tc.dir)
			}
			tc.change(r)
			revoked := false
			for _, id := range c.revoked {
				revoked = revoked || id == ids[1]
			}
			if revoked != tc.wantRevoked {
				t.Errorf("attributes lease revoked %v, want %v", revoked, tc.wantRevoked)
			}
		})
	}
}

// quietHolder returns a holder whose revocations are taken and dropped
// at each kick, as a client's sender takes them (nothing is kept: a
// benchmark's revocations would pile up in a fake client's list).
func quietHolder(r *Registry) *Holder {
	var h *Holder
	h = r.NewHolder(func(bool) { h.Take() })
	return h
}

// BenchmarkGrantPath grants one listing's path leases of n new inodes a
// time (find's listings: one key per file) to one client, the fake
// clock moving 100 µs a key (10,000 a second: a lease lives a second,
// so the registry holds ~10,000 live ones and each grant prunes as many
// as it makes). -benchmem: divide allocs/op by n for a key's.
func BenchmarkGrantPath(b *testing.B) {
	for _, n := range []int{1, 16, 200} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			r := New(time.Second)
			now := time.Unix(1000, 0)
			r.SetClock(func() time.Time { return now })
			h := quietHolder(r)
			keys := make([]Key, n)
			ino := uint64(1 << 20)
			listing := func() {
				for i := range keys {
					keys[i] = PathKey(PathSearch, ino)
					ino++
				}
				now = now.Add(time.Duration(n) * 100 * time.Microsecond)
				if _, _, _, ok := r.GrantPath(h, r.BeginPath(), keys); !ok {
					b.Fatal("grant refused")
				}
			}
			// The steady state: a second of listings live.
			for range 2 * 10000 / n {
				listing()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				listing()
			}
		})
	}
}

// BenchmarkChanged revokes n files' leases, one Changed a file (each)
// or one ChangedMany of them all (many), as the attribute cache tells
// the registry of a run of rm -r's unlinks: the remover's listing leased
// each file (its search key) to the remover's own client, whose context
// the changes carry. The grant is not counted (timer stopped).
// -benchmem: divide allocs/op by n for a file's.
func BenchmarkChanged(b *testing.B) {
	modes := []struct {
		name   string
		change func(r *Registry, ctx context.Context, files []Key)
	}{
		{"each", func(r *Registry, ctx context.Context, files []Key) {
			for _, k := range files {
				r.Changed(ctx, k)
			}
		}},
		{"many", func(r *Registry, ctx context.Context, files []Key) { r.ChangedMany(ctx, files) }},
	}
	for _, m := range modes {
		for _, n := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/files=%d", m.name, n), func(b *testing.B) {
				r := New(time.Minute)
				h := quietHolder(r)
				ctx := WithHolder(context.Background(), h)
				keys := make([]Key, n)
				files := make([]Key, n)
				ino := uint64(1 << 20)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					b.StopTimer()
					for i := range keys {
						keys[i], files[i] = PathKey(PathSearch, ino), Key{Dev: 1, Ino: ino}
						ino++
					}
					if _, _, _, ok := r.GrantPath(h, r.BeginPath(), keys); !ok {
						b.Fatal("grant refused")
					}
					b.StartTimer()
					m.change(r, ctx, files)
				}
			})
		}
	}
}
