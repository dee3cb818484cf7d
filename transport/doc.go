// Package transport carries the thin client sentry's calls to a remote
// sentry and the server's pushes back, behind one small interface (Conn) so
// that a faster same-machine transport can sit beside gRPC without touching
// either sentry.
//
// It also parses the gRPC targets every subcommand takes ("host:port" or
// "unix:/path") and opens listeners for them.
//
// Dependencies: proto/sentrypb, grpc. It must not import sentry/ or the
// command.
//
// Lock order: ClientConn.mu is a leaf.
package transport
