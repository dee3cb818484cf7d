package client

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"gvisor.dev/gvisor/pkg/abi/linux"
)

// TestDirAnswer checks which kept answers hold while posted attribute
// changes of regular files are unanswered: a stat that found a
// directory, and a walk that failed ENOENT.
func TestDirAnswer(t *testing.T) {
	tests := []struct {
		name  string
		sysno uintptr
		a     pathAnswer
		want  bool
	}{
		{"stat of a directory", unix.SYS_STAT, pathAnswer{out: statOfMode(linux.S_IFDIR | 0o755)}, true},
		{"newfstatat of a directory", unix.SYS_NEWFSTATAT, pathAnswer{out: statOfMode(linux.S_IFDIR | 0o700)}, true},
		{"lstat of a regular file", unix.SYS_LSTAT, pathAnswer{out: statOfMode(linux.S_IFREG | 0o644)}, false},
		{"stat of a regular file", unix.SYS_STAT, pathAnswer{out: statOfMode(linux.S_IFREG | 0o644)}, false},
		{"lstat of a symlink", unix.SYS_LSTAT, pathAnswer{out: statOfMode(linux.S_IFLNK | 0o777)}, false},
		{"a short stat", unix.SYS_STAT, pathAnswer{out: statOfMode(linux.S_IFDIR)[:16]}, false},
		{"statx of a directory", unix.SYS_STATX, pathAnswer{out: statxOfMode(linux.STATX_BASIC_STATS, linux.S_IFDIR|0o755)}, true},
		{"statx without the type", unix.SYS_STATX, pathAnswer{out: statxOfMode(linux.STATX_SIZE, linux.S_IFDIR|0o755)}, false},
		{"statx of a regular file", unix.SYS_STATX, pathAnswer{out: statxOfMode(linux.STATX_BASIC_STATS, linux.S_IFREG|0o644)}, false},
		{"a failed walk, ENOENT", unix.SYS_STAT, pathAnswer{errno: unix.ENOENT}, true},
		{"access, ENOENT", unix.SYS_ACCESS, pathAnswer{errno: unix.ENOENT}, true},
		{"EACCES (a mode may decide it)", unix.SYS_STAT, pathAnswer{errno: unix.EACCES}, false},
		{"access granted", unix.SYS_ACCESS, pathAnswer{}, false},
		{"readlink", unix.SYS_READLINK, pathAnswer{ret: 3, out: []byte("abc")}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := dirAnswer(tc.sysno, &tc.a); got != tc.want {
				t.Errorf("dirAnswer(%s) = %v, want %v", tc.name, got, tc.want)
			}
		})
	}
}

