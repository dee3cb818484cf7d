package transport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runsc-decoupled/runsc-decoupled/test/pki"
)

func TestCheckPlaintext(t *testing.T) {
	for _, tc := range []struct {
		target   string
		tls      bool
		insecure bool
		ok       bool
	}{
		{target: "unix:/run/rd.sock", ok: true},
		// Any local user reaches a loopback port: TLS is required there too.
		{target: "127.0.0.1:7000"},
		{target: "127.5.0.1:7000"},
		{target: "[::1]:7000"},
		{target: "localhost:7000"},
		{target: "127.0.0.1:7000", tls: true, ok: true},
		{target: "127.0.0.1:7000", insecure: true, ok: true},
		{target: "0.0.0.0:7000"},
		{target: "10.1.2.3:7000"},
		{target: "[::]:7000"},
		{target: "rd.example.com:7000"},
		{target: "10.1.2.3:7000", tls: true, ok: true},
		{target: "10.1.2.3:7000", insecure: true, ok: true},
	} {
		tgt, err := ParseTarget(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		var f TLSFiles
		if tc.tls {
			f = TLSFiles{Cert: "c", Key: "k", CA: "a"}
		}
		err = CheckPlaintext(tgt, f, tc.insecure)
		if (err == nil) != tc.ok {
			t.Errorf("CheckPlaintext(%s, tls=%v, insecure=%v) = %v, want ok=%v", tc.target, tc.tls, tc.insecure, err, tc.ok)
		}
	}
}

func TestTLSFilesErrors(t *testing.T) {
	dir := t.TempDir()
	p, err := pki.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "garbage")
	os.WriteFile(notPEM, []byte("not a certificate"), 0o600)
	tgt, _ := ParseTarget("127.0.0.1:1")
	for _, tc := range []struct {
		name string
		f    TLSFiles
		want string
	}{
		{"complete", TLSFiles{Cert: p.Server.Cert, Key: p.Server.Key, CA: p.CA}, ""},
		{"no CA", TLSFiles{Cert: p.Server.Cert, Key: p.Server.Key}, "needs a certificate, its key and a CA"},
		{"no key", TLSFiles{Cert: p.Server.Cert, CA: p.CA}, "needs a certificate, its key and a CA"},
		{"missing file", TLSFiles{Cert: p.Server.Cert + ".nope", Key: p.Server.Key, CA: p.CA}, "no such file"},
		{"key of another cert", TLSFiles{Cert: p.Server.Cert, Key: p.Client.Key, CA: p.CA}, "key pair"},
		{"CA not PEM", TLSFiles{Cert: p.Server.Cert, Key: p.Server.Key, CA: notPEM}, "no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err1 := tc.f.ServerConfig()
			_, err2 := tc.f.ClientConfig(tgt)
			for _, err := range []error{err1, err2} {
				if tc.want == "" && err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
					t.Fatalf("error %v, want one containing %q", err, tc.want)
				}
			}
		})
	}
}
