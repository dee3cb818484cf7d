package oci

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestLSMLabels checks the module labels: refused naming the field on a
// host without the module (runc fails there too), noted with it.
func TestLSMLabels(t *testing.T) {
	bundle := t.TempDir()
	if err := os.Mkdir(filepath.Join(bundle, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	saveAA, saveSE := appArmorEnabled, seLinuxEnabled
	defer func() { appArmorEnabled, seLinuxEnabled = saveAA, saveSE }()
	for _, tc := range []struct {
		name       string
		aa, se     bool
		edit       func(*specs.Spec)
		wantErr    string
		wantNoteOf string
	}{
		{name: "apparmor, no module", edit: func(s *specs.Spec) { s.Process.ApparmorProfile = "p" }, wantErr: "process.apparmorProfile"},
		{name: "apparmor, module", aa: true, edit: func(s *specs.Spec) { s.Process.ApparmorProfile = "p" }, wantNoteOf: "process.apparmorProfile p"},
		{name: "selinux, no module", aa: true, edit: func(s *specs.Spec) { s.Process.SelinuxLabel = "l" }, wantErr: "process.selinuxLabel"},
		{name: "selinux, module", se: true, edit: func(s *specs.Spec) { s.Process.SelinuxLabel = "l" }, wantNoteOf: "process.selinuxLabel l"},
		{name: "mount label, no module", aa: true, edit: func(s *specs.Spec) { s.Linux.MountLabel = "m" }, wantErr: "linux.mountLabel"},
		{name: "mount label, module", se: true, edit: func(s *specs.Spec) { s.Linux.MountLabel = "m" }, wantNoteOf: "linux.mountLabel m"},
		{name: "none", edit: func(s *specs.Spec) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			appArmorEnabled = func() bool { return tc.aa }
			seLinuxEnabled = func() bool { return tc.se }
			s := baseSpec()
			tc.edit(s)
			p, err := planFor(bundle, s)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			notes := strings.Join(p.Notes, "\n")
			if tc.wantNoteOf != "" && !strings.Contains(notes, tc.wantNoteOf) {
				t.Errorf("notes %q lack %q", notes, tc.wantNoteOf)
			}
			if tc.wantNoteOf == "" && strings.Contains(notes, "sentry serves (as runsc)") {
				t.Errorf("unexpected note: %q", notes)
			}
		})
	}
}
