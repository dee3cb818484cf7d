package kernel

import (
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/fdesc"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/fdtable"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/kernel/stdio"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/pipe"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/replay"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/server/vfs"
	"github.com/runsc-decoupled/runsc-decoupled/sentry/statekey"
)

// Tracker is a client's replay.Tracker, whose effects are CallEffects,
// with the one call the kernel's code makes when an object's record
// changed (Changed) and the hooks the subsystems are given, which know
// nothing of the replay capture. A nil *Tracker ignores them (a file no
// fd table has reported yet). The records themselves are derived by the
// server from the objects it touched.
type Tracker struct {
	*replay.Tracker[*CallEffects]
}

// NewTracker returns an empty Tracker.
func NewTracker() *Tracker {
	return &Tracker{replay.NewTracker[*CallEffects]()}
}

// Changed says that obj's record changed: the next message sent to the
// client carries its value.
func (t *Tracker) Changed(obj ReplayObject) {
	if order, ok := obj.ReplayOrder(); t != nil && ok {
		t.Touch(order, obj)
	}
}

// TouchLocks, TouchMapped, TouchSysv, TouchPty and TouchPipe are Changed
// as the hooks of packages filelock, mapped, sysvipc, pty and pipe.
func (t *Tracker) TouchLocks(ino uint64)               { t.Changed(LockedIno(ino)) }
func (t *Tracker) TouchMapped(id uint64)               { t.Changed(MappedID(id)) }
func (t *Tracker) TouchSysv(key statekey.Key)          { t.Changed(SysvKey(key)) }
func (t *Tracker) TouchMqueue(key statekey.Key)        { t.Changed(MqueueKey(key)) }
func (t *Tracker) TouchPty(index int)                  { t.Changed(PtyIndex(index)) }
func (t *Tracker) TouchPipe(p *pipe.Pipe[*vfs.Dentry]) { t.Changed(PipeRef{p}) }

// TouchFile is Changed as a description's fdesc.Tracker (a description's
// record is derived in OrderFile).
func (t *Tracker) TouchFile(f *fdesc.File) {
	if t != nil && f != nil {
		t.Touch(OrderFile, f)
	}
}

// TouchSlot is Changed as the fd tables' fdtable.Tracker.
func (t *Tracker) TouchSlot(s fdtable.Slot) { t.Changed(FDSlot(s)) }

var (
	_ fdesc.Tracker   = (*Tracker)(nil)
	_ fdtable.Tracker = (*Tracker)(nil)
)

// FDSlot is an fd of a table (package fdtable's Slot) as a replay
// object.
type FDSlot fdtable.Slot

// Objects without a pointer of their own are touched as these keys.
type (
	// MappedID is a mapped file's id (package mapped).
	MappedID uint64
	// LockedIno is the inode number whose advisory locks changed.
	LockedIno uint64
	// MountID is a mount's id (package mount).
	MountID int
	// SysvKey is a SysV IPC object's key (package sysvipc).
	SysvKey statekey.Key
	// MqueueKey is a POSIX message queue's key (package mqueue).
	MqueueKey statekey.Key
	// DeletedKey is the key of an object that is gone: its record says
	// so.
	DeletedKey statekey.Key
	// PtyIndex is a pseudo-terminal's index (package pty).
	PtyIndex int
	// WBErrIno is the inode number whose kept write-behind error
	// changed (package wberr).
	WBErrIno uint64
	// SysctlValues is the one record of the writable /proc/sys values
	// (sysctl.go).
	SysctlValues struct{}
)

// PipeRef is a pipe as a replay object (the pipe is package pipe's).
type PipeRef struct{ Pipe *pipe.Pipe[*vfs.Dentry] }

// ReplayOrder places each key's record among a message's (ReplayObject).
func (FDSlot) ReplayOrder() (replay.Order, bool)     { return OrderSlot, true }
func (p PipeRef) ReplayOrder() (replay.Order, bool)  { return OrderPipe, p.Pipe != nil }
func (MappedID) ReplayOrder() (replay.Order, bool)   { return OrderMap, true }
func (LockedIno) ReplayOrder() (replay.Order, bool)  { return OrderLocks, true }
func (SysvKey) ReplayOrder() (replay.Order, bool)    { return OrderSysv, true }
func (MqueueKey) ReplayOrder() (replay.Order, bool)  { return OrderMqueue, true }
func (MountID) ReplayOrder() (replay.Order, bool)    { return OrderMount, true }
func (DeletedKey) ReplayOrder() (replay.Order, bool) { return OrderDeleted, true }
func (PtyIndex) ReplayOrder() (replay.Order, bool)   { return OrderPty, true }
func (WBErrIno) ReplayOrder() (replay.Order, bool)   { return OrderWBErr, true }

// ReplayOrder places the /proc/sys values' record (ReplayObject).
func (SysctlValues) ReplayOrder() (replay.Order, bool) { return OrderSysctl, true }

// CallEffects are the effects of one call committed with its reply (so
// that a call re-sent after a crash that lost its reply is not counted
// twice). They belong to the call that collects them, then to the
// Tracker it hands them to.
type CallEffects struct {
	// Offsets are the descriptions' offsets the call changed.
	Offsets []OffChange
	// PipeReads and PipeWrites are the call's pipe I/O; Writes its
	// writes to gofer files.
	PipeReads  []PipeIO
	PipeWrites []PipeIO
	Writes     []GoferWrite
	// StdinRead is how many bytes of the client's stdin the call read,
	// from stdio set StdinSet (buffer StdinOf; nil: set 0's).
	StdinRead uint64
	StdinSet  uint32
	StdinOf   *stdio.Stdin
	// Sysv says the call left a SysV IPC effect pending (semop, msgsnd,
	// msgrcv) that its reply commits (sysvipc.Registry.Commit).
	Sysv bool
	// Mqueue says the call left a POSIX message queue effect pending
	// (mq_timedsend, mq_timedreceive) that its reply commits
	// (mqueue.Registry.Commit).
	Mqueue bool
	// Reaped are the zombies a wait reaped: their reap is finished, and
	// their records deleted, as its reply is built.
	Reaped []*Process
	// WBErrInos are the files whose kept write-behind error the call
	// reported (package wberr), WBErrFiles the descriptions whose own
	// the call reported: their records go with its reply, so that a
	// call re-sent after its reply was lost reports them again.
	WBErrInos  []uint64
	WBErrFiles []*fdesc.File
	// ConnIO is the call's I/O on AF_UNIX connections, committed to
	// their replay counts with its reply (unixsock.Conn); Eventfds its
	// changes of eventfd counters (eventfd.File); Netlink the datagrams
	// it queued on or took from netlink sockets (netlink.File).
	ConnIO   []ConnIO
	Eventfds []EventfdChange
	Netlink  []NetlinkChange
}

// PipeIO is N bytes read from or written to Pipe (through File, at
// stream position Off for a write).
type PipeIO struct {
	Pipe *pipe.Pipe[*vfs.Dentry]
	File *fdesc.File
	Off  uint64
	N    uint64
	// Data are the bytes of a write whose call did not carry them (the
	// server copied them from another file), else nil.
	Data []byte
}

// OffChange is a file's offset after change Ver.
type OffChange struct {
	File *fdesc.File
	Ver  uint64
	Off  int64
}

// GoferWrite is N bytes written at Off of gofer file File.
type GoferWrite struct {
	File *fdesc.File
	Off  int64
	N    uint64
	// Mapped is the mapped file id of a PageWrite (0 for a system call).
	Mapped uint64
	// Data are the bytes when the call did not carry them (the server
	// copied them from another file), else nil.
	Data []byte
}
