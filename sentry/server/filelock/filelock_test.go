package filelock

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The tests' owners: a POSIX owner is an *int, a description an *string.
type (
	testOwner = Owner[*int, *string]
	testHeld  = Held[*int, *string]
)

func describe(locks []testHeld, names map[testOwner]string) string {
	var parts []string
	for _, l := range locks {
		t := "r"
		if l.Write {
			t = "w"
		}
		end := fmt.Sprint(l.End)
		if l.End == EOF {
			end = "EOF"
		}
		parts = append(parts, fmt.Sprintf("%s%s[%d,%s)", names[l.Owner], t, l.Start, end))
	}
	return strings.Join(parts, " ")
}

func TestLockRanges(t *testing.T) {
	a, b := testOwner{Table: new(int)}, testOwner{Table: new(int)}
	names := map[testOwner]string{a: "a", b: "b"}
	type op struct {
		owner      testOwner
		typ        int // unix.F_RDLCK, F_WRLCK, F_UNLCK
		start, end uint64
	}
	for _, tc := range []struct {
		name string
		ops  []op
		want string
	}{
		{"one lock", []op{{a, unix.F_WRLCK, 0, 10}}, "aw[0,10)"},
		{"adjacent same type merge", []op{{a, unix.F_WRLCK, 0, 10}, {a, unix.F_WRLCK, 10, 20}}, "aw[0,20)"},
		{"overlap merges", []op{{a, unix.F_RDLCK, 0, 10}, {a, unix.F_RDLCK, 5, 15}}, "ar[0,15)"},
		{"unlock middle splits", []op{{a, unix.F_WRLCK, 0, 10}, {a, unix.F_UNLCK, 3, 7}}, "aw[0,3) aw[7,10)"},
		{"downgrade part", []op{{a, unix.F_WRLCK, 0, 10}, {a, unix.F_RDLCK, 2, 4}}, "aw[0,2) ar[2,4) aw[4,10)"},
		{"to EOF", []op{{a, unix.F_RDLCK, 5, EOF}, {a, unix.F_UNLCK, 100, EOF}}, "ar[5,100)"},
		{"owners kept apart", []op{{a, unix.F_RDLCK, 0, 10}, {b, unix.F_RDLCK, 5, 15}, {a, unix.F_UNLCK, 0, EOF}}, "br[5,15)"},
		{"unlock of nothing", []op{{a, unix.F_UNLCK, 0, 10}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var locks []testHeld
			for _, o := range tc.ops {
				var nl *testHeld
				if o.typ != unix.F_UNLCK {
					nl = &testHeld{Owner: o.owner, Write: o.typ == unix.F_WRLCK, Start: o.start, End: o.end}
				}
				locks = setRange(locks, o.owner, o.start, o.end, nl)
			}
			if got := describe(locks, names); got != tc.want {
				t.Errorf("locks %q, want %q", got, tc.want)
			}
		})
	}

	held := []testHeld{{Owner: a, Write: true, Start: 0, End: 10}, {Owner: b, Start: 20, End: 30}}
	for _, tc := range []struct {
		owner      testOwner
		write      bool
		start, end uint64
		want       string
	}{
		{b, false, 5, 6, "a"},
		{b, true, 9, 20, "a"},
		{b, true, 10, 20, ""},
		{a, false, 0, 10, ""},
		{a, false, 25, 26, ""},
		{a, true, 25, 26, "b"},
		{a, true, 30, EOF, ""},
	} {
		got := ""
		if l := conflict(held, tc.owner, tc.write, tc.start, tc.end); l != nil {
			got = names[l.Owner]
		}
		if got != tc.want {
			t.Errorf("conflict(%s, write %v, [%d,%d)) = %q, want %q", names[tc.owner], tc.write, tc.start, tc.end, got, tc.want)
		}
	}
}

