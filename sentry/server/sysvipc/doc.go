// Package sysvipc holds the System V IPC objects of one IPC namespace
// (one client of the remote sentry): semaphore sets, message queues and
// the bookkeeping of shared memory segments (keys, ids, permissions,
// sizes, attach counts). It implements the semantics of semget, semop,
// semtimedop, semctl, msgget, msgsnd, msgrcv, msgctl, shmget, shmctl and
// the counting half of shmat/shmdt; the system call layer (package
// server) copies arguments in and out and waits.
//
// # What it owns and what it does not
//
// The memory of a shared memory segment is not here: it lives with the
// client, as a file of the client's /dev/shm gofer directory that the
// client maps shared; this package only names that file, the server
// makes, opens and removes it. Nothing here blocks: an operation that must wait
// returns a channel that is closed when the object changes, and the
// caller waits on it (interruptibly) and retries.
//
// gVisor's kernel/semaphore, kernel/msgqueue and kernel/shm need no
// kernel.Kernel, but they are not used: a restored server must rebuild
// each object with the same id (ipc.Registry only hands out the next
// free one), their state (queued messages, semaphore pids, SEM_UNDO
// adjustments, which gVisor lacks) is private, and kernel/shm keeps the
// segment's memory in the server's MemoryFile.
//
// Ids are made as Linux's ipc_idr_alloc makes them, including the id
// /proc/sys/kernel/<kind>_next_id asks for (CONFIG_CHECKPOINT_RESTORE),
// which the ids' record keeps while it is pending.
//
// Queued messages are charged, text plus a fixed overhead each, to the
// client's memory cap through Hooks.Memory (msgsnd beyond it: ENOMEM),
// and given back when received or when their queue is removed.
//
// # Replay state
//
// Every change marks the object's record key dirty through Hooks.Changed.
// Record builds the object's state as of the calls whose replies the
// client has received: the effects of semop, msgsnd and msgrcv calls
// still pending (not yet Committed) are left out, because the client
// re-sends those calls after a Restore.
//
// # Lock order
//
// Registry.mu is the only lock: it protects every field of the registry
// and of its objects. Hooks are called with it held and must only take
// leaf locks. The server takes it inside kernel.Kernel.Mu (process exit and
// exec) and never the other way round.
package sysvipc
