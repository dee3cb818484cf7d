package goferpb

import "google.golang.org/protobuf/reflect/protoreflect"

// SessionMetadataKey is the gRPC metadata key by which a call names the
// caller's session (its decimal id, from Gofer.Session).
const SessionMetadataKey = "rd-gofer-session"

// RangeHandles calls f for every Handle in m, at any depth, with the Stat
// that sits beside it in the same message (nil if none). The gofer uses it
// to give a reply's handles to the caller's session, the sentry to map
// them to its own ids; both must see every handle a reply carries, so they
// share this one walk.
func RangeHandles(m protoreflect.Message, f func(*Handle, *Stat)) {
	if rangeHandlesKnown(m.Interface(), f) {
		return
	}
	rangeHandlesReflect(m, f)
}

// rangeHandlesKnown is RangeHandles without reflection for the replies of
// the calls every file operation makes (the walk through protoreflect was
// a sixth of the gofer's CPU per open+close); it reports false for any
// other message. TestRangeHandlesKnown checks that it visits what the
// reflective walk visits, so a Handle field added to one of these
// messages fails there until it is added here.
func rangeHandlesKnown(m protoreflect.ProtoMessage, f func(*Handle, *Stat)) bool {
	switch r := m.(type) {
	case *WalkReply:
		for _, wf := range r.GetFiles() {
			if h := wf.GetHandle(); h != nil {
				f(h, wf.GetStat())
			}
		}
		if h := r.GetPath(); h != nil {
			f(h, nil) // as the reflective walk: a WalkReply has no stat
		}
	case *CreateReply:
		if h := r.GetHandle(); h != nil {
			f(h, r.GetStat())
		}
		if h := r.GetPath(); h != nil {
			f(h, r.GetStat())
		}
	case *GetdentsReply:
		rangeGetdentsHandles(r, f)
	case *MkdirReply:
		if h := r.GetHandle(); h != nil {
			f(h, r.GetStat())
		}
	case *SymlinkReply:
		if h := r.GetHandle(); h != nil {
			f(h, r.GetStat())
		}
	case *MknodReply:
		if h := r.GetHandle(); h != nil {
			f(h, r.GetStat())
		}
	case *OpenReply, *StatReply, *SetStatReply, *ReadReply, *WriteReply, *ReleaseReply,
		*FsyncReply, *LinkReply, *FallocateReply, *ReadlinkReply,
		// rm -r's: the reflective walk visited each unlink's reply and
		// each of its changed inodes, three times a call (the gofer's
		// claim and seal, the sentry's adoption of the reply's
		// handles).
		*UnlinkReply, *UnlinkManyReply, *RenameReply:
		// No handles.
	default:
		return false
	}
	return true
}

// rangeGetdentsHandles is rangeHandlesKnown of a GetdentsReply: its
// subdirectory's handle, then those of the listings of several it holds
// (GetdentsReply.subs), as the reflective walk visits them.
func rangeGetdentsHandles(r *GetdentsReply, f func(*Handle, *Stat)) {
	if wf := r.GetSub(); wf.GetHandle() != nil {
		f(wf.GetHandle(), wf.GetStat())
	}
	for _, sub := range r.GetSubs() {
		rangeGetdentsHandles(sub, f)
	}
}

func rangeHandlesReflect(m protoreflect.Message, f func(*Handle, *Stat)) {
	var st *Stat
	if fd := m.Descriptor().Fields().ByName("stat"); fd != nil && fd.Message() != nil && m.Has(fd) {
		st, _ = m.Get(fd).Message().Interface().(*Stat)
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil || fd.IsMap() {
			return true
		}
		visit := func(mv protoreflect.Message) {
			if h, ok := mv.Interface().(*Handle); ok {
				f(h, st)
				return
			}
			rangeHandlesReflect(mv, f)
		}
		if fd.IsList() {
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				visit(l.Get(i).Message())
			}
		} else {
			visit(v.Message())
		}
		return true
	})
}

// ProtocolVersion is the version of the gofer protocol this code speaks,
// sent in SessionRequest and SessionEvent. It changes when a change of the
// protocol would make an old peer misbehave rather than fail cleanly.
// (2: Getdents cookies are the host's directory positions. 3: an
// UnlinkMany may remove directories, UnlinkManyRequest.flags, which an
// older gofer would ignore and unlink them without. 4: a Getdents may
// list several subdirectories, GetdentsRequest.names, which an older
// gofer would ignore and list the directory itself.)
const ProtocolVersion = 4

// Features of a Calls stream (GoferCall.features on its first call,
// GoferResult.features on the gofer's first result).
const (
	// FeatureBefore: calls may carry posted SetStats to apply first
	// (GoferCall.before).
	FeatureBefore uint64 = 1 << 0
)

// Ran returns how many unlinks of an UnlinkManyReply ran (those it has
// a result of), from either of its forms (errnos or unlinks).
func (r *UnlinkManyReply) Ran() int {
	if n := len(r.GetErrnos()); n > 0 {
		return n
	}
	return len(r.GetUnlinks())
}

// UnlinkErrno returns the errno of the i-th unlink of an UnlinkManyReply
// (i < Ran()), from either of its forms.
func (r *UnlinkManyReply) UnlinkErrno(i int) int32 {
	if len(r.GetErrnos()) > 0 {
		return r.Errnos[i]
	}
	return r.Unlinks[i].GetErrno()
}
