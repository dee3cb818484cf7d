// Package donated holds the host fds a gofer on the server's machine
// donates to the remote sentry (gofer.proto, OpenRequest.donate) and
// serves a gofer handle's Read, Write and size-only Stat through them
// with the server's own pread, pwrite and statx, answering as the gofer
// would.
//
// What it owns: each donated fd (FD), from the check that it is what was
// asked for (Check: an open regular file, not O_PATH, with the access
// mode of the open) to its close once the handle holding it and every
// local call using it are done (reference counted). It also defines the
// grpc.CallOptions through which the server's gofer connection and its
// callers talk about donations: Slot (a call's donated fd arrives in it),
// ViaGofer (a Write that must reach the gofer: an O_APPEND one),
// SizeOnly (a Stat for the file's size now), and Ahead and Prewritten (a
// run of posted writes in one pwritev, ahead.go).
//
// What it does not own: which handle holds which fd, and when they are
// given or taken away; that is the gofer connection's
// (sentry/server/goferclient: goferconn.go, goferdonate.go), under its mutex.
//
// Dependencies: gofer (StatOfFD, MaxReadLength), proto/goferpb,
// golang.org/x/sys/unix, google.golang.org/grpc. Nothing of the server.
//
// Lock order: none. FD.refs is atomic; whoever hands out a reference
// (FD.Ref) must hold one or the lock that protects the holder's.
package donated
