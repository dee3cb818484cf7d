package main

import (
	"errors"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestProgramDevices(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	for _, tc := range []struct {
		name    string
		rules   []specs.LinuxDeviceCgroup
		want    []string // file: rule, before sandboxDevices
		wantErr string
	}{
		{
			name: "in the listed order",
			rules: []specs.LinuxDeviceCgroup{
				{Allow: false, Access: "rwm"},
				{Allow: true, Type: "c", Major: n(10), Minor: n(229), Access: "rwm"},
				{Allow: true, Type: "b", Major: n(8), Minor: n(20), Access: "rw"},
				{Allow: false, Type: "c", Major: n(1), Access: "w"},
			},
			want: []string{"devices.deny: a", "devices.allow: c 10:229 rwm", "devices.allow: b 8:20 rw", "devices.deny: c 1:* w"},
		},
		{
			name:  "defaults: every device, all access",
			rules: []specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Major: n(5)}},
			want:  []string{"devices.allow: c 5:* rwm"},
		},
		{name: "bad type", rules: []specs.LinuxDeviceCgroup{{Type: "p"}}, wantErr: `devices[0]: type "p"`},
		{name: "bad access", rules: []specs.LinuxDeviceCgroup{{Allow: true}, {Type: "c", Access: "rx"}}, wantErr: `devices[1]: access "rx"`},
		{name: "refused by the kernel", rules: []specs.LinuxDeviceCgroup{{Allow: true, Type: "b", Major: n(7), Minor: n(0), Access: "r"}}, wantErr: `devices[0] (devices.allow "b 7:0 r"): operation not permitted`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			err := programDevices(tc.rules, func(file, rule string) error {
				if rule == "b 7:0 r" {
					return errors.New("operation not permitted")
				}
				got = append(got, file+": "+rule)
				return nil
			})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var own []string
			for _, d := range sandboxDevices {
				own = append(own, "devices.allow: "+d)
			}
			if want := append(tc.want, own...); !slices.Equal(got, want) {
				t.Errorf("wrote %q, want %q", got, want)
			}
		})
	}
}
