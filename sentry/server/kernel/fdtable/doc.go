// Package fdtable is a process's file descriptor table (gVisor's
// kernel.FDTable): the map from fd numbers to open file descriptions
// (fdesc.File) with each fd's close-on-exec flag, shared by the processes
// created with CLONE_FILES.
//
// What it owns: the slots (fds below 1024 in an array, higher ones in a
// map, so that one fd near nr_open costs one entry), the lowest-free-fd
// hint, the table's RLIMIT_NOFILE (a value the kernel sets: prlimit64,
// Start, Restore), its count of users and its replay id. The rules it
// applies: the lowest free fd at or above a minimum (open, F_DUPFD),
// EINVAL for F_DUPFD at or above the limit, EMFILE when full, EBADF for
// dup2 at or above it, the exact fd of a posted open (InstallExact:
// EMFILE at or above the limit, EBUSY on an open fd), close-on-exec, the copy of fork and the unsharing
// of exec and of close_range, and close_range's closes and close-on-exec
// flags of the open fds in a range (RemoveRange, SetCloexecRange). It
// also models the room of Linux's table (64 fds, then a power of two):
// the sandbox's fs/nr_open (NrOpen, shared by its tables) bounds its
// growth, so a lowered nr_open refuses fds past the room (EMFILE, dup2
// EBADF) and a copy that would not fit (CopyFits: fork, unshare and
// execve's EMFILE; CopyFitsBelow for close_range's CLOSE_RANGE_UNSHARE,
// whose copy keeps the fds below its range, ForkBelow, when the range
// goes to the table's End), and Room tells the client where its
// predicted fds must stop.
//
// What it is given (New): the sandbox's NrOpen; a Tracker, told of every slot that changes
// (TouchSlot; the kernel derives the fd's replay record from Entry) and
// set as the replay tracker of each description a table first holds;
// the client's advisory lock table (filelock.Table) and LockKey, which
// names the inode a description's locks are keyed by: replacing or
// closing an fd drops the POSIX locks the table holds on its file.
// Which process uses which table, and when a released table's files are
// dropped, is the kernel's.
//
// Dependencies: fdesc (the description), filelock (the lock table).
// It must not import the server or the replay capture.
//
// Who imports it: the server package (its kernel).
//
// Lock order: Table.mu nests inside the kernel lock (the server's
// kernel.Kernel.Mu) and before filelock.Table.mu (dropping POSIX locks)
// and the Tracker's lock (replay.Tracker.mu, a leaf). Each calls its
// function with Table.mu held: the function must not call the table.
// The users count and the replay id are protected by the kernel lock,
// which the table never takes.
package fdtable
