package kernel

import (
	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
)

// A process's capability sets as a Hello or a replay record carries them
// (the system calls that change them are the server's caps.go).

// capsFromProto returns the sets pb describes (nil: initialCaps(uid)),
// limited to the capabilities this kernel knows.
func capsFromProto(pb *sentrypb.CapSets, uid uint32) auth.CapSets {
	if pb == nil {
		return auth.InitialCaps(uid)
	}
	return auth.CapSets{
		Effective: pb.Effective & auth.CapAll, Permitted: pb.Permitted & auth.CapAll,
		Inheritable: pb.Inheritable & auth.CapAll, Bounding: pb.Bounding & auth.CapAll,
		Ambient: pb.Ambient & auth.CapAll, Securebits: pb.Securebits & auth.SecbitsAll,
	}
}

// CapsProto is cs as a replay record carries it.
func CapsProto(cs auth.CapSets) *sentrypb.CapSets {
	return &sentrypb.CapSets{
		Effective: cs.Effective, Permitted: cs.Permitted, Inheritable: cs.Inheritable,
		Bounding: cs.Bounding, Ambient: cs.Ambient, Securebits: cs.Securebits,
	}
}
