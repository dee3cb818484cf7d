package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/url"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// TestCertBoundedUser: a mutual-TLS peer is an operator unless its
// certificate names its user (runsc-decoupled-user:UID:GID); then it may
// run only as that user, and a certificate naming one wrongly may run
// nothing.
func TestCertBoundedUser(t *testing.T) {
	s := &Server{}
	for _, tc := range []struct {
		name     string
		uris     []string
		operator bool
		// runAs is tried as uid and gid; allowed says whether it may.
		runAs   uint32
		allowed bool
	}{
		{"no name", nil, true, 0, true},
		{"other URIs", []string{"spiffe://example.org/x", "https://example.org/"}, true, 0, true},
		{"bounded, as root", []string{"runsc-decoupled-user:1000:1000"}, false, 0, false},
		{"bounded, as itself", []string{"runsc-decoupled-user:1000:1000"}, false, 1000, true},
		{"bounded among others", []string{"spiffe://example.org/x", "runsc-decoupled-user:65534:65534"}, false, 65534, true},
		{"malformed", []string{"runsc-decoupled-user:1000"}, false, 1000, false},
		{"not a number", []string{"runsc-decoupled-user:root:0"}, false, 0, false},
		{"minus one", []string{"runsc-decoupled-user:4294967295:4294967295"}, false, 4294967295, false},
		{"two names", []string{"runsc-decoupled-user:1000:1000", "runsc-decoupled-user:0:0"}, false, 1000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &x509.Certificate{Subject: pkix.Name{CommonName: "client"}}
			for _, u := range tc.uris {
				pu, err := url.Parse(u)
				if err != nil {
					t.Fatal(err)
				}
				c.URIs = append(c.URIs, pu)
			}
			ctx := peer.NewContext(context.Background(), &peer.Peer{AuthInfo: credentials.TLSInfo{
				State: tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{c}}},
			}})
			g := s.grantOf(ctx)
			if g.operator != tc.operator || g.principal != "tls:CN=client" {
				t.Fatalf("grant %+v, want operator=%v principal tls:CN=client", g, tc.operator)
			}
			err := g.MayRunAs([]uint32{tc.runAs}, []uint32{tc.runAs})
			if (err == nil) != tc.allowed || (err != nil && !errors.Is(err, unix.EPERM)) {
				t.Fatalf("MayRunAs(%d) = %v, want allowed=%v", tc.runAs, err, tc.allowed)
			}
		})
	}
}
