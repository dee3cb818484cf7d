// Package pki makes throwaway certificate authorities and certificates for
// the mutual-TLS tests. It depends only on the standard library.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Identity is the PEM files of one certificate and its key.
type Identity struct{ Cert, Key string }

// Files are a CA and the identities it signed, written to a directory.
type Files struct {
	CA             string
	Server, Client Identity
	// Rogue is a client identity signed by another CA.
	Rogue Identity
	// Nobody is a client identity bounded to uid and gid 65534 by a
	// runsc-decoupled-user name.
	Nobody Identity
}

type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

var serial int64

// newTemplate returns a fresh key and a certificate template for name,
// valid from an hour ago for a day.
func newTemplate(name string) (*ecdsa.PrivateKey, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial++
	return key, &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}, nil
}

func newAuthority(name string) (*authority, error) {
	key, tmpl, err := newTemplate(name)
	if err != nil {
		return nil, err
	}
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &authority{cert: cert, key: key, der: der}, nil
}

// issue signs a leaf certificate for name valid for hosts (IPs, DNS
// names, or URIs such as runsc-decoupled-user:UID:GID) and writes it and
// its key under dir.
func (a *authority) issue(dir, name string, hosts []string) (Identity, error) {
	key, tmpl, err := newTemplate(name)
	if err != nil {
		return Identity{}, err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if strings.Contains(h, ":") {
			u, err := url.Parse(h)
			if err != nil {
				return Identity{}, err
			}
			tmpl.URIs = append(tmpl.URIs, u)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return Identity{}, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return Identity{}, err
	}
	id := Identity{Cert: filepath.Join(dir, name+".pem"), Key: filepath.Join(dir, name+"-key.pem")}
	if err := writePEM(id.Cert, "CERTIFICATE", der); err != nil {
		return Identity{}, err
	}
	return id, writePEM(id.Key, "EC PRIVATE KEY", kb)
}

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

// Write makes a CA, a server identity for hosts (127.0.0.1 and localhost
// if none), a client identity, and a client identity of another CA, under
// dir.
func Write(dir string, hosts ...string) (Files, error) {
	if len(hosts) == 0 {
		hosts = []string{"127.0.0.1", "::1", "localhost"}
	}
	ca, err := newAuthority("runsc-decoupled test CA")
	if err != nil {
		return Files{}, fmt.Errorf("pki: %w", err)
	}
	f := Files{CA: filepath.Join(dir, "ca.pem")}
	if err := writePEM(f.CA, "CERTIFICATE", ca.der); err != nil {
		return Files{}, err
	}
	if f.Server, err = ca.issue(dir, "server", hosts); err != nil {
		return Files{}, err
	}
	if f.Client, err = ca.issue(dir, "client", nil); err != nil {
		return Files{}, err
	}
	if f.Nobody, err = ca.issue(dir, "nobody", []string{"runsc-decoupled-user:65534:65534"}); err != nil {
		return Files{}, err
	}
	rogue, err := newAuthority("rogue CA")
	if err != nil {
		return Files{}, err
	}
	if f.Rogue, err = rogue.issue(dir, "rogue", nil); err != nil {
		return Files{}, err
	}
	return f, nil
}
