package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
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

// UsesTLS reports whether connections to or from t use TLS: when files are
// named and t is TCP. A Unix socket is local and guarded by its file
// permissions; it stays plaintext.
func (f TLSFiles) UsesTLS(t Target) bool { return f.Enabled() && t.Network == "tcp" }

// DialCredentials returns the gRPC transport credentials for dialing t.
func (f TLSFiles) DialCredentials(t Target) (credentials.TransportCredentials, error) {
	if !f.UsesTLS(t) {
		return insecure.NewCredentials(), nil
	}
	cfg, err := f.ClientConfig(t)
	if err != nil {
		return nil, err
	}
	return credentials.NewTLS(cfg), nil
}

// ServerOptions returns the gRPC server options for listening on t: the
// TLS credentials, or none.
func (f TLSFiles) ServerOptions(t Target) ([]grpc.ServerOption, error) {
	if !f.UsesTLS(t) {
		return nil, nil
	}
	cfg, err := f.ServerConfig()
	if err != nil {
		return nil, err
	}
	return []grpc.ServerOption{grpc.Creds(credentials.NewTLS(cfg))}, nil
}

// ErrTLS marks a failed TLS handshake: a certificate problem, which
// retrying does not cure.
var ErrTLS = errors.New("tls handshake failed")

// CheckHandshake makes one TLS connection to t and reports why it failed,
// if it did: gRPC waiting for a server hides a certificate problem behind
// a timeout, so the first dial checks it. A server that is not up yet is
// not an error here (the caller waits for it).
func (f TLSFiles) CheckHandshake(ctx context.Context, t Target) error {
	if !f.UsesTLS(t) {
		return nil
	}
	cfg, err := f.ClientConfig(t)
	if err != nil {
		return err
	}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}
	c, err := d.DialContext(ctx, "tcp", t.Address)
	if err != nil {
		var opErr *net.OpError
		if errors.As(err, &opErr) && opErr.Op == "dial" {
			return nil // nothing listening (yet)
		}
		return fmt.Errorf("tls with %s: %w: %w", t, ErrTLS, err)
	}
	defer c.Close()
	// TLS 1.3 servers reject a client certificate after the handshake:
	// the alert arrives on the first read. A gRPC server says nothing
	// first, so a read that times out means it accepted us.
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	var b [1]byte
	if _, err := c.Read(b[:]); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("tls with %s: %w: %w", t, ErrTLS, err)
	}
	return nil
}

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

// CheckPlaintext refuses to serve or dial a TCP target t without mutual
// TLS unless plaintext was asked for explicitly: every listener
// authenticates its peer, and on TCP, loopback included (any local user
// can connect to a loopback port), only TLS can. Unix sockets
// authenticate by peer credentials instead (ListenAuth).
func CheckPlaintext(t Target, tlsFiles TLSFiles, insecure bool) error {
	if tlsFiles.Enabled() || insecure || t.Network == "unix" {
		return nil
	}
	where := "is not a Unix socket"
	if t.IsLocal() {
		where = "is a TCP port any local user can reach"
	}
	return fmt.Errorf("%s %s: give --tls-cert, --tls-key and --tls-ca for mutual TLS, use a unix: target, or --insecure to accept and send everything unauthenticated and in the clear", t, where)
}
