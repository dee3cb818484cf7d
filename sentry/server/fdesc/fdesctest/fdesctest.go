// Package fdesctest has a Call for the unit tests of the file kinds'
// packages, which run file operations without a server.
package fdesctest

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/runsc-decoupled/runsc-decoupled/proto/goferpb"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/auth"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/syserr"
)

// Call is an fdesc.Call of a test: its waits end when Interrupt is
// closed (ERESTARTSYS), and it records what the file kind asked of it.
// Use it from one goroutine, as a call's.
type Call struct {
	// Interrupt, if not nil, interrupts a wait when closed.
	Interrupt chan struct{}
	// SeqNo is the call's Seq; Caller its credentials; Pid its PID.
	SeqNo  uint64
	Caller auth.Creds
	Pid    int32
	// Again is what Resent returns: a call re-sent after a Restore.
	Again bool
	// SIGPIPE is set by RaiseSIGPIPE; Blocks counts the waits;
	// Wrote is the last GoferWrote's Stat; Parts counts the origins.
	SIGPIPE bool
	Blocks  int
	Wrote   *goferpb.Stat
	Parts   uint32
}

var _ fdesc.Call = (*Call)(nil)

// Block waits for ch, timeout or Interrupt.
func (c *Call) Block(ch <-chan struct{}, timeout <-chan time.Time) error {
	c.Blocks++
	select {
	case <-ch:
		return nil
	case <-timeout:
		return unix.ETIMEDOUT
	case <-c.Interrupt:
		return syserr.RestartSys
	}
}

// Seq returns SeqNo.
func (c *Call) Seq() uint64 { return c.SeqNo }

// Resent returns Again.
func (c *Call) Resent() bool { return c.Again }

// NextGoferOrigin fills o with the next part's Origin.
func (c *Call) NextGoferOrigin(o *goferpb.Origin) bool {
	o.ClientId, o.Seq, o.Part = "test", c.SeqNo, c.Parts
	c.Parts++
	return true
}

// GoferWrote records st.
func (c *Call) GoferWrote(st *goferpb.Stat) { c.Wrote = st }

// Creds returns Caller.
func (c *Call) Creds() auth.Creds { return c.Caller }

// PID returns Pid.
func (c *Call) PID() int32 { return c.Pid }

// RaiseSIGPIPE sets SIGPIPE.
func (c *Call) RaiseSIGPIPE() { c.SIGPIPE = true }
