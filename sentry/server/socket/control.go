package socket

import (
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/context"
	"gvisor.dev/gvisor/pkg/sentry/socket/unix/transport"
)

// Creds are the credentials of SCM_CREDENTIALS and SO_PEERCRED.
type Creds struct {
	Pid      int32
	Uid, Gid uint32
}

var _ transport.CredentialsControlMessage = Creds{}

// Equals implements transport.CredentialsControlMessage.
func (c Creds) Equals(o transport.CredentialsControlMessage) bool {
	oc, ok := o.(Creds)
	return ok && oc == c
}

// NobodyCreds is what a receiver with SO_PASSCRED sees for a message
// sent without credentials (Linux: pid 0, the overflow uid and gid).
var NobodyCreds = Creds{Pid: 0, Uid: 65534, Gid: 65534}

// Ref is an open file description carried by SCM_RIGHTS.
type Ref interface {
	IncRef()
	DecRef()
}

// Rights is an SCM_RIGHTS message: references to open file
// descriptions, held while the message is queued.
type Rights struct {
	Files []Ref
}

var _ transport.RightsControlMessage = (*Rights)(nil)

// Clone implements transport.RightsControlMessage.
func (r *Rights) Clone() transport.RightsControlMessage {
	for _, f := range r.Files {
		f.IncRef()
	}
	return &Rights{Files: append([]Ref(nil), r.Files...)}
}

// TransferRights implements transport.RightsControlMessage.
func (r *Rights) TransferRights() transport.RightsControlMessage {
	n := &Rights{Files: r.Files}
	r.Files = nil
	return n
}

// Release implements transport.RightsControlMessage.
func (r *Rights) Release(context.Context) {
	for _, f := range r.Files {
		f.DecRef()
	}
	r.Files = nil
}

// ids numbers endpoints for transport (its lock ordering uses them).
type ids struct{ n atomic.Uint64 }

func (i *ids) UniqueID() uint64 { return i.n.Add(1) }

// IDs is the unique-id provider of every endpoint the server makes.
var IDs = &ids{}
