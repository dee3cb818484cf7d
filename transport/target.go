package transport

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// Target is a parsed gRPC address: "unix:/path" or "host:port".
type Target struct {
	// Network is "unix" or "tcp".
	Network string
	// Address is the socket path or host:port.
	Address string
}

// ParseTarget parses s.
func ParseTarget(s string) (Target, error) {
	if p, ok := strings.CutPrefix(s, "unix:"); ok {
		p = strings.TrimPrefix(p, "//")
		if p == "" {
			return Target{}, fmt.Errorf("target %q: empty unix socket path", s)
		}
		return Target{Network: "unix", Address: p}, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return Target{}, fmt.Errorf("target %q: want host:port or unix:/path: %w", s, err)
	}
	if port == "" {
		return Target{}, fmt.Errorf("target %q: missing port", s)
	}
	return Target{Network: "tcp", Address: net.JoinHostPort(host, port)}, nil
}

// String returns the target in the form ParseTarget accepts.
func (t Target) String() string {
	if t.Network == "unix" {
		return "unix:" + t.Address
	}
	return t.Address
}

// GRPCTarget returns the target in gRPC's name syntax.
func (t Target) GRPCTarget() string {
	if t.Network == "unix" {
		return "unix://" + t.Address
	}
	return "passthrough:///" + t.Address
}

// Listen opens a listener on t that, on a Unix socket, accepts only peers
// of DefaultAllowedUIDs (ListenAuth).
func Listen(t Target) (net.Listener, error) {
	return ListenAuth(t, DefaultAllowedUIDs(), nil)
}

// ListenAuth opens a listener on t. A stale Unix socket file left by a
// dead process is removed first. On a Unix socket every connection's peer
// credentials are checked against allow (a refused peer is told why and
// closed; refused, if not nil, hears of it), and its identity goes with
// the connection (PeerCredentials, and the framed wire's Session context).
// TCP listeners authenticate with mutual TLS instead (tls.go).
func ListenAuth(t Target, allow AllowedUIDs, refused func(PeerIdentity)) (net.Listener, error) {
	l, err := listen(t)
	if err != nil || t.Network != "unix" {
		return l, err
	}
	return &authListener{Listener: l, allow: allow, refused: refused}, nil
}

func listen(t Target) (net.Listener, error) {
	if t.Network == "unix" {
		if fi, err := os.Lstat(t.Address); err == nil && fi.Mode()&os.ModeSocket != 0 {
			if c, err := net.Dial("unix", t.Address); err == nil {
				c.Close()
				return nil, fmt.Errorf("listen %s: address in use", t)
			}
			os.Remove(t.Address)
		}
	}
	l, err := net.Listen(t.Network, t.Address)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", t, err)
	}
	return l, nil
}

// errGone is returned by WaitListening when gone says the listener's
// process has gone.
var errGone = errors.New("exited before listening")

// WaitListening waits until something accepts connections on t. It gives
// up after timeout, or as soon as gone (if not nil) returns an error: the
// process that was to listen has exited. It polls every 10ms.
func WaitListening(t Target, timeout time.Duration, gone func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		if c, err := net.Dial(t.Network, t.Address); err == nil {
			c.Close()
			return nil
		}
		if gone != nil {
			if err := gone(); err != nil {
				return fmt.Errorf("%w: %v", errGone, err)
			}
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("not listening on %s after %v", t, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
