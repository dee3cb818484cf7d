// Package replaylog is the thin client sentry's compacted syscall log
// (docs/ARCHITECTURE.md, sentry.proto's Recovery section) and its durable form on
// the client's disk (do --log-dir, read by "runsc-decoupled debug log").
//
// Log folds the StateRecords of replies and pushes, keyed by object (a
// statekey.Key parsed from StateRecord.key; a record whose key does not
// parse is dropped, and refused in a durable log), and
// retains the data of writes not yet durable and of unread pipe bytes
// (a write's bytes are its call's input, a sendfile's or
// copy_file_range's Syscall.leased_data, or WriteState.data when the
// server read them itself: sendfile, splice, tee, copy_file_range);
// the client's recovery (sentry/client/recovery.go) builds Restore and
// Rewrite calls from it. A write to a gofer file is kept as its record's
// fields with its data, by file in seq order, its record made only when
// read (writes.go). DurableLog appends its changes to a file. The
// buffers of writes behind that a Durable push drops are reused for the
// next writes (writepool.go, Log.WriteBuffer).
//
// For each live fd and description record, and the last ones deleted,
// it keeps what folded it (origins.go): DanglingFDs names an fd record
// whose description no record holds, which the client logs before a
// Restore the server would refuse.
//
// It does not depend on gVisor (so the decoder can be fuzzed: go test
// -fuzz FuzzDecodeLog ./sentry/client/replaylog/).
//
// Dependencies: proto/sentrypb, sentry/statekey, hclog, protobuf.
//
// Lock order: Log.mu > DurableLog.mu; Log.mu > writePool.mu.
package replaylog
