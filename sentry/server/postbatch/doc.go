// Package postbatch holds the replies to a client's posted calls
// (Syscall.posted) that the remote sentry sends in batches
// (docs/ARCHITECTURE.md, "Posted calls in batches"): a reply nobody waits
// for is held while the same thread's next queued call is posted too, and
// goes out with the next message to the client
// (ServerMessage.posted_replies, posted_done, and posted_writes: a write
// behind's packed, HoldWrite; a result alone's, HoldDone, which copies its
// values so that the caller may reuse the Reply), in front of that
// message's content.
//
// It owns only the held replies. It depends on proto/sentrypb and nothing
// of the server: the server decides when to hold (Hold) and attaches what
// is held to every message it sends (Attach, Take) under the lock that
// orders its sends (kernel.Kernel.sendMu), so a held reply keeps its place
// on the stream and its state records their order.
//
// Lock order: none of its own; a Replies is protected by its owner's
// send lock.
package postbatch
