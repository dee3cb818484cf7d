package readlease

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestCompleteNames checks a directory's complete names (PathComplete):
// every change of the directory or of its names revokes it but its
// holder's own, and a change whose directory is not known revokes the
// holder's too.
func TestCompleteNames(t *testing.T) {
	const dir, other = 30, 31
	inode := Key{Dev: 1, Ino: dir}
	tests := []struct {
		name string
		// change runs with the context of the holder (own) or another
		// client's.
		change      func(ctx context.Context, r *Registry)
		own         bool
		wantRevoked bool
	}{
		{name: "own creation", own: true, change: func(ctx context.Context, r *Registry) { r.DirChanged(ctx, dir) }},
		{name: "another's creation", change: func(ctx context.Context, r *Registry) { r.DirChanged(ctx, dir) }, wantRevoked: true},
		{name: "own announced creation", own: true, change: func(ctx context.Context, r *Registry) {
			end, _ := r.BeginNamesChange(ctx, dir)
			r.DirChanged(ctx, dir)
			end()
		}},
		{name: "another's announced creation", change: func(ctx context.Context, r *Registry) {
			end, _ := r.BeginNamesChange(ctx, dir)
			end()
		}, wantRevoked: true},
		{name: "own chmod", own: true, change: func(ctx context.Context, r *Registry) {
			end, _ := r.BeginChange(ctx, []Key{inode})
			r.Changed(ctx, inode)
			end()
		}},
		{name: "another's chmod", change: func(ctx context.Context, r *Registry) { r.Changed(ctx, inode) }, wantRevoked: true},
		{name: "another's announced chmod", change: func(ctx context.Context, r *Registry) {
			end, _ := r.BeginChange(ctx, []Key{inode})
			end()
		}, wantRevoked: true},
		{name: "another's creation elsewhere", change: func(ctx context.Context, r *Registry) { r.DirChanged(ctx, other) }},
		{name: "own change of paths not known", own: true, change: func(ctx context.Context, r *Registry) { r.ChangedPaths(ctx) }, wantRevoked: true},
		{name: "own unknown change", own: true, change: func(ctx context.Context, r *Registry) { r.ChangedAll(ctx) }, wantRevoked: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(time.Minute)
			holder, stranger := newClient(r, true), newClient(r, true)
			// The holder made dir: its mkdir's own change, then the
			// grant that counts it.
			tk := r.BeginPath()
			r.DirChanged(WithHolder(context.Background(), holder.h), other)
			ids, _, _, ok := r.GrantPath(holder.h, tk.After(1), []Key{PathKey(PathComplete, dir)})
			if !ok {
				t.Fatal("grant after the holder's own change refused")
			}
			ctx := WithHolder(context.Background(), stranger.h)
			if tc.own {
				ctx = WithHolder(context.Background(), holder.h)
			}
			tc.change(ctx, r)
			revoked := slices.Contains(holder.revoked, ids[0])
			if revoked != tc.wantRevoked {
				t.Errorf("revoked %v (lease %d), want revoked: %v", holder.revoked, ids[0], tc.wantRevoked)
			}
			if _, live := r.Live(holder.h, PathKey(PathComplete, dir)); live == tc.wantRevoked {
				t.Errorf("lease live %v after the change, want %v", live, !tc.wantRevoked)
			}
		})
	}
}

// TestOthersHold checks what a grant that lets its holder post creations
// in a directory asks: whether another client holds a live lease on the
// directory's missing names or complete names (CreationKeys). Its own
// leases, leases on other keys, expired and revoked ones do not count.
func TestOthersHold(t *testing.T) {
	const dir, elsewhere = 40, 41
	tests := []struct {
		name string
		// other is the key the other client is granted (none: zero),
		// then after runs.
		other Key
		after func(r *Registry, other *Holder, clock *time.Time)
		want  bool
	}{
		{name: "no one else"},
		{name: "missing names", other: PathKey(PathNames, dir), want: true},
		{name: "complete names", other: PathKey(PathComplete, dir), want: true},
		{name: "the directory's attributes", other: PathKey(PathAttrs, dir)},
		{name: "another directory's names", other: PathKey(PathNames, elsewhere)},
		{name: "expired", other: PathKey(PathNames, dir), after: func(r *Registry, _ *Holder, clock *time.Time) {
			*clock = clock.Add(2 * time.Minute)
		}},
		{name: "revoked by a creation", other: PathKey(PathNames, dir), after: func(r *Registry, _ *Holder, _ *time.Time) {
			r.DirChanged(context.Background(), dir)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New(time.Minute)
			clock := time.Unix(1000, 0)
			r.SetClock(func() time.Time { return clock })
			self, other := newClient(r, true), newClient(r, true)
			keys := CreationKeys(dir)
			if _, _, _, ok := r.GrantPath(self.h, r.BeginPath(), keys); !ok {
				t.Fatal("own grant refused")
			}
			if tc.other != (Key{}) {
				if _, _, _, ok := r.GrantPath(other.h, r.BeginPath(), []Key{tc.other}); !ok {
					t.Fatal("the other's grant refused")
				}
			}
			if tc.after != nil {
				tc.after(r, other.h, &clock)
			}
			if got := r.OthersHold(self.h, keys); got != tc.want {
				t.Errorf("OthersHold = %v, want %v", got, tc.want)
			}
			// The other's view: it sees self's leases unless they expired.
			if got, want := r.OthersHold(other.h, keys), tc.name != "expired" && tc.name != "revoked by a creation"; got != want {
				t.Errorf("OthersHold of the other = %v, want %v", got, want)
			}
		})
	}
}
