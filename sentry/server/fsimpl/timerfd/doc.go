// Package timerfd is the timerfd file kind (gVisor's fsimpl/timerfd, by
// way of kobj.Timerfd) on one of the application's clocks (ktimer): a
// timerfd's description, its reads of the expiration count, blocking
// until one, and its readiness.
//
// What it owns: File, the kind (its timer and clock id are immutable;
// the setting has the timer's own lock). The system calls that make,
// arm and read one are package syscalls' (timerfd.go), the replay record
// (clock, setting, from Get and ClockID) the server's.
//
// Dependencies: fdesc (the description and the call), fsimpl/anon (the
// anonymous inode, blocking), kobj, ktimer (the application's clocks),
// gVisor's sentry/ktime (settings).
// Nothing of the server package.
//
// Who imports it: the server package and package syscalls.
//
// Lock order: the timer's lock is gVisor's, a leaf but for its queue's,
// whose notifications take only kobj.Watch.mu (a leaf).
package timerfd
