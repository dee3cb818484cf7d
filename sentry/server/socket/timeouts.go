package socket

import (
	"encoding/binary"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Timeouts are a socket's SO_RCVTIMEO and SO_SNDTIMEO, shared by every
// socket kind (AF_UNIX and inet).
type Timeouts struct {
	// mu protects rcv and snd. It is a leaf lock.
	mu sync.Mutex
	// rcv and snd bound a blocking receive and send (0: no bound).
	rcv, snd time.Duration
}

// Deadline is when a blocking send (or receive) started now gives up, or
// the zero time for none.
func (t *Timeouts) Deadline(send bool) time.Time {
	t.mu.Lock()
	d := t.rcv
	if send {
		d = t.snd
	}
	t.mu.Unlock()
	if d <= 0 {
		return time.Time{}
	}
	return time.Now().Add(d)
}

// Get returns option name (SO_RCVTIMEO or SO_SNDTIMEO) as a struct timeval.
func (t *Timeouts) Get(name int) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return timevalBytes(*t.fieldLocked(name))
}

// Set sets option name from the struct timeval v, as Linux checks it.
func (t *Timeouts) Set(name int, v []byte) error {
	if len(v) < 16 {
		return unix.EINVAL
	}
	sec, usec := int64(binary.LittleEndian.Uint64(v)), int64(binary.LittleEndian.Uint64(v[8:]))
	if usec < 0 || usec >= 1e6 {
		return unix.EDOM
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	*t.fieldLocked(name) = time.Duration(max(sec, 0))*time.Second + time.Duration(usec)*time.Microsecond
	return nil
}

// fieldLocked is the field of option name. Precondition: t.mu is held.
func (t *Timeouts) fieldLocked(name int) *time.Duration {
	if name == unix.SO_SNDTIMEO {
		return &t.snd
	}
	return &t.rcv
}

// timevalBytes encodes d as a struct timeval.
func timevalBytes(d time.Duration) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(d/time.Second))
	return binary.LittleEndian.AppendUint64(b, uint64(d%time.Second/time.Microsecond))
}
