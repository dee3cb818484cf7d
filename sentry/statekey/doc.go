// Package statekey names the records of the replay state: the key of a
// sentrypb.StateRecord, which says which kernel object (a process, an fd
// of an fd table, an open file description, a pipe, a retained write,
// ...) the record describes. The compacted replay log keeps one record per
// key, so the remote sentry (which derives the records) and the client
// sentry (which folds, orders and looks them up) must agree on the keys
// exactly; this package is the only place that spells them.
//
// A Key is typed (a Kind and its ids) and comparable, so it serves as a
// map key. On the wire and in the client's durable log a key is the
// string Key.String returns ("fdt/<table>/<fd>", "proc/<pid>", ...),
// unchanged from the format used before this package existed, so logs
// written earlier still read. Parse is the only decoder: it accepts
// exactly the strings String produces (canonical decimal ids, no sign,
// no leading zeros) and returns an error for anything else, since a key
// arrives from the network or from a file on disk.
//
// Dependencies: the standard library only. Both sentries and their
// subpackages import this package; it imports neither. No state, no locks.
package statekey
