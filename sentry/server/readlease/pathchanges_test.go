package readlease

import (
	"context"
	"testing"
	"time"
)

// TestPathGrantOfOtherInodesChange: a path grant fails when a change
// since its ticket revoked one of its keys, but for as many changes of
// its own holder as the ticket allows (PathTicket.After: the creation
// its call made); changes of other inodes, by anyone, leave it, and a
// ticket older than the change log fails as every ticket once did.
func TestPathGrantOfOtherInodesChange(t *testing.T) {
	const dir, made, other = 30, 31, 99
	// A creation's grant: the parent's attributes and the made file's.
	keys := []Key{PathKey(PathSearch, dir), PathKey(PathAttrs, dir), PathKey(PathSearch, made)}
	tests := []struct {
		name string
		own  uint64
		// between runs after BeginPath, before GrantPath; mine and
		// theirs are contexts of the grant's holder and of another.
		between     func(r *Registry, mine, theirs context.Context)
		wantGranted bool
	}{
		{name: "nothing", wantGranted: true},
		{name: "another client's name made elsewhere", between: func(r *Registry, _, theirs context.Context) { r.DirChanged(theirs, other) }, wantGranted: true},
		{name: "another client's change of another inode", between: func(r *Registry, _, theirs context.Context) { r.Changed(theirs, Key{Dev: 1, Ino: other}) }, wantGranted: true},
		{name: "another client's name made in the directory", between: func(r *Registry, _, theirs context.Context) { r.DirChanged(theirs, dir) }},
		{name: "the call's own creation", own: 1, between: func(r *Registry, mine, _ context.Context) { r.DirChanged(mine, dir) }, wantGranted: true},
		{name: "a creation with no change of its own", own: 1, wantGranted: true},
		{
			// With one counter of all changes, exactly one change since
			// the ticket passed as the creation's own.
			name: "another client's name made in the directory, none of the call's own", own: 1,
			between: func(r *Registry, _, theirs context.Context) { r.DirChanged(theirs, dir) },
		},
		{
			name: "the call's own creation and another client's", own: 1,
			between: func(r *Registry, mine, theirs context.Context) { r.DirChanged(mine, dir); r.DirChanged(theirs, dir) },
		},
		{
			name: "two changes of the holder's, one allowed", own: 1,
			between: func(r *Registry, mine, _ context.Context) {
				r.DirChanged(mine, dir)
				r.Changed(mine, Key{Dev: 1, Ino: made})
			},
		},
		{
			name: "the call's own creation amid other inodes' changes", own: 1,
			between: func(r *Registry, mine, theirs context.Context) {
				r.DirChanged(theirs, other)
				r.DirChanged(mine, dir)
				r.Changed(theirs, Key{Dev: 1, Ino: other})
			},
			wantGranted: true,
		},
		{
			name: "more changes elsewhere than the log keeps",
			between: func(r *Registry, _, theirs context.Context) {
				for range pathChangeLog {
					r.DirChanged(theirs, other)
				}
			},
		},
		{
			name: "all but the log's room elsewhere",
			between: func(r *Registry, _, theirs context.Context) {
				for range pathChangeLog - 1 {
					r.DirChanged(theirs, other)
				}
			},
			wantGranted: true,
		},
		{name: "a mount", between: func(r *Registry, _, theirs context.Context) { r.ChangedPaths(theirs) }},
		{name: "an unknown change", between: func(r *Registry, _, theirs context.Context) { r.ChangedAll(theirs) }},
		{name: "the holder's own mount", own: 1, between: func(r *Registry, mine, _ context.Context) { r.ChangedPaths(mine) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(time.Minute)
			c := newClient(r, true)
			o := newClient(r, true)
			mine := WithHolder(context.Background(), c.h)
			theirs := WithHolder(context.Background(), o.h)
			tk := r.BeginPath().After(tc.own)
			if tc.between != nil {
				tc.between(r, mine, theirs)
			}
			if _, _, _, ok := r.GrantPath(c.h, tk, keys); ok != tc.wantGranted {
				t.Fatalf("granted %v, want %v (%+v)", ok, tc.wantGranted, c.h.PathGrants())
			}
		})
	}
}