// TestAnswerOfOlderFile checks which kept answers of regular files hold
// while posted changes are unanswered (answerScope): those that arrived
// before every file the changes are to was created (cp -a's lstat of
// each source name, listed before, while the previous copy's chown,
// chmod and utimensat are in flight), and no other; and whose type, mode
// and owner hold (modesFrom), for which writes do not count.
func TestAnswerOfOlderFile(t *testing.T) {
	tests := []struct {
		name string
		// run posts changes around keep, which keeps a listing's
		// answers (of regular files).
		run  func(rc *readCache, keep func())
		want bool
		// modes: its type, mode and owner hold (a posted open,
		// access or unlink from it: keptStatLocked), which writes
		// do not change.
		modes bool
	}{
		{"nothing in flight", func(rc *readCache, keep func()) { keep() }, true, true},
		{"attributes of a file created after", func(rc *readCache, keep func()) {
			keep()
			rc.postBegin(fileAttrsChange, "", 0, rc.creationSent())
		}, true, true},
		{"attributes of a file created before", func(rc *readCache, keep func()) {
			born := rc.creationSent()
			keep()
			rc.postBegin(fileAttrsChange, "", 0, born)
		}, false, false},
		{"attributes of files created after and before", func(rc *readCache, keep func()) {
			born := rc.creationSent()
			keep()
			rc.postBegin(fileAttrsChange, "", 0, rc.creationSent())
			rc.postBegin(fileAttrsChange, "", 0, born)
		}, false, false},
		{"the change of the one created before answered", func(rc *readCache, keep func()) {
			born := rc.creationSent()
			keep()
			rc.postBegin(fileAttrsChange, "", 0, rc.creationSent())
			rc.postEnd(rc.postBegin(fileAttrsChange, "", 0, born))
		}, true, true},
		{"attributes of a file not known by its creation", func(rc *readCache, keep func()) {
			keep()
			rc.postBegin(fileAttrsChange, "", 0, 0)
		}, false, false},
		{"attributes of a file that may be a directory", func(rc *readCache, keep func()) {
			keep()
			rc.postBegin(attrsChange, "", 0, rc.creationSent())
		}, false, false},
		{"data of a file created after", func(rc *readCache, keep func()) {
			keep()
			rc.postBegin(dataChange, createdHandleOf(provisionalDesc|1), 0, rc.creationSent())
		}, true, true},
		{"data of a file of a known handle", func(rc *readCache, keep func()) {
			keep()
			rc.postBegin(dataChange, "handle", 0, 0)
		}, false, true},
		{"data of a file not known", func(rc *readCache, keep func()) {
			keep()
			rc.postBegin(dataChange, "", 0, rc.creationSent())
		}, false, true},
	}
	const dir = "/src/d2"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tk, l := listedTask()
			pc, rc := tk.c.pcache, newReadCache(nil)
			pc.creations = &rc.creations
			tc.run(rc, func() {
				tk.keepListed(listing{wanted: true, path: dir, desc: 100}, listedReply(l, []uint64{1, 2, 3}, 2, 10), leaseStamp{sent: time.Now()})
			})
			k := pathKey{sysno: unix.SYS_NEWFSTATAT, creds: pc.creds[7], start: "/", path: dir + "/file0.h", args: [3]uint64{unix.AT_SYMLINK_NOFOLLOW}}
			a := pc.keptLocked(k, 7)
			if a == nil {
				t.Fatal("the listing's answer not kept")
			}
			if got := rc.answerScope().allows(unix.SYS_NEWFSTATAT, a); got != tc.want {
				t.Errorf("answered %v, want %v", got, tc.want)
			}
			rc.mu.Lock()
			from := rc.attrsFromLocked()
			rc.mu.Unlock()
			if _, _, _, got := pc.keptStatLocked(k, 7, from); got != tc.modes {
				t.Errorf("its type, mode and owner used: %v, want %v", got, tc.modes)
			}
			// Without the count of creations, an answer is of any file.
			a.nextCreation = 0
			if got := rc.answerScope().allows(unix.SYS_NEWFSTATAT, a); got != (tc.want && rc.attrsPosted+rc.dataPostedAll == 0) {
				t.Errorf("answered %v without the answer's creation count", got)
			}
		})
	}
}

// TestAnswerScopeWhileMappingDirty: while a shared mapping is dirty (the
// data of a mapped file changing: the go command's telemetry counters)
// the answers of stats that found a directory and of failed walks hold,
// those of regular files do not; with the pages written back, all do.
func TestAnswerScopeWhileMappingDirty(t *testing.T) {
	dir := &pathAnswer{out: statOfMode(unix.S_IFDIR | 0o755)}
	missing := &pathAnswer{errno: unix.ENOENT}
	reg := &pathAnswer{out: statOfMode(unix.S_IFREG | 0o644), nextCreation: 1}
	for _, rc := range []*readCache{nil, newReadCache(nil)} {
		tk := &task{c: &client{files: &fileCache{}, rcache: rc}}
		for _, dirty := range []bool{true, false} {
			tk.c.files.dirtyPages.Store(0)
			if dirty {
				tk.c.files.dirtyPages.Store(1)
			}
			s := tk.answerScope()
			for _, tc := range []struct {
				name string
				a    *pathAnswer
				want bool
			}{{"a directory", dir, true}, {"a missing name", missing, true}, {"a regular file", reg, !dirty}} {
				if got := s.allows(unix.SYS_NEWFSTATAT, tc.a); got != tc.want {
					t.Errorf("cache %v, dirty %v: %s answered %v, want %v", rc != nil, dirty, tc.name, got, tc.want)
				}
			}
		}
	}
}

// statOfMode is a struct stat answer of a file of mode.
func statOfMode(mode uint32) []byte {
	st := linux.Stat{Mode: mode}
	b := make([]byte, st.SizeBytes())
	st.MarshalBytes(b)
	return b
}

// statxOfMode is a struct statx answer of a file of mode, saying mask.
func statxOfMode(mask uint32, mode uint16) []byte {
	stx := linux.Statx{Mask: mask, Mode: mode}
	b := make([]byte, stx.SizeBytes())
	stx.MarshalBytes(b)
	return b
}
