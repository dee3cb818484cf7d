package e2e

import (
	"strings"
	"testing"

	"github.com/runsc-decoupled/runsc-decoupled/test/pki"
	tu "github.com/runsc-decoupled/runsc-decoupled/test/testutil"
)

// TestMutualTLS: a server on TCP with mutual TLS serves a client with a
// certificate of its CA, and refuses one of another CA; a daemon will not
// serve plaintext on a non-loopback address.
func TestMutualTLS(t *testing.T) {
	tu.RequireRoot(t)
	dir := t.TempDir()
	p, err := pki.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	g := tu.StartDaemon(t, dir, "gofer", "gofer", "--root", "/")
	s := tu.StartDaemonTCP(t, "server", "--gofer", g.Target, "--tls-cert", p.Server.Cert, "--tls-key", p.Server.Key, "--tls-ca", p.CA)
	tlsFlags := func(id pki.Identity) []string {
		return []string{"--server", s.Target, "--tls-cert", id.Cert, "--tls-key", id.Key, "--tls-ca", p.CA}
	}

	got := tu.Sandbox(t, timeout, dir, "", tlsFlags(p.Client), tu.Busybox, "sh", "-c", "echo over tls; ls /etc | head -1")
	want := tu.Run(t, timeout, dir, "", tu.Busybox, "sh", "-c", "echo over tls; ls /etc | head -1")
	compare(t, want, got)

	for _, tc := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"certificate of another CA", tlsFlags(p.Rogue), "tls with " + s.Target},
		{"no key", []string{"--server", s.Target, "--tls-cert", p.Client.Cert, "--tls-ca", p.CA}, "needs a certificate, its key and a CA"},
		{"plaintext to a non-loopback address", []string{"--server", "192.0.2.1:7000"}, "--tls-cert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tu.Sandbox(t, timeout, dir, "", tc.flags, tu.Busybox, "true")
			if r.ExitCode == 0 || !strings.Contains(r.Stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want a failure mentioning %q", r.ExitCode, r.Stderr, tc.want)
			}
		})
	}
	t.Run("daemon refuses plaintext on a non-loopback address", func(t *testing.T) {
		r := tu.Run(t, timeout, dir, "", tu.Binary(t), "server", "--listen", "0.0.0.0:0", "--gofer", g.Target)
		if r.ExitCode == 0 || !strings.Contains(r.Stderr, "--tls-cert") {
			t.Fatalf("exit %d, stderr %q", r.ExitCode, r.Stderr)
		}
	})
}
