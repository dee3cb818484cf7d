package server

import (
	"context"
	"crypto/x509"
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/runsc-decoupled/runsc-decoupled/transport"
)

// grant is what the deployment lets one connected peer be, from the
// identity its listener established (never from what the peer says):
// which credentials its application may run with, and whether it may see
// other clients in Debug.
type grant struct {
	// principal names the peer ("uid:1000", "tls:CN=...", "anonymous").
	// Client ids are qualified by it before they reach the gofer, so one
	// peer cannot name another's reply-cache entries.
	principal string
	// operator may start its application with any credentials and sees
	// every client in Debug.
	operator bool
	// uid and gid are the only credentials a non-operator's processes may
	// hold (its own, as the kernel reported them).
	uid, gid uint32
}

// grantOf returns the grant of ctx's peer: a Unix socket peer is an
// operator if its uid is root or in Config.OperatorUIDs, else it may run
// only as itself; a mutual-TLS peer holds a certificate of the
// deployment's CA and is an operator; a peer nothing authenticated (a
// listener started with --insecure, or an in-process server in tests) is
// an operator too: --insecure turns authentication off.
func (s *Server) grantOf(ctx context.Context) grant {
	p, _ := peer.FromContext(ctx)
	if p == nil {
		return grant{principal: "anonymous", operator: true}
	}
	switch a := p.AuthInfo.(type) {
	case transport.PeerIdentity:
		if a.Kind == "unix" {
			return grant{
				principal: "uid:" + strconv.FormatUint(uint64(a.UID), 10),
				operator:  a.UID == 0 || s.cfg.OperatorUIDs[a.UID],
				uid:       a.UID, gid: a.GID,
			}
		}
	case credentials.TLSInfo:
		if c := leaf(a.State.VerifiedChains); c != nil {
			return grant{principal: "tls:" + c.Subject.String(), operator: true}
		}
	}
	return grant{principal: "anonymous", operator: true}
}

func leaf(chains [][]*x509.Certificate) *x509.Certificate {
	if len(chains) == 0 || len(chains[0]) == 0 {
		return nil
	}
	return chains[0][0]
}

// mayRunAs reports (EPERM) whether the peer's application may hold the
// given user and group ids.
func (g grant) mayRunAs(uids []uint32, gids []uint32) error {
	if g.operator {
		return nil
	}
	for _, u := range uids {
		if u != g.uid {
			return fmt.Errorf("peer %s may run only as uid %d, not %d: %w", g.principal, g.uid, u, unix.EPERM)
		}
	}
	for _, x := range gids {
		if x != g.gid {
			return fmt.Errorf("peer %s may run only as gid %d, not %d: %w", g.principal, g.gid, x, unix.EPERM)
		}
	}
	return nil
}
