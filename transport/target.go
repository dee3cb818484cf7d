package transport

import (
	"fmt"
	"net"
	"os"
	"strings"
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

// Listen opens a listener on t. A stale Unix socket file left by a dead
// process is removed first.
func Listen(t Target) (net.Listener, error) {
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
