package kernel

import "gvisor.dev/gvisor/pkg/abi/linux"

// I/O priorities (ioprio_set, ioprio_get) are a field of each thread's
// SchedAttr, as Linux keeps them in its io_context: set per thread,
// copied to a child, reported back; the host's I/O does not follow them.

// ioprioDataMask is the priority's data bits (IOPRIO_PRIO_DATA), below
// the class.
const ioprioDataMask = 1<<linux.IOPRIO_CLASS_SHIFT - 1

// ioprioLevels is IOPRIO_NR_LEVELS: the levels of the RT and BE classes.
const ioprioLevels = 8

// IOPrioDefault is what a thread with no I/O priority counts as when
// ioprio_get compares several threads' (Linux's ioprio_best:
// IOPRIO_CLASS_BE, level IOPRIO_BE_NORM).
const IOPrioDefault = linux.IOPRIO_CLASS_BE<<linux.IOPRIO_CLASS_SHIFT | 4

// IOPrioClass is v's class.
func IOPrioClass(v uint16) uint16 { return v >> linux.IOPRIO_CLASS_SHIFT }

// ValidIOPrio says v is an I/O priority ioprio_set takes from a
// privileged caller, as the kernel the sandbox reports (6.1) checks it
// (ioprio_check_cap): a known class, a level below 8 for RT and BE, no
// data for IOPRIO_CLASS_NONE. (Linux 6.5 took the bits above the level as
// hints: 6.18 accepts BE with data 8, which 6.1 refuses, as LTP's
// ioprio_set03 expects.)
func ValidIOPrio(v uint16) bool {
	data := v & ioprioDataMask
	switch IOPrioClass(v) {
	case linux.IOPRIO_CLASS_RT, linux.IOPRIO_CLASS_BE:
		return data < ioprioLevels
	case linux.IOPRIO_CLASS_IDLE:
		return true
	case linux.IOPRIO_CLASS_NONE:
		return data == 0
	}
	return false
}

// BestIOPrio is the higher of two threads' I/O priorities, a thread with
// none counting as IOPrioDefault (Linux's ioprio_best).
func BestIOPrio(a, b uint16) uint16 {
	if IOPrioClass(a) == linux.IOPRIO_CLASS_NONE {
		a = IOPrioDefault
	}
	if IOPrioClass(b) == linux.IOPRIO_CLASS_NONE {
		b = IOPrioDefault
	}
	return min(a, b)
}

// IOPrioThreadsLocked returns the threads ioprio_set and ioprio_get act
// on: with which IOPRIO_WHO_PROCESS the thread who (the caller's when 0),
// IOPRIO_WHO_PGRP every thread of process group who (the caller's),
// IOPRIO_WHO_USER every thread of the processes whose real user is who
// (root's when 0, as Linux). ok is false for another which. Precondition:
// k.Mu is held.
func (k *Kernel) IOPrioThreadsLocked(caller *Thread, which, who int32) (ts []*Thread, ok bool) {
	switch which {
	case linux.IOPRIO_WHO_PROCESS:
		return k.ThreadsMatchingLocked(caller, linux.PRIO_PROCESS, who)
	case linux.IOPRIO_WHO_PGRP:
		return k.ThreadsMatchingLocked(caller, linux.PRIO_PGRP, who)
	case linux.IOPRIO_WHO_USER:
		return k.threadsOfUserLocked(uint32(who)), true
	}
	return nil, false
}
