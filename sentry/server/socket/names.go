package socket

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/sentry/socket/unix/transport"
)

// Names is a sandbox's AF_UNIX name space: which endpoint listens (or
// receives datagrams) at an abstract name or at a socket node.
type Names struct {
	// mu protects the maps.
	mu sync.Mutex
	// abstract maps abstract names to their bound endpoints.
	abstract map[string]transport.BoundEndpoint
	// nodes maps the inode number of a socket node to its endpoint.
	nodes map[uint64]transport.BoundEndpoint
}

// NewNames returns an empty name space.
func NewNames() *Names {
	return &Names{abstract: make(map[string]transport.BoundEndpoint), nodes: make(map[uint64]transport.BoundEndpoint)}
}

// BindAbstract records ep at name (EADDRINUSE if taken).
func (n *Names) BindAbstract(name string, ep transport.BoundEndpoint) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.abstract[name]; ok {
		return fmt.Errorf("abstract name %q: %w", name, unix.EADDRINUSE)
	}
	n.abstract[name] = ep
	return nil
}

// BindNode records ep at the socket node with inode ino.
func (n *Names) BindNode(ino uint64, ep transport.BoundEndpoint) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.nodes[ino] = ep
}

// LookupAbstract returns the endpoint at an abstract name (ECONNREFUSED
// if none).
func (n *Names) LookupAbstract(name string) (transport.BoundEndpoint, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ep, ok := n.abstract[name]; ok {
		return ep, nil
	}
	return nil, unix.ECONNREFUSED
}

// LookupNode returns the endpoint bound at the socket node ino
// (ECONNREFUSED if none: a node whose socket was closed, or one made
// outside this sandbox).
func (n *Names) LookupNode(ino uint64) (transport.BoundEndpoint, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if ep, ok := n.nodes[ino]; ok {
		return ep, nil
	}
	return nil, unix.ECONNREFUSED
}

// Unbind removes every name of ep (its socket was closed). The node in
// the file system stays, as on Linux.
func (n *Names) Unbind(ep transport.BoundEndpoint) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for k, v := range n.abstract {
		if v == ep {
			delete(n.abstract, k)
		}
	}
	for k, v := range n.nodes {
		if v == ep {
			delete(n.nodes, k)
		}
	}
}
