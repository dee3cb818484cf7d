// Package gofertest runs the real gofer in-process, on a Unix socket, for
// the tests of its clients (the remote sentry and its gofer connection):
// a test can kill it (its handles and reply cache die with it, its
// connections break) and restart it on the same root and socket, as an
// operator restarting the daemon would.
//
// It depends on package gofer, grpc and transport; nothing but tests may
// import it.
package gofertest
