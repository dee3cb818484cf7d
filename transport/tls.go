package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
)

// TLSFiles names the PEM files of a mutual-TLS identity: this end's
// certificate and key, and the CA bundle the other end's certificate must
// chain to. Servers require and verify client certificates; clients verify
// the server's. Every daemon and client of one deployment uses the same CA.
type TLSFiles struct {
	Cert, Key, CA string
}

// Enabled reports whether any file is named.
func (f TLSFiles) Enabled() bool { return f.Cert != "" || f.Key != "" || f.CA != "" }

func (f TLSFiles) load() (tls.Certificate, *x509.CertPool, error) {
	if f.Cert == "" || f.Key == "" || f.CA == "" {
		return tls.Certificate{}, nil, errors.New("mutual TLS needs a certificate, its key and a CA bundle (--tls-cert, --tls-key, --tls-ca)")
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("tls key pair %q, %q: %w", f.Cert, f.Key, err)
	}
	pem, err := os.ReadFile(f.CA)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("tls CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return tls.Certificate{}, nil, fmt.Errorf("tls CA bundle %q: no PEM certificate in it", f.CA)
	}
	return cert, pool, nil
}

// ServerConfig is the TLS configuration of a listener: TLS 1.3, and a
// client certificate signed by the CA is required.
func (f TLSFiles) ServerConfig() (*tls.Config, error) {
	cert, pool, err := f.load()
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}, nil
}

// ClientConfig is the TLS configuration for dialing t: the server's
// certificate must be signed by the CA and name t's host.
func (f TLSFiles) ClientConfig(t Target) (*tls.Config, error) {
	cert, pool, err := f.load()
	if err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(t.Address)
	if err != nil {
		return nil, fmt.Errorf("tls to %s: %w", t, err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ServerName:   host,
	}, nil
}

// IsLocal reports whether t can only be reached from this machine: a Unix
// socket or a loopback address.
func (t Target) IsLocal() bool {
	if t.Network == "unix" {
		return true
	}
	host, _, err := net.SplitHostPort(t.Address)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckPlaintext refuses to serve or dial t without TLS unless t is local
// or plaintext was asked for explicitly (DESIGN.md section 7: connections
// that leave the machine are authenticated and encrypted).
func CheckPlaintext(t Target, tlsFiles TLSFiles, insecure bool) error {
	if tlsFiles.Enabled() || insecure || t.IsLocal() {
		return nil
	}
	return fmt.Errorf("%s is not a loopback address or Unix socket: give --tls-cert, --tls-key and --tls-ca for mutual TLS (or --insecure to send everything in the clear)", t)
}
