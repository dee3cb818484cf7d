package statekey

import (
	"errors"
	"math"
	"sort"
	"testing"
)

// TestKeyStrings checks each kind's string, that Parse takes it back, and
// that building it allocates the string only (a reply's keys are built
// per call).
func TestKeyStrings(t *testing.T) {
	for _, tc := range []struct {
		key  Key
		want string
	}{
		{IDs(), "ids"},
		{Proc(1), "proc/1"},
		{Proc(math.MaxInt32), "proc/2147483647"},
		{Thread(42), "thread/42"},
		{FS(7), "fs/7"},
		{Sighand(8), "sig/8"},
		{Pipe(9), "pipe/9"},
		{File(math.MaxUint64), "file/18446744073709551615"},
		{FD(3, 0), "fdt/3/0"},
		{FD(12, 1048575), "fdt/12/1048575"},
		{FD(math.MaxUint64, math.MaxInt32), "fdt/18446744073709551615/2147483647"},
		{Mapped(5), "map/5"},
		{Write(99), "write/99"},
		{Lock(1234), "lock/1234"},
		{Mount(2), "mount/2"},
		{Stdin(0), "stdin"},
		{Stdin(4), "stdin/4"},
		{SysvIDs(), "sysv/ids"},
		{SysvMsg(0), "sysv/msg/0"},
		{SysvSem(3), "sysv/sem/3"},
		{SysvShm(65536), "sysv/shm/65536"},
		{Timer(10, 0), "timer/10/0"},
		{Timer(10, TimerReal), "timer/10/real"},
		{Pty(0), "pty/0"},
		{Pty(4095), "pty/4095"},
		{WBErr(77), "wberr/77"},
		{Mqueue(5), "mq/5"},
		{Sysctl(), "sysctl"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.key.String(); got != tc.want {
				t.Fatalf("String() = %q, want %q", got, tc.want)
			}
			back, err := Parse(tc.want)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.want, err)
			}
			if back != tc.key {
				t.Fatalf("Parse(%q) = %+v, want %+v", tc.want, back, tc.key)
			}
			if n := testing.AllocsPerRun(10, func() { _ = tc.key.String() }); n > 1 {
				t.Fatalf("String() allocates %.0f times, want at most once", n)
			}
			buf := make([]byte, 0, 64)
			if got := string(tc.key.AppendTo(append(buf, '>'))); got != ">"+tc.want {
				t.Fatalf("AppendTo(%q) = %q, want %q", ">", got, ">"+tc.want)
			}
			if n := testing.AllocsPerRun(10, func() { _ = tc.key.AppendTo(buf[:0]) }); n > 0 {
				t.Fatalf("AppendTo allocates %.0f times into a buffer with room, want none", n)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	for _, s := range []string{
		"", "/", "ids/", "ids/1", "proc", "proc/", "proc/-1", "proc/+1", "proc/01", "proc/1/2",
		"proc/2147483648", "proc/ 1", "proc/1 ", "proc/0x10", "thread/a", "file/18446744073709551616",
		"fdt/1", "fdt/1/", "fdt//3", "fdt/1/2147483648", "fdt/1/-1", "fdt/1/3/4",
		"stdin/", "stdin/0", "stdin/4294967296", "sysv", "sysv/", "sysv/sem", "sysv/sem/", "sysv/xxx/1",
		"sysv/sem/-1", "sysv/ids/1", "timer/1", "timer/1/", "timer/1/-1", "timer/1/reall", "timer//real",
		"mount/2147483648", "pty", "pty/", "pty/-1", "pty/07", "pty/2147483648", "wberr", "wberr/", "wberr/-1", "wberr/01", "sysctl/", "sysctl/0", "unknown/1", "PROC/1", "proc\x00/1", "invalid(0/0/0)",
	} {
		k, err := Parse(s)
		if err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", s, k)
			continue
		}
		if !errors.Is(err, ErrBadKey) {
			t.Errorf("Parse(%q) error %v does not wrap ErrBadKey", s, err)
		}
	}
}

func TestInvalidKeysDoNotEncodeAsKeys(t *testing.T) {
	for _, k := range []Key{{}, {Kind: numKinds}, {Kind: KindIDs, ID: 1}, {Kind: KindSysctl, ID: 1}, {Kind: KindProc, Sub: 1},
		{Kind: KindFD, Sub: -2}, {Kind: KindTimer, Sub: -2}, Proc(-1), Mount(-1), Pty(-1)} {
		if k.Valid() {
			t.Errorf("%+v is valid", k)
		}
		if _, err := Parse(k.String()); err == nil {
			t.Errorf("invalid key %+v encodes as %q, which parses", k, k.String())
		}
	}
}

func TestCompareOrdersKindsThenIDsNumerically(t *testing.T) {
	want := []Key{IDs(), Proc(2), Proc(10), Thread(1), FS(1), Sighand(1), Pipe(1), File(2), File(10),
		FD(1, 2), FD(1, 10), FD(2, 0), Mapped(1), Write(3), Write(20), Lock(1), Mount(1), Stdin(0), Stdin(1),
		SysvIDs(), SysvMsg(1), SysvSem(1), SysvShm(1), Timer(1, 0), Timer(1, 5), Timer(1, TimerReal), Timer(2, 0), Pty(0), Pty(3), WBErr(1), WBErr(9), Mqueue(1), Sysctl()}
	got := append([]Key(nil), want...)
	for i, j := 0, len(got)-1; i < j; i, j = i+1, j-1 {
		got[i], got[j] = got[j], got[i]
	}
	sort.Slice(got, func(i, j int) bool { return Compare(got[i], got[j]) < 0 })
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sorted[%d] = %v, want %v (all: %v)", i, got[i], want[i], got)
		}
	}
	if Compare(File(1), File(1)) != 0 {
		t.Fatal("Compare of equal keys is not 0")
	}
}

// FuzzParse: any string from the network or a log file either fails to
// parse or is the canonical encoding of the key it parses to.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"ids", "proc/1", "fdt/3/4", "timer/1/real", "sysv/shm/2", "stdin/3", "stdin", "sysctl", "proc/01", "fdt/1/-1", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrBadKey) {
				t.Fatalf("Parse(%q): error %v does not wrap ErrBadKey", s, err)
			}
			return
		}
		if !k.Valid() {
			t.Fatalf("Parse(%q) = invalid key %+v", s, k)
		}
		if k.String() != s {
			t.Fatalf("Parse(%q).String() = %q", s, k.String())
		}
	})
}
