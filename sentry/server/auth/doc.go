// Package auth is the credentials of the application's processes and the
// rules they are checked by, as gVisor's kernel/auth and Linux's struct
// cred: user and group ids, supplementary groups, the five capability
// sets and the securebits (Creds, CapSets), how they change with setuid,
// setfsuid and execve (FixSetuid, FixSetfsuid, ExecSetID, ExecCaps), and
// discretionary access control against a file's mode, owner and group
// (FileAttrs: Permits, MayDelete, MayChown, NewFileOwner...), each check
// with the capability Linux uses for it. There are no file capabilities
// and no user namespaces. gVisor's vfs.GenericCheckPermissions implements
// the same rules over auth.Credentials, but it would bring in
// pkg/sentry/vfs and a user namespace for a few comparisons.
//
// What it owns: the rules. A process's Creds are the server's (process,
// under kernel.Kernel.Mu); what a dentry's attributes are, and which call
// checks what, is the server's (kernel/perm.go and the system calls).
//
// Dependencies: gVisor's abi/linux (capability numbers),
// golang.org/x/sys/unix and sentry/sysabi (the permission check the
// client makes too). It imports nothing of the server, and every
// layer of the server may import it.
//
// It must not import another package of the server: it is a leaf.
//
// Lock order: none; Creds are values, copied under their owner's lock.
package auth
