// Command runsc-decoupled runs unmodified Linux programs in a thin client
// sentry whose kernel state lives in a remote sentry, which reaches files
// only through a gofer.
//
// Subcommands:
//
//	do      run a command (embedded sentry and gofer by default)
//	server  the remote sentry daemon
//	gofer   the file server daemon
//	debug   inspect a running server
//
// This is the top layer: it wires sentry/client, sentry/server, gofer and
// transport together and parses flags. Nothing imports it.
package main
