package main

import (
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	in := `# load average: 0.20, 0.30, 0.40
goos: linux
BenchmarkSyscall/getppid/native-2   1   10314816 ns/op   20000 calls   300.0 ns/syscall
BenchmarkSyscall/getppid/sandbox-unix-2   1   2353707151 ns/op   4400 calls   400000 ns/syscall
BenchmarkSyscall/getppid/sandbox-unix-ptrace-2   1   2353707151 ns/op   4400 calls   500000 ns/syscall
BenchmarkSyscall/getppid/runsc-systrap-2   1   1 ns/op   20000 calls   4000 ns/syscall
BenchmarkSyscall/getppid/runsc-systrap-2   1   1 ns/op   20000 calls   3000 ns/syscall
BenchmarkSyscall/getppid/runsc-systrap-2   1   1 ns/op   20000 calls   5000 ns/syscall
BenchmarkSyscall/getppid/runsc-ptrace-2   1   1 ns/op   20000 calls   50000 ns/syscall
BenchmarkWorkload/tar4000/native-2   1   90000000 ns/op
BenchmarkWorkload/tar4000/runsc-systrap-2   1   600000000 ns/op
BenchmarkReplay/calls=1000-2   1   5 ns/op   14 records
BenchmarkHTTP/close/native-2   1   20000000 ns/op   10000 requests   50000 ns/request
BenchmarkHTTP/close/runsc-systrap-2   1   90000000 ns/op   10000 requests   100000 ns/request
`
	s, err := parse(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	write(&out, s)
	for _, want := range []string{
		"| syscall | native | sandbox-unix | sandbox-unix-ptrace | runsc-systrap | runsc-ptrace |",
		// Median of 4000, 3000, 5000; sandbox compared with runsc-systrap,
		// the ptrace column with runsc-ptrace.
		"| getppid | 300 ns (×0.07) | 400 µs (×100) | 500 µs (×10) | 4.00 µs | 50.0 µs |",
		"| tar4000 | 90.0 ms (×0.15) | 600 ms |",
		"| close | 50.0 µs (×0.50) | 100 µs |",
		"load average: 0.20, 0.30, 0.40",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "calls=1000") {
		t.Errorf("BenchmarkReplay lines should be left out:\n%s", out.String())
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
