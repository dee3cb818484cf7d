package readlease

import (
	"context"
	"testing"
	"time"
)

// TestPathGrantCounts runs one path grant after each kind of event
// between its BeginPath and its GrantPath and checks how the holder's
// counters (PathGrants) classed its outcome: the server logs them at its
// client's end, where they told how many of make's grants a change made
// meanwhile failed (docs/BENCHMARKS.md, makepath).
func TestPathGrantCounts(t *testing.T) {
	const dirIno, fileIno, otherIno = 20, 21, 99
	keys := []Key{PathKey(PathSearch, dirIno), PathKey(PathSearch, fileIno)}
	tests := []struct {
		name string
		// between runs after BeginPath, before GrantPath.
		between func(r *Registry, h *Holder) (end func())
		keys    []Key
		want    PathGrantStats
	}{
		{name: "nothing", want: PathGrantStats{Granted: 1}},
		{
			name: "a data change of the found file",
			between: func(r *Registry, _ *Holder) func() {
				r.Changed(context.Background(), Key{Dev: 1, Ino: fileIno})
				return nil
			},
			want: PathGrantStats{Moved: 1},
		},
		{
			// A write to a file the walk never touched leaves the
			// grant (pathchanges.go).
			name: "a data change of another inode",
			between: func(r *Registry, _ *Holder) func() {
				r.Changed(context.Background(), Key{Dev: 1, Ino: otherIno})
				return nil
			},
			want: PathGrantStats{Granted: 1},
		},
		{
			// The walk only searched it: its answer holds no lease a
			// new name there revokes.
			name: "a name made in the walk's directory",
			between: func(r *Registry, _ *Holder) func() {
				r.DirChanged(context.Background(), dirIno)
				return nil
			},
			want: PathGrantStats{Granted: 1},
		},
		{
			name: "a change of the found file under way",
			between: func(r *Registry, _ *Holder) func() {
				end, _ := r.BeginChange(context.Background(), []Key{{Dev: 1, Ino: fileIno}})
				return end
			},
			want: PathGrantStats{Changing: 1},
		},
		{
			name: "grants paused",
			between: func(_ *Registry, h *Holder) func() {
				h.PauseGrants(time.Minute)
				return nil
			},
			want: PathGrantStats{Refused: 1},
		},
		{name: "more keys than the path budget holds", keys: manyPathKeys(maxPathLeasesPerHolder + 1), want: PathGrantStats{Refused: 1}},
		{name: "no keys", keys: []Key{}, want: PathGrantStats{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(time.Minute)
			c := newClient(r, true)
			tk := r.BeginPath()
			if tc.between != nil {
				if end := tc.between(r, c.h); end != nil {
					defer end()
				}
			}
			ks := keys
			if tc.keys != nil {
				ks = tc.keys
			}
			_, _, _, ok := r.GrantPath(c.h, tk, ks)
			if got := c.h.PathGrants(); got != tc.want {
				t.Errorf("PathGrants = %+v, want %+v", got, tc.want)
			}
			if ok != (tc.want.Granted == 1) {
				t.Errorf("GrantPath ok = %v with counts %+v", ok, tc.want)
			}
		})
	}
}

// manyPathKeys returns n search keys of inodes 1000 on.
func manyPathKeys(n int) []Key {
	keys := make([]Key, n)
	for i := range keys {
		keys[i] = PathKey(PathSearch, 1000+uint64(i))
	}
	return keys
}
