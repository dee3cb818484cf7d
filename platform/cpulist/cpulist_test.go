package cpulist

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func cpus(list ...int) unix.CPUSet {
	var set unix.CPUSet
	for _, c := range list {
		set.Set(c)
	}
	return set
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    unix.CPUSet
		wantErr string
		format  string
	}{
		{in: "0", want: cpus(0), format: "0"},
		{in: "1,3", want: cpus(1, 3), format: "1,3"},
		{in: "0-3,6", want: cpus(0, 1, 2, 3, 6), format: "0-3,6"},
		{in: " 2 - 3 , 5", want: cpus(2, 3, 5), format: "2-3,5"},
		{in: "4,1-2,2", want: cpus(1, 2, 4), format: "1-2,4"},
		{in: "1023", want: cpus(1023), format: "1023"},
		{in: "", wantErr: "empty CPU list"},
		{in: "1,", wantErr: `"" is not a CPU number`},
		{in: "a", wantErr: `"a" is not a CPU number`},
		{in: "-1", wantErr: `"" is not a CPU number`},
		{in: "3-1", wantErr: `range "3-1" ends before it starts`},
		{in: "1-2-3", wantErr: `"2-3" is not a CPU number`},
		{in: "1024", wantErr: "CPU 1024 is beyond"},
		{in: "99999999999", wantErr: "is not a CPU number"},
	} {
		got, err := Parse(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Parse(%q) = %v, %v; want error containing %q", tc.in, Format(got), err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %s, %v; want %s", tc.in, Format(got), err, Format(tc.want))
			continue
		}
		if f := Format(got); f != tc.format {
			t.Errorf("Format(Parse(%q)) = %q, want %q", tc.in, f, tc.format)
		}
	}
}

// FuzzParse: any input is an error or a non-empty set that
// formats to a list parsing back to the same set.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"0", "0-3,6", "3-1", "", ",", "1-", "1023", "0-1023"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := Parse(s)
		if err != nil {
			return
		}
		if set.Count() == 0 {
			t.Fatalf("Parse(%q) gave an empty set without an error", s)
		}
		again, err := Parse(Format(set))
		if err != nil || again != set {
			t.Fatalf("round trip of %q through %q: %v, %v", s, Format(set), Format(again), err)
		}
	})
}