// TestTable: Lock, Test, RemoveOwner, DropFlockOfOtherType, Locks and
// Restore on one file, each change reported to the hook; a POSIX waiter
// that would close a cycle gets EDEADLK, a non-blocking one EAGAIN.
func TestTable(t *testing.T) {
	const ino = 7
	var changes int
	lt := NewTable[*int, *string](func(got uint64) {
		if got != ino {
			t.Errorf("changed(%d), want %d", got, ino)
		}
		changes++
	})
	a, b := testOwner{Table: new(int)}, testOwner{Table: new(int)}
	d := testOwner{File: new(string)}
	names := map[testOwner]string{a: "a", b: "b", d: "d"}
	wl := func(o testOwner, start, end uint64) *testHeld {
		return &testHeld{Owner: o, Write: true, Start: start, End: end}
	}
	failBlock := func(<-chan struct{}) error {
		t.Fatal("Lock blocked")
		return nil
	}
	steps := []struct {
		name    string
		do      func() error
		err     error
		record  string
		flocks  string
		changes int
	}{
		{"a locks [0,10)", func() error { return lt.Lock(ino, a, false, 0, 10, wl(a, 0, 10), nil) }, nil, "aw[0,10)", "", 1},
		{"b conflicts", func() error { return lt.Lock(ino, b, false, 5, 6, wl(b, 5, 6), nil) }, unix.EAGAIN, "aw[0,10)", "", 1},
		{"d flocks apart", func() error {
			return lt.Lock(ino, d, true, 0, EOF, &testHeld{Owner: d, End: EOF, Pid: -1}, failBlock)
		}, nil, "aw[0,10)", "dr[0,EOF)", 2},
		{"d converts", func() error { lt.DropFlockOfOtherType(ino, d, true); return nil }, nil, "aw[0,10)", "", 3},
		{"a unlocks nothing held", func() error { return lt.Lock(ino, a, false, 20, 30, nil, nil) }, nil, "aw[0,10)", "", 3},
		{"a removed", func() error { lt.RemoveOwner(ino, a, true, false); return nil }, nil, "", "", 4},
		{"restore", func() error {
			lt.Restore(ino, []testHeld{*wl(a, 0, 5), *wl(a, 5, 8)}, []testHeld{{Owner: d, End: EOF}})
			return nil
		}, nil, "aw[0,8)", "dr[0,EOF)", 4},
	}
	for _, s := range steps {
		if err := s.do(); err != s.err {
			t.Fatalf("%s: %v, want %v", s.name, err, s.err)
		}
		record, flocks, _ := lt.Locks(ino)
		if got := describe(record, names); got != s.record {
			t.Errorf("%s: record locks %q, want %q", s.name, got, s.record)
		}
		if got := describe(flocks, names); got != s.flocks {
			t.Errorf("%s: flock locks %q, want %q", s.name, got, s.flocks)
		}
		if changes != s.changes {
			t.Errorf("%s: %d changes reported, want %d", s.name, changes, s.changes)
		}
	}
	if l, found := lt.Test(ino, b, false, 7, 9); !found || l.Owner != a {
		t.Errorf("Test: %v %v, want a's lock", l, found)
	}

	// b waits for a's lock; a asking for b's would close the cycle.
	if err := lt.Lock(ino, b, false, 20, 30, wl(b, 20, 30), nil); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	blocked := make(chan struct{})
	go func() {
		waiting <- lt.Lock(ino, b, false, 0, 1, wl(b, 0, 1), func(ch <-chan struct{}) error {
			close(blocked)
			<-ch
			return unix.EINTR
		})
	}()
	<-blocked
	if err := lt.Lock(ino, a, false, 25, 26, wl(a, 25, 26), failBlock); err != unix.EDEADLK {
		t.Errorf("a waiting for b while b waits for a: %v, want EDEADLK", err)
	}
	lt.RemoveOwner(ino, a, true, false)
	if err := <-waiting; err != unix.EINTR {
		t.Errorf("the waiter: %v, want the error of its wait (EINTR)", err)
	}
}
