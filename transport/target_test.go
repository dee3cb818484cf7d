package transport

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in      string
		want    Target
		wantErr bool
	}{
		{in: "127.0.0.1:7000", want: Target{"tcp", "127.0.0.1:7000"}},
		{in: "localhost:1", want: Target{"tcp", "localhost:1"}},
		{in: "[::1]:7000", want: Target{"tcp", "[::1]:7000"}},
		{in: "unix:/run/rd/gofer.sock", want: Target{"unix", "/run/rd/gofer.sock"}},
		{in: "unix:///run/x.sock", want: Target{"unix", "/run/x.sock"}},
		{in: "unix:", wantErr: true},
		{in: "127.0.0.1", wantErr: true},
		{in: "host:", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tc := range tests {
		got, err := ParseTarget(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseTarget(%q) error = %v, wantErr %v", tc.in, err, tc.wantErr)
			continue
		}
		if err == nil && got != tc.want {
			t.Errorf("ParseTarget(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
		if err == nil {
			if back, err := ParseTarget(got.String()); err != nil || back != got {
				t.Errorf("round trip of %q: %+v, %v", tc.in, back, err)
			}
		}
	}
}

func FuzzParseTarget(f *testing.F) {
	for _, s := range []string{"127.0.0.1:7000", "unix:/x", "[::1]:1", ":", "unix:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if tg, err := ParseTarget(s); err == nil {
			if tg.Network != "unix" && tg.Network != "tcp" {
				t.Fatalf("network %q", tg.Network)
			}
			_ = tg.GRPCTarget()
		}
	})
}

func TestWaitListening(t *testing.T) {
	dir := t.TempDir()
	live := Target{Network: "unix", Address: dir + "/live.sock"}
	l, err := Listen(live)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	none := Target{Network: "unix", Address: dir + "/none.sock"}
	tests := []struct {
		name    string
		t       Target
		gone    func() error
		wantErr string
	}{
		{"listening", live, nil, ""},
		{"never listens", none, nil, "not listening on unix:" + none.Address},
		{"process gone", none, func() error { return errors.New("no such process") }, "exited before listening: no such process"},
	}
	for _, tc := range tests {
		err := WaitListening(tc.t, 100*time.Millisecond, tc.gone)
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: WaitListening = %v, want %q", tc.name, err, tc.wantErr)
		}
	}
}

func TestTargetIsLocal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"unix:/run/rd.sock", true},
		{"127.0.0.1:7000", true},
		{"127.8.9.10:7000", true},
		{"[::1]:7000", true},
		{"localhost:7000", true},
		{"10.0.0.5:7000", false},
		{"[2001:db8::1]:7000", false},
		{"server.example:7000", false},
	} {
		tg, err := ParseTarget(tc.in)
		if err != nil {
			t.Fatalf("ParseTarget(%q): %v", tc.in, err)
		}
		if got := tg.IsLocal(); got != tc.want {
			t.Errorf("%q: IsLocal = %v, want %v", tc.in, got, tc.want)
		}
	}
}
