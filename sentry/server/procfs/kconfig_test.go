package procfs

import (
	"bytes"
	"compress/gzip"
	"io"
	"strings"
	"testing"
)

func TestConfigGz(t *testing.T) {
	e, ok := Lookup(Top, "", "config.gz")
	if !ok || e.Kind != File || e.Mode != 0444 {
		t.Fatalf("Lookup(config.gz) = %+v, %v; want a file with mode 0444", e, ok)
	}
	gz, err := Generate(&fakeSource{}, Top, "config.gz", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Generate(&fakeSource{}, Top, "config.gz", 0, 0)
	if err != nil || !bytes.Equal(gz, again) {
		t.Fatalf("a second read differs (err %v)", err)
	}
	r, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	text, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	lines := map[string]bool{}
	for _, l := range strings.Split(string(text), "\n") {
		lines[l] = true
	}
	for _, tc := range []struct {
		line string
		want bool
	}{
		{"# Linux/x86 6.1.0 Kernel Configuration (runsc-decoupled)", true},
		{"CONFIG_EVENTFD=y", true},
		{"CONFIG_TMPFS=y", true},
		{"CONFIG_SECCOMP_FILTER=y", true},
		{"# CONFIG_USER_NS is not set", true},
		{"# CONFIG_PID_NS is not set", true},
		{"# CONFIG_DNOTIFY is not set", true},
		{"CONFIG_USER_NS=y", false},
		{"CONFIG_AIO=y", false},
	} {
		if lines[tc.line] != tc.want {
			t.Errorf("line %q present: %v, want %v", tc.line, lines[tc.line], tc.want)
		}
	}
	seen := map[string]bool{}
	for _, o := range kernelConfig {
		if seen[o.name] || !strings.HasPrefix(o.name, "CONFIG_") {
			t.Errorf("option %q repeated or misnamed", o.name)
		}
		seen[o.name] = true
	}
}
