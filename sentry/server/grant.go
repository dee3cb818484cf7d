package server

import (
	"context"
	"crypto/x509"
	"fmt"
	"strconv"
	"strings"

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
	// hold (its own, as the kernel reported them, or its certificate's).
	uid, gid uint32
	// refused, when set, says why the peer may run nothing at all (a
	// certificate naming its user wrongly).
	refused string
}

// CertUserScheme is the URI scheme of the subject alternative name by
// which a client certificate bounds its holder to one user:
// "runsc-decoupled-user:UID:GID". A mutual-TLS peer whose certificate has
// one runs only as that uid and gid, like a Unix socket peer that is not
// an operator; without one it is an operator.
const CertUserScheme = "runsc-decoupled-user"

// certUser returns the user c's CertUserScheme name bounds its holder to;
// ok is false if it has none, err set if it names one wrongly or more
// than one.
func certUser(c *x509.Certificate) (uid, gid uint32, ok bool, err error) {
	for _, u := range c.URIs {
		if u.Scheme != CertUserScheme {
			continue
		}
		if ok {
			return 0, 0, false, fmt.Errorf("more than one %s name", CertUserScheme)
		}
		us, gs, found := strings.Cut(u.Opaque, ":")
		uid64, uerr := strconv.ParseUint(us, 10, 32)
		gid64, gerr := strconv.ParseUint(gs, 10, 32)
		// (uid_t)-1 means "unchanged" to set*id: never a user.
		if !found || uerr != nil || gerr != nil || uid64 == 1<<32-1 || gid64 == 1<<32-1 {
			return 0, 0, false, fmt.Errorf("%s name %q: want %s:UID:GID", CertUserScheme, u.String(), CertUserScheme)
		}
		uid, gid, ok = uint32(uid64), uint32(gid64), true
	}
	return uid, gid, ok, nil
}

// grantOf returns the grant of ctx's peer: a Unix socket peer is an
// operator if its uid is root or in Config.OperatorUIDs, else it may run
// only as itself; a mutual-TLS peer holds a certificate of the
// deployment's CA and is an operator unless the certificate bounds it to
// one user (CertUserScheme); a peer nothing authenticated (a
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
			g := grant{principal: "tls:" + c.Subject.String(), operator: true}
			uid, gid, bounded, err := certUser(c)
			switch {
			case err != nil:
				g.operator, g.refused = false, err.Error()
			case bounded:
				g.operator, g.uid, g.gid = false, uid, gid
			}
			return g
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

// Principal names the peer (kernel.Grant).
func (g grant) Principal() string { return g.principal }

// MayRunAs reports (EPERM) whether the peer's application may hold the
// given user and group ids (kernel.Grant).
func (g grant) MayRunAs(uids []uint32, gids []uint32) error {
	if g.operator {
		return nil
	}
	if g.refused != "" {
		return fmt.Errorf("peer %s may run nothing: its certificate's %s: %w", g.principal, g.refused, unix.EPERM)
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
