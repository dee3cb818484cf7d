// Package transport carries the thin client sentry's calls to a remote
// sentry and the server's pushes back, behind one small interface (Conn) so
// that a faster same-machine transport can sit beside gRPC without touching
// either sentry.
//
// A StreamConn runs one Session stream on one of two wires: a gRPC
// bidirectional stream (any target), or the framed wire (frame.go): the
// same ClientMessage and ServerMessage protobufs, length-prefixed, over a
// Unix socket, with no HTTP/2 framing, flow control or writer goroutine. A
// forwarded call then costs one socket write and one wake-up each way.
// Dial picks the framed wire for unix: targets and falls back to gRPC when
// the server answers in HTTP/2. Serve accepts both on one listener, so a
// server needs one socket and old clients keep working.
//
// It also parses the gRPC targets every subcommand takes ("host:port" or
// "unix:/path") and opens listeners for them.
//
// Dependencies: proto/sentrypb, grpc, protobuf. It must not import sentry/
// or the command.
//
// Lock order: StreamConn.sendMu > frameWriter.mu; StreamConn.mu and mux.mu
// are leaves. No lock is held while a callback (OnPush, OnReply,
// OnFarewell) runs.
package transport
