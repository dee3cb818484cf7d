package transport

import "testing"

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
