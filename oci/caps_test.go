package oci

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestProcessCapabilities(t *testing.T) {
	for _, tc := range []struct {
		name string
		caps *specs.LinuxCapabilities
		want *Caps
		err  string
	}{
		{"none", nil, nil, ""},
		{"docker default subset", &specs.LinuxCapabilities{
			Bounding:  []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"},
			Effective: []string{"CAP_CHOWN", "CAP_KILL"},
			Permitted: []string{"CAP_CHOWN", "CAP_KILL"},
			Ambient:   []string{"CAP_KILL"},
		}, &Caps{Bounding: 1<<0 | 1<<5 | 1<<10, Effective: 1<<0 | 1<<5, Permitted: 1<<0 | 1<<5, Ambient: 1 << 5}, ""},
		{"highest and lower case", &specs.LinuxCapabilities{Inheritable: []string{"cap_checkpoint_restore"}},
			&Caps{Inheritable: 1 << 40}, ""},
		{"setuid", &specs.LinuxCapabilities{Effective: []string{"CAP_SETUID"}}, &Caps{Effective: 1 << 7}, ""},
		{"unknown", &specs.LinuxCapabilities{Effective: []string{"CAP_NOPE", "CAP_SETUID"}}, nil, `"CAP_NOPE": unknown capability`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _, err := ProcessFrom(&specs.Process{Args: []string{"/bin/true"}, Cwd: "/", Capabilities: tc.caps}, "process")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (p.Caps == nil) != (tc.want == nil) || (p.Caps != nil && *p.Caps != *tc.want) {
				t.Errorf("caps %+v, want %+v", p.Caps, tc.want)
			}
		})
	}
}
