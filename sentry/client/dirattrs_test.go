package client

import (
	"testing"
)

// TestMadeDirAttrs checks how posted attribute changes of a directory a
// mkdir made are counted (dirattrs.go) in each order of the mkdir's
// reply and theirs: as any file's (every answer held back, by
// pathAnswerScope) until the reply names the directory's inode, then by
// that inode (only the answers holding a lease on it held back), and
// nothing once their replies came.
func TestMadeDirAttrs(t *testing.T) {
	// The directory made is /d, inode 10 (creationLeases).
	const made = 10
	type counts struct{ any, byIno, pending int }
	tests := []struct {
		name string
		// steps: "reply" (the mkdir's, naming the inode), "reply
		// without inode", "post" (a change), "end" (the first change
		// posted and not ended gets its reply); want the counts after
		// each.
		steps []string
		want  []counts
	}{
		{"posted after the reply", []string{"reply", "post", "post", "end", "end"},
			[]counts{{0, 0, 0}, {0, 1, 0}, {0, 2, 0}, {0, 1, 0}, {0, 0, 0}}},
		{"posted before the reply", []string{"post", "post", "reply", "end", "post", "end", "end"},
			[]counts{{1, 0, 1}, {2, 0, 2}, {0, 2, 0}, {0, 1, 0}, {0, 2, 0}, {0, 1, 0}, {0, 0, 0}}},
		{"a reply that names no inode", []string{"post", "reply without inode", "post", "end", "end"},
			[]counts{{1, 0, 1}, {1, 0, 0}, {2, 0, 0}, {1, 0, 0}, {0, 0, 0}}},
		{"the change's reply first", []string{"post", "end", "reply", "post", "end"},
			[]counts{{1, 0, 1}, {0, 0, 0}, {0, 0, 0}, {0, 1, 0}, {0, 0, 0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pc, keys := creationLeases(t)
			rc := newReadCache(nil)
			md := &madeDir{}
			var posted []dirAttrsPosting
			for i, step := range tc.steps {
				switch step {
				case "reply":
					pc.madeDirReplied(rc, md, made)
				case "reply without inode":
					pc.madeDirReplied(rc, md, 0)
				case "post":
					posted = append(posted, pc.dirAttrsBegin(rc, md))
				case "end":
					pc.dirAttrsEnd(rc, posted[0])
					posted = posted[1:]
				}
				rc.mu.Lock()
				any, all := rc.attrsPostedAny, rc.attrsPosted
				rc.mu.Unlock()
				pc.mu.Lock()
				got := counts{any, pc.dirAttrsByIno, pc.dirAttrsPending}
				changing := pc.inosChanging[made]
				blocked := map[string]bool{}
				for name, k := range keys {
					if a := pc.answerLocked(k); a != nil && pc.blockedLocked(a) {
						blocked[name] = true
					}
				}
				pc.mu.Unlock()
				if got != tc.want[i] || all != any || changing != got.byIno {
					t.Fatalf("after %v: any file's %d (of %d attribute changes), by inode %d (%d on the inode), pending %d; want %+v",
						tc.steps[:i+1], got.any, all, got.byIno, changing, got.pending, tc.want[i])
				}
				// By inode, the answers with a lease on /d are held
				// back (and the one whose leases' kinds are not
				// known), not those of /e.
				for _, name := range []string{"stat of the directory", "a missing name in it", "the existence of a name in it", "an answer of an unknown lease"} {
					if blocked[name] != (got.byIno > 0) {
						t.Errorf("after %v: %s held back %v, want %v", tc.steps[:i+1], name, blocked[name], got.byIno > 0)
					}
				}
				for _, name := range []string{"stat of another directory", "a missing name in another"} {
					if blocked[name] {
						t.Errorf("after %v: %s held back", tc.steps[:i+1], name)
					}
				}
			}
		})
	}
}
