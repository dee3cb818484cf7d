package handlebind

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"hash"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/sentrypb"
)

// TagLen is the length of the tag that binds a file handle to a
// client (a truncated HMAC-SHA256).
const TagLen = 16

// Binder binds the gofer file handles a client sees in its state
// records (and gives back in Restore and Rewrite) to that client. The
// gofer accepts any handle its key sealed from this server; without the
// binding a client that learned another client's handle (the records
// travel through the client) could have the server reopen the other's
// file in a Restore. The tag is keyed by the gofer's binding key for this
// server's identity (AttachReply.binding_key), so every server of that
// identity, and a restarted one, checks it alike; it covers the client's
// qualified id. Immutable (its pool of HMAC states has its own lock).
type Binder struct {
	// key is AttachReply.binding_key; empty (a gofer without one) binds
	// nothing.
	key []byte
	// prefix is the qualified client id the tags cover and a 0 byte.
	prefix []byte
	// macs are reusable HMAC states under key (*tagState): a state made
	// per tag was 7 of the ~260 allocations of an open+close.
	macs *sync.Pool
}

// tagState is an HMAC state under a Binder's key and room for its sum.
type tagState struct {
	m   hash.Hash
	sum [sha256.Size]byte
}

// New returns the binder of client (its qualified id) under the gofer's
// binding key (empty: a gofer without one, whose handles are not bound).
func New(key []byte, client string) Binder {
	return Binder{key: key, prefix: append([]byte(client), 0), macs: &sync.Pool{New: func() any {
		return &tagState{m: hmac.New(sha256.New, key)}
	}}}
}

// appendTag appends fh's tag to dst.
func (b Binder) appendTag(dst, fh []byte) []byte {
	ts := b.macs.Get().(*tagState)
	ts.m.Reset()
	ts.m.Write(b.prefix)
	ts.m.Write(fh)
	dst = append(dst, ts.m.Sum(ts.sum[:0])[:TagLen]...)
	b.macs.Put(ts)
	return dst
}

// Bind returns fh followed by its tag (a new slice; fh is not changed).
func (b Binder) Bind(fh []byte) []byte {
	if len(b.key) == 0 || len(fh) == 0 {
		return fh
	}
	out := make([]byte, 0, len(fh)+TagLen)
	return b.appendTag(append(out, fh...), fh)
}

// Unbind checks the tag of a handle the client gave back and returns the
// gofer's handle: EPERM for a handle not given to this client.
func (b Binder) Unbind(bound []byte) ([]byte, error) {
	if len(b.key) == 0 || len(bound) == 0 {
		return bound, nil
	}
	if len(bound) <= TagLen {
		return nil, fmt.Errorf("file handle of %d bytes: %w", len(bound), unix.EPERM)
	}
	fh, tag := bound[:len(bound)-TagLen], bound[len(bound)-TagLen:]
	var want [TagLen]byte
	if !hmac.Equal(tag, b.appendTag(want[:0], fh)) {
		return nil, fmt.Errorf("file handle not given to this client: %w", unix.EPERM)
	}
	return fh, nil
}

// BindRecords binds every file handle in recs, which are on their way to
// the client.
func (b Binder) BindRecords(recs []*sentrypb.StateRecord) {
	if len(b.key) == 0 {
		return
	}
	for _, r := range recs {
		switch v := r.GetValue().(type) {
		case *sentrypb.StateRecord_File:
			if f := v.File; f != nil {
				f.FileHandle = b.Bind(f.FileHandle)
				for _, w := range f.GetKobj().GetInotifyWatches() {
					if w != nil {
						w.FileHandle = b.Bind(w.FileHandle)
					}
				}
			}
		case *sentrypb.StateRecord_Fs:
			if v.Fs != nil {
				v.Fs.CwdHandle = b.Bind(v.Fs.CwdHandle)
			}
		case *sentrypb.StateRecord_Mapped:
			if v.Mapped != nil {
				v.Mapped.FileHandle = b.Bind(v.Mapped.FileHandle)
			}
		}
	}
}

// UnbindRecords checks and strips the tags of every file handle in recs,
// which came from the client (Restore).
func (b Binder) UnbindRecords(recs []*sentrypb.StateRecord) error {
	if len(b.key) == 0 {
		return nil
	}
	var err error
	unbind := func(fh *[]byte) {
		if err == nil {
			*fh, err = b.Unbind(*fh)
		}
	}
	for _, r := range recs {
		switch v := r.GetValue().(type) {
		case *sentrypb.StateRecord_File:
			if f := v.File; f != nil {
				unbind(&f.FileHandle)
				for _, w := range f.GetKobj().GetInotifyWatches() {
					if w != nil {
						unbind(&w.FileHandle)
					}
				}
			}
		case *sentrypb.StateRecord_Fs:
			if v.Fs != nil {
				unbind(&v.Fs.CwdHandle)
			}
		case *sentrypb.StateRecord_Mapped:
			if v.Mapped != nil {
				unbind(&v.Mapped.FileHandle)
			}
		}
		if err != nil {
			return fmt.Errorf("record %q: %w", r.GetKey(), err)
		}
	}
	return nil
}
