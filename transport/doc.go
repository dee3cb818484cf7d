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
// The framed wire also carries the gofer's Calls stream (calls.go: its
// own magic, the same frames), for a server and gofer on one machine:
// ServeFramed serves it beside gRPC and Sessions on one listener,
// DialFramedStream opens one. This package does not look into its
// messages. On a Unix socket that stream also carries host fds from the
// gofer to the server (fds.go: SendMsgFDs attaches them as SCM_RIGHTS to
// a frame's first byte; the dialling end queues what it receives and a
// frame's reader takes them with TakeFD); fdReader.mu is a leaf.
//
// It also parses the gRPC targets every subcommand takes ("host:port" or
// "unix:/path") and opens listeners for them. A Unix socket listener
// (ListenAuth) checks each peer's SO_PEERCRED uid against an allowed set
// and refuses others with one line ("rdrefuse..."), which Dial reports as
// ErrRefused; the identity travels with the connection (PeerIdentity, a
// gRPC AuthInfo, also on the framed wire's Session context). Before its
// first message a connection is bounded: at most maxHandshaking at once,
// one handshake deadline, frame buffers that grow with the bytes that
// arrived (at the accepting end; the dialling end trusts its peer with
// the length it announces: frame.go). Hello and Welcome carry the protocol version; a Welcome of
// another version, or one that refuses, is ErrRefused.
//
// Call channels (hop.go, hopclient.go): on the framed wire over a Unix
// socket, a client's synchronous calls may travel over shared-memory
// packet windows (gVisor's flipcall), one call at a time per channel,
// at most MaxChannels per session; the socket stays the control path.
// Replies are folded in the server's order with the socket's messages
// (counts both ways; docs/ARCHITECTURE.md, "The client-to-server hop").
// The server's side is HopServer (the framed Session stream); the
// client's is StreamConn.Channel, Channel.Call (CallInto: the reply
// decoded into the caller's) and PutChannel.
//
// Posted calls in batches (postbatch.go): GoPosted (or Post, whose
// reply reaches OnReply alone) queues a posted call on the connection
// (StreamConn.postQ, under sendMu); the next message sent carries the
// queue in front of it (ClientMessage.posted_calls), or a channel call
// carries it inside (StampChannel, Channel.CallInto: Call.posted_calls,
// counted by ClientMessage.channel_batches), or a call posted once it is
// due, or a 2 ms timer sends it alone; replies the server held (ServerMessage.posted_replies and
// posted_done, packed, FeaturePostedDone; posted_writes, packed writes
// behind, each handed on as a Reply with Reply.written, when the Hello
// offers FeaturePostedWrites; or a channel reply's,
// FeatureChannelPosted) are dispatched, merged in seq order, before the
// message that carries them (dispatchPosted), then the records the
// frame carries before its message (ServerMessage.state_before,
// FeatureStateBefore), as a StateUpdate push. A frame (a socket
// message, a channel reply) is dispatched whole or not at all: a
// connection that dies meanwhile forgets its calls in flight once the
// frame is (beginDispatchLocked), as the server's records of a batch
// follow its replies. A failed send does not kill the connection at once:
// it reads on to the stream's end, so that what the server sent before it
// died is dispatched (failAfterSend, Abandon). The Hello says how long
// the server may hold the replies of posted calls marked
// Syscall.reply_can_wait past their batch's end (Options.ReplyLinger).
// Received counts what the socket brought (counts.go).
//
// Decoding by hand (calldecode.go): the server's framed reader
// decodes a ClientMessage's plain posted system calls itself (one
// allocation a call, long input and leased bytes left in the frame, which the
// message then owns: frameReader.readClientMessage), and everything
// else with proto.Unmarshal, to the same result; the client's encodes
// them by hand (callencode.go), to proto.Marshal's bytes. A message's
// packed results are handed out in the Replies of the message before
// (StreamConn.spareDone): OnReply keeps no pointer to one.
//
// Dependencies: proto/sentrypb, grpc, protobuf, gVisor's pkg/flipcall. It
// must not import sentry/ or the command.
//
// Lock order: StreamConn.sendMu > frameWriter.mu; hopOrder.mu >
// frameWriter.mu (a server's socket write is counted under it);
// StreamConn.mu (also hopClient's, which shuts channels down under it),
// StreamConn.spareMu, hopOrder.rmu (idem) and mux.mu are leaves (mux.handshaking is a
// semaphore, never held with a lock). No lock is held while a callback
// (OnPush, OnReply, OnFarewell) runs; a channel reply's OnReply runs
// with hopClient.folding set, never concurrently with another.
package transport
